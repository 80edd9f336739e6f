"""MoCoGAN-HD adapter (vgbench.models.mocogan_hd) on the shipped tiny official-layout checkpoint: official key
layout, motion-generator closed forms and golden values from the official code, sampling rules, noise modes,
interpolation, errors, and the golden FVD16. Regenerate the fixture on purpose with
``python scripts/make_tiny_checkpoints.py --only mocogan_hd --golden``."""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models import get_adapter
from vgbench.models.base import ModelOptionError, to_uint8, video_seed
from vgbench.models.checkpoint import CheckpointError
from vgbench.models.mocogan_hd import RNNModule, frame_codes, load_pca, steps_needed
from vgbench.models.rosinality import StyleGAN2Generator
from vgbench.utils import sha256_file
from conftest import golden_eval

torch.set_num_threads(min(2, torch.get_num_threads()))

FIX = Path(__file__).parent / "fixtures" / "mocogan_hd_tiny"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "tiny_models.json").read_text())
PARTS = {"generator": "pretrained_models/tiny-snapshot-000000.pt", "lstm": "checkpoints/tiny/modelR_epoch_99.pth",
         "pca_comp": "pca_stats/tiny/pca_comp.npy", "pca_stdev": "pca_stats/tiny/pca_stdev.npy"}

# Official models/rnn.py RNNModule(z_dim=512, h_dim=384, n_pca=384): its state dict (the PCA basis is a plain
# attribute there, not saved).
OFFICIAL_RNN_KEYS = {
    "enc_cell.weight_ih": (1536, 512), "enc_cell.weight_hh": (1536, 384), "enc_cell.bias_ih": (1536,),
    "enc_cell.bias_hh": (1536,), "cell.weight_ih": (1536, 512), "cell.weight_hh": (1536, 384),
    "cell.bias_ih": (1536,), "cell.bias_hh": (1536,), "w": (384, 384), "b": (384,), "fc1.weight": (512, 768),
    "fc1.bias": (512,), "fc2.weight": (512, 512), "fc2.bias": (512,),
}
# The official RNNModule (models/rnn.py, CPU, LSTM inputs replaced by the draws below) on this fixture's weights
# and PCA files: w0 then 7 inputs, each torch.randn([1, 32]) from torch.Generator().manual_seed(123), n_frame=8.
OFFICIAL_RNN_GOLDEN = {"sum": 0.2318445835262537, "abs_sum": 207.22424385137856,
                       "values": [0.3409212529659271, 0.7168982625007629, -2.7706820964813232],
                       "step_norms": [0.4295940697193146, 0.3772866427898407, 0.45266082882881165,
                                      0.2976730763912201, 0.3236720860004425, 0.4103813171386719,
                                      0.37180811166763306]}


@pytest.fixture(scope="module")
def adapter():
    return get_adapter("mocogan_hd", str(FIX), native_fps=30)


# ---------------------------------------------------------------------------------------------- structure

def test_official_full_size_keys():
    with torch.device("meta"):
        rnn = RNNModule()
        G = StyleGAN2Generator(256)
    got = {k: tuple(v.shape) for k, v in rnn.state_dict().items()}
    assert got == OFFICIAL_RNN_KEYS and len(got) == 14
    gold = json.loads((Path(__file__).parent / "golden" / "rosinality_stylegan2.json").read_text())["keys_256"]
    assert {k: list(v.shape) for k, v in G.state_dict().items()} == gold
    assert (G.n_latent, G.style_dim) == (14, 512)


def test_motion_generator_matches_official_golden():
    rnn = RNNModule(32, 24, 16)
    rnn.load_state_dict(torch.load(FIX / PARTS["lstm"], weights_only=True))
    comp, stdev = load_pca(FIX / PARTS["pca_comp"], FIX / PARTS["pca_stdev"], 16, 32)
    assert comp.stride() == (1, 16)  # the file is Fortran-ordered (scikit-learn's layout); kept as torch.tensor does
    rnn.set_pca(comp, stdev)
    g = torch.Generator().manual_seed(123)
    w0 = torch.randn(1, 32, generator=g)
    e = torch.cat([torch.randn(1, 32, generator=g) for _ in range(7)])
    with torch.no_grad():
        out = rnn(w0, e[None])[0]
    gold = OFFICIAL_RNN_GOLDEN
    assert out.shape == (8, 32) and torch.equal(out[0], w0[0])
    assert out.double().sum().item() == pytest.approx(gold["sum"], abs=1e-5)
    assert out.double().abs().sum().item() == pytest.approx(gold["abs_sum"], rel=1e-6)
    assert [out[7, 0].item(), out[3, 5].item(), out[1, 31].item()] == pytest.approx(gold["values"], abs=1e-6)
    assert (out[1:] - out[:-1]).norm(dim=1).tolist() == pytest.approx(gold["step_norms"], rel=1e-5)


def test_motion_generator_closed_form():
    torch.manual_seed(0)
    rnn = RNNModule(z_dim=6, h_dim=5, n_pca=3, w_residual=0.2)
    comp, stdev = torch.randn(3, 6), torch.tensor([2.0, 1.0, 0.5])
    rnn.set_pca(comp, stdev)
    w0, e = torch.randn(2, 6), torch.randn(2, 4, 6)
    with torch.no_grad():
        rnn.w.zero_()
        rnn.b.fill_(math.atanh(0.5))  # every coefficient tanh(atanh(0.5)) = 0.5, whatever the LSTM state
        codes = rnn(w0, e)
    step = 0.2 * 0.5 * (comp * stdev[:, None]).sum(0)  # w_residual * sum_j 0.5 * s_j * P_j
    k = torch.arange(5, dtype=torch.float32)[None, :, None]
    assert codes.shape == (2, 5, 6)
    torch.testing.assert_close(codes, w0[:, None] + k * step, rtol=0, atol=1e-6)
    with torch.no_grad():
        rnn.b.zero_()
        assert torch.equal(rnn(w0, e), w0[:, None].expand(-1, 5, -1))  # tanh(0) = 0: no motion


def test_frame_plan_helpers():
    codes = torch.arange(4.0)[:, None].repeat(1, 2)
    assert frame_codes(codes, 3).tolist() == [[0, 0], [1, 1], [2, 2]]
    assert frame_codes(codes, 6, interpolation=True)[:, 0].tolist() == [0, 0.5, 1, 1.5, 2, 2.5]
    assert [steps_needed(t) for t in (1, 2, 16)] == [0, 1, 15]
    assert [steps_needed(t, True) for t in (1, 2, 3, 31)] == [0, 1, 1, 15]  # 31 frames = 2 * 16 - 1 from 16 codes


# ---------------------------------------------------------------------------------------------- loading

def test_fixture_loads_from_directory_and_manifest(adapter, tmp_path):
    p = adapter.provenance()
    assert p["format"] == "directory"
    assert {r: Path(v["path"]) for r, v in p["parts"].items()} == {r: FIX / rel for r, rel in PARTS.items()}
    assert all(v["sha256"] == sha256_file(FIX / PARTS[r]) for r, v in p["parts"].items())
    assert p["config"]["rnn"] == {"z_dim": 32, "h_dim": 24, "n_pca": 16, "w_residual": 0.2}
    assert p["config"]["generator"]["size"] == 64 and p["options"]["use_noise"] == "const"
    info = adapter.info
    assert info.resolution == (64, 64) and info.native_fps == 15.0 and not info.fps_control
    assert info.content_motion_separable and info.max_frames is None
    man = tmp_path / "m.json"
    man.write_text(json.dumps({**{r: os.path.relpath(FIX / rel, tmp_path) for r, rel in PARTS.items()},
                               "dataset_fps": 24, "time_step": 3}))
    b = get_adapter("mocogan_hd", str(man))
    assert b.provenance()["format"] == "manifest" and b.provenance()["checkpoint_sha256"] == p["checkpoint_sha256"]
    assert b.info.native_fps == 8.0  # 24 fps dataset, 3 dataset frames per generated frame
    assert np.array_equal(next(b.sample(1, 3, seed=2))[0], next(adapter.sample(1, 3, seed=2))[0])


# ---------------------------------------------------------------------------------------------- sampling

def test_deterministic_and_batch_invariant(adapter):
    a = np.concatenate(list(adapter.sample(3, 5, seed=7, batch_size=3)))
    b = np.concatenate(list(adapter.sample(3, 5, seed=7, batch_size=1)))
    c = next(adapter.sample(1, 5, seed=7, start=2))
    assert a.dtype == np.uint8 and a.shape == (3, 5, 64, 64, 3)
    assert np.array_equal(a, b) and np.array_equal(a[2], c[0])
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0, 0], a[0, 4])


def test_frames_and_times(adapter):
    full = next(adapter.sample(1, 18, seed=1))[0]  # more than one 16-frame synthesis chunk
    short = next(adapter.sample(1, 6, seed=1))[0]
    assert np.array_equal(full[:6], short)  # asking for more frames does not change earlier ones
    sub = next(adapter.sample(1, 3, seed=1, times=[1, 4, 17]))[0]
    assert np.array_equal(sub, full[[1, 4, 17]])
    assert np.array_equal(next(adapter.sample(1, 4, seed=1, fps=15))[0], full[:4])  # its native rate
    with pytest.raises(ValueError, match="cannot change its frame rate"):
        next(adapter.sample(1, 4, seed=1, fps=30))
    with pytest.raises(ValueError, match="times must be frame indices"):
        next(adapter.sample(1, 2, seed=1, times=[0, 0.5]))


def test_first_frame_is_the_content_frame(adapter):
    v = next(adapter.sample(1, 3, seed=4))[0]
    z = torch.randn(1, 32, generator=video_seed(4, 0, 0))
    with torch.no_grad():
        img = adapter.G(z)  # stored noise, w0 = mapping(z) in every layer
    assert np.array_equal(v[0], to_uint8(img.permute(0, 2, 3, 1))[0])
    other_motion = next(adapter.sample(1, 3, seed=4, motion_seed=9))[0]
    assert np.array_equal(other_motion[0], v[0]) and not np.array_equal(other_motion[2], v[2])


def test_content_and_motion_can_be_fixed(adapter):
    same_motion = np.concatenate(list(adapter.sample(2, 4, seed=0, motion_seed=3, batch_size=2)))
    same_content = np.concatenate(list(adapter.sample(2, 4, seed=0, content_seed=3, batch_size=2)))
    assert not np.array_equal(same_motion[0, 0], same_motion[1, 0])  # different content
    assert np.array_equal(same_content[0, 0], same_content[1, 0])  # same content frame ...
    assert not np.array_equal(same_content[0, 3], same_content[1, 3])  # ... different motion
    both = np.concatenate(list(adapter.sample(2, 4, seed=0, content_seed=3, motion_seed=3, batch_size=2)))
    assert np.array_equal(both[0], both[1])


def test_interpolation_inserts_midpoints(adapter):
    interp = get_adapter("mocogan_hd", str(FIX), native_fps=30, interpolation=True)
    assert interp.info.native_fps == 30.0  # 2 dataset frames per code, two frames per code
    plain = next(adapter.sample(1, 4, seed=3))[0]
    v = next(interp.sample(1, 7, seed=3))[0]
    assert np.array_equal(v[0::2], plain)  # the codes are the same LSTM walk
    assert not np.array_equal(v[1], v[0]) and not np.array_equal(v[1], v[2])
    # the midpoint frame is the render of (w_0 + w_1) / 2
    z = torch.randn(1, 32, generator=video_seed(3, 0, 0))
    e = torch.randn(32, generator=video_seed(3, 0, 1))[None]
    codes = interp.video_codes(z, e)
    mid = interp.render(((codes[0] + codes[1]) / 2)[None], interp.G.stored_noise())
    assert np.array_equal(mid[0], v[1])


def test_noise_modes(adapter):
    on = get_adapter("mocogan_hd", str(FIX), native_fps=30, use_noise=True)
    off = get_adapter("mocogan_hd", str(FIX), native_fps=30, use_noise="false")
    const = next(adapter.sample(1, 3, seed=5))[0]
    v_on = next(on.sample(1, 3, seed=5))[0]
    v_off = next(off.sample(1, 3, seed=5))[0]
    assert not np.array_equal(const, v_on) and not np.array_equal(const, v_off) and not np.array_equal(v_on, v_off)
    z = torch.randn(1, 32, generator=video_seed(5, 0, 0))
    e = torch.stack([torch.randn(32, generator=g) for g in [video_seed(5, 0, 1)] for _ in range(2)])
    ws = on.video_codes(z, e)
    # use_noise=true: one map per layer for the whole video, from stream 2 of (seed, index)
    assert np.array_equal(v_on, on.render(ws, on.G.random_noise(1, video_seed(5, 0, 2))))
    assert np.array_equal(v_off, off.render(ws, [None] * off.G.num_layers))
    assert np.array_equal(const, adapter.render(ws, adapter.G.stored_noise()))
    # fixed content fixes the noise maps too
    both = np.concatenate(list(on.sample(2, 3, seed=1, content_seed=2, motion_seed=2, batch_size=2)))
    assert np.array_equal(both[0], both[1])
    assert on.provenance()["options"]["use_noise"] is True


# ---------------------------------------------------------------------------------------------- errors

def load_ckpt(path):
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, weights_only=True)


def copy_fixture(tmp_path) -> Path:
    d = tmp_path / "ck"
    shutil.copytree(FIX, d)
    return d


def test_option_errors():
    with pytest.raises(ModelOptionError, match="unknown option.*noise_mode"):
        get_adapter("mocogan_hd", str(FIX), noise_mode="const")
    with pytest.raises(ValueError, match="use_noise"):
        get_adapter("mocogan_hd", str(FIX), use_noise="random")
    with pytest.raises(ValueError, match="time_step"):
        get_adapter("mocogan_hd", str(FIX), time_step=0)
    with pytest.raises(ValueError, match="needs --ckpt"):
        get_adapter("mocogan_hd", None)


def test_directory_errors(tmp_path):
    d = copy_fixture(tmp_path)
    (d / PARTS["pca_stdev"]).unlink()
    shutil.copy(d / PARTS["lstm"], d / "checkpoints/tiny/modelR_epoch_199.pth")
    with pytest.raises(CheckpointError, match=r"lstm \(modelR_\*\.pth\): 2 candidates.*modelR_epoch_199\.pth.*"
                                              r"pca_stdev \(pca_stdev\.npy\): not found.*Files found"):
        get_adapter("mocogan_hd", str(d))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        get_adapter("mocogan_hd", str(tmp_path / "nothing"))
    with pytest.raises(CheckpointError, match="directory or a JSON manifest"):
        get_adapter("mocogan_hd", str(FIX / PARTS["generator"]))


def test_manifest_errors(tmp_path):
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"generator": str(FIX / PARTS["generator"]), "lstm": "x.pth", "pca": "p.npy"}))
    with pytest.raises(CheckpointError, match=r"missing \['pca_comp', 'pca_stdev'\], unknown \['pca'\]"):
        get_adapter("mocogan_hd", str(man))
    man.write_text(json.dumps({**{r: str(FIX / rel) for r, rel in PARTS.items()}, "lstm": "gone.pth"}))
    with pytest.raises(CheckpointError, match="lstm file .*gone.pth does not exist"):
        get_adapter("mocogan_hd", str(man))
    man.write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable JSON manifest"):
        get_adapter("mocogan_hd", str(man))


def test_corrupted_and_mismatched_parts(tmp_path):
    d = copy_fixture(tmp_path)
    gen = d / PARTS["generator"]
    gen.write_bytes(gen.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="tiny-snapshot-000000.pt: not a readable torch checkpoint"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "b")  # a generator state with a wrong shape and a missing key
    ck = load_ckpt(d / PARTS["generator"])
    ck["g_ema"]["conv1.activate.bias"] = torch.zeros(7)
    del ck["g_ema"]["noises.noise_3"]
    torch.save(ck, d / PARTS["generator"])
    with pytest.raises(CheckpointError, match=r"1 missing \['noises.noise_3'\].*conv1.activate.bias"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "c")  # a CTSVG generator is refused with a pointer to its adapter
    ck = load_ckpt(d / PARTS["generator"])
    ck["g_ema"]["person_embed.weight"] = torch.zeros(3, 32)
    torch.save(ck, d / PARTS["generator"])
    with pytest.raises(CheckpointError, match="CTSVG.*--model ctsvg"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "d")  # motion generator of another size
    sd = torch.load(d / PARTS["lstm"], weights_only=True)
    sd["fc2.bias"] = torch.zeros(5)
    sd.pop("b")
    torch.save(sd, d / PARTS["lstm"])
    with pytest.raises(CheckpointError, match=r"modelR_epoch_99.pth: weights do not match RNNModule.*missing \['b'\]"
                                              r".*fc2.bias"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "e")  # fewer PCA components than the LSTM uses
    np.save(d / PARTS["pca_comp"], np.zeros((8, 32)))
    with pytest.raises(CheckpointError, match="pca_comp.npy: only 8 PCA components.*n_pca=16"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "f")  # PCA of another W width
    np.save(d / PARTS["pca_comp"], np.zeros((32, 30)))
    with pytest.raises(CheckpointError, match=r"pca_comp.npy: PCA components have shape \(32, 30\)"):
        get_adapter("mocogan_hd", str(d))

    d = copy_fixture(tmp_path / "g")  # a pickled object array is never unpickled
    np.save(d / PARTS["pca_stdev"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="pca_stdev.npy: not a plain .npy array"):
        get_adapter("mocogan_hd", str(d))


def test_unsafe_motion_generator_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    d = copy_fixture(tmp_path)
    torch.save({"w": Evil()}, d / PARTS["lstm"])
    with pytest.raises(CheckpointError, match=r"modelR_epoch_99.pth: not a readable torch checkpoint .motion-generator.*posix.system"):
        get_adapter("mocogan_hd", str(d))


# ---------------------------------------------------------------------------------------------- golden FVD16

def test_golden_fvd16_on_tiny(i3d_state, tmp_path):
    rec = golden_eval("mocogan_hd", FIX, tmp_path)
    parts = rec["model"]["parts"]
    assert {r: v["sha256"] for r, v in parts.items()} == {r: sha256_file(FIX / rel) for r, rel in PARTS.items()}
    assert rec["model"]["info"]["native_fps"] == 15.0 and rec["seeds"]["seed"] == 0
