"""In-memory videos: an ``[N, T, H, W, 3]`` uint8 array or tensor, a list of ``[T, H, W, 3]`` arrays, or any
iterable of them (read once, e.g. a generator's output stream)."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .base import Video, VideoReadError, VideoSource, _as_rgb_u8

__all__ = ["ArraySource", "ArrayVideo", "IterableSource"]


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
