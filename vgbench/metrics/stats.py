"""Streaming feature statistics: float64 running sum and XᵀX, population covariance (÷N) as StyleGAN-V.

Memory is O(D²) whatever the number of videos; the result does not depend on how rows were batched.
"""
from __future__ import annotations

import numpy as np

from ..errors import VgbenchError

__all__ = ["FeatureStats", "FeatureError"]


class FeatureError(VgbenchError, ValueError):
    """Features are malformed (wrong shape, NaN or inf)."""


class FeatureStats:
    def __init__(self, dim: int):
        self.dim = dim
        self.n = 0
        self.sum = np.zeros(dim, np.float64)
        self.xtx = np.zeros((dim, dim), np.float64)

    def append(self, feats: np.ndarray, where: str = "features") -> None:
        x = np.asarray(feats)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise FeatureError(f"{where}: expected features shaped [N, {self.dim}], got {x.shape}")
        if not np.all(np.isfinite(x)):
            bad = np.unique(np.nonzero(~np.isfinite(x))[0])
            raise FeatureError(f"{where}: NaN or inf in features of rows {bad[:10].tolist()}")
        x = x.astype(np.float64)
        self.n += x.shape[0]
        self.sum += x.sum(axis=0)
        self.xtx += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        mu = self.mean
        return self.xtx / self.n - np.outer(mu, mu)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0:
            raise FeatureError("no features were accumulated")
        return self.mean, self.cov
