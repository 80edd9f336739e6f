"""One video reader for every input vgbench accepts: :func:`open_source` picks the reader.

:func:`open_source` turns a path, an array or an iterable into a :class:`VideoSource`: an ordered, streaming
collection of :class:`Video` handles. A handle knows the video's id, frame count and frame rate (when known)
without decoding pixels; :meth:`Video.read` decodes only the frames asked for, as uint8 RGB ``[T, H, W, 3]``.
Nothing ever loads a whole dataset into memory.

Accepted inputs (order is always NATURAL sort of names: ``frame2`` before ``frame10``), one module per reader:

1. a folder in the StyleGAN-V layout: ``root/<video>/<frame>.{jpg,png,...}`` (:mod:`.frames`);
2. the same layout inside a ``.zip`` (with or without one top-level folder) (:mod:`.zipframes`);
3. a folder of video files (mp4, avi, webm, mkv, mov), or a single video file, decoded with PyAV (:mod:`.files`);
4. ``.npy`` / ``.npz`` uint8 arrays shaped ``[N, T, H, W, 3]`` (memory-mapped or streamed, never loaded whole)
   (:mod:`.npy`);
5. in-memory arrays/tensors ``[N, T, H, W, 3]``, or any iterable of ``[T, H, W, 3]`` arrays (:mod:`.arrays`);
6. ``builtin:NAME`` for the procedural datasets bundled with vgbench (see :mod:`vgbench.data`), found through the
   table ``_BUILTINS`` below; outside code adds its own with :func:`register_builtin`.

The interfaces, the error type and the size limits are in :mod:`.base`; every name is importable from here too.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from ..utils import import_object
from .arrays import ArraySource, ArrayVideo, IterableSource
from .base import (DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_FRAME_PIXELS, MAX_DECODE_BYTES_ENV, MAX_FRAME_PIXELS_ENV,
                   UnreadableVideo, Video, VideoReadError, VideoSource, check_frame_size, max_decode_bytes,
                   max_frame_pixels)
from .files import VIDEO_EXTS, FileVideo, VideoFilesSource
from .frames import FrameFolderSource, FrameFolderVideo
from .images import IMAGE_EXTS
from .npy import NpyVideo, NumpySource
from .zipframes import ZipFrameVideo, ZipFramesSource

__all__ = [
    "Video", "VideoSource", "VideoReadError", "open_source", "FrameFolderSource", "ZipFramesSource",
    "VideoFilesSource", "NumpySource", "ArraySource", "IterableSource", "IMAGE_EXTS", "VIDEO_EXTS",
    "register_builtin", "UnreadableVideo", "max_frame_pixels", "check_frame_size", "DEFAULT_MAX_FRAME_PIXELS",
    # the video handles and the other limits, importable from here as before the readers had their own modules
    "ArrayVideo", "FileVideo", "FrameFolderVideo", "NpyVideo", "ZipFrameVideo", "max_decode_bytes",
    "DEFAULT_MAX_DECODE_BYTES", "MAX_DECODE_BYTES_ENV", "MAX_FRAME_PIXELS_ENV",
]

#: ``builtin:NAME`` -> its source: ``"module:callable"``, imported on first use and called with NAME (one callable
#: serves several variants), or a callable without arguments (added by :func:`register_builtin`).
_BUILTINS: dict[str, str | Callable[[], VideoSource]] = {
    "tiny": "vgbench.data.tiny:TinySource",
    "tiny-heldout": "vgbench.data.tiny:TinySource",
    "tiny-static": "vgbench.data.tiny:TinySource",
    "tiny-shuffled": "vgbench.data.tiny:TinySource",
}


def register_builtin(name: str, factory: Callable[[], VideoSource]) -> None:
    """Make ``builtin:NAME`` resolve to ``factory()``."""
    _BUILTINS[name] = factory


def _builtin(name: str) -> VideoSource:
    if name not in _BUILTINS:
        raise ValueError(f"unknown builtin dataset {name!r}; known: {', '.join(sorted(_BUILTINS))}")
    factory = _BUILTINS[name]
    return import_object(factory)(name) if isinstance(factory, str) else factory()


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
