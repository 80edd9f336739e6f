"""The Fréchet distance between two Gaussians: the one implementation behind FVD and FID.

``d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)`` with ``(Σ₁Σ₂)^½`` from :func:`scipy.linalg.sqrtm` and the real
part taken, exactly as StyleGAN-V / StyleGAN2-ADA compute it. When that is not finite (near-singular covariances),
the computation is repeated with ``eps·I`` added to both covariances, and the returned info says so.

:func:`frechet_distance_eigh` is the same formula through symmetric eigenvalues (``tr (Σ₁Σ₂)^½ = Σ √λ(RᵀΣ₂R)`` for
any ``R`` with ``Σ₁ = RRᵀ``); it is only for the hundreds of replicates of a bootstrap or a bias fit
(:mod:`vgbench.metrics.confidence`), where it is several times faster than ``sqrtm``. Every reported value is
:func:`frechet_distance`; the two agree to 1e-9 relative (1e-6 for singular covariances, where ``sqrtm`` loses
digits; tests/test_confidence.py). FID's bootstrap (:class:`vgbench.metrics.confidence.FixedRealFrames`) uses the
same identity with the real covariance's root (:func:`covariance_root`) applied once to every fake frame, and
:func:`frechet_from_parts` for the sum.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ..errors import VgbenchError

__all__ = ["frechet_distance", "frechet_distance_eigh", "covariance_root", "frechet_from_parts", "FrechetError"]


class FrechetError(VgbenchError, ValueError):
    pass


#: how far below zero rounding may take the distance, relative to tr(sigma1) + tr(sigma2)
NEGATIVE_TOLERANCE = 1e-6


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about singular matrices / deprecated args; we check finiteness
        out = scipy.linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> tuple[float, dict]:
    """Return ``(distance, info)``; ``info['eps_retry']`` tells whether the eps fallback was needed."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise FrechetError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.all(np.isfinite(a)):
            raise FrechetError(f"{name} contains NaN or inf")
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    covmean = _sqrtm(sigma1 @ sigma2)
    value = float(np.real(mean_term + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)))
    info = {"eps_retry": False, "eps": None}
    if not np.isfinite(value):
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        value = float(np.real(mean_term + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)))
        info = {"eps_retry": True, "eps": eps}
        if not np.isfinite(value):
            raise FrechetError("Fréchet distance is not finite even with the eps retry")
    info["max_imag_trace"] = float(abs(np.imag(np.trace(covmean))))
    # rounding can make the distance of (nearly) equal Gaussians a hair below 0; far below 0 means a sigma that is
    # not a covariance (not positive semi-definite), and the number would be meaningless
    if value < -NEGATIVE_TOLERANCE * max(float(np.trace(sigma1) + np.trace(sigma2)), 1.0):
        raise FrechetError(f"the Fréchet distance came out negative ({value:.6g}): a covariance matrix is not "
                           f"positive semi-definite")
    return value, info


def frechet_distance_eigh(mu1, sigma1, mu2, sigma2, root1=None, root2=None) -> float:
    """The Fréchet distance from symmetric eigenvalues, for bootstrap replicates (float64 arrays, no checks).

    ``root1``/``root2``: any ``R`` [D, k] with ``sigma = R Rᵀ`` (centred, weighted samples when k < D); a sigma may be
    None when its root is given. With both roots, ``tr (Σ₁Σ₂)^½`` is the sum of the singular values of ``R₁ᵀR₂``,
    exact also for singular covariances; with ``root1`` only (default: the Cholesky factor of ``sigma1``, or its
    eigen-root when it is singular) it is ``Σ √λ(R₁ᵀ Σ₂ R₁)``, rounding below zero clipped (zero eigenvalues then
    cost ~1e-8 relative, as in ``sqrtm``).
    """
    tr1 = float(np.trace(sigma1)) if sigma1 is not None else float(np.square(root1).sum())
    tr2 = float(np.trace(sigma2)) if sigma2 is not None else float(np.square(root2).sum())
    if root1 is not None and root2 is not None:
        trace_sqrt = float(np.linalg.svd(root1.T @ root2, compute_uv=False).sum())
    else:
        root1 = covariance_root(sigma1) if root1 is None else root1
        m = root1.T @ sigma2 @ root1
        trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) * 0.5), 0.0, None)).sum())
    return frechet_from_parts(mu1 - mu2, tr1, tr2, trace_sqrt)


def covariance_root(sigma: np.ndarray) -> np.ndarray:
    """``R`` with ``sigma = R Rᵀ``: the Cholesky factor, or the eigen-root when ``sigma`` is singular."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        w, u = np.linalg.eigh(sigma)
        return u * np.sqrt(np.clip(w, 0.0, None))


def frechet_from_parts(diff, tr1: float, tr2: float, trace_sqrt: float) -> float:
    """``‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½`` from its parts (``diff`` = μ₁ − μ₂)."""
    diff = np.asarray(diff, np.float64)
    return float(diff @ diff + tr1 + tr2 - 2.0 * trace_sqrt)
