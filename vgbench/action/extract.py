"""Pose extraction over a set of videos: one COCO-17 keypoint track per video, cached, as a :class:`KeypointSet`.

Videos come through the one video reader (:func:`vgbench.io.sources.open_source`: frame folders, zips, video files,
arrays). Each video is decoded once and hashed (sha256 of its frame shape and pixels); its keypoints are cached
under ``$VGBENCH_HOME/keypoints/<key>.npz``, keyed by that hash, the sha256 of both BlazePose model files and
:data:`PIPELINE_VERSION`, written atomically. Scoring the same videos again therefore only decodes and hashes them:
no model runs (and the TFLite runtime is not even loaded when every video is cached). A damaged cache entry is
recomputed with a warning.

A video that cannot be read is an error naming its file, or with ``skip_bad`` a counted skip (its id is listed in
``meta["skipped"]``). A one-frame video is kept (the recogniser decides what it accepts). Frames and whole videos
without a detected person are counted in ``meta["counts"]``.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ..errors import VgbenchError
from ..io.sources import VideoReadError, open_source
from ..utils import atomic_write, sha256_json
from .keypoints import KeypointSet

__all__ = ["PIPELINE_VERSION", "extract_keypoints", "video_key", "cache_dir"]

#: Bumped whenever the pose pipeline (crop, decoding, tracking, COCO mapping) changes its output: old cache
#: entries are then never reused.
PIPELINE_VERSION = 1


def cache_dir() -> Path:
    from ..weights import home

    return home() / "keypoints"


def video_key(frames: np.ndarray, model_provenance: dict) -> str:
    """Cache key of one decoded video: its shape and pixels, the model's provenance and :data:`PIPELINE_VERSION`."""
    h = hashlib.sha256(f"{frames.dtype}|{list(frames.shape)}|".encode())
    h.update(np.ascontiguousarray(frames).data)
    return sha256_json({"pixels": h.hexdigest(), "model": model_provenance, "pipeline": PIPELINE_VERSION})


def _load_cached(path: Path, num_frames: int):
    try:
        with np.load(path, allow_pickle=False) as z:
            kp, person = z["keypoints"], z["person"]
        if kp.shape == (num_frames, 17, 3) and person.shape == (num_frames,) and np.isfinite(kp).all():
            return kp.astype(np.float32), person.astype(bool)
        problem = f"shapes {list(kp.shape)} / {list(person.shape)} for {num_frames} frames"
    except Exception as e:  # noqa: BLE001 - any damage: recompute
        problem = str(e)
    warnings.warn(f"{path}: damaged keypoint cache entry ({problem}); it is recomputed", UserWarning, stacklevel=3)
    return None


class _LazyModel:
    """Loads BlazePose on the first cache miss only."""

    def __init__(self, model, threads: int):
        self._model, self._threads = model, threads

    def get(self):
        if self._model is None:
            from ..detectors.pose import load_blazepose

            self._model = load_blazepose(threads=self._threads)
        return self._model


def extract_keypoints(videos, *, model=None, cache: bool = True, skip_bad: bool = False,
                      max_videos: int | None = None, threads: int = 0, progress: bool = True) -> KeypointSet:
    """Keypoints of every video of ``videos`` (anything :func:`open_source` accepts) as a :class:`KeypointSet`.

    ``model``: an object with ``video(frames) -> (keypoints [T, 17, 3], person [T])`` and ``provenance`` (default:
    BlazePose from the weights store, loaded on the first cache miss). ``cache=False`` neither reads nor writes the
    cache. ``threads``: TFLite threads (0 = its default).
    """
    from tqdm.auto import tqdm

    from ..detectors.pose import model_provenance

    src = open_source(videos)
    lazy = _LazyModel(model, threads)
    prov = model.provenance if model is not None else model_provenance()
    tracks, shapes, ids, skipped = [], [], [], []
    counts = {"videos": 0, "frames": 0, "frames_no_person": 0, "videos_no_person": 0, "videos_skipped": 0,
              "cache_hits": 0}
    bar = tqdm(desc="pose", unit="video", disable=not progress, dynamic_ncols=True,
               total=None if max_videos is None else max_videos)
    for video in src:
        if max_videos is not None and len(ids) >= max_videos:
            break
        try:
            if video.num_frames < 1:
                raise VideoReadError(video.path, "the video has no frames")
            frames = video.read()
        except VideoReadError as e:
            if not skip_bad:
                raise VideoReadError(e.path, f"{e.problem} (use --skip-bad to skip unreadable videos)") from e
            skipped.append(video.id)
            counts["videos_skipped"] += 1
            continue
        key = video_key(frames, prov)
        path = cache_dir() / f"{key[:40]}.npz"
        hit = _load_cached(path, len(frames)) if cache and path.is_file() else None
        if hit is None:
            kp, person = lazy.get().video(frames)
            if cache:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, "wb") as f:
                    np.savez(f, keypoints=kp, person=person)
        else:
            kp, person = hit
            counts["cache_hits"] += 1
        tracks.append((kp, person))
        shapes.append(frames.shape[1:3])
        ids.append(video.id)
        counts["videos"] += 1
        counts["frames"] += len(frames)
        counts["frames_no_person"] += int((~person).sum())
        counts["videos_no_person"] += int(not person.any())
        bar.update(1)
        bar.set_postfix(no_person=counts["frames_no_person"], cached=counts["cache_hits"], refresh=False)
    bar.close()
    if not ids:
        raise VgbenchError(f"{videos}: no video to extract keypoints from"
                           + (f" ({len(skipped)} unreadable, skipped)" if skipped else ""))
    t = max(len(kp) for kp, _ in tracks)
    keypoints = np.zeros((len(ids), t, 17, 3), np.float32)
    person = np.zeros((len(ids), t), bool)
    for i, (kp, pr) in enumerate(tracks):
        keypoints[i, : len(kp)] = kp
        person[i, : len(pr)] = pr
    meta = {**prov, "pipeline_version": PIPELINE_VERSION, "counts": counts, "skipped": skipped,
            "source": src.describe()}
    return KeypointSet(keypoints, [len(kp) for kp, _ in tracks], person, np.asarray(shapes), ids, meta)
