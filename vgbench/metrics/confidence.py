"""How much a Fréchet value can be trusted: a bootstrap interval over videos, and the N→∞ extrapolation.

Both work on the per-video features that FVD statistics keep (``VideoStats.features``, one row per video), never on
videos or the detector: at FVD16's size (N = 2048, D = 400) 0.08-0.14 s per bootstrap replicate and 2.4-2.5 s for
the extrapolation on one busy CPU thread (docs/confidence.md has the measurements).

* :func:`bootstrap_interval` resamples the videos of both sets with replacement ``B`` times (seeded) and recomputes
  the distance. The interval is for the value *at these N*: the spread of the replicates is reflected about the
  reported value (the basic bootstrap, with the replicates centred on their mean, because resampling duplicates
  videos and adds its own upward bias). It says how much the number would move with other videos of the same
  sets; it does not contain the small-sample bias, which is what the extrapolation estimates.
* :func:`extrapolate` is the N→∞ value of Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where
  to find them" (CVPR 2020): the distance on random subsets of both sets (same fraction of each, without
  replacement) fitted by least squares as ``d(N) = d∞ + k/N``; ``d∞`` is the intercept.
* FID (:class:`FixedRealFrames`, :func:`frame_bootstrap_interval`): the samples are frames and the frames of one
  video are correlated, so the fake set is resampled by video (every frame of a drawn video counted as often as it
  was drawn); the real statistics (every frame of the dataset) are held fixed, so the interval is the noise of
  the fake set alone (``"resampled": "fake"``). A replicate is a 2048-d Gram over the fake frames and a 2048-d
  eigendecomposition, seconds on a CPU: computed only on request (``FID_DEFAULT_BOOTSTRAP = 0``), from the fake
  frames' features kept for it (``compute_frame_stats(keep_features=True)``). No N→∞ extrapolation for FID.
* :func:`frechet_uncertainty` is what a metric entry records: ``ci95`` and ``extrapolated``, or for each a
  ``{"unavailable": reason}`` when the statistics carry no features (an older statistics file, FID statistics made
  without ``keep_features``) or FID's interval was not asked for. No interval is ever made up.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .frechet import covariance_root, frechet_distance_eigh, frechet_from_parts

__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_SEED", "BOOTSTRAP_METHOD", "EXTRAPOLATION_METHOD", "FID_DEFAULT_BOOTSTRAP",
           "FRAME_BOOTSTRAP_METHOD", "FixedRealFrames", "resample", "bootstrap_replicates", "interval_from_replicates",
           "bootstrap_interval", "frame_bootstrap_interval", "extrapolate", "extrapolate_frames", "frechet_uncertainty",
           "is_per_frame", "FRAME_EXTRAPOLATION_METHOD", "missing_features_reason", "warn_small_sample"]

#: bootstrap replicates by default: the endpoints then move by about 6% of the interval's half-width from one seed
#: to another (measured, docs/confidence.md), for 41-68 s at N = 2048, D = 400 on one busy CPU thread
DEFAULT_BOOTSTRAP = 500
DEFAULT_SEED = 0
BOOTSTRAP_METHOD = "basic bootstrap over videos of both sets, replicates centred on their mean"
FRAME_BOOTSTRAP_METHOD = ("basic bootstrap over the fake set's videos (all frames of a video together), real "
                          "statistics held fixed, replicates centred on their mean")
#: FID's interval is computed on request only: a replicate is a D x D eigendecomposition and a Gram over ~N frames
FID_DEFAULT_BOOTSTRAP = 0
FRAME_BOOTSTRAP_OFF = ("not requested: FID's interval is computed on request (vgbench fid --bootstrap B, vgbench eval "
                       "--fid-bootstrap B), at seconds per replicate on a CPU (docs/confidence.md)")
EXTRAPOLATION_METHOD = "least-squares fit d(N) = d_inf + k/N over random subsets of both sets (Chong & Forsyth 2020)"
FRAME_EXTRAPOLATION_METHOD = ("least-squares fit d(N) = d_inf + k/N over nested random subsets of the fake set's "
                              "videos (N: their frames), real statistics held fixed (Chong & Forsyth 2020)")


class _Moments:
    """Mean and population covariance of weighted rows of one feature matrix (weights: integer multiplicities)."""

    def __init__(self, features: np.ndarray):
        x = np.asarray(features, np.float64)
        self.n, self.dim = x.shape
        self.center = x.mean(axis=0)
        self.xc = x - self.center  # centred once: the weighted moments then lose no precision

    def __call__(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, R) for rows taken ``counts[i]`` times: sigma = Rᵀ R, R [distinct rows, D] (sigma is formed only
        where it is needed, see :func:`_distance`)."""
        used = np.flatnonzero(counts)
        w = counts[used] / counts.sum()
        rows = self.xc[used]
        m = w @ rows
        return self.center + m, (rows - m) * np.sqrt(w)[:, None]


def _distance(real: _Moments, rc: np.ndarray, fake: _Moments, fc: np.ndarray) -> float:
    """The Fréchet distance of one replicate: from the singular values of R₁R₂ᵀ when both sides have fewer distinct
    rows than dimensions, else through one covariance (one symmetric product, BLAS syrk) and the other's factor."""
    (mu1, r1), (mu2, r2) = real(rc), fake(fc)
    few1, few2 = r1.shape[0] < r1.shape[1], r2.shape[0] < r2.shape[1]
    if few1 and few2:
        return frechet_distance_eigh(mu1, None, mu2, None, root1=r1.T, root2=r2.T)
    if few2:  # the side with few rows gives the factor, the other its covariance
        mu1, r1, mu2, r2, few1 = mu2, r2, mu1, r1, True
    sigma2 = r2.T @ r2
    if few1:
        return frechet_distance_eigh(mu1, None, mu2, sigma2, root1=r1.T)
    return frechet_distance_eigh(mu1, r1.T @ r1, mu2, sigma2)


def resample(distance, sizes: tuple[int, ...], B: int, seed: int) -> np.ndarray:
    """``B`` values of ``distance(counts_1, counts_2, ...)``, each ``counts_k`` how often each of the ``sizes[k]``
    units of set k is drawn (``sizes[k]`` draws with replacement; numpy PCG64 from ``seed``, sets in order)."""
    if B < 2:
        raise ValueError(f"the bootstrap needs at least 2 replicates, got B={B}")
    rng = np.random.Generator(np.random.PCG64(seed))
    reps = np.empty(B)
    for b in range(B):
        reps[b] = distance(*(np.bincount(rng.integers(0, n, n), minlength=n) for n in sizes))
    return reps


def bootstrap_replicates(real: np.ndarray, fake: np.ndarray, B: int = DEFAULT_BOOTSTRAP,
                         seed: int = DEFAULT_SEED) -> np.ndarray:
    """``B`` Fréchet distances of the feature sets ``real`` [N_r, D] and ``fake`` [N_f, D] (one row per video),
    each with the videos of both sets drawn with replacement; the same seed gives the same replicates."""
    rm, fm = _Moments(real), _Moments(fake)
    return resample(lambda rc, fc: _distance(rm, rc, fm, fc), (rm.n, fm.n), B, seed)


def interval_from_replicates(reps: np.ndarray, value: float, level: float = 0.95) -> tuple[float, float]:
    """The basic interval about ``value``: ``value - (q_hi - m), value - (q_lo - m)``, q the replicate quantiles
    and m their mean."""
    alpha = (1.0 - level) / 2.0
    q_lo, q_hi = np.quantile(reps, [alpha, 1.0 - alpha])
    centre = reps.mean()
    return float(value - (q_hi - centre)), float(value - (q_lo - centre))


def bootstrap_interval(real: np.ndarray, fake: np.ndarray, value: float, B: int = DEFAULT_BOOTSTRAP,
                       seed: int = DEFAULT_SEED, level: float = 0.95) -> dict:
    """A ``level`` interval for the Fréchet value ``value`` of ``real`` and ``fake`` at these N (see the module
    docstring), as the ``ci95`` entry of a record."""
    reps = bootstrap_replicates(real, fake, B, seed)
    return _interval_entry(reps, value, BOOTSTRAP_METHOD, "real and fake", seed, level)


def _interval_entry(reps: np.ndarray, value: float, method: str, resampled: str, seed: int, level: float) -> dict:
    low, high = interval_from_replicates(reps, value, level)
    return {"low": low, "high": high, "method": method, "resampled": resampled, "B": int(len(reps)),
            "seed": int(seed), "sd": float(reps.std(ddof=1)), "replicate_mean_minus_value": float(reps.mean() - value)}


def extrapolate(real: np.ndarray, fake: np.ndarray, points: int = 15, min_fraction: float = 0.5,
                seed: int = DEFAULT_SEED) -> dict:
    """The N→∞ Fréchet distance: the distance on ``points`` subsets of fractions ``min_fraction .. 1`` of both sets
    (the same random order for every size, so the subsets are nested), fitted as ``d = d_inf + k / N_fake``."""
    if not 0.0 < min_fraction < 1.0 or points < 2:
        raise ValueError(f"need 0 < min_fraction < 1 and points >= 2, got {min_fraction}, {points}")
    smallest, dim = min_fraction * min(len(real), len(fake)), real.shape[1]
    if smallest <= dim:
        raise ValueError(f"the N→∞ fit needs its smallest subsets ({min_fraction:g} x {min(len(real), len(fake))} "
                         f"samples) larger than the feature dimension {dim}: d is not linear in 1/N below that")
    rng = np.random.Generator(np.random.PCG64(seed))
    order_r, order_f = rng.permutation(len(real)), rng.permutation(len(fake))
    sizes, values = [], []
    for frac in np.linspace(min_fraction, 1.0, points):
        nr, nf = max(2, round(frac * len(real))), max(2, round(frac * len(fake)))
        if sizes and nf == sizes[-1]:
            continue
        rm, fm = _Moments(real[order_r[:nr]]), _Moments(fake[order_f[:nf]])
        values.append(_distance(rm, np.ones(nr), fm, np.ones(nf)))
        sizes.append(nf)
    if len(sizes) < 2:
        raise ValueError(f"too few fake samples ({len(fake)}) to fit d against 1/N")
    return _fit_inverse_n(sizes, values, EXTRAPOLATION_METHOD, seed)


def _fit_inverse_n(sizes: list[int], values: list[float], method: str, seed: int) -> dict:
    """The least-squares fit ``d = d_inf + k / N`` of ``values`` at the fake sample ``sizes``."""
    design = np.stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, np.float64)], axis=1)
    (d_inf, slope), *_ = np.linalg.lstsq(design, np.asarray(values), rcond=None)
    return {"value": float(d_inf), "slope": float(slope), "sizes": [int(n) for n in sizes],
            "values": [float(v) for v in values], "method": method, "seed": int(seed)}


def extrapolate_frames(model: "FixedRealFrames", points: int = 15, min_fraction: float = 0.5,
                       seed: int = DEFAULT_SEED) -> dict:
    """FID's N→∞ value: the distance of nested random subsets of the fake *videos* (fractions ``min_fraction .. 1``,
    every frame of a chosen video in) against the fixed real statistics, fitted as ``d = d_inf + k / N`` with ``N``
    the subset's frame count. The real side is the whole dataset (no sampling), so only the fake side's bias is
    removed."""
    if not 0.0 < min_fraction < 1.0 or points < 2:
        raise ValueError(f"need 0 < min_fraction < 1 and points >= 2, got {min_fraction}, {points}")
    per_video = model.frames_per_video.cpu().numpy()
    order = np.random.Generator(np.random.PCG64(seed)).permutation(model.n_videos)
    dim = model.y.shape[1]
    sizes, values, last = [], [], 0
    for frac in np.linspace(min_fraction, 1.0, points):
        k = max(2, round(frac * model.n_videos))
        if k == last:
            continue
        counts = np.zeros(model.n_videos)
        counts[order[:k]] = 1.0
        n = int(per_video[order[:k]].sum())
        if not sizes and n <= dim:
            raise ValueError(f"the N→∞ fit needs its smallest subsets ({n} frames) larger than the feature "
                             f"dimension {dim}: d is not linear in 1/N below that")
        values.append(model(counts))
        sizes.append(n)
        last = k
    if len(sizes) < 2:
        raise ValueError(f"too few fake videos ({model.n_videos}) to fit d against 1/N")
    return _fit_inverse_n(sizes, values, FRAME_EXTRAPOLATION_METHOD, seed)


class FixedRealFrames:
    """The Fréchet distance of a fake *frame* set resampled by video against fixed real statistics (FID's bootstrap).

    ``frames`` [N, D] are the fake set's per-frame features, ``videos`` [N] the video (0 .. V-1) of each frame; a
    call with ``counts`` [V] (how often each video is drawn) weights every frame of video v by ``counts[v]``. With
    ``Σ_r = L Lᵀ`` (:func:`~vgbench.metrics.frechet.covariance_root`), ``tr (Σ_r Σ_f)^½ = Σ √λ(Lᵀ Σ_f L)`` and
    ``Lᵀ Σ_f L`` is the weighted Gram of the projected frames ``Y = (X − c) L`` minus ``ȳȳᵀ``: ``Y`` is made once
    (N·D² flops) and a replicate costs one weighted Gram over the frames of the videos it draws (float32 on CPU,
    through numpy's BLAS syrk; float64 on CUDA) and one D x D symmetric eigendecomposition (float64), in torch on
    ``device`` when it is CUDA, else on the CPU; means and traces come from per-video sums (float64).
    """

    def __init__(self, mu_real, sigma_real, frames: np.ndarray, videos: np.ndarray, device: str = "cpu",
                 chunk: int = 4096):
        import torch

        dev = torch.device(device)
        self.torch, dev = torch, dev if dev.type == "cuda" else torch.device("cpu")  # float64 sums: CUDA or CPU
        self.dtype = torch.float64 if dev.type == "cuda" else torch.float32
        videos = np.asarray(videos, np.int64)
        x = np.asarray(frames)
        if x.ndim != 2 or videos.shape != (x.shape[0],) or x.shape[0] == 0 or videos.min() < 0:
            raise ValueError(f"frames {x.shape} and their video indices {videos.shape} do not fit together")
        n, dim = x.shape
        self.n_videos = int(videos.max()) + 1
        self.mu_real, self.tr_real = np.asarray(mu_real, np.float64), float(np.trace(sigma_real))
        root = torch.from_numpy(covariance_root(np.asarray(sigma_real, np.float64))).to(dev)
        self.center = x.mean(axis=0, dtype=np.float64)
        centre = torch.from_numpy(self.center).to(dev)
        self.videos = torch.from_numpy(videos).to(dev)
        self.frames_per_video = torch.bincount(self.videos, minlength=self.n_videos).double()
        self.y = torch.empty((n, dim), dtype=self.dtype, device=dev)
        self.sum_x = torch.zeros((self.n_videos, dim), dtype=torch.float64, device=dev)  # per video, centred
        self.sum_y = torch.zeros_like(self.sum_x)
        self.sum_sq = torch.zeros(self.n_videos, dtype=torch.float64, device=dev)
        for i in range(0, n, chunk):
            xc = torch.from_numpy(np.asarray(x[i:i + chunk], np.float64)).to(dev) - centre
            yc = xc @ root
            v = self.videos[i:i + chunk]
            self.sum_x.index_add_(0, v, xc)
            self.sum_y.index_add_(0, v, yc)
            self.sum_sq.index_add_(0, v, (xc * xc).sum(1))
            self.y[i:i + chunk] = yc.to(self.dtype)

    def __call__(self, counts: np.ndarray) -> float:
        torch = self.torch
        c = torch.as_tensor(np.asarray(counts, np.float64), device=self.y.device)
        w = c / (c @ self.frames_per_video)  # weight of each frame of video v
        w_frame = w[self.videos]
        used = torch.nonzero(w_frame).squeeze(1)
        a = self.y[used] * w_frame[used].sqrt().to(self.dtype)[:, None]
        y_mean, x_mean = w @ self.sum_y, w @ self.sum_x
        if a.device.type == "cpu":  # numpy sees Aᵀ A and calls BLAS syrk: half of torch's gemm (2.0 s vs 4.2 s)
            a = a.numpy()
            gram = torch.from_numpy(a.T @ a)
        else:
            gram = a.T @ a
        m = gram.double() - torch.outer(y_mean, y_mean)
        trace_sqrt = float(torch.linalg.eigvalsh((m + m.T) * 0.5).clamp_min(0.0).sqrt().sum())
        tr_fake = float(w @ self.sum_sq - x_mean @ x_mean)
        return frechet_from_parts(self.mu_real - self.center - x_mean.cpu().numpy(), self.tr_real, tr_fake,
                                  trace_sqrt)


def frame_bootstrap_interval(mu_real, sigma_real, frames: np.ndarray, videos: np.ndarray, value: float,
                             B: int, seed: int = DEFAULT_SEED, level: float = 0.95, device: str = "cpu",
                             model: FixedRealFrames | None = None) -> dict:
    """FID's ``ci95`` entry: the fake frames resampled by video (:class:`FixedRealFrames`, or ``model`` when already
    made from them), the real statistics held fixed, the basic interval about ``value`` as for FVD."""
    model = model or FixedRealFrames(mu_real, sigma_real, frames, videos, device)
    reps = resample(model, (model.n_videos,), B, seed)
    return _interval_entry(reps, value, FRAME_BOOTSTRAP_METHOD, "fake", seed, level)


def _frame_uncertainty(real, fake, value: float, B: int, seed: int, device: str) -> dict:
    """The ``ci95`` and ``extrapolated`` entries of FID (per-frame statistics); both on request (``B > 0``), as they
    cost one D x D eigendecomposition per replicate or subset."""
    if B <= 0:
        return {"ci95": {"unavailable": FRAME_BOOTSTRAP_OFF}, "extrapolated": {"unavailable": FRAME_BOOTSTRAP_OFF}}
    if fake.features is None or fake.frame_videos is None:
        why = ("the fake statistics keep no per-frame features (FID statistics saved without keep_features): "
               "compute the fake side from videos with the bootstrap on (docs/confidence.md)")
        return {"ci95": {"unavailable": why}, "extrapolated": {"unavailable": why}}
    t0 = time.time()
    model = FixedRealFrames(real.mu, real.sigma, fake.features, fake.frame_videos, str(device or "cpu"))
    ci = frame_bootstrap_interval(real.mu, real.sigma, None, None, value, B, seed, model=model)
    ci["seconds"] = round(time.time() - t0, 2)
    t0 = time.time()
    try:
        ext = dict(extrapolate_frames(model, seed=seed), seconds=round(time.time() - t0, 2))
    except ValueError as e:
        ext = {"unavailable": str(e)}
    return {"ci95": ci, "extrapolated": ext}


def missing_features_reason(stats, role: str) -> str | None:
    """Why ``stats`` (a :class:`~vgbench.metrics.stats.VideoStats`) cannot be resampled by video, or None."""
    if stats.features is not None:
        return None
    m = stats.manifest
    schema = m.get("schema")
    from ..provenance import STATS_SCHEMA

    if schema != STATS_SCHEMA:
        return (f"the {role} statistics were written before vgbench kept per-video features (schema {schema}); "
                f"recompute them (`vgbench stats`, or delete a cached file) to get this")
    return f"the {role} statistics carry no per-video features"


def is_per_frame(stats) -> bool:
    """Whether ``stats`` are FID's per-frame statistics (every frame one sample)."""
    return (stats.manifest.get("clip") or {}).get("unit") == "frame"


def frechet_uncertainty(real, fake, value: float, B: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED,
                        device: str = "cpu") -> dict:
    """The ``ci95`` and ``extrapolated`` entries of a Fréchet metric for the statistics ``real`` and ``fake``
    (FID's per-frame statistics: :func:`frame_bootstrap_interval` on ``device``)."""
    if is_per_frame(fake):
        return _frame_uncertainty(real, fake, value, B, seed, device)
    reason = missing_features_reason(real, "real") or missing_features_reason(fake, "fake")
    if reason is not None:
        return {"ci95": {"unavailable": reason}, "extrapolated": {"unavailable": reason}}
    t0 = time.time()
    if B <= 0:
        ci = {"unavailable": "the bootstrap was turned off (B = 0)"}
    else:
        ci = dict(bootstrap_interval(real.features, fake.features, value, B, seed), seconds=round(time.time() - t0, 2))
    t0 = time.time()
    try:
        ext = dict(extrapolate(real.features, fake.features, seed=seed), seconds=round(time.time() - t0, 2))
    except ValueError as e:
        ext = {"unavailable": str(e)}
    return {"ci95": ci, "extrapolated": ext}


def warn_small_sample(name: str, entry: dict, wanted: int | None, unit: str = "videos") -> None:
    """Warn when the fake side of ``entry`` is smaller than the protocol's ``wanted``, with the bias it implies."""
    used = entry["counts"]["fake_used"]
    if not wanted or used >= wanted:
        return
    ext = entry.get("extrapolated") or {}
    bias = (f"; the value {entry['value']:.4g} differs by {entry['value'] - ext['value']:+.3g} from its N→∞ "
            f"extrapolation {ext['value']:.4g}" if "value" in ext else "")
    from .base import SmallSampleWarning

    warnings.warn(f"{name} was computed with {used} fake {unit}, below the protocol's {wanted}: Fréchet distances are "
                  f"biased upward at small N{bias}; compare values only at the same N", SmallSampleWarning,
                  stacklevel=4)
