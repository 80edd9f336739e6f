"""The generic recipes: raw videos (video files, or folders of frame images) -> StyleGAN-V frame folders.

- ``video_frames`` follows StyleGAN-V's ``convert_videos_to_frames.py``: one output video per raw video, named
  after the file's stem with ``#`` -> ``_``, every frame resized and cropped by ``mode``:
  ``resize_crop`` (the script: short side to ``target_size`` with LANCZOS, then centre crop), ``crop_resize``
  (centre square, then LANCZOS to ``target_size``, as ``convert_video_to_dataset.py``), ``squash`` (LANCZOS to
  ``target_size`` x ``target_size``, aspect not kept, as ``crop_video_dataset.py --resize``) or ``none``.
  The raw folder is walked recursively (UCF101's class folders, SkyTimelapse's nested clip folders); ``include``
  (a glob on the path relative to the source) picks files, e.g. MEAD's front camera; ``naming=relpath`` names a
  video by its whole relative path when stems repeat (MEAD's ``001.mp4`` in every emotion folder).
- ``video_chunks`` follows ``convert_video_to_dataset.py`` (RainbowJelly): one long video, the first
  ``start_frame`` frames skipped, the rest cut into chunks of ``chunk_size`` frames (an incomplete last chunk is
  dropped), each frame centre-cropped to a square and LANCZOS-resized to ``target_size``; chunks are named
  ``%06d``.

Frames are decoded with PyAV. The scripts decode with moviepy 1.0.3 (``clip.iter_frames(fps=clip.fps)``), whose
pixels are the same (``scripts/compare_decoders.py`` on 13 files: identical frames) but whose frame count
is not that of the file: ``moviepy_timeline_quirk`` (default true) reproduces it (:func:`moviepy_timeline`):
moviepy yields ``len(arange(0, duration, 1 / fps))`` frames, with the container's duration rounded to 1/100 s as
ffmpeg prints it and the fps as ffmpeg prints its ``tbr`` (2 decimals; 23.98, 29.97, ... -> x * 1000/1001), cutting
the last decoded frames or repeating the last one; ``convert_video_to_dataset.py`` counts ``floor(duration * fps)`` frames for its
chunks. Frame-image folders are read in lexicographic file-name order, as StyleGAN-V's loader does.
"""
from __future__ import annotations

import fnmatch
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.base import VideoReadError
from ..io.files import VIDEO_EXTS, FileVideo
from ..io.frames import FrameFolderVideo
from ..io.images import IMAGE_EXTS
from . import steps
from .recipes import Job, PrepareError, Recipe

__all__ = ["VideoFrames", "VideoChunks", "source_frames", "moviepy_timeline"]

JPEG = {"jpeg_quality_quirk": "save(path, q=95) in the authors' scripts: PIL ignores q and writes quality 75; "
                              "false writes jpeg_quality"}
MOVIEPY = {"moviepy_timeline_quirk": "the scripts decode with moviepy 1.0.3, whose frame count comes from the "
                                     "container's duration and fps as ffmpeg prints them (the last frame repeated "
                                     "or frames cut at the end); false keeps every decoded frame"}


def _ffmpeg_fps(rate: float) -> float:
    """A frame rate as ffmpeg prints it (``print_fps``) and moviepy 1.0.3 reads it back, with moviepy's
    correction of 23.98, 24.98, 29.97, ... to ``x * 1000/1001``."""
    v = round(rate * 100)
    if not v:
        fps = float(f"{rate:1.4f}")
    elif v % 100:
        fps = float(f"{rate:3.2f}")
    elif v % 100000:
        fps = float(f"{rate:1.0f}")
    else:
        fps = float(f"{rate / 1000:1.0f}") * 1000
    for x in (23, 24, 25, 30, 50):
        if fps != x and abs(fps - x * 1000.0 / 1001.0) < .01:
            fps = x * 1000.0 / 1001.0
    return fps


def moviepy_timeline(path: str) -> tuple[int, int]:
    """``(frames moviepy 1.0.3's iter_frames(fps=clip.fps) yields, floor(duration * fps))`` for a video file, from
    its header: the duration ffmpeg prints (``Duration: HH:MM:SS.cc``, rounded to 1/100 s) and its ``tbr``."""
    import av

    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise VideoReadError(path, "the file has no video stream")
            s = c.streams.video[0]
            micros, rate = c.duration, s.base_rate or s.average_rate
    except VideoReadError:
        raise
    except Exception as e:  # av.error.*
        raise VideoReadError(path, f"cannot open video: {e}") from e
    if micros is None or not rate:
        raise VideoReadError(path, "the container states no duration or frame rate (moviepy cannot read it either); "
                                   "--set moviepy_timeline_quirk=false keeps every decoded frame")
    duration = ((micros + 5000) // 10000) / 100
    fps = _ffmpeg_fps(float(rate))
    return len(np.arange(0, duration, 1.0 / fps)), math.floor(duration * fps)


def _moviepy_frames(path: str, count: int):
    """The first ``count`` decoded frames, the last one repeated if the file has fewer (what moviepy returns)."""
    last, n = None, 0
    for last in FileVideo(path).iter_frames():
        if n == count:
            return
        yield last
        n += 1
    if last is None:
        raise VideoReadError(path, "no frames could be decoded")
    for _ in range(count - n):
        yield last


def source_frames(job: Job, moviepy_count: int | None = None):
    """The frames of a job's ``video`` file (``moviepy_count`` of them as moviepy returns them, when given) or
    ``frames`` folder, one uint8 ``[H, W, 3]`` array at a time."""
    if "video" in job.files:
        if moviepy_count is not None:
            yield from _moviepy_frames(job.files["video"], moviepy_count)
        else:
            yield from FileVideo(job.files["video"]).iter_frames()
        return
    folder = job.files["frames"]
    names = sorted(n for n in os.listdir(folder) if Path(n).suffix.lower() in IMAGE_EXTS)
    video = FrameFolderVideo(job.id, folder, names, 0)
    for i in range(len(names)):
        yield video.read([i])[0]


def _walk(source: Path, include: str) -> list[tuple[str, dict]]:
    """(relative path, files) of every video file and every folder holding frame images under ``source``."""
    if source.is_file():
        return [(source.name, {"video": str(source)})]
    if not source.is_dir():
        raise PrepareError(f"{source}: no such file or folder")
    found = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_folder = Path(folder).relative_to(source)
        files = sorted(f for f in files if not f.startswith("."))
        if any(Path(f).suffix.lower() in IMAGE_EXTS for f in files) and rel_folder != Path("."):
            found.append((rel_folder.as_posix(), {"frames": folder}))
        found += [((rel_folder / f).as_posix(), {"video": os.path.join(folder, f)})
                  for f in files if Path(f).suffix.lower() in VIDEO_EXTS]
    return [(rel, files) for rel, files in sorted(found) if fnmatch.fnmatch(rel, include)]


def _name(rel: str, naming: str) -> str:
    path = Path(rel)
    stem = path.stem if path.suffix.lower() in VIDEO_EXTS else path.name
    name = stem if naming == "stem" else str(path.with_name(stem).as_posix()).replace("/", "_")
    return name.replace("#", "_")


def _unique_jobs(found: list[tuple[str, dict]], naming: str, source: Path) -> list[Job]:
    jobs: dict[str, Job] = {}
    for rel, files in found:
        name = _name(rel, naming)
        if name in jobs:
            other = next(iter(jobs[name].files.values()))
            raise PrepareError(f"{source}: {other} and {next(iter(files.values()))} would both become video "
                               f"{name!r}; pick files with --set include=GLOB or name videos by their path with "
                               f"--set naming=relpath")
        jobs[name] = Job(name, files)
    if not jobs:
        raise PrepareError(f"{source}: no video files or frame folders found")
    return list(jobs.values())


class VideoFrames(Recipe):
    name = "video_frames"
    version = 1
    description = "video files or frame folders -> frames (StyleGAN-V convert_videos_to_frames.py)"
    defaults = {"target_size": 256, "mode": "resize_crop", "naming": "stem", "include": "*",
                "moviepy_timeline_quirk": True, "jpeg_quality_quirk": True, "jpeg_quality": 95}
    choices = {"mode": ("resize_crop", "crop_resize", "squash", "none"), "naming": ("stem", "relpath")}
    quirks = {**MOVIEPY, **JPEG}

    def jobs(self, source, params):
        return _unique_jobs(_walk(source, params["include"]), params["naming"], source)

    def video_name(self, job, params) -> str:
        """The output video of a job (a subclass may put it in a subset folder)."""
        return job.id

    def frames(self, job, params):
        size, mode = params["target_size"], params["mode"]
        name = self.video_name(job, params)
        timeline = "video" in job.files and params["moviepy_timeline_quirk"]
        count = moviepy_timeline(job.files["video"])[0] if timeline else None
        n = 0
        for arr in source_frames(job, count):
            img = Image.fromarray(arr)
            if mode == "resize_crop":
                img = steps.center_crop(steps.resize_short_side(img, size), size, size)
            elif mode == "crop_resize":
                img = steps.resize_square(steps.center_crop_square(img), size)
            elif mode == "squash":
                img = steps.resize_square(img, size)
            yield name, img
            n += 1
        if not n:
            raise VideoReadError(next(iter(job.files.values())), "no frames could be decoded")
        return {"moviepy_frames": count} if timeline else {}


class VideoChunks(Recipe):
    name = "video_chunks"
    version = 1
    description = "one long video -> chunks of chunk_size frames (StyleGAN-V convert_video_to_dataset.py)"
    defaults = {"start_frame": 0, "chunk_size": 512, "target_size": 128, "moviepy_timeline_quirk": True,
                "jpeg_quality_quirk": True, "jpeg_quality": 95}
    quirks = {**MOVIEPY, **JPEG}

    def jobs(self, source, params):
        found = [(rel, files) for rel, files in _walk(source, "*") if "video" in files]
        if len(found) != 1:
            raise PrepareError(f"{source}: the video_chunks recipe cuts one video into chunks; found {len(found)} "
                               f"video files")
        if params["chunk_size"] < 1 or params["start_frame"] < 0:
            raise PrepareError("chunk_size must be at least 1 and start_frame at least 0")
        return [Job(_name(found[0][0], "stem"), found[0][1])]

    def frames(self, job, params):
        start, chunk, size = params["start_frame"], params["chunk_size"], params["target_size"]
        count, counted = None, {}
        if params["moviepy_timeline_quirk"]:  # the script keeps (floor(duration * fps) - start) // chunk chunks
            timeline, floor_count = moviepy_timeline(job.files["video"])
            count = min(timeline, start + max(floor_count - start, 0) // chunk * chunk)
            counted = {"moviepy_frames": timeline, "moviepy_floor_frames": floor_count}
        n = 0
        for n, arr in enumerate(source_frames(job, count), start=1):
            if n > start:
                img = steps.resize_square(steps.center_crop_square(Image.fromarray(arr)), size)
                yield f"{(n - 1 - start) // chunk:06d}", img
        used = max(n - start, 0)
        if used < chunk:
            raise VideoReadError(job.files["video"], f"{counted.get('moviepy_floor_frames', n)} frames: fewer than "
                                                     f"start_frame {start} + chunk_size {chunk}, so no complete chunk")
        drop = [f"{used // chunk:06d}"] if used % chunk else []
        return {"drop": drop, "frames_read": n, **counted}
