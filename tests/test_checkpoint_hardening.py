"""Official checkpoints as users have them: GPU-made snapshots, configs with OmegaConf interpolations over the stored
experiment config, precision choice, and damaged or foreign records (issue #11). Tiny networks, CPU only."""
import copy
import io
import math
import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models import get_adapter
from vgbench.models import mostgan_v as mv
from vgbench.models.base import ModelOptionError
from vgbench.models.checkpoint import (CheckpointError, PersistentObject, load_network_pickle, module_state_dict,
                                       save_native)
from vgbench.models.official_pickle import write_snapshot
from vgbench.safe_pickle import UnsafePickleError

torch.set_num_threads(min(2, torch.get_num_threads()))
FIX = Path(__file__).parent / "fixtures"


def tiny_mostgan(seed=0):
    kw = mv.tiny_config()
    torch.manual_seed(seed)
    return mv.Generator(**kw).eval(), kw


def experiment(gen_cfg: dict, **dataset) -> dict:
    """An experiment config shaped like MoStGAN-V's composed config (configs/config.yaml), interpolations kept."""
    gen = copy.deepcopy(gen_cfg)
    gen["c_dim"] = "${dataset.c_dim}"
    gen["sampling"] = "${sampling}"
    gen["motion"]["motion_z_distance"] = "${dataset.motion_z_distance}"
    gen["time_enc"]["min_period_len"] = "${model.generator.motion.motion_z_distance}"
    data = {"name": "ffs_${dataset.resolution}", "c_dim": 0, "max_num_frames": 1024, "motion_z_distance": 16,
            "fps": 25, "resolution": 64, "sampling": "${sampling}", **dataset}
    return {"model": {"name": "stylegan-v", "generator": gen}, "dataset": data,
            "sampling": {"name": "${sampling.type}${sampling.num_frames_per_video}", "type": "random",
                         "fps": "${dataset.fps}", "max_num_frames": "${dataset.max_num_frames}",
                         "num_frames_per_video": 3},
            "env": {"project_path": "${hydra:runtime.cwd}"}}


def perturb_time_buffers(G, factor=1.05):
    """Move the time encoder's buffers away from their initial values (the official forward reads the buffers)."""
    te = G.synthesis.motion_encoder.time_encoder
    with torch.no_grad():
        te.freqs.mul_(factor)
        te.phase_scales.mul_(1.01)
    return 2 * math.pi / float(te.freqs[0, -1])


def render(G, seed=0, t=((0.0, 7.5, 40.0, 300.0),)):
    g = torch.Generator().manual_seed(seed)
    t = torch.tensor(t)
    z = torch.randn(len(t), G.z_dim, generator=g)
    mz = G.sample_motion_z(len(t), t, generator=g)
    with torch.no_grad():
        return G(z, None, t, motion_z=mz, precision="fp32")


# ------------------------------------------------------------------------------------- item 1: GPU-made snapshots


def test_gpu_snapshot_loads_on_cpu_and_training_state_is_never_decoded(tmp_path):
    G, kw = tiny_mostgan()
    p = write_snapshot(tmp_path / "network-snapshot-000000.pkl", G, kw, dataset_cfg={"fps": 25},
                       training_device="cuda:0")
    raw = p.read_bytes()
    assert raw.count(b"cuda:0") >= 6  # the optimiser moments, its parameter copies and the vis grids
    a = get_adapter("mostgan_v", str(p))  # main: "Attempting to deserialize object on a CUDA device ..."
    assert torch.equal(render(a.G), render(G))
    snap = load_network_pickle(p)
    module_state_dict(snap["G_ema"])
    training_state = [v for st in snap["G_opt"].state["state"].values() for v in st.values()]
    training_state += list(snap["vis"]["grid_z"]) + [snap["vis"]["ts"]]
    from vgbench.models.checkpoint import StoredTensor

    assert len(training_state) >= 4 and all(isinstance(v, StoredTensor) for v in training_state)
    assert all(v.args[0]._storage is None for v in training_state)  # never materialised
    assert training_state[0].load().device.type == "cpu"  # and if read, they land on the CPU


def test_damaged_storage_is_a_checkpoint_error_naming_the_file(tmp_path):
    G, kw = tiny_mostgan()
    p = write_snapshot(tmp_path / "snap.pkl", G, kw, dataset_cfg={"fps": 25}, with_optimizer=False)
    raw = bytearray(p.read_bytes())
    i = raw.index(b"_load_from_bytes")
    j = raw.index(b"\x80\x02\x8a\x0a", i)  # the legacy torch.save magic number opening the first storage's bytes
    raw[j + 4:j + 14] = b"\xff" * 10
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="bad.pkl.*storage"):
        get_adapter("mostgan_v", str(bad))


# ------------------------------------------------------------------ item 2: configs resolved from the stored tree


def test_resolver_follows_omegaconf_rules_and_never_runs_resolvers():
    from vgbench.models.stored_config import resolve, resolve_plain

    tree = {"a": {"b": 1, "c": "${.b}", "d": {"e": "${..b}"}}, "x": "${a}", "l": [2, "${l.0}"], "cyc": "${cyc}",
            "env": "${oc.env:HOME}", "old": "${env:HOME}", "s": "ffs_${a.b}", "m": "???", "chain": "${x.d.e}",
            "via": "${p.q}", "p": "${a}", "up": "${...b}", "no": "${nothing.here}"}
    r = resolve(tree)
    assert r.value["a"] == {"b": 1, "c": 1, "d": {"e": 1}} and r.value["x"] == r.value["a"]
    assert r.value["l"] == [2, 2] and r.value["chain"] == 1
    assert "via" in r.unresolved  # p.q: 'p' is the node a, which has no q
    why = r.unresolved
    assert "cyclic" in why["cyc"] and "resolver" in why["env"] and "resolver" in why["old"]
    assert "string interpolation" in why["s"] and "???" in why["m"] and "above the root" in why["up"]
    assert "does not resolve" in why["no"]
    assert r.value["env"] == "${oc.env:HOME}"  # left as it was, nothing evaluated
    assert resolve_plain({"a": 1, "b": "${a}"}) == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="does not resolve"):
        resolve_plain({"a": "${dataset.fps}"})
    # other stored copies of the experiment config answer absolute interpolations; copies must agree
    r = resolve({"g": {"v": "${d.k}"}}, ("g",), fallback_roots=({"d": {"k": 3}},))
    assert r.value == {"v": 3} and r.path == ("g",)
    r = resolve({"g": {"v": "${d.k}"}, "d": {"k": 4}}, ("g",), fallback_roots=({"d": {"k": 3}},))
    assert "disagree" in r.unresolved["v"]


def test_stored_tree_walks_the_pickled_parent_chain(tmp_path):
    from omegaconf import OmegaConf

    from vgbench.models.stored_config import resolve, stored_tree

    root = OmegaConf.create(experiment(mv.DEFAULT_CFG, motion_z_distance=24))
    node = copy.deepcopy(root.model.generator)  # what the persistence decorator keeps in _init_kwargs
    p = tmp_path / "cfg.pkl"
    p.write_bytes(pickle.dumps({"cfg": node, "dataset": root.dataset}))
    d = load_network_pickle(p)
    tree, path = stored_tree(d["cfg"])
    assert path == ("model", "generator") and set(tree) == {"model", "dataset", "sampling", "env"}
    r = resolve(tree, path)
    assert r.value["motion"]["motion_z_distance"] == 24 and r.value["time_enc"]["min_period_len"] == 24
    assert r.value["sampling"]["max_num_frames"] == 1024 and r.value["c_dim"] == 0
    assert "sampling.name" in r.unresolved  # string interpolation in a value the network never reads
    assert stored_tree(d["dataset"])[1] == ("dataset",)


def mostgan_default_snapshot(tmp_path, name="snap.pkl", **dataset):
    """A MoStGAN-V snapshot written like the released ones: generator node with motion_z_distance:
    ${dataset.motion_z_distance}, pickled with its experiment config, and a freqs buffer off its initial value."""
    G, kw = tiny_mostgan()
    exp = experiment(kw["cfg"], **dataset)
    period = perturb_time_buffers(G)
    p = write_snapshot(tmp_path / name, G, kw, experiment_cfg=exp)
    return p, G, kw, period


def test_mostgan_default_config_resolves_motion_z_distance_from_the_stored_experiment_config(tmp_path):
    p, G, kw, period = mostgan_default_snapshot(tmp_path, motion_z_distance=16)
    assert abs(period - 16) > 0.5  # 2 pi / freqs[0, -1] would give the wrong spacing
    a = get_adapter("mostgan_v", str(p))
    assert a.G.synthesis.motion_encoder.motion_z_distance == 16  # main: 2 pi / freqs = 15.24
    src = a.provenance()["config_sources"]
    assert "${dataset.motion_z_distance}" in src["motion.motion_z_distance"]
    assert src["sampling.max_num_frames"].startswith("G_ema._init_kwargs.cfg")
    # the official forward: knots 16 frames apart, the stored freqs/phase_scales buffers for the time encoding
    assert G.synthesis.motion_encoder.motion_z_distance == 16 and torch.equal(render(a.G), render(G))
    # another dataset value moves the knots (Sky-Timelapse-like 32)
    p32, *_ = mostgan_default_snapshot(tmp_path, "snap32.pkl", motion_z_distance=32, max_num_frames=512)
    a32 = get_adapter("mostgan_v", str(p32))
    assert a32.G.synthesis.motion_encoder.motion_z_distance == 32 and a32.G.cfg["sampling"]["max_num_frames"] == 512


def test_stored_configs_that_disagree_are_refused(tmp_path):
    from omegaconf import OmegaConf

    G, kw = tiny_mostgan()
    exp = experiment(kw["cfg"])
    other = copy.deepcopy(kw["cfg"])
    other["motion"]["motion_z_distance"] = 32
    p = write_snapshot(tmp_path / "snap.pkl", G, kw, experiment_cfg=exp,
                       extra_state=lambda m: {"cfg": OmegaConf.create(other)} if m is G else None)
    with pytest.raises(CheckpointError, match=r"disagree on motion.motion_z_distance.*= 16.*G_ema.cfg = 32"):
        get_adapter("mostgan_v", str(p))


def test_unresolvable_spacing_is_inferred_only_when_every_source_agrees(tmp_path):
    G, kw = tiny_mostgan()
    cfg = copy.deepcopy(kw["cfg"])  # no parent chain: the node is pickled alone, as OmegaConf.create makes it
    cfg["motion"]["motion_z_distance"] = "${dataset.motion_z_distance}"
    cfg["time_enc"]["min_period_len"] = "${model.generator.motion.motion_z_distance}"
    kwi = dict(kw, cfg=cfg)
    # buffers at their initial values for period 16: the tie and the buffers agree -> inferred, and recorded
    ok = write_snapshot(tmp_path / "ok.pkl", G, kwi, dataset_cfg={"fps": 25})
    a = get_adapter("mostgan_v", str(ok))
    assert a.G.synthesis.motion_encoder.motion_z_distance == 16
    assert a.provenance()["config_sources"]["motion.motion_z_distance"].startswith("inferred")
    # buffers changed after initialisation: they say nothing about the config -> refused (main: 15.24, silently)
    perturb_time_buffers(G)
    bad = write_snapshot(tmp_path / "bad.pkl", G, kwi, dataset_cfg={"fps": 25})
    with pytest.raises(CheckpointError, match="motion_z_distance does not resolve.*cannot be inferred.*freqs"):
        get_adapter("mostgan_v", str(bad))
    # no tie to min_period_len: nothing to infer from
    cfg2 = copy.deepcopy(cfg)
    cfg2["time_enc"]["min_period_len"] = 16
    cfg2["motion"]["motion_z_distance"] = "${oc.env:DIST}"
    untied = write_snapshot(tmp_path / "untied.pkl", G, dict(kw, cfg=cfg2), dataset_cfg={"fps": 25})
    with pytest.raises(CheckpointError, match="motion_z_distance.*does not resolve.*custom resolver"):
        get_adapter("mostgan_v", str(untied))


def test_unresolved_values_the_network_reads_are_refused_not_defaulted(tmp_path):
    G, kw = tiny_mostgan()
    cfg = copy.deepcopy(kw["cfg"])
    cfg["use_noise"] = "${oc.env:USE_NOISE}"  # main: silently the default (False)
    p = write_snapshot(tmp_path / "snap.pkl", G, dict(kw, cfg=cfg), dataset_cfg={"fps": 25})
    with pytest.raises(CheckpointError, match="use_noise.*custom resolver"):
        get_adapter("mostgan_v", str(p))
    with pytest.raises(ValueError, match="unresolved config interpolations.*use_noise"):
        mv.Generator(**dict(kw, cfg=cfg))


# ------------------------------------------------------------------------------------------ item 3: precision


@pytest.mark.parametrize("kind", ["stylegan_v", "mostgan_v"])
def test_precision_option_is_honoured_and_recorded(kind):
    ckpt = str(FIX / f"{kind}_tiny.pkl")
    auto = get_adapter(kind, ckpt)
    p = auto.provenance()
    assert p["precision"] == "fp16-emulated" and p["precision_option"] == "auto"
    assert p["fp16_resolutions"] == [32, 64] and p["conv_clamp"] == 256 and not p["float16_arithmetic"]
    videos = {}
    for prec in ("fp32", "fp16-emulated", "fp16"):
        a = get_adapter(kind, ckpt, precision=prec)  # main: unknown option 'precision'
        assert a.provenance()["precision"] == prec
        videos[prec] = next(a.sample(1, 4, seed=0, batch_size=1))
    assert a.provenance()["float16_arithmetic"]
    assert np.array_equal(videos["fp16-emulated"], next(auto.sample(1, 4, seed=0, batch_size=1)))
    assert not np.array_equal(videos["fp16"], videos["fp16-emulated"])  # real float16 rounds differently
    with pytest.raises(ModelOptionError, match="precision must be one of"):
        get_adapter(kind, ckpt, precision="half")


# ---------------------------------------------------------------------- item 4: persistence records and refusals


def _pickle_with_module(tmp_path, module: str, name: str, make) -> Path:
    """Pickle ``make(cls)`` where ``cls`` is a class importable as ``module.name`` while pickling."""
    parts = module.split(".")
    made = []
    for i in range(1, len(parts) + 1):
        mod = ".".join(parts[:i])
        if mod not in sys.modules:
            sys.modules[mod] = types.ModuleType(mod)
            made.append(mod)
    try:
        cls = type(name, (), {"__module__": module, "__qualname__": name})
        setattr(sys.modules[module], name, cls)
        p = tmp_path / f"{module}.{name}.pkl"
        p.write_bytes(pickle.dumps(make(cls), protocol=4))
        return p
    finally:
        for mod in reversed(made):
            sys.modules.pop(mod, None)


def test_persistence_reconstructor_only_from_the_official_module_paths(tmp_path):
    meta = {"type": "class", "version": 6, "module_src": "", "class_name": "Generator", "state": {}}

    def record(module):
        return _pickle_with_module(tmp_path, module, "_reconstruct_persistent_obj",
                                   lambda f: {"G_ema": _Reduce(f, meta)})

    for module in ("src.torch_utils.persistence", "torch_utils.persistence"):
        assert isinstance(load_network_pickle(record(module))["G_ema"], PersistentObject)
    for module in ("evil.torch_utils.persistence", "training.torch_utils.persistence", "torch_utils.persistence2"):
        with pytest.raises(UnsafePickleError, match=f"{module}._reconstruct_persistent_obj"):
            load_network_pickle(record(module))  # main: accepted whatever ends in torch_utils.persistence


class _Reduce:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("model,ckpt", [("stylegan_v", None), ("mostgan_v", None), ("digan", None),
                                        ("motionvideogan", "dir")])
def test_unknown_class_in_place_of_the_network_names_it(tmp_path, model, ckpt):
    p = _pickle_with_module(tmp_path, "training.networks", "run", lambda cls: {"G_ema": cls(), "G": None})
    if ckpt == "dir":  # MotionVideoGAN: the pickle is one part of a checkpoint directory
        d = tmp_path / "mvg"
        d.mkdir()
        import shutil

        src = FIX / "motionvideogan_tiny"
        for f in src.rglob("*"):
            if f.is_file() and f.suffix != ".pkl":
                (d / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, d / f.relative_to(src))
        shutil.copy(p, d / "network-snapshot-000000.pkl")
        p = d
    with pytest.raises(CheckpointError, match=r"'G_ema' is an instance of 'training\.networks\.run', not a "
                                              r"persistent network record"):
        get_adapter(model, str(p))  # main (stylegan_v, mostgan_v): AttributeError "'run' object has no ..."


def test_foreign_submodule_and_discriminator_records_are_named(tmp_path):
    G, kw = tiny_mostgan()
    d = load_network_pickle(write_snapshot(tmp_path / "s.pkl", G, kw, dataset_cfg={"fps": 25}))
    g = d["G_ema"]
    g.state["_modules"]["synthesis"] = 3.5
    with pytest.raises(CheckpointError, match=r"where\.pkl: module 'synthesis' is a float, not a network module"):
        module_state_dict(g, where="where.pkl")
    g.class_name = "Discriminator"
    from vgbench.models.checkpoint import network_record

    with pytest.raises(CheckpointError, match="persistent record of class 'Discriminator'; expected 'Generator'"):
        network_record(d, "G_ema", "x.pkl")


def test_refused_vgb_does_not_repeat_the_advice_to_disable_weights_only(tmp_path):
    good = save_native(tmp_path / "good.vgb", "stylegan_v", {}, {})
    buf = io.BytesIO()
    torch.save({"w": torch.ones(1), "x": _Reduce(print, "hi")}, buf)  # a global torch's safe loader refuses
    p = tmp_path / "m.vgb"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", src.read("config.json"))
        z.writestr("weights.pt", buf.getvalue())
    with pytest.raises(CheckpointError) as e:
        get_adapter("stylegan_v", str(p))
    msg = str(e.value)
    assert "m.vgb" in msg and "GLOBAL print" in msg and "refused" in msg
    for advice in ("weights_only", "can still be loaded", "Re-running", "safe_globals", "trust"):
        assert advice not in msg  # main: torch's full text, "Re-running `torch.load` with `weights_only` ..."
