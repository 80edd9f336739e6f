"""Per-video report: which fake videos raise the FVD, and what they look like.

From the per-video features FVD statistics keep (schema ``vgbench.stats/3``), each fake video gets

* its Mahalanobis distance to the real feature distribution, ``sqrt((x - mu)' (S + eps I)^-1 (x - mu))`` with the
  real mean ``mu`` and population covariance ``S``; ``eps = ridge * tr(S) / D`` (default ridge 1e-3) keeps the
  inverse finite when there are fewer real videos than feature dimensions (recorded with the result). The real
  videos' own distances (in-sample) give the scale: their median is reported beside the fake ones;
* its nearest real video (Euclidean distance between the feature vectors) and that distance.

:func:`per_video_report` computes (or loads) both sides' statistics under an FVD protocol, ranks the fake videos
and, with ``html=``, writes one self-contained HTML page (no script, images inline as ``data:`` URIs) showing the
``top`` worst and best fake videos as animated GIFs of the clip the detector saw, each beside its nearest real
clip. docs/temporal.md describes it.
"""
from __future__ import annotations

import base64
import io
import time
from html import escape
from pathlib import Path

import numpy as np

from .metrics.base import is_stats_path
from .protocols import ProtocolError
from .metrics.stats import FeatureError, VideoStats

__all__ = ["video_distances", "per_video_report", "report_html", "clip_gif"]

DEFAULT_RIDGE = 1e-3


def video_distances(real: VideoStats, fake: VideoStats, ridge: float = DEFAULT_RIDGE) -> dict:
    """Mahalanobis distance of every fake video (and, in-sample, every real one) to the real distribution, and
    every fake video's nearest real video. Needs the per-video features of both sides."""
    for role, st in (("real", real), ("fake", fake)):
        if st.features is None:
            raise FeatureError(f"the {role} statistics keep no per-video features (written before vgbench kept "
                               f"them, or FID statistics); recompute them with `vgbench stats`")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    xr, xf = np.asarray(real.features, np.float64), np.asarray(fake.features, np.float64)
    mu, sigma = np.asarray(real.mu, np.float64), np.asarray(real.sigma, np.float64)
    d = mu.size
    eps = ridge * float(np.trace(sigma)) / d
    evals, evecs = np.linalg.eigh(sigma + eps * np.eye(d))
    if evals.min() <= 0:
        raise FeatureError(f"the real covariance is singular (smallest eigenvalue {evals.min():.3g}); "
                           f"use ridge > 0")

    def maha(x):
        return np.sqrt((((x - mu) @ evecs) ** 2 / evals).sum(axis=1))

    sq = (xf ** 2).sum(1)[:, None] + (xr ** 2).sum(1)[None, :] - 2 * xf @ xr.T
    nearest = sq.argmin(axis=1)
    # the expansion above loses digits for near-identical vectors: recompute the chosen distances directly
    near_d = np.sqrt(((xf - xr[nearest]) ** 2).sum(axis=1))
    return {"mahalanobis": maha(xf), "real_mahalanobis": maha(xr), "nearest": nearest, "nearest_distance": near_d,
            "eps": eps, "ridge": ridge}


def clip_gif(frames: np.ndarray, max_side: int = 96, fps: float = 15.0) -> bytes:
    """An animated GIF (looping) of uint8 frames [T, H, W, 3], scaled so that the longer side is ``max_side``."""
    from PIL import Image

    h, w = frames.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    images = [Image.fromarray(np.ascontiguousarray(f)).resize(size, Image.BILINEAR) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return buf.getvalue()


def _stats(x, protocol, role, kwargs) -> tuple[VideoStats, object | None]:
    """(statistics, the video source for thumbnails or None) of a side given as videos or a statistics file."""
    from .metrics.fvd import compute_stats

    if is_stats_path(x):
        st = VideoStats.load(x)
        st.check_compatible(protocol, role, None, str(x))
        return st, None
    return compute_stats(x, protocol, role, **kwargs), x


def _clips(source, wanted: dict[str, int], protocol, role: str) -> dict[str, np.ndarray]:
    """The clips (as the detector saw them) of the videos ``wanted`` (id -> clip offset) in ``source``."""
    from .io.sources import open_source

    p = protocol[role]
    n, s = int(p["num_frames"]), int(p["frame_stride"])
    out = {}
    for v in open_source(source):
        if v.id in wanted and v.id not in out:
            out[v.id] = v.read([wanted[v.id] + k * s for k in range(n)])
            if len(out) == len(wanted):
                break
    return out


def per_video_report(real, fake, protocol="fvd16", *, top: int = 8, html: str | Path | None = None,
                     ridge: float = DEFAULT_RIDGE, detector=None, device: str | None = None, **kwargs) -> dict:
    """Rank the fake videos by their Mahalanobis distance to the real features (see the module docstring).

    ``real``/``fake``: video sources or FVD statistics files (thumbnails need the videos). Extra keyword arguments
    go to :func:`~vgbench.metrics.fvd.compute_stats`. Returns ``{protocol, fvd, counts, ridge, eps,
    real_mahalanobis_median, videos: [{id, mahalanobis, nearest_real, nearest_distance}] (worst first), html}``."""
    from .detectors import default_device
    from .metrics.base import metric_protocol
    from .metrics.frechet import frechet_distance

    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    t0 = time.time()
    protocol = metric_protocol(protocol, "fvd", "an FVD")
    kwargs = dict(kwargs, detector=detector, device=device or default_device())
    real_st, real_src = _stats(real, protocol, "real", kwargs)
    fake_st, fake_src = _stats(fake, protocol, "fake", kwargs)
    shas = [st.manifest["detector"].get("sha256") for st in (real_st, fake_st)]
    if shas[0] != shas[1]:
        raise ProtocolError(f"the real and the fake features come from different detector weights ({shas[0]} vs "
                            f"{shas[1]}): distances between them mean nothing")
    dist = video_distances(real_st, fake_st, ridge)
    value, _ = frechet_distance(real_st.mu, real_st.sigma, fake_st.mu, fake_st.sigma)
    order = np.argsort(-dist["mahalanobis"], kind="stable")
    videos = [{"id": fake_st.ids[i], "mahalanobis": float(dist["mahalanobis"][i]),
               "nearest_real": real_st.ids[dist["nearest"][i]], "nearest_distance": float(dist["nearest_distance"][i])}
              for i in order]
    res = {"protocol": protocol.provenance(), "fvd": float(value), "counts": {"real": real_st.n, "fake": fake_st.n},
           "ridge": ridge, "eps": dist["eps"], "real_mahalanobis_median": float(np.median(dist["real_mahalanobis"])),
           "videos": videos, "html": None}
    if html is not None:
        worst, best = videos[:top], videos[::-1][:top]
        shown = worst + [v for v in best if v not in worst]
        fake_off = dict(zip(fake_st.ids, fake_st.offsets)) if fake_st.offsets else {}
        real_off = dict(zip(real_st.ids, real_st.offsets)) if real_st.offsets else {}
        fake_clips = _clips(fake_src, {v["id"]: fake_off.get(v["id"], 0) for v in shown}, protocol, "fake") \
            if fake_src is not None else {}
        real_clips = _clips(real_src, {v["nearest_real"]: real_off.get(v["nearest_real"], 0) for v in shown},
                            protocol, "real") if real_src is not None else {}
        page = report_html(res, worst, best, fake_clips, real_clips)
        from .utils import atomic_write

        with atomic_write(html) as f:
            f.write(page)
        res["html"] = str(html)
    res["seconds"] = round(time.time() - t0, 2)
    return res


def _gif_cell(clips: dict, vid: str) -> str:
    if vid not in clips:
        return "<td>(no video)</td>"
    data = base64.b64encode(clip_gif(clips[vid])).decode("ascii")
    return f'<td><img alt="{escape(vid)}" src="data:image/gif;base64,{data}"></td>'


def _table(title: str, rows: list[dict], fake_clips: dict, real_clips: dict) -> str:
    out = [f"<h2>{escape(title)}</h2>", "<table>",
           "<tr><th>rank</th><th>fake video</th><th>Mahalanobis</th><th>fake clip</th><th>nearest real</th>"
           "<th>distance</th><th>real clip</th></tr>"]
    for k, v in enumerate(rows, 1):
        out.append(f"<tr><td>{k}</td><td>{escape(v['id'])}</td><td>{v['mahalanobis']:.3f}</td>"
                   f"{_gif_cell(fake_clips, v['id'])}<td>{escape(v['nearest_real'])}</td>"
                   f"<td>{v['nearest_distance']:.3f}</td>{_gif_cell(real_clips, v['nearest_real'])}</tr>")
    out.append("</table>")
    return "\n".join(out)


def report_html(res: dict, worst: list[dict], best: list[dict], fake_clips: dict, real_clips: dict) -> str:
    """The report page: a summary, then the worst and the best fake videos beside their nearest real ones."""
    p = res["protocol"]
    thumbs = "" if fake_clips or real_clips else "<p>No thumbnails: statistics files were given, not videos.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vgbench per-video report ({escape(p['name'])})</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} img{{image-rendering:pixelated}}</style>
</head><body>
<h1>Per-video report: {escape(p['name'])}</h1>
<p>FVD {res['fvd']:.4f} ({escape(p['name'])}@{escape(str(p['version']))}, params {escape(p['params_sha256'][:12])});
{res['counts']['real']} real and {res['counts']['fake']} fake videos.
Mahalanobis distance of each fake video's features to the real features (mean and covariance, ridge
{res['ridge']:g} x tr/D = {res['eps']:.4g}); the real videos' own median is {res['real_mahalanobis_median']:.3f}.
Nearest real: Euclidean distance between feature vectors. Clips are the frames the detector saw.</p>
{thumbs}
{_table(f"The {len(worst)} fake videos farthest from the real distribution", worst, fake_clips, real_clips)}
{_table(f"The {len(best)} fake videos closest to it", best, fake_clips, real_clips)}
</body></html>
"""
