"""What FVD16 does not see: FVD over clip length, and the motion-collapse diagnostic.

* :func:`fvd_lengths` measures FVD with the protocols ``fvd16``, ``fvd32``, ``fvd64``, ``fvd128`` (the same rules,
  only the clip length differs; ``protocols/``) through :func:`vgbench.metrics.fvd.fvd`, and :func:`length_svg` draws
  the curve (value and ``ci95`` per length) as a self-contained SVG. A length no real (or fake) video is long enough
  for is recorded as unavailable with the reason, not dropped silently.
* :func:`motion_collapse`: per-frame features of the first ``num_frames`` frames of every video (``inception``: the
  FID Inception-v3 pool features under the ``fid_video`` protocol's resize; ``pixels``: the frames average-pooled
  to at most 32x32, in [0, 1], no weights), and per video the *temporal variance* ``mean_d Var_t f[t, d]``
  (population variance over time, averaged over feature dimensions), over the whole clip and over consecutive
  windows of ``window`` frames. A static video has 0; a generator whose videos freeze (motion collapse, which the
  StyleGAN-V paper notes FVD misses) has a fake/real ratio well below 1, and a late-window ratio below the early
  one when motion dies out over time.

docs/temporal.md describes the outputs and their cost.
"""
from __future__ import annotations

import math
import time
from html import escape

import numpy as np

from .features import NotEnoughVideos
from .metrics.confidence import DEFAULT_BOOTSTRAP, DEFAULT_SEED

__all__ = ["LENGTH_PROTOCOLS", "fvd_lengths", "length_svg", "frame_features", "temporal_variance",
           "motion_collapse"]

LENGTH_PROTOCOLS = ("fvd16", "fvd32", "fvd64", "fvd128")


def fvd_lengths(real, fake, protocols=LENGTH_PROTOCOLS, *, detector=None, device: str | None = None,
                bootstrap: int = DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_SEED, **kwargs) -> dict:
    """FVD of ``fake`` against ``real`` under each of ``protocols`` (FVD protocols differing in clip length).

    Returns a result record whose ``metrics`` hold one FVD entry per protocol that could be measured, plus
    ``length_curve``: ``[{protocol, frames, value, low, high}]`` in order of length, with ``unavailable`` (the
    reason) instead of the numbers where too few videos were long enough. Extra keyword arguments go to
    :func:`~vgbench.metrics.fvd.fvd`."""
    from .detectors import default_device
    from .metrics.fvd import fvd
    from .protocols import load_protocol
    from .provenance import make_record

    t0 = time.time()
    device = device or default_device()
    entries, curve, timing = {}, [], {}
    for name in protocols:
        p = load_protocol(name)
        row = {"protocol": p.name, "frames": int(p["fake"]["num_frames"]) * int(p["fake"]["frame_stride"])}
        t1 = time.time()
        try:
            res = fvd(real, fake, p, detector=detector, device=device, bootstrap=bootstrap,
                      bootstrap_seed=bootstrap_seed, **kwargs)
        except NotEnoughVideos as e:
            curve.append({**row, "unavailable": str(e)})
            continue
        entry = res.entry
        entries[p.name], timing[p.name] = entry, round(time.time() - t1, 2)
        ci = entry.get("ci95") or {}
        curve.append({**row, "value": entry["value"], "low": ci.get("low"), "high": ci.get("high")})
    curve.sort(key=lambda r: r["frames"])
    if not entries:
        raise NotEnoughVideos("no clip length could be measured: " + "; ".join(r["unavailable"] for r in curve))
    return make_record(entries, device=device, length_curve=curve,
                       timing={"total_seconds": round(time.time() - t0, 2), "per_metric": timing})


def length_svg(curves: dict[str, list[dict]], title: str = "FVD over clip length", width: int = 640,
               height: int = 400) -> str:
    """One SVG line chart: x = clip length in frames (log2 axis), y = FVD; one line per ``curves`` entry (label ->
    ``length_curve`` rows), vertical bars for rows with ``low``/``high``. Unavailable rows are left out (the
    caption counts them). Self-contained: no script, no external font or stylesheet."""
    rows = {label: [r for r in c if r.get("value") is not None] for label, c in curves.items()}
    missing = sum(len(c) - len(rows[label]) for label, c in curves.items())
    points = [r for c in rows.values() for r in c]
    if not points:
        raise ValueError("nothing to plot: no clip length has a value")
    xs = sorted({r["frames"] for r in points})
    ys = [v for r in points for v in (r["value"], r.get("low"), r.get("high")) if v is not None]
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.08 or 1.0
    left, right, top, bottom = 70, 20, 40, 60
    lx0, lx1 = math.log2(xs[0]), math.log2(xs[-1])

    def px(frames):
        return left + (0.5 if lx1 == lx0 else (math.log2(frames) - lx0) / (lx1 - lx0)) * (width - left - right)

    def py(v):
        return top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<title>{escape(title)}</title>', '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
           f'<line x1="{left}" y1="{py(y0)}" x2="{width - right}" y2="{py(y0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{py(y0)}" stroke="black"/>']
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{py(y0) + 18:.1f}" text-anchor="middle">{x}</text>')
    for k in range(6):
        v = y0 + k * (y1 - y0) / 5
        out.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.4g}</text>')
        out.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{width - right}" y2="{py(v):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 25}" text-anchor="middle">clip length '
               f'(frames)</text>')
    out.append(f'<text x="16" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(top + height - bottom) / 2})">FVD</text>')
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, (label, c) in enumerate(rows.items()):
        color = colors[i % len(colors)]
        c = sorted(c, key=lambda r: r["frames"])
        path = " ".join(f"{px(r['frames']):.1f},{py(r['value']):.1f}" for r in c)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2">'
                   f'<title>{escape(label)}</title></polyline>')
        for r in c:
            x = px(r["frames"])
            if r.get("low") is not None and r.get("high") is not None:
                out.append(f'<line class="errorbar" x1="{x:.1f}" y1="{py(r["low"]):.1f}" x2="{x:.1f}" '
                           f'y2="{py(r["high"]):.1f}" stroke="{color}"/>')
            out.append(f'<circle cx="{x:.1f}" cy="{py(r["value"]):.1f}" r="3" fill="{color}"><title>'
                       f'{escape(label)} {escape(r["protocol"])}: {r["value"]:.4g}</title></circle>')
        out.append(f'<text x="{left + 8}" y="{top + 14 * (i + 1)}" fill="{color}">{escape(label)}</text>')  # legend
    if missing:
        out.append(f'<text x="{left}" y="{height - 8}">{missing} length(s) without a value (too few long '
                   f'videos) are not drawn</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ motion collapse


def frame_features(kind: str = "inception", device: str | None = None, detector=None):
    """A function ``uint8 [T, H, W, 3] -> float64 [T, D]`` of per-frame features, and its provenance."""
    if kind == "pixels":
        import torch

        def pixels(frames):
            x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).double() / 255.0
            size = (min(32, x.shape[2]), min(32, x.shape[3]))
            return torch.nn.functional.adaptive_avg_pool2d(x, size).flatten(1).numpy()

        return pixels, {"name": "pixels", "how": "frames in [0, 1], average-pooled to at most 32x32, RGB"}
    if kind != "inception":
        raise ValueError(f"unknown frame features {kind!r}; use 'inception' or 'pixels'")
    from .detectors import detector_for
    from .protocols import load_protocol

    det = detector_for(load_protocol("fid_video"), device, detector)
    prov = dict(getattr(det, "provenance", {"name": getattr(det, "name", "custom")}))

    def inception(frames):
        return np.concatenate([np.asarray(det(frames[i:i + 32]), np.float64) for i in range(0, len(frames), 32)])

    return inception, {**prov, "how": "the fid_video protocol's Inception-v3 features of every frame"}


def temporal_variance(features: np.ndarray, window: int | None = None) -> tuple[float, list[float]]:
    """``mean_d Var_t f[t, d]`` of one video's per-frame features ``[T, D]`` (population variance), and the same
    over each of the ``T // window`` consecutive windows (none without ``window``)."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need per-frame features [T >= 2, D], got shape {f.shape}")
    f = f - f[0]  # variance is shift-invariant; this makes it exactly 0 for a static video (no rounding of means)
    windows = [] if not window else [float((f[k:k + window] - f[k]).var(axis=0).mean())
                                     for k in range(0, f.shape[0] - window + 1, window)]
    return float(f.var(axis=0).mean()), windows


def _side(source, embed, num_frames: int, window: int | None, max_videos: int | None, progress: bool) -> dict:
    from .io.sources import open_source

    src = open_source(source)
    per_video, skipped = [], []
    for v in src:
        if max_videos is not None and len(per_video) == max_videos:
            break
        if v.num_frames < num_frames:
            skipped.append(v.id)
            continue
        total, windows = temporal_variance(embed(v.read(range(num_frames))), window)
        per_video.append({"id": v.id, "variance": total, "windows": windows})
        if progress and len(per_video) % 50 == 0:
            print(f"  {len(per_video)} videos", flush=True)
    if not per_video:
        raise NotEnoughVideos(f"{source}: no video has {num_frames} frames ({len(skipped)} shorter)")
    values = np.array([p["variance"] for p in per_video])
    win = np.array([p["windows"] for p in per_video]) if window else np.zeros((len(per_video), 0))
    return {"videos": len(per_video), "skipped_short": len(skipped), "mean": float(values.mean()),
            "median": float(np.median(values)), "std": float(values.std()),
            "window_means": [float(x) for x in win.mean(axis=0)], "per_video": per_video}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def motion_collapse(real, fake, *, features: str = "inception", num_frames: int = 16, window: int | None = None,
                    max_videos: int | None = None, device: str | None = None, detector=None,
                    progress: bool = False) -> dict:
    """Temporal feature variance of the first ``num_frames`` frames of the videos of ``real`` and ``fake`` (see
    the module docstring). ``ratio`` = fake mean / real mean (None when real is static); ``window_ratios`` the
    same per window. Videos shorter than ``num_frames`` are skipped and counted."""
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    if window is not None and not 2 <= window <= num_frames:
        raise ValueError(f"window must be between 2 and num_frames ({num_frames}), got {window}")
    t0 = time.time()
    embed, prov = frame_features(features, device, detector)
    r = _side(real, embed, num_frames, window, max_videos, progress)
    f = _side(fake, embed, num_frames, window, max_videos, progress)
    return {"features": prov, "num_frames": num_frames, "window": window, "real": r, "fake": f,
            "ratio": _ratio(f["mean"], r["mean"]),
            "window_ratios": [_ratio(a, b) for a, b in zip(f["window_means"], r["window_means"])],
            "what": "per video: mean over feature dimensions of the variance over time of per-frame features; "
                    "ratio = fake mean / real mean (1: as much motion as real, 0: static videos)",
            "seconds": round(time.time() - t0, 2)}
