"""Clip selection and feature extraction over any video source, streaming, batched, resumable.

:class:`ClipSpec` says which frames of a video form its clip (length, stride, offset policy, minimum length).
:func:`extract_features` walks a source in order, decodes the clips in background workers (threads by default,
processes on request) while the detector runs, and returns per-video features plus exact counts of what was
used and skipped. With ``shard_dir`` it writes finished work to shards and resumes from them after an interrupt.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import VgbenchError
from .io.sources import Video, VideoReadError, VideoSource, open_source
from .utils import atomic_write, sha256_json

__all__ = ["ClipSpec", "ExtractResult", "extract_features", "clip_offset", "NotEnoughVideos"]


#: decoded clips waiting for one detector call hold at most this many bytes (a batch is sent earlier when full)
MAX_BATCH_BYTES = 1 << 30


class NotEnoughVideos(VgbenchError, ValueError):
    """Fewer usable videos than a computation needs."""


def clip_offset(video_id: str, length: int, span: int, seed: int) -> int:
    """Random clip start in ``[0, length - span]`` for ``video_id``: depends only on (seed, id, length, span),
    not on order, batch size or workers."""
    key = int.from_bytes(hashlib.sha256(video_id.encode("utf-8")).digest()[:8], "little")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key])))
    return int(rng.integers(0, length - span + 1))


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    num_frames: int | None  # None: every frame of the video
    stride: int = 1
    offset: str = "zero"  # 'zero' | 'random'
    seed: int = 0
    min_frames: int | None = None  # shorter videos are skipped (None: the clip span)
    max_videos: int | None = None
    short_is_error: bool = False  # fake sets: a too-short video is an error, not a skip

    @classmethod
    def from_protocol(cls, protocol, role: str) -> "ClipSpec":
        p = protocol[role]
        if role == "real":
            return cls(p["num_frames"], p["frame_stride"], p["offset"], p.get("offset_seed", 0),
                       p["min_frames"], p["max_videos"])
        return cls(p["num_frames"], p["frame_stride"], p["offset"], 0, None, p["num_videos"], short_is_error=True)

    @property
    def span(self) -> int:
        return 0 if self.num_frames is None else (self.num_frames - 1) * self.stride + 1

    def required(self) -> int:
        return max(self.min_frames or 0, self.span)

    def indices(self, video_id: str, length: int) -> tuple[list[int], int] | None:
        """Frame indices of the clip and its offset, or None when the video is too short."""
        if self.num_frames is None:
            return list(range(0, length, self.stride)), 0
        if length < self.required():
            return None
        start = clip_offset(video_id, length, self.span, self.seed) if self.offset == "random" else 0
        return [start + k * self.stride for k in range(self.num_frames)], start

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ExtractResult:
    features: np.ndarray  # [N, D] float32, one row per used video, in source order
    ids: list[str]
    offsets: list[int]
    counts: dict
    bad: list[dict]
    #: wall seconds: ``detector`` (in detector calls), ``input_wait`` (waiting for the next decoded clip: the
    #: time the detector would sit idle), ``total``
    timing: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def _read_job(video: Video, spec: ClipSpec):
    """Runs in a worker: decide the clip and decode it. Returns (status, payload)."""
    try:
        length = video.num_frames
        sel = spec.indices(video.id, length)
        if sel is None:
            return "short", length
        idx, start = sel
        return "ok", (video.read(idx), start)
    except VideoReadError as e:
        return "bad", str(e)


def _ordered(jobs: Iterator[Video], spec: ClipSpec, workers: int, window: int, processes: bool):
    """Yield (video, result) in source order, decoding up to ``window`` videos ahead in ``workers`` workers."""
    if workers <= 0:
        for v in jobs:
            yield v, _read_job(v, spec)
        return
    if processes:
        import multiprocessing as mp

        ex: cf.Executor = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    else:
        ex = cf.ThreadPoolExecutor(workers, thread_name_prefix="vgbench-read")
    pending: collections.deque = collections.deque()
    try:
        for v in jobs:
            pending.append((v, ex.submit(_read_job, v, spec)))
            if len(pending) >= window:
                v0, f0 = pending.popleft()
                yield v0, f0.result()
        while pending:
            v0, f0 = pending.popleft()
            yield v0, f0.result()
    finally:
        for _, f in pending:
            f.cancel()
        ex.shutdown(wait=True, cancel_futures=True)


class _Shards:
    """Resumable on-disk progress: ``shard_XXXXX.npz`` files plus ``meta.json`` naming what they belong to.

    Each shard holds the videos finished since the previous one and the exact resume state after them (the source
    index of the next video to read, counts, resolutions, unreadable videos): shards are only ever cut where every
    video before ``next_source_index`` is either in a shard or counted as skipped, so resuming never loses or repeats
    a video, whatever the batch size.
    """

    FORMAT = 2

    def __init__(self, folder: str | Path, key: dict):
        self.dir, self.key = Path(folder), key
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if meta.exists():
            try:
                old = json.loads(meta.read_text())
            except (OSError, ValueError) as e:
                raise ValueError(f"{meta}: unreadable resume metadata ({e}); remove {self.dir} to start over") from e
            if old.get("key_sha256") != sha256_json(key):
                raise ValueError(
                    f"{self.dir}: holds partial work for a different computation (other source, protocol or "
                    f"detector). Remove the folder or choose another --resume-dir.")
            if old.get("format") != self.FORMAT:
                raise ValueError(f"{self.dir}: partial work written by an older vgbench (resume format "
                                 f"{old.get('format', 1)}, this one reads {self.FORMAT}); remove the folder to start "
                                 f"over")
        else:
            with atomic_write(meta, "w") as f:
                json.dump({"format": self.FORMAT, "key_sha256": sha256_json(key), "key": key}, f, indent=2)
        self.next_index = len(self._files())

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("shard_*.npz"))

    def load(self):
        feats, ids, offsets, state = [], [], [], None
        for p in self._files():
            try:
                with np.load(p, allow_pickle=False) as z:
                    feats.append(z["features"])
                    ids += [str(s) for s in z["ids"]]
                    offsets += z["offsets"].tolist()
                    state = json.loads(str(z["state"]))
            except Exception as e:  # a shard is written atomically: damage means someone else touched it
                raise ValueError(f"{p}: damaged resume shard ({e}); remove {self.dir} to start over") from e
        return feats, ids, offsets, state

    def write(self, feats, ids, offsets, state, dim: int) -> None:
        arr = np.asarray(feats, np.float32).reshape(len(ids), dim)
        with atomic_write(self.dir / f"shard_{self.next_index:05d}.npz", "wb") as f:
            np.savez(f, features=arr, ids=np.asarray(ids, dtype=str), offsets=np.asarray(offsets, np.int64),
                     state=json.dumps(state))
        self.next_index += 1


#: the share of the free device memory that a batch of clips may take (the rest: other tensors, allocator slack)
MEMORY_SHARE = 0.5
#: the largest batch chosen from free memory
MAX_AUTO_BATCH = 256


def batch_for_memory(free_bytes: int, per_clip_bytes: int, limit: int = MAX_AUTO_BATCH) -> int:
    """Clips per batch when each adds ``per_clip_bytes`` at its peak and ``free_bytes`` are free."""
    return int(max(1, min(limit, MEMORY_SHARE * free_bytes // max(int(per_clip_bytes), 1))))


def probe_batch_size(detector: Callable, clip: np.ndarray, device) -> int | None:
    """On a CUDA device: run ``detector`` on one clip, measure the peak memory it adds and size batches to the free
    memory (:func:`batch_for_memory`); None on other devices. The one-clip peak includes fixed workspace, so the
    estimate errs on the small side; a batch that still runs out of memory is split (:func:`run_in_halves`)."""
    import torch

    if device is None or not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    detector([clip])
    torch.cuda.synchronize(dev)
    free, _total = torch.cuda.mem_get_info(dev)
    return batch_for_memory(free, torch.cuda.max_memory_allocated(dev) - base)


def run_in_halves(detector: Callable, batch: list, splits: list | None = None) -> np.ndarray:
    """``detector(batch)`` as float32; when the device runs out of memory the batch is run as two halves (down to
    single clips, which then fail for real). Each split appends the failed batch size to ``splits``."""
    import torch

    try:
        return np.asarray(detector(batch), np.float32)
    except torch.OutOfMemoryError:
        if len(batch) == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if splits is not None:
            splits.append(len(batch))
        half = len(batch) // 2
        return np.concatenate([run_in_halves(detector, batch[:half], splits),
                               run_in_halves(detector, batch[half:], splits)])


def extract_features(
    source,
    detector: Callable,
    spec: ClipSpec,
    *,
    batch_size: int | str = 8,
    device=None,
    num_workers: int = 2,
    worker_processes: bool = False,
    skip_bad: bool = False,
    shard_dir: str | Path | None = None,
    shard_size: int = 256,
    shard_key: dict | None = None,
    progress: bool = True,
    desc: str = "features",
    max_batch_bytes: int = MAX_BATCH_BYTES,
) -> ExtractResult:
    """Features of one clip per video of ``source`` (see :class:`ClipSpec`), in source order.

    Clips are sent to ``detector`` in batches of up to ``batch_size`` clips of the same shape (a clip of another
    size or length starts a new batch), and of at most ``max_batch_bytes`` decoded bytes (large frames go in
    smaller batches, so memory stays bounded). ``batch_size="auto"`` sizes batches to the free memory of a CUDA
    ``device`` from the first clip (:func:`probe_batch_size`; 8 elsewhere); a batch that runs out of device memory
    is split in halves and later batches are kept at the size that worked (``timing["oom_splits"]``).
    With ``shard_dir``, finished work is saved every ``shard_size`` videos and
    when the run is interrupted (Ctrl-C or any error), and a later call with the same ``shard_key`` resumes after
    the last saved video; the result is the same as that of an uninterrupted run.
    """
    source: VideoSource = open_source(source)
    if worker_processes and not source.supports_workers:
        worker_processes = False  # in-memory and one-pass sources are read in threads
    dim = detector.feature_dim
    counts = collections.Counter()
    resolutions: collections.Counter = collections.Counter()
    bad: list[dict] = []
    feats: list[np.ndarray] = []
    ids: list[str] = []
    offsets: list[int] = []
    skip_first = 0
    shards = None
    if shard_dir is not None:
        shards = _Shards(shard_dir, shard_key or {})
        f0, ids, offsets, state = shards.load()
        feats = [r for f in f0 for r in f]
        if state:
            skip_first = state["next_source_index"]
            counts.update(state["counts"])
            resolutions.update(state["resolutions"])
            bad = state["bad"]

    try:
        total = len(source)
    except TypeError:
        total = None
    target = spec.max_videos
    bar_total = min(total, target) if (total is not None and target) else (total or target)
    from tqdm.auto import tqdm

    bar = tqdm(total=bar_total, initial=len(ids), desc=desc, unit="video", disable=not progress, dynamic_ncols=True)

    consumed = skip_first  # source index of the next video to read
    batch: list[np.ndarray] = []
    batch_meta: list[tuple[str, int]] = []
    saved = len(ids)  # videos already in shards
    # resume state at the last moment when every consumed video was finished (in ``ids`` or counted as skipped)
    checkpoint = {"next_source_index": consumed, "counts": dict(counts), "resolutions": dict(resolutions),
                  "bad": len(bad), "ids": len(ids)}

    clock = {"detector": 0.0, "input_wait": 0.0, "start": time.perf_counter()}

    splits: list[int] = []

    def flush():
        nonlocal batch_size
        if not batch:
            return
        try:
            t = time.perf_counter()
            out = run_in_halves(detector, batch, splits)
            clock["detector"] += time.perf_counter() - t
            if splits and batch_size > max(1, min(splits) // 2):
                batch_size = max(1, min(splits) // 2)  # the size that last worked
        except ValueError as e:  # e.g. a clip too short for the detector: say which videos
            raise ValueError(f"videos {[m[0] for m in batch_meta]}: {e}") from e
        if out.shape != (len(batch), dim):
            raise ValueError(f"detector returned features shaped {out.shape}, expected {(len(batch), dim)}")
        if not np.all(np.isfinite(out)):
            rows = [batch_meta[i][0] for i in np.unique(np.nonzero(~np.isfinite(out))[0])]
            raise ValueError(f"NaN or inf features for videos {rows[:10]}: the detector or the input is broken")
        feats.extend(out)
        for vid, off in batch_meta:
            ids.append(vid)
            offsets.append(off)
        bar.update(len(batch))
        batch.clear()
        batch_meta.clear()

    def mark():
        """Remember the resume state; only valid while no clip waits in ``batch``."""
        nonlocal checkpoint
        checkpoint = {"next_source_index": consumed, "counts": dict(counts), "resolutions": dict(resolutions),
                      "bad": len(bad), "ids": len(ids)}

    def save(force: bool = False):
        """Write the videos finished since the last shard, with the resume state after them."""
        nonlocal saved
        end = checkpoint["ids"]
        if shards is None or not (end - saved >= shard_size or (force and end > saved)):
            return
        state = {k: checkpoint[k] for k in ("next_source_index", "counts", "resolutions")}
        state["bad"] = bad[:checkpoint["bad"]]
        shards.write(feats[saved:end], ids[saved:end], offsets[saved:end], state, dim)
        saved = end

    def jobs():
        for i, v in enumerate(source):
            if i < skip_first:
                continue
            yield v

    window = max(2 * (batch_size if isinstance(batch_size, int) else 8), 4)  # clips decoded ahead
    done = target is not None and len(ids) >= target
    if not done:
        gen = _waited(_ordered(jobs(), spec, num_workers, window, worker_processes), clock)
        try:
            for video, (status, payload) in gen:
                counts["seen"] += 1
                consumed += 1
                if status == "short":
                    if spec.short_is_error and not skip_bad:
                        raise NotEnoughVideos(
                            f"{video.path}: has {payload} frames, the protocol needs {spec.required()} "
                            f"(use --skip-bad to skip such videos)")
                    counts["skipped_short"] += 1
                elif status == "bad":
                    if not skip_bad:
                        raise VideoReadError(video.path, payload.split(": ", 1)[-1] + " (use --skip-bad to skip "
                                                                                    "unreadable videos)")
                    counts["skipped_bad"] += 1
                    bad.append({"id": video.id, "path": video.path, "error": payload})
                else:
                    clip, start = payload
                    if batch_size == "auto":
                        batch_size = probe_batch_size(detector, clip, device) or 8
                    if batch and clip.shape != batch[0].shape:
                        flush()  # one batch holds clips of one shape
                    resolutions[f"{clip.shape[1]}x{clip.shape[2]}"] += 1
                    batch.append(clip)
                    batch_meta.append((video.id, start))
                    if len(batch) >= batch_size or sum(c.nbytes for c in batch) >= max_batch_bytes:
                        flush()
                if not batch:
                    mark()
                    save()
                if target is not None and len(ids) + len(batch) >= target:
                    break
            flush()
            mark()
        except BaseException as e:
            # Ctrl-C, a kill signal turned into an exception, or an error: keep what is finished for a resume
            if shards is not None:
                save(force=True)
                e.add_note(f"vgbench: {saved} finished videos are kept in {shards.dir}; the same command resumes "
                           f"from there")
            raise
        finally:
            gen.close()
        save(force=True)
    bar.close()
    counts["used"] = len(ids)
    result_counts = {k: int(counts.get(k, 0)) for k in ("seen", "used", "skipped_short", "skipped_bad")}
    result_counts["resolutions"] = dict(resolutions)
    arr = np.stack(feats).astype(np.float32) if feats else np.zeros((0, dim), np.float32)
    timing = {"detector": round(clock["detector"], 4), "input_wait": round(clock["input_wait"], 4),
              "total": round(time.perf_counter() - clock["start"], 4),
              "batch_size": batch_size if batch_size != "auto" else None, "oom_splits": len(splits)}
    return ExtractResult(arr, ids, offsets, result_counts, bad, timing)


def _waited(gen, clock: dict):
    """``gen``'s items, adding the time spent waiting for each to ``clock['input_wait']``."""
    try:
        while True:
            t = time.perf_counter()
            try:
                item = next(gen)
            except StopIteration:
                return
            finally:
                clock["input_wait"] += time.perf_counter() - t
            yield item
    finally:
        gen.close()
