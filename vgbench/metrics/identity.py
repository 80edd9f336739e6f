"""Identity consistency (CTSVG Sec. 5.1, Table 1 "ArcFace" column).

Per video: detect and align the face in every frame (YuNet + five-point similarity to the ArcFace 112x112
template), embed it (ArcFace or SFace), and take the cosine similarity between the reference embedding (the first
frame; if no face is found there, the first frame with a face, counted) and every later frame with a face. The
video's score is the mean of those similarities; the set's value is the mean over scored videos and ``std`` their
population standard deviation (the paper's "0.97 ± 0.018"). Frames and videos without a face are counted, never
silently dropped. The embedder is always named in the result; SFace results are never labelled ArcFace.

:func:`identity` (given videos) and ``vgbench eval --metrics identity`` (a generator's videos) run the same
computation, :func:`_compute`, under the ``identity`` protocol; settings given to :func:`identity` that differ from
the protocol's are recorded as ``overrides``.
"""
from __future__ import annotations

import time

import numpy as np

from ..protocols import ProtocolError, load_protocol
from ..provenance import make_record
from .base import EvalContext, MetricResult, MetricSpec, flag_incomplete, register_metric, source_description

__all__ = ["video_identity", "identity", "DEFAULT_PROTOCOL"]

DEFAULT_PROTOCOL = "identity"


def video_identity(embeddings: np.ndarray) -> dict:
    """Score one video from its per-frame embeddings ``[T, D]`` (NaN rows: no face)."""
    e = np.asarray(embeddings, np.float64)
    found = ~np.isnan(e).any(axis=1)
    t = len(e)
    out = {"frames": t, "frames_with_face": int(found.sum()), "frames_no_face": int(t - found.sum()),
           "reference_frame": None, "score": None, "min": None, "similarities": []}
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return out
    ref = idx[0]
    later = idx[idx > ref]
    out["reference_frame"] = int(ref)
    if len(later) == 0:
        return out
    r = e[ref] / np.linalg.norm(e[ref])
    x = e[later] / np.linalg.norm(e[later], axis=1, keepdims=True)
    sims = x @ r
    out.update({"score": float(sims.mean()), "min": float(sims.min()),
                "similarities": [round(float(s), 6) for s in sims]})
    return out


def _summarise(per_video: list[dict]) -> dict:
    scores = np.array([v["score"] for v in per_video if v["score"] is not None], np.float64)
    counts = {
        "videos": len(per_video),
        "videos_scored": int(len(scores)),
        "videos_no_face": sum(v["frames_with_face"] == 0 for v in per_video),
        "videos_single_face_frame": sum(v["frames_with_face"] == 1 for v in per_video),
        "videos_reference_not_first": sum(v["reference_frame"] not in (None, 0) for v in per_video),
        "frames": sum(v["frames"] for v in per_video),
        "frames_no_face": sum(v["frames_no_face"] for v in per_video),
    }
    return {"value": float(scores.mean()) if len(scores) else float("nan"),
            "std": float(scores.std()) if len(scores) else float("nan"), "counts": counts}


def _videos(source, max_videos: int | None, max_frames: int | None):
    from ..io.sources import open_source

    src = open_source(source)
    ids = []

    def gen():
        for k, v in enumerate(src):
            if max_videos is not None and k >= max_videos:
                return
            n = v.num_frames if max_frames is None else min(max_frames, v.num_frames)
            ids.append(v.id)
            yield v.read(range(n))

    return src, gen(), ids


def identity(source, embedder: str = "sface", *, workers: int = 0, max_videos: int | None = None,
             max_frames: int | None = None, min_side: int = 360, score_threshold: float = 0.6,
             keep_similarities: bool = False, progress: bool = False,
             protocol: str = DEFAULT_PROTOCOL) -> MetricResult:
    """Identity consistency of every video of ``source`` (anything :func:`vgbench.open_source` accepts; all its
    videos and frames unless ``max_videos``/``max_frames`` limit them).

    Returns a :class:`~vgbench.metrics.base.MetricResult`; indexing it reads the metric entry: ``value`` (mean over
    videos), ``std``, ``counts``, ``per_video`` (id, score, min, frames without a face), ``embedder``/``detector``
    (names, sha256), ``protocol_complete`` and ``seconds``.
    """
    protocol = load_protocol(protocol)
    ctx = EvalContext(protocol, "cpu", fake=source, num_workers=workers, progress=progress, options={
        "embedder": embedder, "min_side": min_side, "score_threshold": score_threshold, "max_videos": max_videos,
        "max_frames": max_frames, "keep_similarities": keep_similarities})
    entry = _compute(ctx)
    return MetricResult(entry["value"], make_record({protocol.name: entry}), std=entry["std"])


def _score_videos(cfg, videos, workers: int, progress: bool, keep_similarities: bool,
                  total: int | None = None) -> list[dict]:
    from ..detectors.face import FacePool

    per_video = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"identity ({cfg.embedder})", unit="video")
    with FacePool(cfg, workers=workers) as pool:
        for emb, scores in pool.map(v for v in videos if len(v)):
            pv = video_identity(emb)
            if not keep_similarities:
                pv.pop("similarities")
            per_video.append(pv)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return per_video


def _compute(ctx: EvalContext) -> dict:
    """Score the given videos (``ctx.fake``) or ``num_fake`` videos of the generator (default: the protocol's)."""
    from ..detectors.face import face_config

    p, o = ctx.protocol, ctx.options
    settings = {"embedder": p["embedder"]["name"], "min_side": int(p["detector"]["min_side"]),
                "score_threshold": float(p["detector"]["score_threshold"])}
    overrides = {k: o[k] for k in settings if k in o and o[k] != settings[k]}
    settings.update(overrides)
    cfg = face_config("embed", **settings)
    n_req, frames_req = int(p["fake"]["num_videos"]), int(p["fake"]["num_frames"])
    desc = None
    if ctx.fake is not None:  # the user's videos: all of them and all their frames, unless limited
        n, frames = o.get("max_videos"), o.get("max_frames")
        src, videos, ids = _videos(ctx.fake, n, frames)
        desc = source_description(src)
    elif ctx.adapter.name == "folder":
        n, frames = int(ctx.num_fake or n_req), frames_req
        src, videos, ids = _videos(ctx.adapter.source, n, frames)
    else:
        n, frames = int(ctx.num_fake or n_req), frames_req
        videos = ctx.adapter.iter_videos(n, frames, seed=ctx.seed, batch_size=ctx.gen_batch_size)
        ids = [f"{i:06d}" for i in range(n)]
    t0 = time.time()
    workers = int(p.params.get("compute", {}).get("workers", 0) if ctx.num_workers is None else ctx.num_workers)
    per_video = _score_videos(cfg, videos, workers, ctx.progress, bool(o.get("keep_similarities")), total=n)
    for pv, vid in zip(per_video, ids):
        pv["id"] = vid
    res = _summarise(per_video)
    complete = len(per_video) >= n_req and frames == frames_req and not overrides
    if ctx.fake is None and not complete:  # a generator's videos are measured under the protocol
        flag_incomplete(f"{p.name}: {len(per_video)} videos of {n_req} required; the value is not comparable to "
                        "published numbers", ctx.strict, ProtocolError, stacklevel=4)
    prov = cfg.provenance_dict()
    res["counts"].update({"fake_used": len(per_video), "real_used": 0})
    res.update({"protocol": p.provenance(), "protocol_complete": complete, "embedder": prov["embedder"],
                "detector": prov["detector"], "min_side": settings["min_side"], "frames_per_video": frames,
                "source": desc, "per_video": per_video, "per_video_scores": [v["score"] for v in per_video],
                "seconds": {"score": round(time.time() - t0, 2)}})
    if overrides:
        res["overrides"] = overrides
    return res


register_metric(MetricSpec(
    kind="identity",
    compute=_compute,
    required={
        "fake": ["num_videos", "num_frames"],
        "detector": ["name", "weights", "min_side", "score_threshold"],
        "embedder": ["name", "weights"],
    },
    columns={"identity": "arcface"},
    api={"identity": "identity"},
))
