"""Frames folders: ``root/<video>/<frame image>``, the StyleGAN-V dataset layout. Symbolic-link loops and dangling
links become :class:`~.base.UnreadableVideo` entries in their place rather than hanging or vanishing."""
from __future__ import annotations

import os
from pathlib import Path

from ..utils import natural_key, natural_sorted
from .base import UnreadableVideo, Video, VideoReadError, _ListedSource, _stack
from .images import IMAGE_EXTS, _decode_image

__all__ = ["FrameFolderSource", "FrameFolderVideo"]


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
