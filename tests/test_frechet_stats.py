"""Fréchet distance against closed forms and an independent formula; streaming statistics."""
import numpy as np
import pytest
import scipy.linalg

from vgbench.metrics import frechet as F
from vgbench.metrics.frechet import FrechetError, frechet_distance
from vgbench.metrics.stats import FeatureError, FeatureStats


def test_identical_gaussians_give_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    s = np.cov(a, rowvar=False)
    d, info = frechet_distance(a.mean(0), s, a.mean(0), s)
    assert abs(d) < 1e-8 and not info["eps_retry"]


def test_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    d, _ = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert d == pytest.approx(expected, rel=1e-12)


def test_one_dimensional():
    d, _ = frechet_distance([3.0], [[4.0]], [0.0], [[1.0]])
    assert d == pytest.approx(9.0 + (2.0 - 1.0) ** 2, rel=1e-12)


def test_general_case_matches_symmetric_formula():
    """tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), computed independently with eigendecompositions."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(r1 @ s2 @ r1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None)))
    d, _ = frechet_distance(mu1, s1, mu2, s2)
    assert d == pytest.approx(expected, rel=1e-9)
    # and the pytorch-fid / StyleGAN formula written out with scipy directly
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert d == pytest.approx(direct, rel=1e-12)


def test_nonfinite_triggers_recorded_eps_retry(monkeypatch):
    real = F._sqrtm
    calls = []

    def flaky(a):
        calls.append(1)
        return np.full_like(a, np.nan) if len(calls) == 1 else real(a)

    monkeypatch.setattr(F, "_sqrtm", flaky)
    d, info = frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2), eps=1e-6)
    assert info["eps_retry"] and info["eps"] == 1e-6
    assert d == pytest.approx(2.0, abs=1e-5)


def test_bad_inputs():
    with pytest.raises(FrechetError, match="NaN"):
        frechet_distance([np.nan], [[1.0]], [0.0], [[1.0]])
    with pytest.raises(FrechetError, match="shape"):
        frechet_distance([0.0, 1.0], np.eye(2), [0.0], [[1.0]])


def test_streaming_stats_population_covariance_and_batch_invariance():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(101, 5)).astype(np.float32)
    whole = FeatureStats(5)
    whole.append(x)
    parts = FeatureStats(5)
    for chunk in np.array_split(x, [1, 7, 50, 99]):
        parts.append(chunk)
    mu, cov = whole.mean_cov()
    assert np.allclose(mu, x.astype(np.float64).mean(0), atol=1e-12)
    assert np.allclose(cov, np.cov(x.astype(np.float64), rowvar=False, bias=True), atol=1e-12)
    assert np.allclose(parts.mean_cov()[1], cov, atol=1e-12) and parts.n == 101


def test_stats_reject_nan_and_bad_shape():
    s = FeatureStats(3)
    with pytest.raises(FeatureError, match="rows \\[1\\]"):
        s.append(np.array([[0, 0, 0], [np.inf, 0, 0]], np.float32))
    with pytest.raises(FeatureError, match="shaped"):
        s.append(np.zeros((2, 4)))
    with pytest.raises(FeatureError, match="no features"):
        FeatureStats(3).mean_cov()
