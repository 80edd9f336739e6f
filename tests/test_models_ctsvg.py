"""CTSVG (``ctsvg``): official structure, the shipped tiny official-format checkpoint, conditioning, time2vec,
seeds/noise semantics, clear errors and the golden FVD16. Regenerate the fixture on purpose with
``python scripts/make_tiny_checkpoints.py --only ctsvg --golden``."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models import ctsvg, get_adapter
from vgbench.models.base import ModelOptionError
from vgbench.models.checkpoint import CheckpointError
from vgbench.utils import sha256_file
from conftest import check_deterministic_sampling, golden_eval

torch.set_num_threads(min(2, torch.get_num_threads()))

FIX = Path(__file__).parent / "fixtures"
CKPT = FIX / "ctsvg_tiny.pt"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "tiny_models.json").read_text())


# ---------------------------------------------------------------------------------------------- official structure

def expected_ctsvg_shapes(size: int, latent: int, dyn: int, num_person: int = 30, num_classes: int = 8,
                          cm: int = 2) -> dict[str, tuple]:
    """Key -> shape of the official ``g_ema`` (``Generator`` in the authors' model.py, n_mlp = 8)."""
    content, sd = latent - dyn, latent
    ch = {4: 256, 8: 512, 16: 512, 32: 1024, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm}
    s = {"class_embed.weight": (num_classes, content), "person_embed.weight": (num_person, content)}
    for i in range(1, 9):
        s[f"style.{i}.weight"], s[f"style.{i}.bias"] = (content, content), (content,)
    for i in range(1, 5):
        s[f"dyn_sty.{i}.weight"], s[f"dyn_sty.{i}.bias"] = (dyn, dyn), (dyn,)
    s["input.input"] = (1, 256, 4, 4)
    mix = "dynstyle_gen.sinewavemixer"
    s.update({f"{mix}.w0": (1, 1), f"{mix}.b0": (1,), f"{mix}.w": (1, dyn - 1), f"{mix}.b": (dyn - 1,)})

    def styled(p, cin, cout, up):
        s[f"{p}.conv.weight"] = (1, cout, cin, 3, 3)
        s[f"{p}.conv.modulation.weight"], s[f"{p}.conv.modulation.bias"] = (cin, sd), (cin,)
        if up:
            s[f"{p}.conv.blur.kernel"] = (4, 4)
        s[f"{p}.noise.weight"], s[f"{p}.activate.bias"] = (1,), (cout,)

    def rgb(p, cin, up):
        s[f"{p}.bias"] = (1, 3, 1, 1)
        s[f"{p}.conv.weight"] = (1, 3, cin, 1, 1)
        s[f"{p}.conv.modulation.weight"], s[f"{p}.conv.modulation.bias"] = (cin, sd), (cin,)
        if up:
            s[f"{p}.upsample.kernel"] = (4, 4)

    styled("conv1", 256, 256, False)
    rgb("to_rgb1", 256, False)
    cin, j = 256, 0
    for k in range(3, int(math.log2(size)) + 1):
        cout = ch[2 ** k]
        styled(f"convs.{2 * j}", cin, cout, True)
        styled(f"convs.{2 * j + 1}", cout, cout, False)
        rgb(f"to_rgbs.{j}", cout, True)
        cin, j = cout, j + 1
    for i in range((int(math.log2(size)) - 2) * 2 + 1):
        r = 2 ** ((i + 5) // 2)
        s[f"noises.noise_{i}"] = (1, 1, r, r)
    return s


# parameter counts of the official model.py built on CPU (MEAD: 30 actors x 8 actions), measured once
@pytest.mark.parametrize("size,latent,dyn,params,n_keys", [(256, 256, 128, 34_950_306, 149),
                                                           (128, 256, 128, 34_375_709, 131),
                                                           (128, 128, 64, 33_078_045, 131)])
def test_official_structure(size, latent, dyn, params, n_keys):
    with torch.device("meta"):
        G = ctsvg.Generator(**ctsvg.official_config(size, latent, dyn))
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert got == expected_ctsvg_shapes(size, latent, dyn) and len(got) == n_keys
    assert sum(p.numel() for p in G.parameters()) == params
    assert G.n_latent == 2 * int(math.log2(size)) - 2
    assert got["convs.4.conv.weight"] == (1, 1024, 512, 3, 3)  # the 1024-channel 32x32 level
    assert got["conv1.conv.modulation.weight"] == (256, latent)  # style = content + motion
    assert got["style.8.weight"] == (latent - dyn,) * 2


def test_config_is_read_from_shapes():
    with torch.device("meta"):
        G = ctsvg.Generator(**ctsvg.official_config(256, 256, 128))
    cfg = ctsvg.infer_ctsvg_config(G.state_dict())
    assert cfg == {**ctsvg.official_config(256, 256, 128), "dyn_mlp": 4,
                   "channels": {4: 256, 8: 512, 16: 512, 32: 1024, 64: 512, 128: 256, 256: 128}}
    assert ctsvg.official_channel_multiplier(cfg["channels"]) == 2


# ---------------------------------------------------------------------------------------------- tiny fixture

@pytest.fixture(scope="module")
def adapter():
    return get_adapter("ctsvg", str(CKPT), native_fps=30)


def _file():
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(CKPT, map_location="cpu", weights_only=True)


def test_fixture_loads_through_the_official_path(adapter):
    ck = _file()
    assert {"g", "g_ema", "args", "ada_aug_p"} <= set(ck) and isinstance(ck["args"], argparse.Namespace)
    p = adapter.provenance()
    assert p["checkpoint_sha256"] == sha256_file(CKPT) and p["format"].startswith("official")
    assert p["config"]["size"] == 64 and p["config"]["content_dim"] == 16 and p["config"]["dyn_dim"] == 16
    assert (adapter.num_person, adapter.num_classes) == (4, 3) and adapter.dataset_fps == 30.0
    assert adapter.info.resolution == (64, 64) and adapter.info.fps_control and adapter.info.content_motion_separable
    sd = adapter.G.state_dict()  # g_ema, not the (different) training generator g
    assert all(torch.equal(sd[k], v) for k, v in ck["g_ema"].items())
    assert not torch.equal(sd["dyn_sty.1.weight"], ck["g"]["dyn_sty.1.weight"])
    assert CKPT.stat().st_size < 1_000_000


def test_matches_official_numbers(adapter):
    """Outputs of the authors' model.py (CPU path, fixture weights) for fixed inputs, recorded once."""
    G = adapter.G
    person, act = torch.tensor([0, 3, 1]), torch.tensor([2, 0, 1])
    dyn = torch.randn(3, 16, generator=torch.Generator().manual_seed(123))
    tau = torch.tensor([0.0, 3.5, 20.0])
    with torch.no_grad():
        img = G(person, dyn, tau, act, 1.0)
        img05 = G(person, dyn, tau, act, 0.5)
    assert img.shape == (3, 3, 64, 64)
    np.testing.assert_allclose(img.mean(dim=(1, 2, 3)), [-0.1579965502, -0.1067178026, -0.3211105764], atol=2e-6)
    np.testing.assert_allclose(img[:, :, 10, 20], [[-0.0692640841, 0.2040876746, -0.8346316814],
                                                   [-1.2289650440, -0.0205790177, 0.2059255391],
                                                   [0.4140401781, -0.0134947300, -1.7424972057]], atol=2e-6)
    np.testing.assert_allclose(img05.mean(dim=(1, 2, 3)), [-0.1709732413, -0.0305196475, -0.3906703294], atol=2e-6)


def test_time2vec_and_styles_closed_form(adapter):
    G = adapter.G
    mix = G.dynstyle_gen.sinewavemixer
    w, b, w0, b0 = (mix.w.double(), mix.b.double(), mix.w0.double(), mix.b0.double())
    tau = torch.tensor([0.0, 1.0, 2.5, 117.25])
    v = G.time_basis(tau).double()
    for i, t in enumerate(tau.double()):
        expect = torch.cat([torch.sin(t * w[0] + b), t * w0[0] + b0])
        torch.testing.assert_close(v[i], expect, rtol=0, atol=1e-5)
    assert v.shape == (4, 16)  # 15 sinusoids + 1 linear term
    m = torch.randn(4, 16)
    torch.testing.assert_close(G.motion_code(m, tau), m * G.time_basis(tau))
    p, a = torch.tensor([1, 2]), torch.tensor([0, 2])
    torch.testing.assert_close(G.content_style(p, a, 0.3), G.map(G.person_embed(p)) + 0.3 * G.class_embed(a))
    torch.testing.assert_close(G.content_style(p, a, 0.0), G.content_style(p, torch.tensor([1, 1]), 0.0))


def test_inversion_api_is_differentiable(adapter):
    G = adapter.G
    m = G.motion_style(torch.randn(2, 16)).requires_grad_(True)
    c = G.content_style(torch.tensor([0, 1]), torch.tensor([2, 0])).requires_grad_(True)
    img = G.render(c, m, torch.tensor([3.0, 4.0]))
    img.square().mean().backward()
    assert m.grad is not None and m.grad.abs().sum() > 0 and c.grad.abs().sum() > 0


def test_sampling_is_deterministic_and_batch_invariant(adapter):
    check_deterministic_sampling(adapter, (64, 64), moves=True)


def test_time_and_fps_semantics(adapter):
    full = next(adapter.sample(1, 20, seed=1))[0]
    half = next(adapter.sample(1, 10, seed=1, fps=15))[0]  # dataset fps 30: every other dataset frame
    assert np.array_equal(half, full[::2])
    sub = next(adapter.sample(1, 3, seed=1, times=[1, 4, 17]))[0]
    assert np.array_equal(sub, full[[1, 4, 17]])
    assert np.array_equal(next(adapter.sample(1, 6, seed=1))[0], full[:6])  # more frames: earlier ones unchanged
    between = next(adapter.sample(1, 1, seed=1, times=[0.5]))[0, 0]  # continuous time
    assert not np.array_equal(between, full[0]) and not np.array_equal(between, full[1])
    # pixels are the official call at tau = k (generate.py's tau = 0, 1, 2, ...)
    codes = adapter.video_codes(0, seed=1)
    with torch.no_grad():
        img = adapter.G(torch.tensor([codes["actor"]] * 2), codes["dynsty"].repeat(2, 1), torch.tensor([0.0, 3.0]),
                        torch.tensor([codes["action"]] * 2))
    from vgbench.models.base import to_uint8

    assert np.array_equal(to_uint8(img.permute(0, 2, 3, 1)), full[[0, 3]])


# ---------------------------------------------------------------------------------------------- conditioning

def test_labels_are_recorded_and_rendered(adapter):
    labels = [adapter.video_labels(i, seed=5) for i in range(3)]
    assert labels == [adapter.video_labels(i, seed=5) for i in range(3)]
    assert all(0 <= lab["actor"] < 4 and 0 <= lab["action"] < 3 for lab in labels)
    drawn = {tuple(adapter.video_labels(i, seed=0).values()) for i in range(40)}
    assert len(drawn) > 6  # uniform draws over 4 x 3
    free = np.concatenate(list(adapter.sample(3, 4, seed=5, batch_size=3)))
    for i, lab in enumerate(labels):  # the recorded ids are exactly what was rendered
        fixed = get_adapter("ctsvg", str(CKPT), condition=f"actor={lab['actor']},action={lab['action']}")
        assert fixed.video_labels(i, seed=5) == lab
        assert np.array_equal(next(fixed.sample(1, 4, seed=5, start=i))[0], free[i])


def test_condition_option():
    a = get_adapter("ctsvg", str(CKPT), condition="actor=3,action=1")
    assert {tuple(a.video_labels(i, s).values()) for i in range(5) for s in range(2)} == {(3, 1)}
    cyc = get_adapter("ctsvg", str(CKPT), condition="actor=0,action=0; actor=2,action=2")
    assert [cyc.video_labels(i)["actor"] for i in range(4)] == [0, 2, 0, 2]
    part = get_adapter("ctsvg", str(CKPT), condition="action=2")
    got = [part.video_labels(i) for i in range(20)]
    assert {g["action"] for g in got} == {2} and len({g["actor"] for g in got}) > 1
    v = np.concatenate(list(a.sample(2, 3, seed=0, batch_size=2)))
    assert not np.array_equal(v[0], v[1])  # same ids, other motion


@pytest.mark.parametrize("cond,msg", [("actor=4,action=0", "actor id 4 out of range.*ids 0..3"),
                                      ("actor=0,action=3", "action id 3 out of range.*ids 0..2"),
                                      ("actor=-1", "out of range"), ("emotion=1", "expected 'actor=ID"),
                                      ("actor=x", "must be an integer"), ("actor=1,actor=2", "twice"),
                                      (" ; ", "empty condition")])
def test_bad_condition_is_refused(cond, msg):
    with pytest.raises(ModelOptionError, match=msg):
        get_adapter("ctsvg", str(CKPT), condition=cond)


def test_same_motion_seed_keeps_m_identical(adapter):
    codes = [adapter.video_codes(i, seed=s, motion_seed=3) for s, i in [(0, 0), (1, 4), (9, 2)]]
    assert all(torch.equal(c["dynsty"], codes[0]["dynsty"]) for c in codes)
    assert len({(c["actor"], c["action"]) for c in [adapter.video_codes(i, seed=0, motion_seed=3)
                                                    for i in range(12)]}) > 1  # ids still vary
    with torch.no_grad():
        ms = [adapter.G.motion_style(c["dynsty"]) for c in codes]
    assert all(torch.equal(m, ms[0]) for m in ms)
    # same ids and same motion seed: the very same video whatever the seed; other motion: another video
    fixed = get_adapter("ctsvg", str(CKPT), condition="actor=1,action=2")
    a = next(fixed.sample(1, 4, seed=0, motion_seed=3))[0]
    b = next(fixed.sample(1, 4, seed=8, motion_seed=3, start=5))[0]
    c = next(fixed.sample(1, 4, seed=8, start=5))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_content_seed_fixes_the_ids(adapter):
    ids = {tuple(adapter.video_labels(i, seed=s, content_seed=4).values()) for i in range(6) for s in range(3)}
    assert ids == {tuple(adapter.video_labels(0, seed=4).values())}
    v = np.concatenate(list(adapter.sample(2, 3, seed=0, content_seed=4, batch_size=2)))
    assert not np.array_equal(v[0], v[1])  # other motion


def test_noise_options(adapter):
    rnd = get_adapter("ctsvg", str(CKPT), noise="random")
    const_same = next(adapter.sample(1, 2, seed=2, times=[3, 3]))[0]
    rnd_same = next(rnd.sample(1, 2, seed=2, times=[3, 3]))[0]
    assert np.array_equal(const_same[0], const_same[1]) and not np.array_equal(rnd_same[0], rnd_same[1])
    a = np.concatenate(list(rnd.sample(2, 3, seed=2, batch_size=2)))
    b = np.concatenate(list(rnd.sample(2, 3, seed=2, batch_size=1)))
    assert np.array_equal(a, b) and np.array_equal(next(rnd.sample(1, 5, seed=2, start=1))[0, :3], a[1])
    with pytest.raises(ModelOptionError, match="noise must be 'const' or 'random'"):
        get_adapter("ctsvg", str(CKPT), noise="fresh")
    with pytest.raises(ModelOptionError, match="unknown option.*truncation_psi"):
        get_adapter("ctsvg", str(CKPT), truncation_psi=0.5)
    with pytest.raises(ModelOptionError, match="transition_factor must be a number"):
        get_adapter("ctsvg", str(CKPT), transition_factor="one")
    half = get_adapter("ctsvg", str(CKPT), transition_factor=0.5)
    assert not np.array_equal(next(half.sample(1, 1, seed=2))[0], next(adapter.sample(1, 1, seed=2))[0])


# ---------------------------------------------------------------------------------------------- clear errors

def _save(tmp_path, obj, name="bad.pt"):
    p = tmp_path / name
    torch.save(obj, p)
    return str(p)


def test_wrong_family_and_missing_parts(tmp_path):
    with pytest.raises(CheckpointError, match="stylegan_v_tiny.pkl"):
        get_adapter("ctsvg", str(FIX / "stylegan_v_tiny.pkl"))
    with pytest.raises(CheckpointError, match="no such"):
        get_adapter("ctsvg", str(tmp_path / "nope.pt"))
    ck = _file()
    with pytest.raises(CheckpointError, match="no 'g_ema'"):
        get_adapter("ctsvg", _save(tmp_path, {"g": ck["g"], "args": ck["args"]}))
    from vgbench.models.rosinality import StyleGAN2Generator

    torch.manual_seed(0)
    plain = StyleGAN2Generator(8, 8, 2, channels={4: 4, 8: 4}).state_dict()
    with pytest.raises(CheckpointError, match="not a CTSVG checkpoint.*mocogan_hd"):
        get_adapter("ctsvg", _save(tmp_path, {"g_ema": plain}))
    with pytest.raises(ModelOptionError, match="needs --ckpt"):
        get_adapter("ctsvg", None)


def test_corrupted_or_mismatched_weights(tmp_path):
    ck = _file()
    ema = ck["g_ema"]
    missing = {k: v for k, v in ema.items() if k != "convs.3.noise.weight"}
    with pytest.raises(CheckpointError, match=r"1 missing \['convs.3.noise.weight'\]"):
        get_adapter("ctsvg", _save(tmp_path, {**ck, "g_ema": missing}))
    reshaped = {**ema, "dyn_sty.2.weight": torch.zeros(16, 8)}
    with pytest.raises(CheckpointError, match="dyn_sty.2.weight"):
        get_adapter("ctsvg", _save(tmp_path, {**ck, "g_ema": reshaped}))
    nan = {**ema, "style.3.bias": torch.full((16,), float("nan"))}
    with pytest.raises(CheckpointError, match="style.3.bias"):
        get_adapter("ctsvg", _save(tmp_path, {**ck, "g_ema": nan}))
    args = argparse.Namespace(**{**vars(ck["args"]), "num_person": 30, "dyn_size": 64})
    with pytest.raises(CheckpointError, match="contradict.*num_person=30.*weights say 4"):
        get_adapter("ctsvg", _save(tmp_path, {**ck, "args": args}))
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(CKPT.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        get_adapter("ctsvg", str(trunc))


def test_golden_fvd16_on_tiny(i3d_state, tmp_path):
    rec = golden_eval("ctsvg", CKPT, tmp_path)
    assert rec["model"]["checkpoint_sha256"] == sha256_file(CKPT)
    assert rec["conditioning"]["num_videos"] == GOLDEN["num_fake"]
    assert sum(rec["conditioning"]["counts"]["actor"].values()) == GOLDEN["num_fake"]
