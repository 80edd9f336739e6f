"""``.npy`` / ``.npz`` files of uint8 videos ``[N, T, H, W, 3]``. A .npy file or an uncompressed .npz member is
memory-mapped (each video read on its own, from any process); a compressed member is streamed one video at a time
in one forward pass, after a first pass that checks the member's CRC (a damaged deflate stream can decode to wrong
pixels without any error until the CRC at its end). A file cut short yields :class:`~.base.UnreadableVideo` entries
for the missing videos; a damaged compressed member yields them for all its videos."""
from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..utils import sha256_json
from .base import UnreadableVideo, Video, VideoReadError, VideoSource, _as_rgb_u8, _file_stamp, check_frame_size

__all__ = ["NumpySource", "NpyVideo"]

#: what reading a damaged compressed zip member can raise
_DECOMPRESS_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error)


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
    _checked: dict = {}  # (path, file stamp, key) -> problem of a compressed member, or None: see _damaged_member

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

    def _truncated(self, complete: int) -> str:
        return (f"the file is truncated: the header promises {self.shape[0]} videos of {tuple(self.shape[1:])}, the "
                f"data holds {complete} whole videos")

    def _unreadable_from(self, start: int, where: str, problem: str):
        """Videos ``start`` to the last as :class:`~.base.UnreadableVideo` with ``problem``."""
        for j in range(start, self.shape[0]):
            yield UnreadableVideo(f"{j:06d}", f"{where}[{j}]", problem, self.shape[1])

    def __iter__(self):
        where = f"{self.path}:{self.key}" if self.key else str(self.path)
        if not self._streamed:
            complete = self._complete_videos()
            shape = (complete,) + tuple(self.shape[1:])
            for i in range(complete):
                yield NpyVideo(self.file, self.offset, shape, i, where)
            yield from self._unreadable_from(complete, where, self._truncated(complete))
            return
        per_video = int(np.prod(self.shape[1:]))
        try:  # a streamed video is decompressed whole: check its size first
            check_frame_size(self.shape[3], self.shape[2], self.shape[1], where)
        except VideoReadError as e:
            yield from self._unreadable_from(0, where, e.problem)
            return
        damaged = self._damaged_member()
        if damaged:
            yield from self._unreadable_from(0, where, damaged)
            return
        with zipfile.ZipFile(self.path) as z, z.open(self.key + ".npy") as f:
            _npy_header(f)
            for i in range(self.shape[0]):
                try:
                    buf = f.read(per_video)
                except _DECOMPRESS_ERRORS as e:  # changed since the check above
                    yield from self._unreadable_from(i, where, f"cannot decompress the array data from video {i} on: "
                                                               f"{e}")
                    return
                if len(buf) != per_video:
                    yield from self._unreadable_from(i, where, self._truncated(i))
                    return
                yield _StreamedNpzVideo(np.frombuffer(buf, np.uint8).reshape(self.shape[1:]), i, where,
                                        [_file_stamp(self.path), z.getinfo(self.key + ".npy").CRC])

    def _damaged_member(self) -> str | None:
        """Decompress the whole member once, without keeping it, so that its CRC is checked before any video is
        used; ``None`` when it is whole, else the problem. Remembered per file version."""
        key = (str(self.path), tuple(_file_stamp(self.path)), self.key)
        if key not in NumpySource._checked:
            problem = None
            try:
                with zipfile.ZipFile(self.path) as z, z.open(self.key + ".npy") as f:
                    while f.read(1 << 24):
                        pass
            except _DECOMPRESS_ERRORS as e:
                problem = (f"the compressed array data is damaged ({type(e).__name__}: {e}), so no video of it can be "
                           f"trusted: a damaged deflate stream can decode to wrong pixels before the damage shows")
            NumpySource._checked[key] = problem
        return NumpySource._checked[key]

    def fingerprint(self) -> str | None:
        return sha256_json([_file_stamp(self.path), self.key, list(self.shape)])  # without decompressing anything

    def describe(self):
        d = {"kind": self.kind, "path": str(self.path.resolve()), "shape": list(self.shape)}
        if self.key:
            d["key"] = self.key
        return d
