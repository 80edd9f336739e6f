"""Fréchet distance and streaming statistics, with every warning an error: a discarded complex part, a silently
singular sqrtm or a precision loss must show up here, not as a ComplexWarning in a log."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from vgbench.metrics import frechet as F
from vgbench.metrics.frechet import FrechetError, frechet_distance
from vgbench.metrics.stats import FeatureError, FeatureStats

pytestmark = pytest.mark.filterwarnings("error")


# ------------------------------------------------------------------------------------------- Fréchet distance


def test_complex_sqrtm_returns_the_real_part_and_reports_the_imaginary_one():
    """sqrtm(diag(-4, 1)) = diag(2i, 1): with |mu1 - mu2|^2 = 10, d = 10 + 2 + (-3) - 2(1 + 2i) = 7 - 4i, so 7 is
    returned and the imaginary part of tr(covmean) (2) is reported; nothing warns. Without the mean term the real
    part is -3: a negative distance, refused (sigma2 is not a covariance)."""
    assert np.allclose(scipy.linalg.sqrtm(np.diag([-4.0, 1.0])), np.diag([2j, 1.0]))
    d, info = frechet_distance([0.0, 0.0], np.eye(2), [3.0, 1.0], np.diag([-4.0, 1.0]))
    assert type(d) is float and d == pytest.approx(7.0, abs=1e-12)
    assert info == {"eps_retry": False, "eps": None, "max_imag_trace": pytest.approx(2.0, abs=1e-12)}
    with pytest.raises(FrechetError, match=r"negative \(-3\)"):
        frechet_distance([0.0, 0.0], np.eye(2), [0.0, 0.0], np.diag([-4.0, 1.0]))


def test_real_features_with_more_dimensions_than_samples():
    """Rank-deficient covariances (N < D, as with small FVD sets) give a sqrtm with a small imaginary part; the
    distance is the real part and agrees with the eigenvalue formula."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(6, 8)) + 0.5
    s1, s2 = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    d, info = frechet_distance(a.mean(0), s1, b.mean(0), s2)
    ev = np.linalg.eigvals(s1 @ s2)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(
        np.sqrt(np.clip(ev.real, 0, None)))
    assert d == pytest.approx(expected, rel=1e-6) and not info["eps_retry"]
    assert 0 <= info["max_imag_trace"] < 1e-6


def test_singular_covariances_do_not_warn():
    d, info = frechet_distance([1.0, 2.0], np.zeros((2, 2)), [0.0, 0.0], np.zeros((2, 2)))
    assert d == 5.0 and info["max_imag_trace"] == 0.0
    d, _ = frechet_distance(np.zeros(3), np.ones((3, 3)), np.zeros(3), np.ones((3, 3)))
    assert abs(d) < 1e-12


def test_closed_forms():
    d, info = frechet_distance([3.0], [[4.0]], [0.0], [[1.0]])
    assert d == pytest.approx(10.0, rel=1e-12) and info == {"eps_retry": False, "eps": None, "max_imag_trace": 0.0}
    assert frechet_distance(3.0, 4.0, 1.0, 9.0)[0] == pytest.approx(4.0 + 1.0, rel=1e-12)  # scalars are 1-d
    mu1, mu2 = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.5])
    v1, v2 = np.array([4.0, 1.0, 0.25]), np.array([1.0, 9.0, 4.0])
    d, _ = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert d == pytest.approx(1 + 9 + 0 + (2 - 1) ** 2 + (1 - 3) ** 2 + (0.5 - 2) ** 2, rel=1e-12)


def test_symmetric_and_integer_inputs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) * 2
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    d12, _ = frechet_distance(x.mean(0), s1, y.mean(0), s2)
    d21, _ = frechet_distance(y.mean(0), s2, x.mean(0), s1)
    assert d12 == pytest.approx(d21, rel=1e-10) and d12 > 0
    assert frechet_distance([1, 2], [[2, 0], [0, 2]], [1, 2], [[2, 0], [0, 2]])[0] == pytest.approx(0, abs=1e-12)


def test_python_integers_beyond_int64_are_read_as_floats():
    """Every argument is converted to float64 first: an integer too large for int64 would otherwise become an
    object array that numpy cannot check or multiply."""
    big = 10**20
    args = [[0, 0], [[1, 0], [0, 1]], [0, 0], [[1, 0], [0, 1]]]
    for pos, value in ((0, [big, 0]), (1, [[big, 0], [0, 1]]), (2, [big, 0]), (3, [[big, 0], [0, 1]])):
        a = list(args)
        a[pos] = value
        d, _ = frechet_distance(*a)
        expected = 1e40 if pos in (0, 2) else 1e20 + 1 - 2 * np.sqrt(1e20)
        assert d == pytest.approx(expected, rel=1e-9)


def test_eps_retry_adds_eps_to_both_covariances(monkeypatch):
    real, seen = F._sqrtm, []

    def first_nan(a):
        seen.append(a.copy())
        return np.full_like(a, np.nan) if len(seen) == 1 else real(a)

    monkeypatch.setattr(F, "_sqrtm", first_nan)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 0.0])
    d, info = frechet_distance([1.0, 0.0], s1, [0.0, 0.0], s2, eps=0.01)
    assert np.array_equal(seen[0], s1 @ s2)
    assert np.allclose(seen[1], (s1 + 0.01 * np.eye(2)) @ (s2 + 0.01 * np.eye(2)), rtol=0, atol=1e-15)
    covmean_trace = np.sqrt(1.01 * 9.01) + np.sqrt(4.01 * 0.01)
    assert d == pytest.approx(1 + 5 + 9 - 2 * covmean_trace, rel=1e-12)
    assert info == {"eps_retry": True, "eps": 0.01, "max_imag_trace": 0.0}


def test_default_eps_and_failure_after_the_retry(monkeypatch):
    monkeypatch.setattr(F, "_sqrtm", lambda a: np.full_like(a, np.inf))
    with pytest.raises(FrechetError, match="^Fréchet distance is not finite even with the eps retry$"):
        frechet_distance([0.0], [[1.0]], [0.0], [[1.0]])
    calls = []
    monkeypatch.setattr(F, "_sqrtm", lambda a: calls.append(a) or (np.full_like(a, np.nan) if len(calls) == 1
                                                                    else np.sqrt(a)))
    d, info = frechet_distance([0.0], [[1.0]], [0.0], [[1.0]])
    assert info["eps"] == 1e-6 and calls[1][0, 0] == pytest.approx((1 + 1e-6) ** 2, rel=1e-15)
    assert d == pytest.approx(2 - 2 * (1 + 1e-6), rel=1e-9)


def test_sqrtm_helper_unpacks_tuples_and_silences_scipy(monkeypatch):
    assert np.allclose(F._sqrtm(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]))
    assert np.allclose(F._sqrtm(np.zeros((2, 2))), 0)  # singular: scipy's LinAlgWarning is silenced
    monkeypatch.setattr(F.scipy.linalg, "sqrtm", lambda a: (np.sqrt(a), 0.0))  # older scipy with disp=False
    assert np.array_equal(F._sqrtm(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]))


@pytest.mark.parametrize("args,match", [
    (([0.0, 1.0], np.eye(2), [0.0], [[1.0]]), r"^shape mismatch: mu \(2,\) vs \(1,\), sigma \(2, 2\) vs \(1, 1\)$"),
    (([0.0, 1.0], np.eye(2), [0.0, 1.0], np.eye(3)), "shape mismatch"),
    (([0.0, 1.0], np.eye(3), [0.0, 1.0], np.eye(3)), "shape mismatch"),
    (([0.0, 1.0], np.ones((2, 3)), [0.0, 1.0], np.ones((2, 3))), "shape mismatch"),
    (([np.nan], [[1.0]], [0.0], [[1.0]]), "^mu1 contains NaN or inf$"),
    (([0.0], [[1.0]], [np.inf], [[1.0]]), "^mu2 contains NaN or inf$"),
    (([0.0], [[-np.inf]], [0.0], [[1.0]]), "^sigma1 contains NaN or inf$"),
    (([0.0], [[1.0]], [0.0], [[np.nan]]), "^sigma2 contains NaN or inf$"),
])
def test_bad_inputs(args, match):
    with pytest.raises(FrechetError, match=match):
        frechet_distance(*args)
    assert issubclass(FrechetError, ValueError)


# ------------------------------------------------------------------------------------------- streaming statistics


def test_population_statistics_exact():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]], np.float32)
    s = FeatureStats(2)
    assert (s.dim, s.n) == (2, 0) and s.sum.dtype == np.float64 and s.xtx.dtype == np.float64
    assert np.array_equal(s.sum, [0, 0]) and np.array_equal(s.xtx, np.zeros((2, 2)))
    s.append(x[:1])
    s.append(x[1:])
    mu, cov = s.mean_cov()
    assert s.n == 3 and np.array_equal(s.sum, [9.0, 9.0]) and np.array_equal(s.xtx, x.T.astype(float) @ x)
    assert np.allclose(mu, [3.0, 3.0], rtol=0, atol=1e-15)
    assert np.allclose(cov, np.cov(x.astype(float), rowvar=False, bias=True), rtol=0, atol=1e-12)  # divide by N
    assert np.array_equal(s.mean, mu) and np.array_equal(s.cov, cov)


def test_accumulation_is_float64_whatever_the_input():
    s = FeatureStats(1)
    s.append(np.array([[16777216.0], [1.0], [1.0]], np.float32))  # 2**24 + 1 is not a float32
    assert s.sum[0] == 16777218.0 and s.xtx[0, 0] == 16777216.0 ** 2 + 2
    t = FeatureStats(2)
    t.append([[1, 2]])  # lists and integers are accepted
    assert t.sum.dtype == np.float64 and t.n == 1


def test_batching_does_not_change_the_statistics():
    x = np.random.default_rng(1).normal(size=(37, 3)).astype(np.float32)
    whole, parts = FeatureStats(3), FeatureStats(3)
    whole.append(x)
    for chunk in np.array_split(x, [1, 2, 20]):
        parts.append(chunk)
    assert parts.n == whole.n == 37
    assert np.allclose(parts.mean_cov()[0], whole.mean_cov()[0], rtol=0, atol=1e-12)
    assert np.allclose(parts.mean_cov()[1], whole.mean_cov()[1], rtol=0, atol=1e-12)


def test_feature_errors_name_the_rows_and_the_source():
    s = FeatureStats(3)
    with pytest.raises(FeatureError, match=r"^clips\.npz: expected features shaped \[N, 3\], got \(2, 4\)$"):
        s.append(np.zeros((2, 4)), where="clips.npz")
    with pytest.raises(FeatureError, match=r"^features: expected features shaped \[N, 3\], got \(3,\)$"):
        s.append(np.zeros(3))
    bad = np.zeros((14, 3), np.float32)
    bad[[2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13], 0] = np.nan
    bad[3, 1] = np.inf
    with pytest.raises(FeatureError, match=r"^x: NaN or inf in features of rows \[2, 3, 5, 6, 7, 8, 9, 10, 11, 12\]$"):
        s.append(bad, where="x")
    assert s.n == 0 and not s.sum.any()  # nothing of a refused batch was kept
    with pytest.raises(FeatureError, match="^no features were accumulated$"):
        s.mean_cov()
    assert issubclass(FeatureError, ValueError)


def _with_trace_of_sqrtm(monkeypatch, value: float):
    monkeypatch.setattr(F, "_sqrtm", lambda a: np.array([[value]]))


def test_negative_tolerance_boundary_on_small_covariances(monkeypatch):
    """Rounding may take the distance down to -1e-6 * max(tr Σ₁ + tr Σ₂, 1): exactly that passes, below it fails."""
    zero = np.zeros((1, 1))
    _with_trace_of_sqrtm(monkeypatch, 0.5e-6)  # distance = -2 * 0.5e-6 = -1e-6: on the boundary
    value, _ = frechet_distance(np.zeros(1), zero, np.zeros(1), zero)
    assert value == -1e-6
    _with_trace_of_sqrtm(monkeypatch, 0.75e-6)  # -1.5e-6: below it (the floor of the scale is 1, not more)
    with pytest.raises(FrechetError, match=r"^the Fréchet distance came out negative \(-1\.5e-06\): a covariance "
                                           r"matrix is not positive semi-definite$"):
        frechet_distance(np.zeros(1), zero, np.zeros(1), zero)


def test_negative_tolerance_scales_with_the_traces(monkeypatch):
    s = np.full((1, 1), 5.0)  # tr Σ₁ + tr Σ₂ = 10: tolerance 1e-5
    _with_trace_of_sqrtm(monkeypatch, 5.0 + 0.4e-5)  # distance 10 - 2 * (5 + 0.4e-5) = -0.8e-5
    value, _ = frechet_distance(np.zeros(1), s, np.zeros(1), s)
    assert value == pytest.approx(-0.8e-5, rel=1e-6)
    _with_trace_of_sqrtm(monkeypatch, 5.0 + 0.6e-5)
    with pytest.raises(FrechetError, match="came out negative"):
        frechet_distance(np.zeros(1), s, np.zeros(1), s)
