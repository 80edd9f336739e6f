"""Video files (mp4, avi, webm, mkv, mov), one or a folder of them, decoded with PyAV. Frame counts and rates come
from demuxing (no decoding); a read decodes from the start up to the last frame asked for."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..utils import natural_sorted
from .base import Video, VideoReadError, VideoSource, _file_stamp, _stack, check_frame_size

__all__ = ["VideoFilesSource", "FileVideo", "VIDEO_EXTS"]

VIDEO_EXTS = {".mp4", ".avi", ".webm", ".mkv", ".mov"}


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

    def iter_frames(self):
        """Every frame in decoding order as uint8 RGB ``[H, W, 3]``, one at a time (for whole-video passes such as
        ``vgbench data prepare``, where a video may be longer than fits in memory decoded)."""
        for _, arr in self._decode(1):
            yield arr

    def _decode(self, num_frames: int, wanted=None, last: int | None = None):
        """``(index, uint8 RGB [H, W, 3])`` of the frames in ``wanted`` (all when None) in decoding order, up to index
        ``last``; sizes checked for a read of ``num_frames`` frames, every error a :class:`VideoReadError`."""
        c = self._open()
        try:
            s = c.streams.video[0]
            if s.codec_context.width and s.codec_context.height:  # from the header, before decoding anything
                check_frame_size(s.codec_context.width, s.codec_context.height, num_frames, self.path)
            s.thread_type = "AUTO"
            for i, frame in enumerate(c.decode(s)):
                if wanted is None or i in wanted:
                    check_frame_size(frame.width, frame.height, num_frames, self.path)
                    yield i, frame.to_ndarray(format="rgb24")
                if last is not None and i >= last:
                    break
        except VideoReadError:
            raise
        except Exception as e:
            raise VideoReadError(self.path, f"cannot decode video: {e}") from e
        finally:
            c.close()

    def _read(self, indices):
        wanted: dict[int, list[int]] = {}
        for pos, i in enumerate(indices):
            wanted.setdefault(i, []).append(pos)
        out: list[np.ndarray | None] = [None] * len(indices)
        for i, arr in self._decode(len(indices), wanted, max(indices) if indices else -1):
            for pos in wanted[i]:
                out[pos] = arr
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
