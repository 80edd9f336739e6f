"""Confidence intervals and the N→∞ extrapolation of Fréchet values (vgbench.metrics.confidence, docs/confidence.md).

Synthetic Gaussians with a closed-form Fréchet distance: the bootstrap interval covers it at ~95% where the
small-sample bias is negligible; where the bias is large (D/N = 0.2) it covers the expected value at that N (its
target), not the population value; the extrapolation removes most of the bias. The stats file keeps per-video
features, and old files without them still load and give an entry that says why there is no interval.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from vgbench.metrics.confidence import (
    _Moments,
    bootstrap_interval,
    extrapolate,
    frechet_uncertainty,
)
from vgbench.metrics.frechet import frechet_distance, frechet_distance_eigh
from vgbench.metrics.stats import VideoStats, stats_checksum
from vgbench.protocols import ProtocolError


def _stats(x):
    m = x.mean(0)
    c = x - m
    return m, c.T @ c / len(x)


def _fd(x, y):
    return frechet_distance(*_stats(x), *_stats(y))[0]


def test_eigh_distance_matches_sqrtm_including_singular_covariances():
    rng = np.random.default_rng(0)
    for n, d in ((200, 12), (6, 12)):  # full rank, and fewer samples than dimensions (singular covariances)
        x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 0.3
        m1, s1 = _stats(x)
        m2, s2 = _stats(y)
        r1, r2 = ((x - m1) / np.sqrt(n)).T, ((y - m2) / np.sqrt(n)).T  # s = R Rᵀ
        # tr (Σ₁Σ₂)^½ is the nuclear norm of R₁ᵀR₂: an independent reference, exact also for singular Σ
        exact = float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2)
                      - 2 * np.linalg.svd(r1.T @ r2, compute_uv=False).sum())
        # from Σ alone, the zero eigenvalues of a singular product come out as ±1e-16 and their square roots as
        # 1e-8: scipy's sqrtm and the eigen paths lose digits alike; the singular values of R₁ᵀR₂ do not (the
        # bootstrap uses them whenever both sides have fewer distinct rows than dimensions)
        tol = 1e-9 if n > d else 1e-6
        assert _fd(x, y) == pytest.approx(exact, rel=tol)
        assert frechet_distance_eigh(m1, s1, m2, s2) == pytest.approx(exact, rel=tol)
        assert frechet_distance_eigh(m2, s2, m1, s1) == pytest.approx(exact, rel=tol)  # symmetric
        if n < d:  # data roots are what the bootstrap passes when there are fewer distinct rows than dimensions
            assert frechet_distance_eigh(m1, s1, m2, s2, root1=r1) == pytest.approx(exact, rel=tol)
            assert frechet_distance_eigh(m1, s1, m2, s2, root1=r1, root2=r2) == pytest.approx(exact, rel=1e-12)


def test_weighted_moments_equal_the_moments_of_the_repeated_rows():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 5)) * 3 + 7
    counts = np.bincount(rng.integers(0, 30, 30), minlength=30)
    mu, root = _Moments(x)(counts)
    m_ref, s_ref = _stats(np.repeat(x, counts, axis=0))
    np.testing.assert_allclose(mu, m_ref, rtol=1e-12)
    np.testing.assert_allclose(root.T @ root, s_ref, atol=1e-12)
    assert root.shape == (np.count_nonzero(counts), 5)  # one row per distinct video


def test_replicate_distance_takes_every_path_to_the_same_value():
    """Both sides with fewer distinct rows than dimensions, one of them (either), neither: the sqrtm value."""
    from vgbench.metrics.confidence import _distance

    rng = np.random.default_rng(6)
    big, small = rng.standard_normal((40, 8)), rng.standard_normal((5, 8)) * 2 + 1
    for x, y in ((big, big[::-1] * 1.5 + 0.2), (small, big), (big, small), (small, small[::-1] + 0.3)):
        rc, fc = np.arange(len(x)) % 3, np.arange(len(y)) % 2 + 1  # some rows unused, others repeated
        ref = _fd(np.repeat(x, rc, axis=0), np.repeat(y, fc, axis=0))
        assert _distance(_Moments(x), rc, _Moments(y), fc) == pytest.approx(ref, rel=1e-6)


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((80, 4)), rng.standard_normal((60, 4)) + 0.5
    v = _fd(x, y)
    a, b = bootstrap_interval(x, y, v, B=50, seed=3), bootstrap_interval(x, y, v, B=50, seed=3)
    assert a == b
    c = bootstrap_interval(x, y, v, B=50, seed=4)
    assert (c["low"], c["high"]) != (a["low"], a["high"])
    assert a["low"] < v < a["high"] and a["B"] == 50 and a["seed"] == 3
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_interval(x, y, v, B=1)


def _closed_form_coverage(data_sets: int, B: int, seed: int) -> float:
    """2-d Gaussians, N = 400 per side: the bias (tr Σ₁ + tr Σ₂)/N = 0.015 is 8% of the standard error, so the
    interval's target (the value at N) is the closed-form distance. The share of ``data_sets`` intervals covering it."""
    a, b, mu2 = np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([1.0, 0.5])
    true = float(mu2 @ mu2 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(np.zeros(2), np.diag(a), mu2, np.diag(b))[0] == pytest.approx(true, rel=1e-12)
    rng = np.random.default_rng(seed)
    hits = []
    for k in range(data_sets):
        x = rng.standard_normal((400, 2)) * np.sqrt(a)
        y = mu2 + rng.standard_normal((400, 2)) * np.sqrt(b)
        ci = bootstrap_interval(x, y, _fd(x, y), B=B, seed=k)
        hits.append(ci["low"] <= true <= ci["high"])
    return float(np.mean(hits))


def test_interval_covers_the_closed_form_distance_95_percent():
    coverage = _closed_form_coverage(120, B=100, seed=10)  # 0.925 (binomial sd 0.02)
    assert 0.89 <= coverage <= 0.99, coverage


def _high_dim_case(seed=2, d=20):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    s2 = a @ a.T + 0.5 * np.eye(d)
    m2 = rng.standard_normal(d) * 0.5
    true = frechet_distance(np.zeros(d), np.eye(d), m2, s2)[0]
    chol = np.linalg.cholesky(s2)
    return rng, true, lambda n: (rng.standard_normal((n, d)), m2 + rng.standard_normal((n, d)) @ chol.T)


def test_interval_is_for_the_value_at_n_when_the_bias_is_large():
    """D = 20, N = 100: the value is biased far above the closed-form distance (by ~3 standard errors). The
    interval covers the expected value at N = 100 (Monte Carlo over 600 draws); the closed-form distance lies
    mostly below it, and the uncentred percentile interval (shifted by the resampling bias) would cover nothing."""
    _, true, draw = _high_dim_case()
    expected_at_n = np.mean([_fd(*draw(100)) for _ in range(600)])
    assert expected_at_n - true > 2.0
    hits, hits_true, hits_percentile = [], [], []
    for k in range(30):
        x, y = draw(100)
        ci = bootstrap_interval(x, y, _fd(x, y), B=100, seed=k)
        shift = 2 * ci["replicate_mean_minus_value"]  # the percentile interval is the basic one moved by this
        hits.append(ci["low"] <= expected_at_n <= ci["high"])
        hits_true.append(ci["low"] <= true <= ci["high"])
        hits_percentile.append(ci["low"] + shift <= expected_at_n <= ci["high"] + shift)
    assert np.mean(hits) >= 0.9 and np.mean(hits_true) <= 0.6 and np.mean(hits_percentile) == 0.0


def test_extrapolation_removes_the_small_sample_bias():
    """Same case at N = 400: averaged over 8 data sets, the value is ~0.7 above the closed form, d_inf within 0.15."""
    _, true, draw = _high_dim_case(seed=5)
    values, extrapolated = [], []
    for k in range(8):
        x, y = draw(400)
        values.append(_fd(x, y))
        e = extrapolate(x, y, seed=k)
        extrapolated.append(e["value"])
        assert e["sizes"][-1] == 400 and e["values"][-1] == pytest.approx(values[-1], rel=1e-9)
        assert e["slope"] > 0  # the distance falls as N grows
    bias, residual = np.mean(values) - true, np.mean(extrapolated) - true
    assert bias > 0.5 and abs(residual) < 0.25 * bias, (bias, residual)


# ------------------------------------------------------------------------------------------------ the stats file


def _video_stats(x, schema="vgbench.stats/3", keep=True):
    mu, sigma = _stats(x.astype(np.float64))
    manifest = {"schema": schema, "role": "real", "counts": {"used": len(x)}}
    return VideoStats(mu, sigma, len(x), manifest, [f"v{i}" for i in range(len(x))], [0] * len(x),
                      x.astype(np.float32) if keep else None)


def test_stats_file_keeps_features_and_checks_them(tmp_path):
    x = np.random.default_rng(3).standard_normal((40, 6)).astype(np.float32)
    st = _video_stats(x)
    back = VideoStats.load(st.save(tmp_path / "s.npz"))
    assert np.array_equal(back.features, x) and back.features.dtype == np.float32
    assert np.array_equal(back.mu, st.mu)
    other = _video_stats(x)
    other.features = x[::-1] + 1  # rows that are not the ones mu came from
    with pytest.raises(ProtocolError, match="bad.npz: the per-video features are not the ones mu"):
        VideoStats.load(other.save(tmp_path / "bad.npz"))
    other.features = x[:10]
    with pytest.raises(ProtocolError, match=r"short.npz: features \(10, 6\) do not fit n = 40"):
        VideoStats.load(other.save(tmp_path / "short.npz"))


def test_old_stats_files_load_and_say_why_there_is_no_interval(tmp_path):
    """A schema /2 file (checksummed, no features) loads as before; its entry has no interval, and says why."""
    x = np.random.default_rng(4).standard_normal((40, 6))
    st = _video_stats(x, schema="vgbench.stats/2", keep=False)
    arrays = {"mu": st.mu, "sigma": st.sigma, "n": np.int64(st.n), "ids": np.asarray(st.ids, dtype=str),
              "offsets": np.asarray(st.offsets, np.int64), "manifest": np.asarray(json.dumps(st.manifest))}
    np.savez(tmp_path / "old.npz", **arrays, checksum=np.asarray(stats_checksum(arrays)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = VideoStats.load(tmp_path / "old.npz")
    assert old.features is None and np.array_equal(old.sigma, st.sigma)
    new = _video_stats(x + 0.5)
    out = frechet_uncertainty(old, new, 1.0, B=10)
    for key in ("ci95", "extrapolated"):
        assert list(out[key]) == ["unavailable"]
        assert "real statistics were written before vgbench kept per-video features (schema vgbench.stats/2)" in \
            out[key]["unavailable"]
    fid_like = _video_stats(x, keep=False)
    fid_like.manifest["clip"] = {"unit": "frame"}
    assert "keep no per-frame features" in frechet_uncertainty(new, fid_like, 1.0)["ci95"]["unavailable"]
    assert frechet_uncertainty(new, fid_like, 1.0, B=0)["ci95"]["unavailable"].startswith("not requested: FID's")
    both = frechet_uncertainty(new, _video_stats(x), 1.0, B=20)
    assert both["ci95"]["B"] == 20 and "value" in both["extrapolated"]
    few = frechet_uncertainty(_video_stats(x[:10]), _video_stats(x[10:20]), 1.0, B=20)
    assert few["ci95"]["B"] == 20 and "larger than the feature dimension 6" in few["extrapolated"]["unavailable"]
    assert frechet_uncertainty(new, _video_stats(x), 1.0, B=0)["ci95"] == {
        "unavailable": "the bootstrap was turned off (B = 0)"}


# ------------------------------------------------------------------------------------------------ through vgbench.fvd


def test_fvd_entries_carry_the_interval_and_old_real_files_say_why_not(tmp_path):
    from conftest import MeanColorDetector

    from vgbench.metrics.fvd import compute_stats, fvd

    rng = np.random.default_rng(7)

    def videos(n, shift):
        base = rng.integers(40, 160, (n, 1, 1, 1, 3)) + shift
        return (base + rng.integers(0, 60, (n, 16, 8, 8, 3))).clip(0, 255).astype(np.uint8)

    real = compute_stats(videos(40, 0), "fvd16", "real", detector=MeanColorDetector(), progress=False)
    fake = compute_stats(videos(40, 20), "fvd16", "fake", detector=MeanColorDetector(), progress=False)
    assert real.features.shape == (40, 12) and real.features.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 40 of 2048 fake videos: incomplete, small sample
        r = fvd(real.save(tmp_path / "real.npz"), fake.save(tmp_path / "fake.npz"), "fvd16", bootstrap=60,
                bootstrap_seed=5, detector=MeanColorDetector())
        again = fvd(tmp_path / "real.npz", fake, "fvd16", bootstrap=60, bootstrap_seed=5,
                    detector=MeanColorDetector())
    ci = r["ci95"]
    assert ci["low"] < r.value < ci["high"] and (ci["B"], ci["seed"]) == (60, 5) and ci["seconds"] >= 0
    assert again["ci95"] == {**ci, "seconds": again["ci95"]["seconds"]}  # deterministic for a seed
    assert r["extrapolated"]["sizes"][-1] == 40 and r["extrapolated"]["values"][-1] == pytest.approx(r.value)
    assert r["real"]["stats_sha256"] == real.digest() and r["fake"]["stats_sha256"] == fake.digest()
    # the same statistics written as a schema /2 file (what vgbench 0.1 wrote): the value is unchanged, no interval
    arrays = {"mu": real.mu, "sigma": real.sigma, "n": np.int64(real.n), "ids": np.asarray(real.ids, dtype=str),
              "offsets": np.asarray(real.offsets, np.int64),
              "manifest": np.asarray(json.dumps({**real.manifest, "schema": "vgbench.stats/2"}))}
    np.savez(tmp_path / "old.npz", **arrays, checksum=np.asarray(stats_checksum(arrays)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = fvd(tmp_path / "old.npz", fake, "fvd16", detector=MeanColorDetector())
    assert old.value == r.value
    assert "real statistics were written before vgbench kept per-video features" in old["ci95"]["unavailable"]


@pytest.mark.slow
def test_interval_coverage_over_1000_data_sets():
    """The closed-form case with 1000 data sets and B = 200 (docs/confidence.md quotes the measured number)."""
    coverage = _closed_form_coverage(1000, B=200, seed=11)
    print(f"coverage of the closed-form distance: {coverage:.3f} over 1000 data sets")
    assert 0.93 <= coverage <= 0.97, coverage


def test_cli_bootstrap_options_reach_the_entry(tmp_path):
    """`vgbench fvd --bootstrap B --bootstrap-seed S` (and B = 0: no interval) on two statistics files."""
    from click.testing import CliRunner
    from conftest import MeanColorDetector

    from vgbench.cli import main
    from vgbench.metrics.fvd import compute_stats
    from vgbench.protocols import load_protocol

    rng = np.random.default_rng(3)
    sha = load_protocol("fvd16")["detector"]["weights_sha256"]
    paths = []
    for role, shift in (("real", 0), ("fake", 25)):
        x = (rng.integers(40, 160, (30, 1, 1, 1, 3)) + shift + rng.integers(0, 60, (30, 16, 8, 8, 3)))
        st = compute_stats(x.clip(0, 255).astype(np.uint8), "fvd16", role, detector=MeanColorDetector(),
                           progress=False)
        st.manifest["detector"]["sha256"] = sha  # files that name the protocol's detector: no network is loaded
        paths.append(str(st.save(tmp_path / f"{role}.npz")))
    r = CliRunner().invoke(main, ["fvd", *paths, "--json", "--bootstrap", "40", "--bootstrap-seed", "7"])
    assert r.exit_code == 0, r.output
    ci = json.loads(r.output[r.output.index("{"):])["metrics"]["fvd16"]["ci95"]
    assert (ci["B"], ci["seed"]) == (40, 7) and ci["low"] < ci["high"]
    r = CliRunner().invoke(main, ["fvd", *paths, "--json", "--bootstrap", "0"])
    assert "turned off" in json.loads(r.output[r.output.index("{"):])["metrics"]["fvd16"]["ci95"]["unavailable"]
