"""What every reader shares: the :class:`Video` handle and :class:`VideoSource` collection interfaces, the one
error type (:class:`VideoReadError`, naming the file), :class:`UnreadableVideo` (a video found but not readable,
kept in its place), and the size limits checked before any frame is decoded (:func:`check_frame_size`)."""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import VgbenchError
from ..utils import sha256_json

__all__ = ["Video", "VideoSource", "VideoReadError", "UnreadableVideo", "max_frame_pixels", "max_decode_bytes",
           "check_frame_size", "DEFAULT_MAX_FRAME_PIXELS", "MAX_FRAME_PIXELS_ENV", "DEFAULT_MAX_DECODE_BYTES",
           "MAX_DECODE_BYTES_ENV"]


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


def _stack(frames: list[np.ndarray], where: str) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise VideoReadError(where, f"frames of one video have different sizes: {sorted(shapes)}")
    return np.stack(frames)


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
