"""Identity consistency (CTSVG Sec. 5.1, Table 1 "ArcFace" column).

Per video: detect and align the face in every frame (YuNet + five-point similarity to the ArcFace 112x112
template), embed it (ArcFace or SFace), and take the cosine similarity between the reference embedding (the first
frame; if no face is found there, the first frame with a face, counted) and every later frame with a face. The
video's score is the mean of those similarities; the set's value is the mean over scored videos and ``std`` their
population standard deviation (the paper's "0.97 ± 0.018"). Frames and videos without a face are counted, never
silently dropped. The embedder is always named in the result; SFace results are never labelled ArcFace.
"""
from __future__ import annotations

import time

import numpy as np

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
             keep_similarities: bool = False, progress: bool = False) -> dict:
    """Identity consistency of every video of ``source`` (anything :func:`vgbench.open_source` accepts).

    Returns a dict: ``value`` (mean over videos), ``std``, ``counts``, ``per_video`` (id, score, min, frames
    without a face), ``embedder``/``detector`` (names, sha256) and ``seconds``.
    """
    from ..detectors.face import face_config

    cfg = face_config("embed", embedder=embedder, min_side=min_side, score_threshold=score_threshold)
    t0 = time.time()
    src, videos, ids = _videos(source, max_videos, max_frames)
    per_video = _score_videos(cfg, videos, workers, progress, keep_similarities)
    for pv, vid in zip(per_video, ids):
        pv["id"] = vid
    res = _summarise(per_video)
    prov = cfg.provenance_dict()
    try:
        desc = src.describe()
    except Exception:  # noqa: BLE001 - description is informative only
        desc = None
    res.update({"metric": "identity", "embedder": prov["embedder"], "detector": prov["detector"],
                "min_side": min_side, "source": desc, "per_video": per_video,
                "seconds": round(time.time() - t0, 3)})
    return res


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


def _eval(ctx) -> dict:
    """``vgbench eval`` metric ``identity``: sample ``num_fake`` videos (default: the protocol's) and score them."""
    import warnings

    from ..detectors.face import face_config
    from ..metrics.fvd import IncompleteProtocolWarning
    from ..protocols import ProtocolError

    p = ctx.protocol
    fake = p["fake"]
    emb = p["embedder"]
    n_req = int(fake["num_videos"])
    n = int(ctx.num_fake or n_req)
    frames = int(fake["num_frames"])
    cfg = face_config("embed", embedder=emb["name"], min_side=int(p["detector"]["min_side"]),
                      score_threshold=float(p["detector"]["score_threshold"]))
    if ctx.adapter.name == "folder":
        src, videos, _ = _videos(ctx.adapter.source, n, frames)
    else:
        videos = ctx.adapter.iter_videos(n, frames, seed=ctx.seed, batch_size=ctx.gen_batch_size)
    t0 = time.time()
    workers = int(p.params.get("compute", {}).get("workers", 0) if ctx.num_workers is None else ctx.num_workers)
    per_video = _score_videos(cfg, videos, workers, ctx.progress, False, total=n)
    res = _summarise(per_video)
    complete = len(per_video) >= n_req
    if not complete:
        msg = (f"{p.name}: {len(per_video)} videos of {n_req} required; the value is not comparable to "
               "published numbers")
        if ctx.strict:
            raise ProtocolError(msg + " (--strict)")
        warnings.warn(msg, IncompleteProtocolWarning, stacklevel=2)
    prov = cfg.provenance_dict()
    res["counts"].update({"fake_used": len(per_video), "real_used": 0})
    res.update({"protocol": p.provenance(), "protocol_complete": complete, "embedder": prov["embedder"],
                "detector": prov["detector"], "frames_per_video": frames,
                "per_video_scores": [v["score"] for v in per_video],
                "seconds": {"score": round(time.time() - t0, 2)}})
    return res


def _register() -> None:
    from ..evaluate import register_metric

    register_metric("identity")(_eval)


_register()
