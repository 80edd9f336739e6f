"""One video reader for every input vgbench accepts.

:func:`open_source` turns a path, an array or an iterable into a :class:`VideoSource`: an ordered, streaming
collection of :class:`Video` handles. A handle knows the video's id, frame count and frame rate (when known)
without decoding pixels; :meth:`Video.read` decodes only the frames asked for, as uint8 RGB ``[T, H, W, 3]``.
Nothing ever loads a whole dataset into memory.

Accepted inputs (order is always NATURAL sort of names: ``frame2`` before ``frame10``):

1. a folder in the StyleGAN-V layout: ``root/<video>/<frame>.{jpg,png,...}``;
2. the same layout inside a ``.zip`` (with or without one top-level folder);
3. a folder of video files (mp4, avi, webm, mkv, mov), or a single video file, decoded with PyAV;
4. ``.npy`` / ``.npz`` uint8 arrays shaped ``[N, T, H, W, 3]`` (memory-mapped or streamed, never loaded whole);
5. in-memory arrays/tensors ``[N, T, H, W, 3]``, or any iterable of ``[T, H, W, 3]`` arrays;
6. ``builtin:NAME`` for the procedural datasets bundled with vgbench (see :mod:`vgbench.data`).
"""
from __future__ import annotations

import abc
import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import VgbenchError
from ..utils import natural_key, natural_sorted, sha256_json

__all__ = [
    "Video", "VideoSource", "VideoReadError", "open_source", "FrameFolderSource", "ZipFramesSource",
    "VideoFilesSource", "NumpySource", "ArraySource", "IterableSource", "IMAGE_EXTS", "VIDEO_EXTS",
    "register_builtin", "UnreadableVideo", "max_frame_pixels", "check_frame_size", "DEFAULT_MAX_FRAME_PIXELS",
]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".avi", ".webm", ".mkv", ".mov"}


class VideoReadError(VgbenchError, RuntimeError):
    """A video (or one of its frames) could not be read. ``path`` names the offending file."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


#: default of the per-frame size limit (width x height) checked before any frame is decoded; 4096 x 4096 covers
#: 4K UHD and DCI 4K. Raise it with ``--max-frame-pixels`` or the environment variable ``VGBENCH_MAX_FRAME_PIXELS``.
DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096
MAX_FRAME_PIXELS_ENV = "VGBENCH_MAX_FRAME_PIXELS"
#: default limit on the decoded size of one read (a clip, or every frame of a video for FID's real side)
DEFAULT_MAX_DECODE_BYTES = 4 << 30
MAX_DECODE_BYTES_ENV = "VGBENCH_MAX_DECODE_BYTES"


def max_frame_pixels() -> int:
    """The per-frame size limit in pixels (``$VGBENCH_MAX_FRAME_PIXELS``, else 4096 x 4096)."""
    raw = os.environ.get(MAX_FRAME_PIXELS_ENV)
    if not raw:
        return DEFAULT_MAX_FRAME_PIXELS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_FRAME_PIXELS_ENV}={raw!r} is not a whole number of pixels") from None
    if value < 1:
        raise ValueError(f"{MAX_FRAME_PIXELS_ENV}={raw!r} must be at least 1")
    return value


def max_decode_bytes() -> int:
    """The limit on the decoded size of one read (``$VGBENCH_MAX_DECODE_BYTES``, else 4 GiB)."""
    raw = os.environ.get(MAX_DECODE_BYTES_ENV)
    try:
        value = int(raw) if raw else DEFAULT_MAX_DECODE_BYTES
    except ValueError:
        raise ValueError(f"{MAX_DECODE_BYTES_ENV}={raw!r} is not a whole number of bytes") from None
    if value < 1:
        raise ValueError(f"{MAX_DECODE_BYTES_ENV}={raw!r} must be at least 1")
    return value


def check_frame_size(width: int, height: int, num_frames: int, where: str) -> None:
    """Refuse, before decoding, frames larger than :func:`max_frame_pixels` (a tiny file can hold huge frames: a
    47 KB video of 8000x8000 frames decodes to gigabytes) and reads of ``num_frames`` frames larger than
    :func:`max_decode_bytes` in all (e.g. every frame of a long high-resolution video)."""
    limit = max_frame_pixels()
    gib = width * height * 3 * max(num_frames, 1) / 2 ** 30
    if width * height > limit:
        raise VideoReadError(
            where, f"frames of {width}x{height} ({width * height / 1e6:.1f} megapixels) exceed the limit of "
                   f"{limit / 1e6:.1f} megapixels per frame ({num_frames} such frames would take {gib:.1f} GiB "
                   f"decoded); raise the limit with --max-frame-pixels N or {MAX_FRAME_PIXELS_ENV}=N if this is "
                   f"intended")
    if width * height * 3 * num_frames > max_decode_bytes():
        raise VideoReadError(
            where, f"reading {num_frames} frames of {width}x{height} at once would take {gib:.1f} GiB decoded, over "
                   f"the limit of {max_decode_bytes() / 2 ** 30:.1f} GiB; resize or cut the videos first, or raise "
                   f"the limit with {MAX_DECODE_BYTES_ENV}=BYTES if the machine has the memory")


def _as_rgb_u8(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise VideoReadError(where, f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 3:  # [T, H, W] grayscale
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise VideoReadError(where, f"expected a video shaped [T, H, W, 3], got {tuple(arr.shape)}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    return arr


def _check_indices(indices: Sequence[int], n: int | None, where: str) -> None:
    if len(indices) and (min(indices) < 0 or (n is not None and max(indices) >= n)):
        raise VideoReadError(where, f"frame index out of range: asked for {min(indices)}..{max(indices)}, "
                                    f"the video has {n} frames")


class Video(abc.ABC):
    """Handle on one video. Cheap to create and to pickle (worker processes receive handles, not pixels)."""

    id: str
    path: str
    fps: float | None = None

    @property
    @abc.abstractmethod
    def num_frames(self) -> int: ...

    @abc.abstractmethod
    def _read(self, indices: Sequence[int]) -> np.ndarray: ...

    def read(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Decode frames ``indices`` (all when None) as uint8 ``[len(indices), H, W, 3]``."""
        if indices is None:
            indices = range(self.num_frames)
        indices = list(indices)
        if not indices:
            raise ValueError(f"{self.path}: read() needs at least one frame index")
        _check_indices(indices, self.num_frames, self.path)
        out = self._read(indices)
        if out.shape[0] != len(indices):
            raise VideoReadError(self.path, f"decoded {out.shape[0]} frames, expected {len(indices)}")
        return out

    def nbytes_hint(self) -> int:
        return 0

    def stamp(self):
        """What changes when the video's content changes (sizes and modification times, zip CRCs...), JSON-able;
        None when it cannot be told (in-memory data). Keys resumable work, so that a changed file is not resumed."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} frames={self.num_frames} path={self.path!r}>"


class VideoSource(abc.ABC):
    """An ordered collection of videos. Iterating yields :class:`Video` handles in natural order."""

    kind: str = "?"
    #: handles can be sent to DataLoader worker processes
    supports_workers: bool = True

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Video]: ...

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def describe(self) -> dict:
        """Provenance description (kind and location), JSON-serialisable."""
        return {"kind": self.kind}

    def content_hash(self) -> str:
        """Hash of the video list: ids, frame counts and byte sizes (a listing hash; pixels are not read). An
        unreadable video enters with frame count None, so listing never fails on it (``--skip-bad`` decides later)."""
        return sha256_json([[v.id, _frames_or_none(v), v.nbytes_hint()] for v in self])

    def fingerprint(self) -> str | None:
        """Hash of every video's :meth:`Video.stamp` (None if any is unknown): changes when a file is rewritten,
        even with the same size."""
        stamps = [[v.id, v.stamp()] for v in self]
        return None if any(st is None for _, st in stamps) else sha256_json(stamps)


def _file_stamp(path) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _frames_or_none(video: Video) -> int | None:
    try:
        return video.num_frames
    except VideoReadError:
        return None


class UnreadableVideo(Video):
    """A video that was found but cannot be read (a symbolic-link loop, a truncated array, ...). It takes its place
    in the order; every read raises :class:`VideoReadError`, so that ``--skip-bad`` counts it and otherwise the
    error names it."""

    def __init__(self, vid: str, path: str, problem: str, num_frames: int | None = None):
        self.id, self.path, self.problem, self._n, self.fps = vid, path, problem, num_frames, None

    @property
    def num_frames(self) -> int:
        if self._n is None:
            raise VideoReadError(self.path, self.problem)
        return self._n

    def _read(self, indices):
        raise VideoReadError(self.path, self.problem)

    def stamp(self):
        return ["unreadable", self.problem]


def _decode_image(fp, where: str, num_frames: int = 1) -> np.ndarray:
    """An image file as uint8 RGB ``[H, W, 3]``.

    16-bit images are reduced to 8 bits by keeping the high byte (``x >> 8``), the rule Pillow itself applies to
    16-bit RGB PNGs (a plain ``convert('RGB')`` would clip 16-bit grey to white). 32-bit integer and float images
    have no defined 8-bit range and are refused. Frames larger than :func:`max_frame_pixels` are refused before
    they are decoded.
    """
    from PIL import Image

    try:
        with Image.open(fp) as im:
            check_frame_size(im.width, im.height, num_frames, where)
            if im.mode.startswith("I;16"):
                high = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
                return np.repeat(high[..., None], 3, axis=-1)
            if im.mode in ("I", "F"):
                raise VideoReadError(where, f"{'32-bit integer' if im.mode == 'I' else 'floating-point'} image "
                                            f"(mode {im.mode}): its pixel range is not defined; convert the frames "
                                            f"to 8-bit RGB")
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im)
    except VideoReadError:
        raise
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, UnidentifiedImageError...)
        raise VideoReadError(where, f"cannot decode image: {e}") from e


def _stack(frames: list[np.ndarray], where: str) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise VideoReadError(where, f"frames of one video have different sizes: {sorted(shapes)}")
    return np.stack(frames)


# --------------------------------------------------------------------------- frame folders


class FrameFolderVideo(Video):
    def __init__(self, vid: str, folder: str, frames: list[str], sizes: int, fps: float | None = None,
                 mtime_ns: int = 0):
        self.id, self.path, self.frames, self._bytes, self.fps = vid, folder, frames, sizes, fps
        self._mtime_ns = mtime_ns

    def stamp(self):
        return [self._bytes, self._mtime_ns]

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def nbytes_hint(self) -> int:
        return self._bytes

    def _read(self, indices):
        return _stack([_decode_image(os.path.join(self.path, self.frames[i]), os.path.join(self.path, self.frames[i]),
                                     len(indices)) for i in indices], self.path)


class _ListedSource(VideoSource):
    """A source whose video list comes from one scan of a folder or archive (``_scan``), done lazily, once."""

    path: Path

    def _scan(self) -> list[Video]:
        raise NotImplementedError

    def __iter__(self):
        return iter(self._scan())

    def __len__(self):
        return len(self._scan())

    def describe(self):
        return {"kind": self.kind, "path": str(self.path.resolve())}


class FrameFolderSource(_ListedSource):
    """``root/<video>/<frame image>``: the StyleGAN-V dataset layout."""

    kind = "frames_folder"

    def __init__(self, root: str | Path, fps: float | None = None):
        self.root, self.fps = Path(root), fps
        self.path = self.root
        self._videos: list[Video] | None = None

    def _scan(self) -> list[Video]:
        if self._videos is None:
            videos: list[Video] = []
            for entry in sorted(os.scandir(self.root), key=lambda e: natural_key(e.name)):
                problem = _link_problem(entry)
                if problem:
                    videos.append(UnreadableVideo(entry.name, entry.path, problem))
                elif entry.is_dir():
                    video = self._video(entry)
                    if video is not None:  # empty folders are ignored, as in StyleGAN-V
                        videos.append(video)
            self._videos = videos
        return self._videos

    def _video(self, entry: os.DirEntry) -> Video | None:
        frames, size, mtime = [], 0, 0
        for f in sorted(os.scandir(entry.path), key=lambda e: e.name):
            problem = _link_problem(f)
            if problem:
                return UnreadableVideo(entry.name, entry.path, f"{f.name}: {problem}")
            if f.is_dir():
                raise VideoReadError(f.path, "frames must lie directly inside each video folder "
                                             "(root/<video>/<frame>); found a nested folder")
            if Path(f.name).suffix.lower() in IMAGE_EXTS:
                st = f.stat()
                frames.append(f.name)
                size += st.st_size
                mtime = max(mtime, st.st_mtime_ns)
        return FrameFolderVideo(entry.name, entry.path, natural_sorted(frames), size, self.fps,
                                mtime) if frames else None


def _link_problem(entry: os.DirEntry) -> str | None:
    """What is wrong with a symbolic link (a loop, a link to its own ancestor, a dangling target), or None."""
    if not entry.is_symlink():
        return None
    try:
        target = Path(entry.path).resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return "symbolic link loop"
    except OSError as e:
        if e.errno == 40:  # ELOOP
            return "symbolic link loop"
        return f"broken symbolic link to {os.readlink(entry.path)!r}"
    parent = Path(entry.path).parent.resolve()
    if target.is_dir() and (parent == target or target in parent.parents):
        return f"symbolic link loop: it points to {target}, a folder that contains it"
    return None


# --------------------------------------------------------------------------- zip of frame folders


class ZipFrameVideo(Video):
    _handles: dict = {}

    def __init__(self, vid: str, zip_path: str, members: list[str], size: int, fps: float | None = None,
                 crc: str = ""):
        self.id, self.zip_path, self.members, self._bytes, self.fps = vid, zip_path, members, size, fps
        self.path = f"{zip_path}:{os.path.dirname(members[0])}"
        self._crc = crc

    def stamp(self):
        return [self._bytes, self._crc]

    @property
    def num_frames(self):
        return len(self.members)

    def nbytes_hint(self):
        return self._bytes

    def _zip(self) -> zipfile.ZipFile:
        key = (os.getpid(), self.zip_path)  # one handle per process: safe with DataLoader workers
        z = ZipFrameVideo._handles.get(key)
        if z is None:
            z = ZipFrameVideo._handles[key] = zipfile.ZipFile(self.zip_path)
        return z

    def _read(self, indices):
        z = self._zip()
        frames = []
        for i in indices:
            name = self.members[i]
            try:
                data = z.read(name)
            except (zipfile.BadZipFile, OSError, KeyError) as e:
                raise VideoReadError(f"{self.zip_path}:{name}", f"cannot read zip member: {e}") from e
            frames.append(_decode_image(io.BytesIO(data), f"{self.zip_path}:{name}", len(indices)))
        return _stack(frames, self.path)


class ZipFramesSource(_ListedSource):
    """The frames layout inside a zip: ``[top/]<video>/<frame>`` (StyleGAN-V's ``zip -r name.zip name/``)."""

    kind = "frames_zip"

    def __init__(self, path: str | Path, fps: float | None = None):
        self.path, self.fps = Path(path), fps
        self._videos: list[ZipFrameVideo] | None = None

    def _scan(self):
        if self._videos is None:
            try:
                with zipfile.ZipFile(self.path) as z:
                    infos = [i for i in z.infolist() if not i.is_dir()
                             and Path(i.filename).suffix.lower() in IMAGE_EXTS
                             and not i.filename.startswith("__MACOSX/")]
            except zipfile.BadZipFile as e:
                raise VideoReadError(str(self.path), f"not a readable zip file: {e}") from e
            depths = {i.filename.count("/") for i in infos}
            if len(depths) > 1:
                raise VideoReadError(str(self.path), "frames lie at different folder depths; expected "
                                                     "[top/]<video>/<frame> for every frame")
            if depths == {0}:
                raise VideoReadError(str(self.path), "frames must be inside one folder per video")
            if depths and depths.pop() > 2:
                raise VideoReadError(str(self.path), "folders nested too deep; expected [top/]<video>/<frame>")
            groups: dict[str, list[zipfile.ZipInfo]] = {}
            for i in infos:
                groups.setdefault(os.path.dirname(i.filename), []).append(i)
            videos = []
            for folder in natural_sorted(groups):
                members = natural_sorted([i.filename for i in groups[folder]])
                size = sum(i.file_size for i in groups[folder])
                crc = sha256_json(sorted([i.filename, i.CRC] for i in groups[folder]))  # the zip's own checksums
                videos.append(ZipFrameVideo(os.path.basename(folder), str(self.path), members, size, self.fps, crc))
            self._videos = videos
        return self._videos


# --------------------------------------------------------------------------- video files (PyAV)


class FileVideo(Video):
    def __init__(self, path: str, vid: str | None = None):
        self.path, self.id = path, vid or Path(path).stem
        self._n: int | None = None
        self._fps: float | None = None
        self._fps_known = False
        self._bytes = os.path.getsize(path)

    @property
    def fps(self) -> float | None:
        """The stream's average frame rate (None when the container does not say); read from the header only."""
        if not self._fps_known:
            c = self._open()
            try:
                rate = c.streams.video[0].average_rate
                self._fps = float(rate) if rate else None
            finally:
                c.close()
            self._fps_known = True
        return self._fps

    def nbytes_hint(self):
        return self._bytes

    def stamp(self):
        return _file_stamp(self.path)

    def _open(self):
        import av

        try:
            c = av.open(self.path)
        except Exception as e:  # av.error.* subclasses
            raise VideoReadError(self.path, f"cannot open video: {e}") from e
        if not c.streams.video:
            c.close()
            raise VideoReadError(self.path, "the file has no video stream")
        return c

    @property
    def num_frames(self) -> int:
        if self._n is None:
            c = self._open()
            try:
                s = c.streams.video[0]
                self._fps, self._fps_known = (float(s.average_rate) if s.average_rate else None), True
                self._n = sum(1 for p in c.demux(s) if p.size > 0)  # demux only: no decoding
            except Exception as e:
                raise VideoReadError(self.path, f"cannot read video: {e}") from e
            finally:
                c.close()
        return self._n

    def _read(self, indices):
        wanted: dict[int, list[int]] = {}
        for pos, i in enumerate(indices):
            wanted.setdefault(i, []).append(pos)
        out: list[np.ndarray | None] = [None] * len(indices)
        last = max(indices) if indices else -1
        c = self._open()
        try:
            s = c.streams.video[0]
            if s.codec_context.width and s.codec_context.height:  # from the header, before decoding anything
                check_frame_size(s.codec_context.width, s.codec_context.height, len(indices), self.path)
            s.thread_type = "AUTO"
            for i, frame in enumerate(c.decode(s)):
                if i in wanted:
                    check_frame_size(frame.width, frame.height, len(indices), self.path)
                    arr = frame.to_ndarray(format="rgb24")
                    for pos in wanted[i]:
                        out[pos] = arr
                if i >= last:
                    break
        except VideoReadError:
            raise
        except Exception as e:
            raise VideoReadError(self.path, f"cannot decode video: {e}") from e
        finally:
            c.close()
        missing = [indices[p] for p, a in enumerate(out) if a is None]
        if missing:
            raise VideoReadError(self.path, f"video ended early: frames {missing[:5]} could not be decoded")
        return _stack(out, self.path)  # type: ignore[arg-type]


class VideoFilesSource(VideoSource):
    """A folder of video files (or one file), decoded with PyAV."""

    kind = "video_files"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_file():
            self._files = [str(self.path)]
        else:
            self._files = [str(self.path / n) for n in natural_sorted(os.listdir(self.path))
                           if Path(n).suffix.lower() in VIDEO_EXTS and (self.path / n).is_file()]
        stems = [Path(f).stem for f in self._files]
        dup = {s for s in stems if stems.count(s) > 1}
        self._videos = [FileVideo(f, Path(f).name if Path(f).stem in dup else None) for f in self._files]

    def __iter__(self):
        return iter(self._videos)

    def __len__(self):
        return len(self._videos)

    def describe(self):
        return {"kind": self.kind, "path": str(self.path.resolve())}


# --------------------------------------------------------------------------- numpy files


def _npy_header(fp) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream at its start; leaves it at the data."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    return np.lib.format.read_array_header_2_0(fp)


class NpyVideo(Video):
    """Video ``index`` of an ``[N, T, H, W, C]`` uint8 array stored in a .npy or uncompressed .npz member."""

    _maps: dict = {}

    def __init__(self, file: str, offset: int, shape: tuple, index: int, where: str):
        self.file, self.offset, self.shape, self.index = file, offset, shape, index
        self.id, self.path, self.fps = f"{index:06d}", f"{where}[{index}]", None

    @property
    def num_frames(self):
        return self.shape[1]

    def nbytes_hint(self):
        return int(np.prod(self.shape[1:]))

    def stamp(self):
        return _file_stamp(self.file)

    def _array(self) -> np.ndarray:
        key = (os.getpid(), self.file, self.offset, self.shape)
        m = NpyVideo._maps.get(key)
        if m is None:
            m = NpyVideo._maps[key] = np.memmap(self.file, np.uint8, "r", offset=self.offset, shape=self.shape)
        return m

    def _read(self, indices):
        check_frame_size(self.shape[3], self.shape[2], len(indices), self.path)
        return _as_rgb_u8(np.array(self._array()[self.index, list(indices)]), self.path)


class _StreamedNpzVideo(Video):
    """A video of a compressed .npz member; read by :class:`NumpySource` in one forward pass."""

    supports_random = False

    def __init__(self, data: np.ndarray, index: int, where: str, member_stamp=None):
        self.data, self.id, self.path, self.fps = data, f"{index:06d}", f"{where}[{index}]", None
        self.member_stamp = member_stamp

    @property
    def num_frames(self):
        return self.data.shape[0]

    def nbytes_hint(self):
        return self.data.nbytes

    def stamp(self):
        return self.member_stamp

    def _read(self, indices):
        check_frame_size(self.data.shape[2], self.data.shape[1], len(indices), self.path)
        return _as_rgb_u8(np.ascontiguousarray(self.data[list(indices)]), self.path)


class NumpySource(VideoSource):
    """uint8 ``[N, T, H, W, 3]`` in a .npy file (memory-mapped) or a .npz member (memory-mapped when stored
    uncompressed, else streamed one video at a time)."""

    kind = "numpy"

    def __init__(self, path: str | Path, key: str | None = None):
        self.path, self.key = Path(path), key
        self._streamed = False
        where = str(self.path)
        try:
            if self.path.suffix.lower() == ".npz":
                self._init_npz(key)
            else:
                with open(self.path, "rb") as f:
                    shape, fortran, dtype = _npy_header(f)
                    self.offset = f.tell()
                self.file = str(self.path)
                self._check(shape, dtype, fortran, where)
        except VideoReadError:
            raise
        except Exception as e:
            raise VideoReadError(where, f"not a readable numpy file: {e}") from e
        self.supports_workers = not self._streamed

    def _check(self, shape, dtype, fortran, where):
        if dtype != np.uint8:
            raise VideoReadError(where, f"expected uint8 videos, got dtype {dtype}")
        if len(shape) != 5 or shape[-1] not in (1, 3, 4):
            raise VideoReadError(where, f"expected an array shaped [N, T, H, W, 3], got {tuple(shape)}")
        if fortran:
            raise VideoReadError(where, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        self.shape = tuple(shape)

    def _init_npz(self, key):
        z = zipfile.ZipFile(self.path)
        names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        if key is None:
            key = names[0] if len(names) == 1 else ("videos" if "videos" in names else None)
            if key is None:
                raise VideoReadError(str(self.path), f"several arrays {names}; name one (key 'videos' is the default)")
        if key not in names:
            raise VideoReadError(str(self.path), f"no array named {key!r}; it has {names}")
        self.key = key
        info = z.getinfo(key + ".npy")
        with z.open(info) as f:
            shape, fortran, dtype = _npy_header(f)
            header_len = f.tell()
        self._check(shape, dtype, fortran, f"{self.path}:{key}")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(self.path, "rb") as raw:  # locate member data: local header is 30 bytes + name + extra
                raw.seek(info.header_offset)
                local = raw.read(30)
                name_len, extra_len = struct.unpack("<HH", local[26:30])
            self._member_data_offset = info.header_offset + 30 + name_len + extra_len
            self.offset = self._member_data_offset + header_len
            self.file = str(self.path)
        else:
            self._streamed = True
        z.close()

    def __len__(self):
        return self.shape[0]

    def _complete_videos(self) -> int:
        """How many whole videos the file holds (fewer than the header says when it was cut short)."""
        per_video = int(np.prod(self.shape[1:]))
        available = os.path.getsize(self.file) - self.offset
        if self.path.suffix == ".npz":  # a stored member ends where the zip says, not at the end of the file
            with zipfile.ZipFile(self.path) as z:
                info = z.getinfo(self.key + ".npy")
            available = min(available, info.file_size - (self.offset - self._member_data_offset))
        return max(0, min(self.shape[0], available // per_video)) if per_video else self.shape[0]

    def _truncated(self, i: int, where: str, complete: int) -> Video:
        return UnreadableVideo(f"{i:06d}", f"{where}[{i}]", f"the file is truncated: the header promises "
                               f"{self.shape[0]} videos of {tuple(self.shape[1:])}, the data holds {complete} whole "
                               f"videos", self.shape[1])

    def __iter__(self):
        where = f"{self.path}:{self.key}" if self.key else str(self.path)
        if not self._streamed:
            complete = self._complete_videos()
            shape = (complete,) + tuple(self.shape[1:])
            for i in range(self.shape[0]):
                yield NpyVideo(self.file, self.offset, shape, i, where) if i < complete else \
                    self._truncated(i, where, complete)
            return
        per_video = int(np.prod(self.shape[1:]))
        try:  # a streamed video is decompressed whole: check its size first
            check_frame_size(self.shape[3], self.shape[2], self.shape[1], where)
        except VideoReadError as e:
            for j in range(self.shape[0]):
                yield UnreadableVideo(f"{j:06d}", f"{where}[{j}]", e.problem, self.shape[1])
            return
        with zipfile.ZipFile(self.path) as z, z.open(self.key + ".npy") as f:
            _npy_header(f)
            for i in range(self.shape[0]):
                try:
                    buf = f.read(per_video)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:  # corrupt compressed data
                    problem = f"cannot decompress the array data from video {i} on: {e}"
                    for j in range(i, self.shape[0]):
                        yield UnreadableVideo(f"{j:06d}", f"{where}[{j}]", problem, self.shape[1])
                    return
                if len(buf) != per_video:
                    for j in range(i, self.shape[0]):
                        yield self._truncated(j, where, i)
                    return
                yield _StreamedNpzVideo(np.frombuffer(buf, np.uint8).reshape(self.shape[1:]), i, where,
                                        [_file_stamp(self.path), z.getinfo(self.key + ".npy").CRC])

    def fingerprint(self) -> str | None:
        return sha256_json([_file_stamp(self.path), self.key, list(self.shape)])  # without decompressing anything

    def describe(self):
        d = {"kind": self.kind, "path": str(self.path.resolve()), "shape": list(self.shape)}
        if self.key:
            d["key"] = self.key
        return d


# --------------------------------------------------------------------------- in-memory


class ArrayVideo(Video):
    def __init__(self, data, vid: str, fps: float | None = None):
        self.data, self.id, self.path, self.fps = data, vid, f"<array>[{vid}]", fps

    @property
    def num_frames(self):
        return int(self.data.shape[0])

    def nbytes_hint(self):
        return int(np.prod(self.data.shape))

    def _read(self, indices):
        d = self.data[list(indices)]
        if hasattr(d, "detach"):  # torch tensor
            d = d.detach().cpu().numpy()
        return _as_rgb_u8(np.ascontiguousarray(d), self.path)


class ArraySource(VideoSource):
    """An in-memory ``[N, T, H, W, 3]`` uint8 array or tensor, or a list of ``[T, H, W, 3]`` arrays."""

    kind = "array"
    supports_workers = False

    def __init__(self, data, fps: float | None = None, ids: Sequence[str] | None = None):
        if hasattr(data, "ndim") and data.ndim == 5:
            videos = [data[i] for i in range(data.shape[0])]
        elif isinstance(data, (list, tuple)):
            videos = list(data)
        else:
            raise VideoReadError("<array>", f"expected [N, T, H, W, 3] or a list of [T, H, W, 3]; got "
                                            f"{getattr(data, 'shape', type(data).__name__)}")
        for i, v in enumerate(videos):
            dt = str(getattr(v, "dtype", type(v).__name__))
            if "uint8" not in dt:
                raise VideoReadError(f"<array>[{i}]", f"expected uint8 pixels, got {dt}")
            if v.ndim != 4:
                raise VideoReadError(f"<array>[{i}]", f"expected [T, H, W, 3], got {tuple(v.shape)}")
        ids = list(ids) if ids is not None else [f"{i:06d}" for i in range(len(videos))]
        self._videos = [ArrayVideo(v, vid, fps) for v, vid in zip(videos, ids)]

    def __iter__(self):
        return iter(self._videos)

    def __len__(self):
        return len(self._videos)


class IterableSource(VideoSource):
    """Any iterable (e.g. a generator) of ``[T, H, W, 3]`` uint8 arrays or :class:`Video` handles.

    Single pass: iterating twice raises. ``length`` may be given when known (for progress bars).
    """

    kind = "iterable"
    supports_workers = False

    def __init__(self, iterable: Iterable, fps: float | None = None, length: int | None = None,
                 description: dict | None = None, content_hash: str | None = None):
        self._it, self.fps, self._len, self._desc = iterable, fps, length, description
        self._hash = content_hash
        self._used = False

    def __iter__(self):
        if self._used:
            raise RuntimeError("this video stream was already consumed; streams can be read once")
        self._used = True
        for i, v in enumerate(self._it):
            yield v if isinstance(v, Video) else ArrayVideo(v, f"{i:06d}", self.fps)

    def __len__(self):
        if self._len is None:
            raise TypeError("length of a video stream is unknown")
        return self._len

    def describe(self):
        return dict(self._desc or {"kind": self.kind})

    def content_hash(self) -> str:
        if self._hash is None:
            raise TypeError("a one-pass video stream has no content hash")
        return self._hash

    def fingerprint(self) -> None:
        return None  # iterating would consume the stream


# --------------------------------------------------------------------------- dispatch

_BUILTINS: dict[str, Callable[..., VideoSource]] = {}


def register_builtin(name: str, factory: Callable[..., VideoSource]) -> None:
    """Make ``builtin:NAME`` resolve to ``factory()``."""
    _BUILTINS[name] = factory


def _builtin(name: str) -> VideoSource:
    from .. import data  # noqa: F401  (registers the bundled datasets)

    if name not in _BUILTINS:
        raise ValueError(f"unknown builtin dataset {name!r}; known: {', '.join(sorted(_BUILTINS))}")
    return _BUILTINS[name]()


def open_source(src, *, fps: float | None = None, npz_key: str | None = None) -> VideoSource:
    """Open any supported input as a :class:`VideoSource` (see the module docstring for the list)."""
    if isinstance(src, VideoSource):
        return src
    if isinstance(src, (str, os.PathLike)):
        s = os.fspath(src)
        if s.startswith("builtin:"):
            return _builtin(s.split(":", 1)[1])
        p = Path(s)
        if not p.exists():
            raise VideoReadError(s, "no such file or folder")
        if p.is_file():
            suffix = p.suffix.lower()
            if suffix in (".npy", ".npz"):
                return NumpySource(p, key=npz_key)
            if suffix == ".zip":
                return ZipFramesSource(p, fps=fps)
            if suffix in VIDEO_EXTS:
                return VideoFilesSource(p)
            raise VideoReadError(s, f"unsupported file type '{suffix}'; expected a folder, .zip, .npy, .npz or "
                                    f"a video file ({', '.join(sorted(VIDEO_EXTS))})")
        entries = list(os.scandir(p))
        has_dirs = any(e.is_dir() for e in entries)
        has_videos = any(e.is_file() and Path(e.name).suffix.lower() in VIDEO_EXTS for e in entries)
        if has_dirs and has_videos:
            raise VideoReadError(s, "the folder holds both sub-folders and video files; it is ambiguous whether "
                                    "it is a frames dataset (root/<video>/<frame>) or a folder of videos")
        if has_videos:
            return VideoFilesSource(p)
        if has_dirs:
            return FrameFolderSource(p, fps=fps)
        if any(Path(e.name).suffix.lower() in IMAGE_EXTS for e in entries):
            raise VideoReadError(s, "the folder holds images directly; a frames dataset needs one sub-folder per "
                                    "video (root/<video>/<frame>)")
        raise VideoReadError(s, "the folder holds no videos")
    if hasattr(src, "ndim") or isinstance(src, (list, tuple)):
        return ArraySource(src, fps=fps)
    if isinstance(src, Iterable):
        return IterableSource(src, fps=fps)
    raise TypeError(f"cannot read videos from {type(src).__name__}")
