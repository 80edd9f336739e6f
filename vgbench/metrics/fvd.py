"""Fréchet Video Distance under a versioned protocol (``fvd16``, ``fvd128``, ``fvd128_subsample8``, ``fvd16_tf``,
``fvd128_tf``).

:func:`compute_stats` turns videos into Gaussian statistics of I3D logits with a manifest; :func:`fvd` takes
sources or saved statistics for either side and returns the distance with a full result record. Real clips: one
per video at a seeded random offset, short videos skipped and counted, at most ``max_videos`` in natural order.
Fake clips: the first frames of the first ``num_videos`` videos. The computation itself is
:func:`vgbench.metrics.base.frechet_compute`, shared with FID and with ``vgbench eval``.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..features import ClipSpec, NotEnoughVideos, extract_features
from ..io.sources import open_source
from ..protocols import Protocol, ProtocolError, load_protocol
from ..provenance import STATS_SCHEMA, environment, make_record, utc_now
from ..utils import sha256_json
from .base import (
    EvalContext,
    IncompleteProtocolWarning,
    MetricResult,
    MetricSpec,
    describe_source,
    fake_clips,
    flag_incomplete,
    frechet_compute,
    metric_protocol,
    register_metric,
)
from .confidence import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from .stats import FeatureStats, VideoStats, load_stats

__all__ = ["compute_stats", "fvd", "VideoStats", "FVDResult", "MetricResult", "IncompleteProtocolWarning",
           "load_stats", "flag_incomplete"]

FVDResult = MetricResult


def compute_stats(
    source,
    protocol: str | Protocol = "fvd16",
    role: str = "real",
    *,
    detector=None,
    device: str | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    worker_processes: bool | None = None,
    skip_bad: bool = False,
    resume_dir: str | Path | None = None,
    progress: bool = True,
    clip_spec: ClipSpec | None = None,
    shard: tuple[int, int] | None = None,
    min_videos: int | None = None,
) -> VideoStats:
    """Statistics of ``source`` as the ``role`` ('real' or 'fake') set of ``protocol``.

    ``shard=(i, n)`` computes only part ``i`` of ``n`` (:mod:`vgbench.metrics.shards`): a file for
    :func:`~vgbench.metrics.shards.merge_stats`, not statistics to measure with. ``min_videos`` replaces the
    protocol's ``statistics.min_videos`` (a part of a set needs only one video: the merge checks the whole).

    ``clip_spec`` replaces the protocol's clip selection for sources that already apply it, e.g. generated fake
    videos rendered only at the protocol's times (``t = 0, s, ..., (n-1)s``), which are read with stride 1.
    ``resume_dir`` keeps finished work there and resumes from it (see :func:`extract_features`); ``"auto"`` uses a
    folder under ``$VGBENCH_HOME/partial`` named after the computation (source fingerprint included: sizes and
    modification times) and removes it on success; in-memory data and a generator's stream are not resumed.
    """
    if role not in ("real", "fake"):
        raise ValueError(f"role must be 'real' or 'fake', got {role!r}")
    protocol = load_protocol(protocol)
    from ..detectors import default_device, detector_for

    device = device or default_device()
    detector = detector_for(protocol, device, detector)
    det_prov = dict(getattr(detector, "provenance", {"name": getattr(detector, "name", "custom")}))
    expected_sha = protocol["detector"]["weights_sha256"]
    if det_prov.get("sha256") not in (None, expected_sha):
        raise ProtocolError(f"detector weights {det_prov.get('sha256')} differ from the protocol's {expected_sha}")
    spec = clip_spec or ClipSpec.from_protocol(protocol, role)
    src = open_source(source)
    desc, content_hash = describe_source(src)
    on_gpu = str(device).startswith("cuda")
    if batch_size is None:  # on a GPU, as many clips as its free memory holds (the first clip is measured)
        batch_size = "auto" if on_gpu else (max(1, 128 // spec.num_frames) if spec.num_frames else 1)
    if num_workers is None:  # on a GPU, decode in several processes so the detector never waits
        num_workers = min(4, os.cpu_count() or 1) if on_gpu else 1
    if worker_processes is None:
        worker_processes = on_gpu
    from .. import distributed

    if shard is None and content_hash is not None and distributed.sharing():
        # torchrun: this rank computes its shard, every rank merges all of them (a one-pass stream, which cannot be
        # split by its listing, is computed whole by every rank instead: the same result)
        rank, world = distributed.rank_world()
        if resume_dir is not None and not (isinstance(resume_dir, str) and resume_dir == "auto"):
            resume_dir = Path(resume_dir) / f"rank{rank}-of-{world}"
        part = compute_stats(src, protocol, role, detector=detector, device=device, batch_size=batch_size,
                             num_workers=num_workers, worker_processes=worker_processes, skip_bad=skip_bad,
                             resume_dir=resume_dir, progress=progress and rank == 0, clip_spec=clip_spec,
                             shard=(rank, world))
        from .shards import merge_stats

        return merge_stats(distributed.all_gather(part), [f"rank {r}" for r in range(world)])
    fingerprint = src.fingerprint() if content_hash is not None else None
    work_src, work_spec, shard_info = src, spec, None
    if shard is not None:
        from .shards import ShardSource, make_plan

        index, count = shard
        plan = make_plan(src, spec, skip_bad=skip_bad)
        if count > len(plan.indices):
            from .shards import ShardError

            raise ShardError(f"{count} shards for {len(plan.indices)} usable videos: use at most "
                             f"{len(plan.indices)} shards")
        share = plan.share(index, count)
        work_src = ShardSource(src, plan.indices[share.start:share.stop])
        work_spec = dataclasses.replace(spec, max_videos=None)  # the plan applied the cap
        shard_info = plan.part_info(index, count, protocol, role)
    key = {"protocol": protocol.params_sha256, "role": role, "detector": det_prov.get("sha256"),
           "source": desc, "content_hash": content_hash, "fingerprint": fingerprint, "clip": spec.to_dict(),
           **({"shard": [shard_info["index"], shard_info["count"], shard_info["plan_sha256"]]} if shard else {})}
    auto_resume = isinstance(resume_dir, str) and resume_dir == "auto"
    if auto_resume:  # a folder of its own under $VGBENCH_HOME/partial; only for files whose changes can be seen
        from ..weights import home

        resume_dir = (home() / "partial" / f"{protocol.name}-{role}-{sha256_json(key)[:16]}"
                      if fingerprint is not None else None)
    t0 = time.time()
    res = extract_features(work_src, detector, work_spec, batch_size=batch_size, device=device,
                           num_workers=num_workers, worker_processes=worker_processes, skip_bad=skip_bad,
                           shard_dir=resume_dir, shard_key=key, progress=progress, desc=f"{protocol.name} {role}")
    if auto_resume and resume_dir is not None:
        shutil.rmtree(resume_dir, ignore_errors=True)
    need = min_videos or (protocol["statistics"]["min_videos"] if shard is None else 1)  # a merge checks the whole
    c = res.counts
    if len(res) < need:
        raise NotEnoughVideos(
            f"too few usable videos for {protocol.name} ({role}): {c['used']} used, need at least {need} "
            f"({c['seen']} seen, {c['skipped_short']} shorter than {spec.required()} frames, "
            f"{c['skipped_bad']} unreadable)")
    stats = FeatureStats(res.features.shape[1])
    stats.append(res.features, where=f"{protocol.name} {role} features")
    mu, sigma = stats.mean_cov()
    wanted = protocol[role]["num_videos"] if role == "fake" else None
    complete = (c["used"] >= wanted) if wanted else True
    complete = complete and c["skipped_bad"] == 0
    manifest = {
        "schema": STATS_SCHEMA,
        "created": utc_now(),
        "role": role,
        "protocol": {"name": protocol.name, "version": protocol.version, "params_sha256": protocol.params_sha256},
        "detector": det_prov,
        "clip": spec.to_dict(),
        "source": desc,
        "source_content_hash": content_hash,
        "counts": c,
        "bad_videos": res.bad,
        "protocol_complete": complete,
        "runtime": {"seconds": round(time.time() - t0, 3), "device": str(device),
                    "batch_size": res.timing["batch_size"], "oom_splits": res.timing["oom_splits"],
                    "num_workers": num_workers, "worker_processes": worker_processes,
                    # where the time went: in the detector, and waiting for decoded clips (the detector idle)
                    "detector_seconds": res.timing["detector"], "input_wait_seconds": res.timing["input_wait"]},
        "env": environment(device),
    }
    if shard_info is not None:
        manifest["shard"] = shard_info
    return VideoStats(mu, sigma, stats.n, manifest, res.ids, res.offsets, np.asarray(res.features, np.float32))


def fvd(real, fake, protocol: str | Protocol = "fvd16", *, strict: bool = False, detector=None,
        device: str | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_SEED,
        **kwargs) -> MetricResult:
    """FVD between ``real`` and ``fake``: each a video source (path, array, ``builtin:NAME``...) or statistics
    (a ``.npz`` written by :meth:`VideoStats.save` or a :class:`VideoStats`). Extra keyword arguments go to
    :func:`compute_stats` (batch_size, num_workers, skip_bad, progress...); ``resume_dir`` defaults to ``"auto"``
    (an interrupted run resumes where it stopped). ``bootstrap`` replicates (0: none) and ``bootstrap_seed`` make the
    entry's ``ci95`` (docs/confidence.md)."""
    from ..detectors import default_device

    protocol = metric_protocol(protocol, "fvd", "an FVD")
    device = device or default_device()
    kwargs.setdefault("resume_dir", "auto")
    ctx = EvalContext(protocol, device, real=real, fake=fake, strict=strict, detector=detector, options=kwargs,
                      bootstrap=bootstrap, bootstrap_seed=bootstrap_seed)
    entry = _compute(ctx)
    record = make_record({protocol.name: entry}, device=device, headline={"fvd": entry["value"]},
                         seeds={"offset_seed": protocol["real"].get("offset_seed")})
    return MetricResult(entry["value"], record)


def _fake_video_stats(ctx: EvalContext, detector, num_videos: int) -> VideoStats:
    """The generator's fake statistics: its videos rendered at the protocol's times, read with stride 1. Under
    torchrun rank ``r`` of ``W`` renders videos ``[r n / W, (r + 1) n / W)`` (video ``i`` depends only on
    ``(seed, i)``) and the parts are merged on every rank."""
    from .. import distributed

    rank, world = distributed.rank_world() if distributed.sharing() else (0, 1)
    if world == 1 or ctx.adapter.name == "folder":  # pre-generated videos: a listable source, sharded by its plan
        src, spec = fake_clips(ctx.adapter, ctx.protocol, num_videos, ctx.seed, ctx.gen_batch_size)
        return compute_stats(src, ctx.protocol, "fake", detector=detector, device=ctx.device, progress=ctx.progress,
                             clip_spec=spec, batch_size=ctx.batch_size, num_workers=ctx.num_workers)
    from .shards import generator_part

    return generator_part(ctx, num_videos, lambda src, spec, _budget, progress: compute_stats(
        src, ctx.protocol, "fake", detector=detector, device=ctx.device, progress=progress, clip_spec=spec,
        batch_size=ctx.batch_size, num_workers=ctx.num_workers, min_videos=1))


def _compute(ctx: EvalContext) -> dict:
    return frechet_compute(ctx, compute_stats, _fake_video_stats)


def _validate(data: dict, where: str) -> None:
    """Clip rules of an FVD protocol file beyond the required keys."""
    for side in ("real", "fake"):
        s = data[side]
        if s["num_frames"] < 1 or s["frame_stride"] < 1:
            raise ProtocolError(f"{where}: [{side}] num_frames and frame_stride must be >= 1")
        if s["offset"] not in ("random", "zero"):
            raise ProtocolError(f"{where}: [{side}].offset must be 'random' or 'zero', got {s['offset']!r}")
    span = (data["real"]["num_frames"] - 1) * data["real"]["frame_stride"] + 1
    if data["real"]["min_frames"] < span:
        raise ProtocolError(f"{where}: [real].min_frames {data['real']['min_frames']} is shorter than the clip "
                            f"span {span}")


register_metric(MetricSpec(
    kind="fvd",
    compute=_compute,
    required={
        "real": ["num_frames", "frame_stride", "min_frames", "max_videos", "offset", "offset_seed"],
        "fake": ["num_frames", "frame_stride", "num_videos", "offset"],
        "detector": ["name", "weights", "weights_sha256", "resize", "resize_mode", "align_corners", "features"],
        "statistics": ["covariance", "min_videos"],
        "distance": ["name", "nonfinite_retry_eps"],
    },
    aliases={"fvd": "fvd16"},
    columns={"fvd16": "fvd16", "fvd128": "fvd128", "fvd128_subsample8": "fvd128_subsample8"},
    validate=_validate,
    api={"fvd": "fvd"},
))
