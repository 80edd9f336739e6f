"""The statistics file (:class:`vgbench.metrics.stats.VideoStats`): what ``save`` writes, every rule ``load`` and
``validate`` apply with its message, and ``check_compatible``. Pure numpy on hand-made statistics; no detector.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from vgbench.metrics import stats as stats_module
from vgbench.metrics.stats import PSD_TOLERANCE, VideoStats, load_stats, stats_checksum
from vgbench.protocols import ProtocolError, load_protocol
from vgbench.provenance import LEGACY_STATS_SCHEMA, STATS_SCHEMA

D = 4
DET_SHA = "ab" * 32


def _manifest(n: int = 5, **extra) -> dict:
    proto = load_protocol("fvd16")
    m = {"schema": STATS_SCHEMA, "role": "real", "counts": {"used": n, "skipped": 0},
         "protocol": {"name": proto.name, "version": proto.version, "params_sha256": proto.params_sha256},
         "detector": {"name": "i3d", "sha256": DET_SHA}}
    m.update(extra)
    return m


def _stats(n: int = 5, **changes) -> VideoStats:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, D))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False, bias=True)
    kw = dict(mu=mu, sigma=sigma, n=n, manifest=_manifest(n), ids=[f"v{i}" for i in range(max(n, 0))],
              offsets=list(range(max(n, 0))))
    kw.update(changes)
    return VideoStats(**kw)


def _arrays(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _write(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------------------------------------------- save


def test_save_writes_exactly_these_arrays_with_these_types(tmp_path):
    st = _stats(ids=["a", "bb", "c", "d", "e"], offsets=[0, 3, 1, 7, 2])
    path = st.save(tmp_path / "s.npz")
    assert path == tmp_path / "s.npz"
    a = _arrays(path)
    assert sorted(a) == ["checksum", "ids", "manifest", "mu", "n", "offsets", "sigma"]
    assert a["mu"].dtype == np.float64 and a["sigma"].dtype == np.float64
    assert a["n"].dtype == np.int64 and a["n"].shape == () and int(a["n"]) == 5
    assert a["offsets"].dtype == np.int64 and a["offsets"].tolist() == [0, 3, 1, 7, 2]
    assert a["ids"].dtype.kind == "U" and a["ids"].tolist() == ["a", "bb", "c", "d", "e"]
    assert np.array_equal(a["mu"], st.mu) and np.array_equal(a["sigma"], st.sigma)
    assert str(a["manifest"]) == json.dumps(st.manifest, sort_keys=True)
    assert str(a["checksum"]) == stats_checksum({k: v for k, v in a.items() if k != "checksum"})


def test_save_converts_float32_and_lists(tmp_path):
    st = _stats(mu=np.arange(D, dtype=np.float32), sigma=np.eye(D, dtype=np.float32),
                offsets=np.array([0, 1, 2, 3, 4], np.int32))
    a = _arrays(st.save(tmp_path / "s.npz"))
    assert a["mu"].dtype == np.float64 and a["mu"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert a["sigma"].dtype == np.float64 and np.array_equal(a["sigma"], np.eye(D))
    assert a["offsets"].dtype == np.int64 and a["offsets"].tolist() == [0, 1, 2, 3, 4]
    a = _arrays(_stats(mu=[0.0, 1.0, 2.0, 3.0], sigma=np.eye(D).tolist()).save(tmp_path / "l.npz"))
    assert a["mu"].dtype == np.float64 and a["sigma"].dtype == np.float64


def test_save_without_ids_and_offsets_keeps_their_types(tmp_path):
    a = _arrays(_stats(ids=[], offsets=[]).save(tmp_path / "s.npz"))
    assert a["ids"].dtype.kind == "U" and a["ids"].shape == (0,)
    assert a["offsets"].dtype == np.int64 and a["offsets"].shape == (0,)


@pytest.mark.parametrize("name, written", [("s", "s.npz"), ("s.stats", "s.stats.npz"), ("s.npz", "s.npz")])
def test_save_appends_npz_without_dropping_a_suffix(tmp_path, name, written):
    path = _stats().save(tmp_path / name)
    assert path == tmp_path / written and path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([written, written + ".json"])


def test_save_writes_a_readable_json_manifest_with_the_checksum(tmp_path):
    st = _stats()
    path = st.save(tmp_path / "s.npz")
    side = tmp_path / "s.npz.json"
    checksum = str(_arrays(path)["checksum"])
    assert side.read_text() == json.dumps({**st.manifest, "checksum": checksum}, indent=2, sort_keys=True)
    assert "checksum" not in st.manifest  # the object's manifest is not changed


def test_save_overwrites_its_own_file(tmp_path):
    path = _stats().save(tmp_path / "s.npz")
    _stats(n=7).save(path)
    assert VideoStats.load(path).n == 7


def test_roundtrip_keeps_everything(tmp_path):
    st = _stats(ids=["x", "y", "z", "w", "v"], offsets=[4, 0, 2, 2, 9])
    back = VideoStats.load(st.save(tmp_path / "s.npz"))
    assert np.array_equal(back.mu, st.mu) and np.array_equal(back.sigma, st.sigma)
    assert back.n == 5 and type(back.n) is int
    assert back.manifest == st.manifest
    assert back.ids == ["x", "y", "z", "w", "v"] and all(type(i) is str for i in back.ids)
    assert back.offsets == [4, 0, 2, 2, 9] and all(type(o) is int for o in back.offsets)
    assert load_stats(tmp_path / "s.npz").manifest == st.manifest


def test_roundtrip_without_ids_and_offsets(tmp_path):
    back = VideoStats.load(_stats(ids=[], offsets=[]).save(tmp_path / "s.npz"))
    assert back.ids == [] and back.offsets == []


# ------------------------------------------------------------------------------------------------------- load


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ProtocolError, match=r"nope\.npz: cannot read statistics file: .*No such file"):
        VideoStats.load(tmp_path / "nope.npz")


def test_garbage_file_is_named(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"this is not a zip file at all")
    with pytest.raises(ProtocolError, match=r"g\.npz: cannot read statistics file"):
        VideoStats.load(tmp_path / "g.npz")


def test_pickled_arrays_are_never_loaded(tmp_path):
    """An object array in the file would need pickle: refused when read, before anything runs."""
    st = _stats()
    path = _write(tmp_path / "p.npz", mu=np.array([st.mu], dtype=object), sigma=st.sigma, n=np.int64(5),
                  manifest=np.asarray(json.dumps(st.manifest)))
    with pytest.raises(ProtocolError, match=r"p\.npz: cannot read statistics file: .*allow_pickle"):
        VideoStats.load(path)


@pytest.mark.parametrize("drop", ["mu", "sigma", "n", "manifest"])
def test_each_required_array_is_named_when_missing(tmp_path, drop):
    a = _arrays(_stats().save(tmp_path / "s.npz"))
    del a[drop]
    _write(tmp_path / "s.npz", **a)
    with pytest.raises(ProtocolError, match=rf"s\.npz: not a vgbench statistics file \(no {drop}\)$"):
        VideoStats.load(tmp_path / "s.npz")


def test_all_missing_arrays_are_listed(tmp_path):
    _write(tmp_path / "o.npz", other=np.zeros(2))
    with pytest.raises(ProtocolError, match=r"o\.npz: not a vgbench statistics file \(no mu, sigma, n, manifest\)$"):
        VideoStats.load(tmp_path / "o.npz")


def test_damaged_manifest_is_named(tmp_path):
    a = _arrays(_stats().save(tmp_path / "s.npz"))
    a["manifest"] = np.asarray('{"schema": "vgbench.stats/2", ')
    _write(tmp_path / "s.npz", **a)
    with pytest.raises(ProtocolError, match=r"s\.npz: damaged statistics manifest: "):
        VideoStats.load(tmp_path / "s.npz")


@pytest.mark.parametrize("manifest, shown", [('["vgbench.stats/2"]', "None"), ('{"a": 1}', "None"),
                                             ('{"schema": "vgbench.stats/9"}', "'vgbench.stats/9'"),
                                             ('"vgbench.stats/2"', "None")])
def test_files_of_another_kind_or_schema_are_refused(tmp_path, manifest, shown):
    st = _stats()
    _write(tmp_path / "s.npz", mu=st.mu, sigma=st.sigma, n=np.int64(5), manifest=np.asarray(manifest))
    with pytest.raises(ProtocolError, match=rf"s\.npz: not a vgbench statistics file \(schema {shown}\)$"):
        VideoStats.load(tmp_path / "s.npz")


@pytest.mark.parametrize("key", ["mu", "sigma", "n", "ids", "offsets", "manifest"])
def test_any_changed_array_breaks_the_checksum(tmp_path, key):
    path = _stats().save(tmp_path / "s.npz")
    a = _arrays(path)
    changed = {"mu": a["mu"] + 1e-12, "sigma": a["sigma"] * (1 + 1e-12), "n": np.int64(6),
               "ids": np.asarray(["v0", "v1", "v2", "v3", "v5"]), "offsets": a["offsets"][::-1].copy(),
               "manifest": np.asarray(json.dumps(dict(_stats().manifest, role="fake"), sort_keys=True))}
    a[key] = changed[key]
    _write(path, **a)
    with pytest.raises(ProtocolError, match=r"s\.npz: checksum mismatch: the statistics were changed or damaged"):
        VideoStats.load(path)


def test_a_changed_dtype_breaks_the_checksum(tmp_path):
    path = _stats().save(tmp_path / "s.npz")
    a = _arrays(path)
    a["offsets"] = a["offsets"].astype(np.int32)  # same numbers, other bytes
    _write(path, **a)
    with pytest.raises(ProtocolError, match="checksum mismatch"):
        VideoStats.load(path)


def test_current_schema_without_checksum_is_refused(tmp_path):
    a = _arrays(_stats().save(tmp_path / "s.npz"))
    del a["checksum"]
    _write(tmp_path / "s.npz", **a)
    with pytest.raises(ProtocolError, match=r"s\.npz: the checksum is missing: the file was damaged or edited"):
        VideoStats.load(tmp_path / "s.npz")


def _legacy(tmp_path, st: VideoStats, **arrays) -> Path:
    """A statistics file as vgbench 0.1 wrote it (schema /1, no checksum); ``arrays`` replace or add arrays."""
    manifest = dict(st.manifest, schema=LEGACY_STATS_SCHEMA)
    written = dict(mu=st.mu, sigma=st.sigma, n=np.int64(st.n), manifest=np.asarray(json.dumps(manifest)))
    return _write(tmp_path / "old.npz", **{**written, **arrays})


def test_legacy_file_loads_with_a_warning_pointing_at_the_caller(tmp_path):
    st = _stats()
    path = _legacy(tmp_path, st)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        back = load_stats(path)  # load_stats -> VideoStats.load -> warn(stacklevel=3): this line
    assert len(w) == 1 and w[0].category is UserWarning
    assert str(w[0].message).startswith(f"{path}: statistics written by vgbench 0.1 carry no checksum")
    if "mutants" not in Path(stats_module.__file__).parts:  # under mutmut, its trampolines add stack frames
        assert Path(w[0].filename).name == Path(__file__).name
    assert np.array_equal(back.mu, st.mu) and back.n == 5 and back.ids == [] and back.offsets == []
    assert back.manifest["schema"] == LEGACY_STATS_SCHEMA


def test_legacy_file_with_a_checksum_is_verified(tmp_path):
    st = _stats()
    manifest = np.asarray(json.dumps(dict(st.manifest, schema=LEGACY_STATS_SCHEMA)))
    arrays = {"mu": st.mu, "sigma": st.sigma, "n": np.int64(5), "manifest": manifest}
    good = _write(tmp_path / "old.npz", **arrays, checksum=np.asarray(stats_checksum(arrays)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert VideoStats.load(good).n == 5
    _write(tmp_path / "old.npz", **arrays, checksum=np.asarray("0" * 64))
    with pytest.raises(ProtocolError, match="checksum mismatch"):
        VideoStats.load(good)


def test_legacy_file_is_validated_too(tmp_path):
    path = _legacy(tmp_path, _stats(), n=np.int64(4))  # the manifest counts 5
    with pytest.warns(UserWarning), pytest.raises(ProtocolError, match=r"old\.npz: n = 4 samples, but the manifest "
                                                                       r"counts 5"):
        VideoStats.load(path)


# --------------------------------------------------------------------------------------------------- validate


def _refused(st: VideoStats, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        st.validate("WHERE")


def test_valid_statistics_pass():
    _stats().validate("WHERE")


@pytest.mark.parametrize("mu, sigma", [(np.zeros((1, D)), np.eye(D)), (np.zeros(D), np.eye(D + 1)),
                                       (np.zeros(D), np.zeros(D)), (np.zeros(D), np.eye(D)[:, :3])])
def test_shapes_must_fit(mu, sigma):
    _refused(_stats(mu=mu, sigma=sigma), rf"^WHERE: mu \({', '.join(map(str, mu.shape))},?\) and sigma .* do not fit")


@pytest.mark.parametrize("where, value", [("mu", np.nan), ("mu", np.inf), ("sigma", np.nan), ("sigma", -np.inf)])
def test_non_finite_values_are_refused(where, value):
    st = _stats()
    arr = getattr(st, where).copy()
    arr.flat[0] = value
    setattr(st, where, arr)
    _refused(st, r"^WHERE: NaN or inf in the statistics \(mu or sigma\)$")


def test_count_must_be_positive():
    _refused(_stats(n=0, manifest=_manifest(0)), r"^WHERE: n = 0 samples, but the manifest counts 0: the statistics "
                                                  r"are empty or inconsistent$")
    _refused(_stats(n=0, manifest=_manifest(0, counts={})), r"n = 0 samples, but the manifest counts None")
    _refused(_stats(n=-3, manifest=_manifest(0, counts=None)), r"n = -3 samples")


def test_count_must_match_the_manifest():
    _refused(_stats(n=5, manifest=_manifest(6)), r"^WHERE: n = 5 samples, but the manifest counts 6")
    _stats(n=1, manifest=_manifest(1)).validate("WHERE")  # one sample is enough


def test_frames_count_is_preferred_over_used():
    """Image statistics (FID) count frames; their ``used`` counts videos."""
    st = _stats(n=5, manifest=_manifest(2, counts={"used": 2, "frames": 5}))
    st.validate("WHERE")
    _refused(_stats(n=2, manifest=_manifest(2, counts={"used": 2, "frames": 5})), "n = 2 samples, but the manifest "
                                                                                  "counts 5")


def test_without_counts_any_positive_n_passes():
    _stats(n=5, manifest=_manifest(5, counts={})).validate("WHERE")
    _stats(n=5, manifest=_manifest(5, counts=None)).validate("WHERE")
    _stats(n=5, manifest={k: v for k, v in _manifest(5).items() if k != "counts"}).validate("WHERE")
    _stats(n=5, manifest=_manifest(5, counts={"skipped": 3})).validate("WHERE")


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_symmetry_tolerance_is_relative_to_the_largest_entry(scale):
    base = np.diag([2.0, 1.0, 1.0, 1.0]) * scale  # max |sigma| = 2 * scale
    ok = base.copy()
    ok[0, 1] += 0.5e-9 * 2 * scale
    _stats(sigma=ok).validate("WHERE")
    bad = base.copy()
    bad[0, 1] += 2e-9 * 2 * scale
    _refused(_stats(sigma=bad), r"^WHERE: sigma is not symmetric, so it is not a covariance matrix$")


def test_asymmetry_exactly_at_the_tolerance_passes():
    sigma = np.eye(2)
    sigma[0, 1] = 1e-9  # |sigma - sigma.T| max = 1e-9 = 1e-9 * max|sigma|: allowed, just
    _stats(mu=np.zeros(2), sigma=sigma).validate("WHERE")
    sigma[0, 1] = np.nextafter(1e-9, 1.0)
    _refused(_stats(mu=np.zeros(2), sigma=sigma), "not symmetric")


def test_symmetry_is_checked_with_the_absolute_largest_entry():
    base = np.array([[-4.0, 0.0], [0.0, 1.0]])  # not PSD, but the asymmetry rule comes first
    asym = base.copy()
    asym[0, 1] += 3e-9  # relative to 4 (|-4|): 0.75e-9, below the tolerance; relative to 1: above
    st = _stats(mu=np.zeros(2), sigma=asym)
    _refused(st, "not positive semi-definite")


def test_zero_covariance_is_allowed():
    _stats(sigma=np.zeros((D, D))).validate("WHERE")


def _with_lowest(lowest_relative: float, scale: float) -> np.ndarray:
    """A symmetric D x D matrix with max |entry| = scale and smallest eigenvalue lowest_relative * scale * D."""
    return np.diag([scale, scale / 2, scale / 3, lowest_relative * scale * D])


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_psd_tolerance_is_relative_to_scale_and_dimension(scale):
    _stats(sigma=_with_lowest(-0.5 * PSD_TOLERANCE, scale)).validate("WHERE")
    with pytest.raises(ProtocolError, match=r"^WHERE: sigma is not positive semi-definite \(smallest eigenvalue "
                                            r"-.*\), so it is not a covariance matrix; the Fréchet distance would be "
                                            r"meaningless$") as ei:
        _stats(sigma=_with_lowest(-2 * PSD_TOLERANCE, scale)).validate("WHERE")
    lowest = float(str(ei.value).split("eigenvalue ")[1].split(")")[0])
    assert lowest == pytest.approx(-2 * PSD_TOLERANCE * scale * D, rel=1e-3)


def test_psd_uses_the_smallest_eigenvalue_not_the_diagonal():
    sigma = np.array([[1.0, 2.0], [2.0, 1.0]])  # positive diagonal, eigenvalues 3 and -1
    _refused(_stats(mu=np.zeros(2), sigma=sigma), r"smallest eigenvalue -1\)")


def test_empty_statistics_do_not_crash_the_checks():
    _stats(mu=np.zeros(0), sigma=np.zeros((0, 0))).validate("WHERE")


def test_validate_does_not_change_the_statistics():
    st = _stats()
    mu, sigma = st.mu.copy(), st.sigma.copy()
    st.validate("WHERE")
    assert np.array_equal(st.mu, mu) and np.array_equal(st.sigma, sigma)


# ------------------------------------------------------------------------------------------- check_compatible


def test_compatible_statistics_pass():
    _stats().check_compatible(load_protocol("fvd16"), "real", DET_SHA, "W")
    _stats().check_compatible(load_protocol("fvd16"), "real", None, "W")  # no detector given: not checked
    _stats().check_compatible(load_protocol("fvd16"), "real", "", "W")


def test_other_protocol_is_refused_with_both_names_and_hashes():
    st = _stats()
    other = load_protocol("fvd128")
    p = st.manifest["protocol"]
    msg = (f"W: statistics were computed under protocol {p['name']}@{p['version']} (params "
           f"{p['params_sha256'][:12]}), not {other.name}@{other.version} (params {other.params_sha256[:12]}); clip "
           f"length, stride, offsets or detector settings differ, so the FVD would be meaningless. Recompute them with "
           f"`vgbench stats ... --protocol {other.name}`.")
    with pytest.raises(ProtocolError) as ei:
        st.check_compatible(other, "real", DET_SHA, "W")
    assert str(ei.value) == msg


def test_the_protocol_is_compared_by_its_parameters_not_its_name():
    proto = load_protocol("fvd16")
    st = _stats(manifest=_manifest(5, protocol={"name": "renamed", "version": "9",
                                                "params_sha256": proto.params_sha256}))
    st.check_compatible(proto, "real", DET_SHA, "W")
    st = _stats(manifest=_manifest(5, protocol={"name": proto.name, "version": proto.version,
                                                "params_sha256": "0" * 64}))
    with pytest.raises(ProtocolError, match=r"params 000000000000\)"):
        st.check_compatible(proto, "real", DET_SHA, "W")


def test_other_role_is_refused():
    with pytest.raises(ProtocolError) as ei:
        _stats().check_compatible(load_protocol("fvd16"), "fake", DET_SHA, "W")
    assert str(ei.value) == "W: these are real statistics (real clip policy) but were given as the fake set"


def test_other_detector_weights_are_refused():
    with pytest.raises(ProtocolError) as ei:
        _stats().check_compatible(load_protocol("fvd16"), "real", "cd" * 32, "W")
    assert str(ei.value) == f"W: statistics were computed with detector weights {DET_SHA}, not {'cd' * 32}"
    st = _stats(manifest=_manifest(5, detector={"name": "i3d"}))
    with pytest.raises(ProtocolError, match=r"^W: statistics were computed with detector weights None, not cdcd"):
        st.check_compatible(load_protocol("fvd16"), "real", "cd" * 32, "W")
    st.check_compatible(load_protocol("fvd16"), "real", None, "W")
