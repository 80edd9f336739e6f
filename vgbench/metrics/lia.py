"""LiA (lip area) signals and their correlations (CTSVG Sec. 5.2, 5.4, Table 1 column r̄_t, Fig. 5a).

* LiA value of a frame: area of the lip polygon of dlib's 68 landmarks (shoelace formula; default the outer lip
  contour 48-59, or the inner contour 60-67, or the lip tissue = outer - inner), divided by the squared distance
  between the outer eye corners (36, 45) so that zooming does not fake motion.
* LiA signal of a video: the LiA value of every frame (NaN where no face was found; counted).
* ρ between two signals: Pearson correlation over the frames both signals have (same frame index; the longer one
  is cut to the shorter). Needs at least ``min_frames`` common frames and two non-constant signals, else NaN.
* r̄_t of a set of videos sharing one temporal style: the mean ρ over all unordered pairs of its videos; with
  several styles, the mean over styles of that per-style mean.

``vgbench eval --metrics lia`` measures r̄_t under the ``lia`` protocol (:func:`_compute`: groups of generated
videos sharing a ``motion_seed``); :func:`lia` is the tool for videos made elsewhere: their signals, ρ against a
second set, or r̄ over all pairs of one set. Both return a result record.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from ..protocols import ProtocolError
from ..provenance import make_record
from .base import EvalContext, MetricResult, MetricSpec, flag_incomplete, register_metric, source_description

__all__ = ["lia_signal", "pearson", "rbar", "lia", "DEFAULT_PROTOCOL"]

DEFAULT_PROTOCOL = "lia"


def lia_signal(landmarks: np.ndarray, polygon: str = "outer", normalize: str = "interocular") -> np.ndarray:
    """``[T, 68, 2]`` landmarks (NaN: no face) -> ``[T]`` LiA signal (NaN where no face)."""
    from ..detectors.face import lia_value

    lm = np.asarray(landmarks, np.float64)
    out = np.full(len(lm), np.nan)
    for t in range(len(lm)):
        if not np.isnan(lm[t]).any():
            out[t] = lia_value(lm[t], polygon, normalize)
    return out


def pearson(a: np.ndarray, b: np.ndarray, min_frames: int = 3) -> tuple[float, int]:
    """(Pearson r, frames used) over the common, finite frames of two signals (cut to the shorter length)."""
    n = min(len(a), len(b))
    a = np.asarray(a[:n], np.float64)
    b = np.asarray(b[:n], np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    m = int(ok.sum())
    if m < min_frames:
        return float("nan"), m
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    if den == 0 or not np.isfinite(den):
        return float("nan"), m
    return float(np.clip((x * y).sum() / den, -1.0, 1.0)), m


def rbar(signals: list[np.ndarray], min_frames: int = 3) -> dict:
    """Mean Pearson r over all unordered pairs of ``signals`` (pairs without a defined r are counted, skipped)."""
    rs, undefined = [], 0
    for i, j in itertools.combinations(range(len(signals)), 2):
        r, _ = pearson(signals[i], signals[j], min_frames)
        if np.isfinite(r):
            rs.append(r)
        else:
            undefined += 1
    rs = np.asarray(rs)
    return {"value": float(rs.mean()) if len(rs) else float("nan"), "std": float(rs.std()) if len(rs) else float("nan"),
            "pairs": int(len(rs)), "pairs_undefined": undefined}


def _signal_stats(sig: np.ndarray) -> dict:
    ok = np.isfinite(sig)
    d = {"frames": int(len(sig)), "frames_no_face": int((~ok).sum())}
    if ok.any():
        v = sig[ok]
        d.update({"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())})
    return d


def _signals(cfg, videos, workers: int, polygon: str, normalize: str, progress: bool = False,
             total: int | None = None, desc: str = "LiA") -> list[np.ndarray]:
    from ..detectors.face import FacePool

    out = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="video")
    with FacePool(cfg, workers=workers) as pool:
        for lm in pool.map(v for v in videos if len(v)):
            out.append(lia_signal(lm, polygon, normalize))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return out


def _read_source(source, max_videos, max_frames):
    from ..io.sources import open_source

    src = open_source(source)
    handles = []
    for k, v in enumerate(src):
        if max_videos is not None and k >= max_videos:
            break
        handles.append(v)

    def gen():
        for v in handles:
            n = v.num_frames if max_frames is None else min(max_frames, v.num_frames)
            yield v.read(range(n))

    return src, handles, gen()


def lia(source, against=None, *, polygon: str = "outer", normalize: str = "interocular", pairwise: bool = False,
        workers: int = 0, max_videos: int | None = None, max_frames: int | None = None, min_side: int = 360,
        min_frames: int = 3, progress: bool = False) -> MetricResult:
    """LiA signals of every video of ``source``; with ``against``, ρ between matching videos of the two sources
    (matched by video id when all ids of ``source`` occur in ``against``, else by position); with ``pairwise``,
    r̄ over all pairs of ``source`` (a set sharing one temporal style).

    Returns a :class:`~vgbench.metrics.base.MetricResult` (value: the mean ρ with ``against``, else r̄ with
    ``pairwise``, else None); indexing it reads the entry: ``videos`` (signals), ``against``, ``pairwise``,
    ``counts``, ``landmarks`` (sha256)."""
    from ..detectors.face import face_config

    cfg = face_config("landmarks", min_side=min_side)
    t0 = time.time()
    src, handles, videos = _read_source(source, max_videos, max_frames)
    sigs = _signals(cfg, videos, workers, polygon, normalize, progress, len(handles))
    ids = [h.id for h in handles]
    prov = cfg.provenance_dict()
    res = {"metric": "lia", "polygon": polygon, "normalize": normalize, "landmarks": prov["landmarks"],
           "detector": prov["detector"], "min_side": min_side, "source": source_description(src),
           "videos": [{"id": i, **_signal_stats(s), "signal": [None if not np.isfinite(x) else round(float(x), 6)
                                                              for x in s]} for i, s in zip(ids, sigs)]}
    counts = {"videos": len(sigs), "frames": int(sum(len(s) for s in sigs)),
              "frames_no_face": int(sum((~np.isfinite(s)).sum() for s in sigs))}
    if pairwise:
        res["pairwise"] = rbar(sigs, min_frames)
    if against is not None:
        src2, handles2, videos2 = _read_source(against, max_videos, max_frames)
        ids2 = [h.id for h in handles2]
        if all(i in ids2 for i in ids):
            matching, order = "id", [ids2.index(i) for i in ids]
        elif len(ids2) >= len(ids):
            matching, order = "order", list(range(len(ids)))
        else:
            raise ValueError(f"cannot match videos: {len(ids)} in the first source, {len(ids2)} in the second "
                             "and their ids differ")
        sigs2_all = _signals(cfg, videos2, workers, polygon, normalize, progress, len(handles2), "LiA (against)")
        pairs, rs = [], []
        for i, k in enumerate(order):
            r, m = pearson(sigs[i], sigs2_all[k], min_frames)
            pairs.append({"id": ids[i], "against_id": ids2[k], "rho": None if not np.isfinite(r) else r,
                          "frames": m})
            if np.isfinite(r):
                rs.append(r)
        rs = np.asarray(rs)
        res["against"] = {"source": source_description(src2), "matching": matching, "pairs": pairs,
                          "videos": [{"id": i, **_signal_stats(s), "signal": [
                              None if not np.isfinite(x) else round(float(x), 6) for x in s]}
                                     for i, s in zip(ids2, sigs2_all)],
                          "value": float(rs.mean()) if len(rs) else float("nan"),
                          "std": float(rs.std()) if len(rs) else float("nan"),
                          "pairs_undefined": len(pairs) - len(rs)}
        counts["against_frames_no_face"] = int(sum((~np.isfinite(s)).sum() for s in sigs2_all))
    res["value"] = (res["against"]["value"] if against is not None else
                    res["pairwise"]["value"] if pairwise else None)
    res["counts"] = counts
    res["seconds"] = round(time.time() - t0, 3)
    return MetricResult(res["value"], make_record({"lia": res}),
                        std=(res.get("against") or res.get("pairwise") or {}).get("std"))


def _compute(ctx: EvalContext) -> dict:
    """``vgbench eval`` metric ``lia``: r̄_t over groups of videos that share ``motion_seed`` and differ in content."""
    from ..detectors.face import face_config

    p = ctx.protocol
    if ctx.adapter is None:
        raise ProtocolError(f"{p.name}: r̄_t is measured on a generator's videos that share a motion_seed; for videos "
                            "made elsewhere use vgbench.lia(source, pairwise=True) (`vgbench lia SOURCE --pairwise`)")
    info = ctx.adapter.info
    if not info.content_motion_separable:
        raise ProtocolError(f"{p.name}: model '{ctx.adapter.name}' cannot fix motion while varying content "
                            "(content_motion_separable is False), so r̄_t (same temporal style, different content) "
                            "cannot be measured; use `vgbench lia SOURCE --pairwise` on videos rendered elsewhere")
    fake, lp = p["fake"], p["lia"]
    styles = int(fake["motion_styles"])
    per_req = int(fake["videos_per_style"])
    per = per_req if ctx.num_fake is None else max(2, int(ctx.num_fake) // styles)
    frames = int(fake["num_frames"])
    offset = int(fake["motion_seed_offset"])
    cfg = face_config("landmarks", min_side=int(p["detector"]["min_side"]))
    workers = int(p.params.get("compute", {}).get("workers", 0) if ctx.num_workers is None else ctx.num_workers)
    t0 = time.time()
    groups, all_rbar = [], []
    for g in range(styles):
        motion_seed = offset + g
        videos = ctx.adapter.iter_videos(per, frames, seed=ctx.seed, batch_size=ctx.gen_batch_size,
                                         motion_seed=motion_seed, start=g * per)
        sigs = _signals(cfg, videos, workers, lp["polygon"], lp["normalize"], ctx.progress, per,
                        f"LiA style {g + 1}/{styles}")
        rb = rbar(sigs, int(lp["min_frames"]))
        groups.append({"motion_seed": motion_seed, "content": f"seed {ctx.seed}, videos {g * per}..{(g + 1) * per - 1}",
                       "videos": len(sigs), **rb,
                       "frames_no_face": int(sum((~np.isfinite(s)).sum() for s in sigs))})
        if np.isfinite(rb["value"]):
            all_rbar.append(rb["value"])
    complete = per >= per_req
    if not complete:
        flag_incomplete(f"{p.name}: {per} videos per temporal style of {per_req} required; not comparable to "
                        "published numbers", ctx.strict, ProtocolError, stacklevel=4)
    vals = np.asarray(all_rbar)
    prov = cfg.provenance_dict()
    n_videos = styles * per
    return {
        "value": float(vals.mean()) if len(vals) else float("nan"),
        "std": float(vals.std()) if len(vals) else float("nan"),
        "protocol": p.provenance(),
        "protocol_complete": complete,
        "counts": {"real_used": 0, "fake_used": n_videos, "motion_styles": styles, "videos_per_style": per,
                   "frames": n_videos * frames, "frames_no_face": sum(gr["frames_no_face"] for gr in groups),
                   "pairs": sum(gr["pairs"] for gr in groups),
                   "pairs_undefined": sum(gr["pairs_undefined"] for gr in groups)},
        "groups": groups,
        "landmarks": prov["landmarks"],
        "detector": prov["detector"],
        "polygon": lp["polygon"],
        "normalize": lp["normalize"],
        "frames_per_video": frames,
        "seconds": {"score": round(time.time() - t0, 2)},
    }


register_metric(MetricSpec(
    kind="lia",
    compute=_compute,
    required={
        "fake": ["motion_styles", "videos_per_style", "num_frames", "motion_seed_offset"],
        "detector": ["name", "weights", "min_side"],
        "lia": ["polygon", "normalize", "min_frames"],
    },
    columns={"lia": "lia_rt"},
    api={"lia": "lia"},
))
