"""The generator harness: safe checkpoint loading, registry, seeding and time rules, folder adapter, eval."""
import importlib
import json
import os
import pickle

import pytest
import torch
from torch import nn

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from vgbench.models import base, get_adapter
from vgbench.models.checkpoint import (CheckpointError, InertObject, PersistentObject, load_native,
                                       load_network_pickle, module_state_dict, plain, save_native)
from vgbench.models.official_pickle import PLACEHOLDER_SOURCE, write_snapshot
from vgbench.safe_pickle import UnsafePickleError


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.affine = nn.Linear(c, c)
        self.register_buffer("resample_filter", torch.arange(4.0))
        self.register_buffer("scratch", torch.ones(2), persistent=False)
        self.act = "lrelu"
        self.layers = nn.ModuleList([nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 3)])


class TinyNet(nn.Module):
    def __init__(self, z_dim=4, cfg=None):
        super().__init__()
        self.z_dim = z_dim
        self.mapping = Block(z_dim)
        self.synthesis = nn.Sequential(Block(z_dim), Block(z_dim))
        self.register_buffer("w_avg", torch.randn(z_dim))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_NETWORK",))


def test_malicious_network_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"G_ema": _Evil()}))
    with pytest.raises(UnsafePickleError, match="system"):
        load_network_pickle(p)
    assert not (tmp_path / "PWNED_NETWORK").exists()
    p.write_bytes(pickle.dumps({"G_ema": eval}))
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        load_network_pickle(p)


def test_official_format_snapshot_roundtrip(tmp_path):
    torch.manual_seed(0)
    net = TinyNet(4)
    kwargs = {"z_dim": 4, "cfg": {"motion": {"kernel_size": 11}, "fmaps": 0.5}}
    path = write_snapshot(tmp_path / "network-snapshot-000000.pkl", net, kwargs, dataset_cfg={"fps": 25})
    raw = path.read_bytes()
    assert b"src.torch_utils.persistence" in raw and b"_reconstruct_persistent_obj" in raw
    assert b"omegaconf" in raw  # configs are real OmegaConf objects, as in official snapshots
    snap = load_network_pickle(path)
    g = snap["G_ema"]
    assert isinstance(g, PersistentObject) and g.class_name == "TinyNet" and g.module_src == PLACEHOLDER_SOURCE
    sd = module_state_dict(g)
    ref = net.state_dict()
    assert set(sd) == set(ref) and "mapping.scratch" not in sd
    assert all(torch.equal(sd[k], ref[k]) for k in ref)
    assert g.init_kwargs == kwargs
    assert plain(snap["training_set_kwargs"])["cfg"] == {"fps": 25}
    assert isinstance(snap["G_opt"], InertObject) and snap["G_opt"]._path == "torch.optim.adam.Adam"


def test_native_checkpoint_roundtrip_and_errors(tmp_path):
    net = TinyNet(4)
    p = save_native(tmp_path / "m.vgb", "tinynet", {"z_dim": 4}, net.state_dict(), {"dataset_fps": 30})
    config, state = load_native(p)
    assert config["model"] == "tinynet" and config["init_kwargs"] == {"z_dim": 4} and config["dataset_fps"] == 30
    assert set(state) == set(net.state_dict())
    (tmp_path / "bad.vgb").write_bytes(b"nope")
    with pytest.raises(CheckpointError, match="bad.vgb"):
        load_native(tmp_path / "bad.vgb")


def test_seeds_time_grid_and_quantisation():
    a = torch.randn(3, generator=base.video_seed(0, 5, 1))
    assert torch.equal(a, torch.randn(3, generator=base.video_seed(0, 5, 1)))
    assert not torch.equal(a, torch.randn(3, generator=base.video_seed(0, 5, 0)))
    assert not torch.equal(a, torch.randn(3, generator=base.video_seed(0, 6, 1)))
    assert base.time_grid(4, None, 30).tolist() == [0, 1, 2, 3]
    assert base.time_grid(3, 15, 30).tolist() == [0, 2, 4]  # half the fps: every other dataset frame
    assert base.time_grid(3, 60, 30).tolist() == [0, 0.5, 1.0]
    with pytest.raises(ValueError, match="fps"):
        base.time_grid(3, 10, None)
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0, -0.996])
    # uint8(clamp(x * 127.5 + 128)): round-half-up of (x + 1) * 127.5
    assert base.to_uint8(x).tolist() == [0, 0, 128, 191, 255, 255, 1]


def test_registry_lists_builtin_models_and_rejects_unknown():
    models = base.available_models()
    assert {"stylegan_v", "mostgan_v", "folder"} <= set(models)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_adapter("nope")


def test_folder_adapter(tmp_path):
    write_frames_dataset(tmp_path / "gen", {f"v{i}": ramp_video(20, base=i) for i in range(5)})
    a = get_adapter("folder", str(tmp_path / "gen"))
    batches = list(a.sample(5, 16, batch_size=2))
    assert [b.shape for b in batches] == [(2, 16, 16, 16, 3), (2, 16, 16, 16, 3), (1, 16, 16, 16, 3)]
    assert batches[2][0, :, 0, 0, 0].tolist() == list(range(4, 20))
    with pytest.raises(Exception, match="has 20 frames, 21 are needed"):
        list(a.sample(1, 21))
    with pytest.raises(ValueError, match="only 5 videos"):
        list(a.sample(6, 4))
    with pytest.raises(ValueError, match="resampled"):
        list(a.sample(1, 4, fps=10))


@pytest.fixture
def patched_detector(monkeypatch):
    """Use the cheap exact detector inside eval (the I3D path is covered by the golden tests)."""
    import vgbench.detectors as D

    det = MeanColorDetector()
    det.provenance = {"name": "meancolor", "sha256": "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"}
    monkeypatch.setattr(D, "get_detector", lambda name="i3d", device=None, auto_fetch=True: det)
    return det


def test_eval_record_and_real_stats_cache(tmp_path, monkeypatch, patched_detector):
    from vgbench import evaluate as E

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(24, base=3 * i) for i in range(6)})
    write_frames_dataset(tmp_path / "fake", {f"f{i}": ramp_video(16, base=5 * i) for i in range(4)})
    out = tmp_path / "results.jsonl"
    with pytest.warns(UserWarning, match="4 fake videos of 2048"):
        rec = E.evaluate("folder", str(tmp_path / "fake"), "ffs", data=str(tmp_path / "real"), out=out,
                         progress=False)
    m = rec["metrics"]["fvd16"]
    assert m["counts"]["real_used"] == 6 and m["counts"]["fake_used"] == 4 and m["protocol_complete"] is False
    assert m["protocol"]["name"] == "fvd16" and m["detector"]["name"] == "meancolor"
    assert rec["dataset"]["name"] == "ffs" and rec["dataset"]["card"]["fps"] == 30
    assert rec["model"]["name"] == "folder" and rec["model"]["source_content_hash"]
    assert json.loads(out.read_text().splitlines()[0])["metrics"]["fvd16"]["value"] == m["value"]
    cached = list((tmp_path / "home" / "stats").glob("ffs-fvd16-*.npz"))
    assert len(cached) == 1 and m["real_stats"]["file"] == str(cached[0])
    calls = []
    F = importlib.import_module("vgbench.metrics.fvd")  # the module (vgbench.metrics.fvd is also the function)
    real_compute = F.compute_stats
    monkeypatch.setattr(F, "compute_stats", lambda *a, **k: calls.append(k.get("clip_spec")) or real_compute(*a, **k))
    with pytest.warns(UserWarning):
        rec2 = E.evaluate("folder", str(tmp_path / "fake"), "ffs", data=str(tmp_path / "real"), progress=False)
    assert calls == [calls[0]] and calls[0] is not None  # only the fake side was computed: real came from cache
    assert rec2["metrics"]["fvd16"]["value"] == m["value"]


def test_check_reports_each_problem(tmp_path, monkeypatch):
    from vgbench import evaluate as E

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))  # no weights there
    write_frames_dataset(tmp_path / "real", {"r0": ramp_video(20), "r1": ramp_video(10)})
    rep = {r["check"]: r for r in E.check("folder", "builtin:tiny", "ffs", data=str(tmp_path / "real"))}
    assert rep["dataset card"]["ok"] and rep["checkpoint loads"]["ok"] and rep["model samples"]["ok"]
    assert not rep["detector weights for fvd16"]["ok"] and "vgbench weights fetch" in rep["detector weights for fvd16"]["detail"]
    assert not rep["real data for fvd16"]["ok"] and "1 of 2 videos have at least 16 frames" in rep["real data for fvd16"]["detail"]
    rep = {r["check"]: r for r in E.check("stylegan_v", str(tmp_path / "missing.pkl"), "nope")}
    assert not rep["dataset card"]["ok"] and "unknown dataset" in rep["dataset card"]["detail"]
    assert not rep["checkpoint loads"]["ok"] and "no such checkpoint" in rep["checkpoint loads"]["detail"]
