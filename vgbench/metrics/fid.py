"""Fréchet Inception Distance for video generators, under a versioned protocol (``fid_video``, ``fid50k_full``).

FID is an image metric: every selected frame is one sample. ``compute_frame_stats(source, protocol, role)`` streams
the frames a protocol selects (real: every frame of every video; fake: the first ``num_frames`` frames of the
first ``num_videos`` videos, at most ``max_frames`` frames) through the TF Inception-v3 in batches of
``frame_batch`` frames into float64 running statistics (:class:`~vgbench.metrics.stats.FeatureStats`, population
covariance); ``fid(real, fake, protocol)`` takes sources or saved statistics and returns the distance
(:func:`~vgbench.metrics.frechet.frechet_distance`, the same one as FVD) with full provenance, through the same
two-sided computation as FVD (:func:`~vgbench.metrics.base.frechet_compute`) that ``vgbench eval --metrics
fid_video`` runs. Nothing holds more than one decoded chunk of one video plus one frame batch in memory.
"""
from __future__ import annotations

import collections
import dataclasses
import time

import numpy as np

from ..features import ClipSpec, NotEnoughVideos
from ..io.sources import FileVideo, VideoReadError, open_source
from ..protocols import Protocol, ProtocolError, load_protocol
from ..provenance import STATS_SCHEMA, environment, make_record, utc_now
from .base import (
    EvalContext,
    MetricResult,
    MetricSpec,
    background,
    describe_source,
    fake_clips,
    frechet_compute,
    metric_protocol,
    register_metric,
)
from .confidence import DEFAULT_SEED, FID_DEFAULT_BOOTSTRAP
from .stats import FeatureStats, VideoStats

__all__ = ["FIDResult", "compute_frame_stats", "fid", "frame_spec"]

_CHUNK = 256  # frames decoded at once from one video (a whole video file is decoded in one pass)


FIDResult = MetricResult


def frame_spec(protocol: Protocol, role: str, num_videos: int | None = None) -> tuple[ClipSpec, int | None]:
    """(which frames of each video, the frame budget) for ``role`` under ``protocol``."""
    p = protocol[role]
    if role == "real":
        max_videos = p.get("max_videos") or None
        return ClipSpec(None, 1, "zero", 0, int(p.get("min_frames", 1)), max_videos), p.get("max_frames") or None
    n = num_videos or p["num_videos"]
    spec = ClipSpec(p["num_frames"], p["frame_stride"], "zero", 0, None, n, short_is_error=True)
    return spec, p.get("max_frames") or None


def _frames(src, spec: ClipSpec, max_frames: int | None, skip_bad: bool, counts, bad, resolutions, ids,
            takes: list[int] | None = None):
    """Yield (video index, uint8 frame chunk) in source order, the index being the video's position in ``ids``; fill
    counts/bad/resolutions/ids as it goes (runs in a thread). ``takes``: a shard's planned frames per video
    (replacing the budget, which the plan applied)."""
    budget = max_frames
    for k, video in enumerate(src):
        if spec.max_videos is not None and counts["used"] >= spec.max_videos:
            return
        if budget is not None and budget <= 0:
            return
        counts["seen"] += 1
        try:
            sel = spec.indices(video.id, video.num_frames)
            if sel is None or not sel[0]:
                if spec.short_is_error and not skip_bad:
                    raise NotEnoughVideos(f"{video.path}: has {video.num_frames} frames, the protocol needs "
                                          f"{spec.required()} (use --skip-bad to skip such videos)")
                counts["skipped_short"] += 1
                continue
            idx = sel[0] if budget is None else sel[0][:budget]
            idx = idx if takes is None else idx[:takes[k]]
            step = len(idx) if isinstance(video, FileVideo) else _CHUNK
            chunks = [video.read(idx[i:i + step]) for i in range(0, len(idx), step)] if step else []
        except VideoReadError as e:
            if not skip_bad:
                raise VideoReadError(video.path, str(e).split(": ", 1)[-1] + " (use --skip-bad to skip unreadable "
                                                                             "videos)") from e
            counts["skipped_bad"] += 1
            bad.append({"id": video.id, "path": video.path, "error": str(e)})
            continue
        counts["used"] += 1
        ids.append(video.id)
        resolutions[f"{chunks[0].shape[1]}x{chunks[0].shape[2]}"] += 1
        for c in chunks:
            counts["frames"] += c.shape[0]
            if budget is not None:
                budget -= c.shape[0]
            yield len(ids) - 1, c


def compute_frame_stats(
    source,
    protocol: str | Protocol = "fid_video",
    role: str = "real",
    *,
    detector=None,
    device: str | None = None,
    frame_batch: int = 64,
    num_workers: int | None = None,
    skip_bad: bool = False,
    progress: bool = True,
    clip_spec: ClipSpec | None = None,
    max_frames: int | None = None,
    batch_size: int | None = None,
    worker_processes: bool | None = None,
    resume_dir=None,
    shard: tuple[int, int] | None = None,
    min_frames: int | None = None,
    keep_features: bool = False,
) -> VideoStats:
    """Inception statistics of the frames ``protocol`` selects from ``source`` as its ``role`` set.

    ``clip_spec``/``max_frames`` replace the protocol's frame selection (e.g. generated videos rendered only at the
    protocol's times). ``batch_size`` is accepted as an alias of ``frame_batch``; ``worker_processes`` and
    ``resume_dir`` are accepted for call compatibility with FVD and ignored (decoding runs in one background
    thread; frame statistics are not resumable). ``shard=(i, n)`` computes part ``i`` of ``n`` for
    :func:`~vgbench.metrics.shards.merge_stats` (``min_frames`` replaces the protocol's minimum: a part needs one
    frame); under torchrun each rank computes its shard and every rank merges them. ``keep_features`` keeps every
    frame's feature (float32) and its video in the statistics, for FID's bootstrap interval (memory and file: frames
    x 2048 x 4 B, 268 MB for fid_video's fake side); shards and torchrun ranks keep none (their merge adds moments).
    """
    if role not in ("real", "fake"):
        raise ValueError(f"role must be 'real' or 'fake', got {role!r}")
    protocol = load_protocol(protocol)
    from ..detectors import default_device, detector_for

    device = device or default_device()
    frame_batch = batch_size or frame_batch
    detector = detector_for(protocol, device, detector)
    det_prov = dict(getattr(detector, "provenance", {"name": getattr(detector, "name", "custom")}))
    expected_sha = protocol["detector"]["weights_sha256"]
    if det_prov.get("sha256") not in (None, expected_sha):
        raise ProtocolError(f"detector weights {det_prov.get('sha256')} differ from the protocol's {expected_sha}")
    spec, budget = frame_spec(protocol, role)
    if clip_spec is not None:
        spec = clip_spec
    if max_frames is not None:
        budget = max_frames
    src = open_source(source)
    desc, content_hash = describe_source(src)
    from .. import distributed

    kw = dict(detector=detector, device=device, frame_batch=frame_batch, num_workers=num_workers, skip_bad=skip_bad,
              clip_spec=clip_spec, max_frames=max_frames)
    if shard is None and content_hash is not None and distributed.sharing():
        rank, world = distributed.rank_world()
        part = compute_frame_stats(src, protocol, role, progress=progress and rank == 0, shard=(rank, world), **kw)
        from .shards import merge_stats

        return merge_stats(distributed.all_gather(part), [f"rank {r}" for r in range(world)])
    takes = shard_info = None
    work_src, work_spec, work_budget = src, spec, budget
    if shard is not None:
        from .shards import ShardError, ShardSource, make_plan

        index, count = shard
        plan = make_plan(src, spec, skip_bad=skip_bad, max_frames=budget, frames=True)
        if count > len(plan.indices):
            raise ShardError(f"{count} shards for {len(plan.indices)} usable videos: use at most "
                             f"{len(plan.indices)} shards")
        share = plan.share(index, count)
        work_src = ShardSource(src, plan.indices[share.start:share.stop])
        work_spec, work_budget = dataclasses.replace(spec, max_videos=None), None  # the plan applied both caps
        takes = plan.shard_takes(index, count)
        wanted = (budget if budget is not None else spec.max_videos * spec.num_frames) if role == "fake" else None
        shard_info = plan.part_info(index, count, protocol, role, wanted_frames=wanted)
    counts: collections.Counter = collections.Counter()
    resolutions: collections.Counter = collections.Counter()
    bad: list[dict] = []
    ids: list[str] = []
    stats = FeatureStats(detector.feature_dim)
    want = budget if budget is not None else (spec.max_videos * spec.num_frames
                                              if spec.max_videos and spec.num_frames else None)
    if takes is not None:
        want = sum(takes)
    from tqdm.auto import tqdm

    bar = tqdm(total=want, desc=f"{protocol.name} {role}", unit="frame", disable=not progress, dynamic_ncols=True)
    t0 = time.time()
    pending: list[np.ndarray] = []
    npend = 0
    frame_videos: list[np.ndarray] = []  # the video of every frame, in feature order (keep_features)
    kept: list[np.ndarray] = []

    def flush(final: bool = False):
        nonlocal pending, npend
        while npend >= frame_batch or (final and npend):
            allf = np.concatenate(pending) if len(pending) > 1 else pending[0]
            take = allf[:frame_batch] if npend >= frame_batch else allf
            feats = np.asarray(detector(take), np.float32)
            stats.append(feats, where=f"{protocol.name} {role} features")
            if keep_features:
                kept.append(feats)
            bar.update(take.shape[0])
            rest = allf[take.shape[0]:]
            pending, npend = ([rest] if rest.shape[0] else []), rest.shape[0]

    gen = _frames(work_src, work_spec, work_budget, skip_bad, counts, bad, resolutions, ids, takes)
    workers = 1 if num_workers is None else num_workers
    it = background(gen, depth=4) if workers > 0 else gen
    try:
        for video_index, chunk in it:
            if keep_features:
                frame_videos.append(np.full(chunk.shape[0], video_index, np.int64))
            # frames of different sizes cannot share a batch: flush before the size changes
            if pending and pending[0].shape[1:] != chunk.shape[1:]:
                flush(final=True)
            pending.append(chunk)
            npend += chunk.shape[0]
            flush()
        flush(final=True)
    finally:
        bar.close()
    need = min_frames or (protocol["statistics"]["min_frames"] if shard is None else 1)  # a merge checks the whole
    if stats.n < need:
        raise NotEnoughVideos(f"too few frames for {protocol.name} ({role}): {stats.n} used from "
                              f"{counts['used']} videos, need at least {need} ({counts['seen']} seen, "
                              f"{counts['skipped_short']} too short, {counts['skipped_bad']} unreadable)")
    mu, sigma = stats.mean_cov()
    c = {k: int(counts.get(k, 0)) for k in ("seen", "used", "skipped_short", "skipped_bad", "frames")}
    c["resolutions"] = dict(resolutions)
    complete = c["skipped_bad"] == 0
    if role == "fake":
        wanted = budget if budget is not None else spec.max_videos * spec.num_frames
        complete = complete and c["frames"] >= wanted
        c["frames_required"] = int(wanted)
    manifest = {
        "schema": STATS_SCHEMA,
        "created": utc_now(),
        "role": role,
        "protocol": {"name": protocol.name, "version": protocol.version, "params_sha256": protocol.params_sha256},
        "detector": det_prov,
        "clip": {**spec.to_dict(), "max_frames": budget, "unit": "frame"},
        "source": desc,
        "source_content_hash": content_hash,
        "counts": c,
        "bad_videos": bad,
        "protocol_complete": complete,
        "runtime": {"seconds": round(time.time() - t0, 3), "device": str(device), "frame_batch": frame_batch},
        "env": environment(device),
    }
    if shard_info is not None:
        manifest["shard"] = shard_info
    features = videos = None
    if keep_features:
        features, videos = np.concatenate(kept), np.concatenate(frame_videos)
    return VideoStats(mu, sigma, stats.n, manifest, ids, [], features, videos)


def fid(real, fake, protocol: str | Protocol = "fid_video", *, strict: bool = False, detector=None,
        device: str | None = None, bootstrap: int = FID_DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_SEED,
        **kwargs) -> FIDResult:
    """FID between ``real`` and ``fake``: each a video source (path, array, ``builtin:NAME``...) or FID statistics
    (a ``.npz`` written by :meth:`VideoStats.save` of :func:`compute_frame_stats`). Extra keyword arguments go to
    :func:`compute_frame_stats` (frame_batch, num_workers, skip_bad, progress...). ``bootstrap`` replicates of the
    ``ci95`` (the fake set's videos resampled, the real statistics fixed; default 0: none, as it costs seconds per
    replicate on a CPU) with ``bootstrap_seed``; a fake side given as statistics needs them made with
    ``keep_features`` (docs/confidence.md)."""
    protocol = metric_protocol(protocol, "fid", "an FID")
    from ..detectors import default_device

    device = device or default_device()
    ctx = EvalContext(protocol, device, real=real, fake=fake, strict=strict, detector=detector, options=kwargs,
                      fid_bootstrap=bootstrap, bootstrap_seed=bootstrap_seed)
    entry = _compute(ctx)
    record = make_record({protocol.name: entry}, device=device, headline={"fid": entry["value"]})
    return MetricResult(entry["value"], record)


# --------------------------------------------------------------------------- vgbench eval


def _fake_frames(ctx: EvalContext, detector, num_videos: int) -> VideoStats:
    """Fake statistics from the adapter: generated videos rendered at the protocol's times ``0, s, ...``."""
    protocol = ctx.protocol
    budget = protocol["fake"].get("max_frames") or None  # fewer videos (--num-fake) stay below it: incomplete
    kw = dict(detector=detector, device=ctx.device, num_workers=ctx.num_workers, frame_batch=ctx.batch_size or 64)
    from .. import distributed

    if distributed.sharing() and ctx.adapter.name != "folder":  # torchrun: the ranks split the videos by index
        from .shards import generator_part

        return generator_part(ctx, num_videos, lambda src, spec, part_budget, progress: compute_frame_stats(
            src, protocol, "fake", clip_spec=spec, max_frames=part_budget, progress=progress, min_frames=1, **kw),
            frames=True, max_frames=budget)
    kw["keep_features"] = ctx.bootstrap > 0  # for FID's interval (one process only: a merge keeps no features)
    src, spec = fake_clips(ctx.adapter, protocol, num_videos, ctx.seed, ctx.gen_batch_size)
    return compute_frame_stats(src, protocol, "fake", clip_spec=spec, progress=ctx.progress, max_frames=budget, **kw)


def _frame_stats(source, protocol, role, **kwargs) -> VideoStats:
    """:func:`compute_frame_stats` of a given source; a fake side keeps its frames' features for the bootstrap."""
    return compute_frame_stats(source, protocol, role, keep_features=role == "fake", **kwargs)


def _compute(ctx: EvalContext) -> dict:
    """FID's entry; its interval has its own number of replicates (``ctx.fid_bootstrap``, default none)."""
    ctx = dataclasses.replace(ctx, bootstrap=ctx.fid_bootstrap)
    return frechet_compute(ctx, _frame_stats if ctx.bootstrap > 0 else compute_frame_stats, _fake_frames,
                           unit="frames")


register_metric(MetricSpec(
    kind="fid",
    compute=_compute,
    required={
        "real": ["frames", "max_videos", "min_frames"],
        "fake": ["num_videos", "num_frames", "frame_stride", "offset", "max_frames"],
        "detector": ["name", "weights", "weights_sha256", "resize", "resize_mode", "scale", "features"],
        "statistics": ["covariance", "min_frames"],
        "distance": ["name", "nonfinite_retry_eps"],
    },
    aliases={"fid": "fid_video"},
    columns={"fid_video": "fid", "fid50k_full": "fid"},
    api={"fid": "fid"},
))
