"""Video Inception Score with the UCF101 C3D (protocol ``is_ucf101``, StyleGAN-V's ``isv2048_ucf``).

:func:`inception_score` is the formula alone: rows of class probabilities are shuffled with
``numpy.random.RandomState(seed).shuffle``, cut into ``num_splits`` parts at ``i * N // num_splits``, and each part
scores ``exp(mean_x KL(p(y|x) || p̄(y)))`` with ``p̄`` the part's mean; the result is the mean and the population
standard deviation (``np.std``) over the parts. No epsilon is added (as StyleGAN-V); a probability of exactly 0
contributes 0 (its limit) instead of NaN. Computed in float64 (StyleGAN-V keeps the float32 probabilities).

:func:`video_inception_score` runs the C3D on the first 16 frames of the first ``num_videos`` videos of a source.
Both it and ``vgbench eval --metrics is_ucf101`` run the metric's one computation (:func:`_compute`); eval refuses
to start (before generating anything) when the C3D weights, which no package registry ships, have not been imported.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..features import ClipSpec, NotEnoughVideos, extract_features
from ..io.sources import open_source
from ..protocols import Protocol, load_protocol
from ..provenance import make_record, utc_now
from .base import (
    EvalContext,
    MetricResult,
    MetricSpec,
    describe_source,
    fake_clips,
    flag_incomplete,
    metric_protocol,
    register_metric,
)

__all__ = ["inception_score", "video_inception_score", "ISResult", "class_probabilities", "require_c3d_weights"]


ISResult = MetricResult  # value (the mean over splits), std, record


def inception_score(probs, num_splits: int = 10, shuffle_seed: int | None = 42) -> tuple[float, float, list[float]]:
    """(mean, std, per-split scores) of class probabilities ``probs`` [N, C] (rows sum to 1)."""
    p = np.array(probs, dtype=np.float64, copy=True)
    if p.ndim != 2 or p.shape[0] < num_splits or num_splits < 1:
        raise ValueError(f"need probabilities shaped [N >= {num_splits}, C], got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(p)
    n = p.shape[0]
    scores = []
    for i in range(num_splits):
        part = p[i * n // num_splits:(i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(float(np.exp(kl.sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores)), scores


def require_c3d_weights() -> None:
    """Raise :class:`vgbench.weights.WeightsError` saying how to get the C3D weights when they are absent."""
    from .. import weights
    from ..detectors.c3d import missing_weights_message

    if not weights.is_present("c3d_ucf101"):
        raise weights.WeightsError(missing_weights_message())


def class_probabilities(source, protocol: str | Protocol = "is_ucf101", *, detector=None, device=None,
                        batch_size: int | None = None, num_workers: int | None = None, skip_bad: bool = False,
                        progress: bool = True, clip_spec: ClipSpec | None = None, num_videos: int | None = None,
                        shard_index: int | None = None, **_ignored):
    """(probabilities [N, 101], counts, ids, detector provenance, source description, content hash).

    Under torchrun the ranks split the videos (:func:`_split`); ``shard_index`` says that ``source`` is this rank's
    share of a generator's videos, starting at that video index."""
    protocol = load_protocol(protocol)
    from ..detectors import default_device, detector_for

    device = device or default_device()
    if detector is None:
        require_c3d_weights()
    detector = detector_for(protocol, device, detector)
    f = protocol["fake"]
    spec = clip_spec or ClipSpec(f["num_frames"], f["frame_stride"], "zero", 0, None,
                                 num_videos or f["num_videos"], short_is_error=True)
    src = open_source(source)
    desc, content_hash = describe_source(src)
    from .. import distributed

    def run(s, sp, show):
        return extract_features(s, detector, sp, batch_size=batch_size or 8,
                                num_workers=1 if num_workers is None else num_workers, skip_bad=skip_bad,
                                progress=show, desc=f"{protocol.name} C3D")

    if shard_index is not None or (distributed.sharing() and content_hash is not None):
        probs, counts, ids = _split(src, spec, run, skip_bad, progress, shard_index)
    else:
        res = run(src, spec, progress)
        probs, counts, ids = res.features, res.counts, res.ids
    if len(ids) < protocol["score"]["num_splits"]:
        raise NotEnoughVideos(f"{protocol.name}: {len(ids)} usable videos, need at least "
                              f"{protocol['score']['num_splits']} (one per split)")
    prov = dict(getattr(detector, "provenance", {"name": getattr(detector, "name", "custom")}))
    return probs, counts, ids, prov, desc, content_hash


def _split(src, spec: ClipSpec, run, skip_bad: bool, progress: bool, start: int | None):
    """Class probabilities under torchrun: rank ``r`` of ``W`` runs the C3D on its share and every rank joins the
    parts in order (the rows one process computes). A listable source is split by its plan
    (:mod:`vgbench.metrics.shards`); a generator's videos (``start``: this rank's first video index, already
    rendered by the caller) by index."""
    from .. import distributed
    from .shards import ShardSource, make_plan, merge_resolutions, refuse_replaced_videos

    rank, world = distributed.rank_world()
    plan = None
    if start is None:
        plan = make_plan(src, spec, skip_bad=skip_bad)
        share = plan.share(rank, world)
        src, spec = ShardSource(src, plan.indices[share.start:share.stop]), dataclasses.replace(spec, max_videos=None)
    res = run(src, spec, progress and rank == 0)
    parts = distributed.all_gather((res.features, res.ids, res.counts, res.bad))
    probs = np.concatenate([p[0] for p in parts])
    ids = [i for p in parts for i in p[1]]
    bad = [b for p in parts for b in p[3]]
    keys = ("seen", "used", "skipped_short", "skipped_bad")
    counts = {k: sum(int(p[2][k]) for p in parts) for k in keys}
    if plan is not None:
        refuse_replaced_videos(plan.capped, bad)
        counts.update(seen=plan.seen, skipped_short=plan.skipped_short, skipped_bad=len(plan.bad) + len(bad))
    counts["resolutions"] = merge_resolutions(p[2] for p in parts)
    return probs, counts, ids


def _entry(probs, counts, prov, protocol, wanted: int, strict: bool, seconds: float) -> dict:
    s = protocol["score"]
    mean, std, splits = inception_score(probs, s["num_splits"], s["shuffle_seed"])
    complete = counts["used"] >= wanted and counts.get("skipped_bad", 0) == 0
    if not complete:
        flag_incomplete(f"{protocol.name}: {counts['used']} videos of {wanted} required; the score is not "
                        "comparable to published numbers (IS grows with the sample size)", strict, stacklevel=4)
    return {"value": mean, "std": std, "splits": splits, "protocol": protocol.provenance(), "detector": prov,
            "counts": {"real_used": 0, "fake_used": int(counts["used"]), "fake": counts},
            "protocol_complete": bool(complete), "seconds": {"fake": round(seconds, 2)}}


def video_inception_score(fake, protocol: str | Protocol = "is_ucf101", *, strict: bool = False, detector=None,
                          device: str | None = None, **kwargs) -> ISResult:
    """Video IS of ``fake`` (any video source) under ``protocol``; returns value (mean), std and a full record."""
    protocol = metric_protocol(protocol, "inception_score", "an IS")
    from ..detectors import default_device

    device = device or default_device()
    ctx = EvalContext(protocol, device, fake=fake, strict=strict, detector=detector, options=kwargs)
    entry = _compute(ctx)
    record = make_record({protocol.name: entry}, device=device, headline={"is": entry["value"], "is_std": entry["std"]},
                         seeds={"shuffle_seed": protocol["score"]["shuffle_seed"]})
    return MetricResult(entry["value"], record, std=entry["std"])


def _compute(ctx: EvalContext) -> dict:
    """The IS of ``ctx.fake`` (a video source), or of the generator's videos (``vgbench eval``)."""
    protocol = ctx.protocol
    t0 = time.time()
    if ctx.fake is not None:
        kw = ctx.options
        probs, counts, _ids, prov, desc, content_hash = class_probabilities(
            ctx.fake, protocol, detector=ctx.detector, device=ctx.device, **kw)
        entry = _entry(probs, counts, prov, protocol, kw.get("num_videos") or protocol["fake"]["num_videos"],
                       ctx.strict, time.time() - t0)
        entry["fake"] = {"source": desc, "source_content_hash": content_hash, "created": utc_now()}
        return entry
    if ctx.detector is None:
        require_c3d_weights()  # before anything is generated
    from ..detectors import detector_for

    detector = detector_for(protocol, ctx.device, ctx.detector)
    f = protocol["fake"]
    n = ctx.num_fake or f["num_videos"]
    from .. import distributed

    share = range(n)
    if distributed.sharing() and ctx.adapter.name != "folder":  # torchrun: rank r renders its share of the videos
        from .shards import ShardError, ShardPlan

        if n < distributed.rank_world()[1]:
            raise ShardError(f"{distributed.rank_world()[1]} ranks for {n} fake videos: use at most {n} processes")
        share = ShardPlan(list(range(n)), [], n, 0, [], False).share(*distributed.rank_world())
    src, spec = fake_clips(ctx.adapter, protocol, len(share), ctx.seed, ctx.gen_batch_size, start=share.start)
    probs, counts, _ids, prov, _desc, _h = class_probabilities(
        src, protocol, detector=detector, device=ctx.device, batch_size=ctx.batch_size,
        num_workers=ctx.num_workers, progress=ctx.progress, clip_spec=spec,
        shard_index=share.start if len(share) < n else None)
    return _entry(probs, counts, prov, protocol, f["num_videos"], ctx.strict, time.time() - t0)


register_metric(MetricSpec(
    kind="inception_score",
    compute=_compute,
    required={
        "fake": ["num_videos", "num_frames", "frame_stride", "offset"],
        "detector": ["name", "weights", "resize", "resize_mode", "align_corners", "mean", "output"],
        "score": ["num_splits", "shuffle_seed"],
    },
    aliases={"is": "is_ucf101"},
    preflight=lambda ctx: require_c3d_weights(),
    columns={"is_ucf101": "is"},
    api={"inception_score": "video_inception_score"},
))
