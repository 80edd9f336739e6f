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
* :func:`frechet_uncertainty` is what a metric entry records: ``ci95`` and ``extrapolated``, or for each a
  ``{"unavailable": reason}`` when the statistics carry no per-video features (an older statistics file, FID's
  per-frame statistics). No interval is ever made up.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .frechet import frechet_distance_eigh

__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_SEED", "BOOTSTRAP_METHOD", "EXTRAPOLATION_METHOD", "bootstrap_replicates",
           "interval_from_replicates", "bootstrap_interval", "extrapolate", "frechet_uncertainty",
           "missing_features_reason", "warn_small_sample"]

#: bootstrap replicates by default: the endpoints then move by about 6% of the interval's half-width from one seed
#: to another (measured, docs/confidence.md), for 41-68 s at N = 2048, D = 400 on one busy CPU thread
DEFAULT_BOOTSTRAP = 500
DEFAULT_SEED = 0
BOOTSTRAP_METHOD = "basic bootstrap over videos of both sets, replicates centred on their mean"
EXTRAPOLATION_METHOD = "least-squares fit d(N) = d_inf + k/N over random subsets of both sets (Chong & Forsyth 2020)"


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


def bootstrap_replicates(real: np.ndarray, fake: np.ndarray, B: int = DEFAULT_BOOTSTRAP,
                         seed: int = DEFAULT_SEED) -> np.ndarray:
    """``B`` Fréchet distances of the feature sets ``real`` [N_r, D] and ``fake`` [N_f, D] (one row per video),
    each with the videos of both sets drawn with replacement; the same seed gives the same replicates."""
    if B < 2:
        raise ValueError(f"the bootstrap needs at least 2 replicates, got B={B}")
    rm, fm = _Moments(real), _Moments(fake)
    rng = np.random.Generator(np.random.PCG64(seed))
    reps = np.empty(B)
    for b in range(B):
        rc = np.bincount(rng.integers(0, rm.n, rm.n), minlength=rm.n)
        fc = np.bincount(rng.integers(0, fm.n, fm.n), minlength=fm.n)
        reps[b] = _distance(rm, rc, fm, fc)
    return reps


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
    low, high = interval_from_replicates(reps, value, level)
    return {"low": low, "high": high, "method": BOOTSTRAP_METHOD, "B": int(B), "seed": int(seed),
            "sd": float(reps.std(ddof=1)), "replicate_mean_minus_value": float(reps.mean() - value)}


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
    design = np.stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, np.float64)], axis=1)
    (d_inf, slope), *_ = np.linalg.lstsq(design, np.asarray(values), rcond=None)
    return {"value": float(d_inf), "slope": float(slope), "sizes": sizes, "values": [float(v) for v in values],
            "method": EXTRAPOLATION_METHOD, "seed": int(seed)}


def missing_features_reason(stats, role: str) -> str | None:
    """Why ``stats`` (a :class:`~vgbench.metrics.stats.VideoStats`) cannot be resampled by video, or None."""
    if stats.features is not None:
        return None
    m = stats.manifest
    if (m.get("clip") or {}).get("unit") == "frame":
        return (f"the {role} statistics are per frame (FID) and keep no per-video features: a video bootstrap of "
                f"2048-d Inception features over every frame is not implemented (docs/confidence.md)")
    schema = m.get("schema")
    from ..provenance import STATS_SCHEMA

    if schema != STATS_SCHEMA:
        return (f"the {role} statistics were written before vgbench kept per-video features (schema {schema}); "
                f"recompute them (`vgbench stats`, or delete a cached file) to get this")
    return f"the {role} statistics carry no per-video features"


def frechet_uncertainty(real, fake, value: float, B: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> dict:
    """The ``ci95`` and ``extrapolated`` entries of a Fréchet metric for the statistics ``real`` and ``fake``."""
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
