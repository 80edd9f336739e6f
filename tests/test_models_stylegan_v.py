"""Native StyleGAN-V generator and the shared StyleGAN2 blocks: official structure, sampling semantics and
closed-form properties of the building blocks. Everything runs on CPU with tiny networks (the 256x256 network is
only built on the meta device)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vgbench.models import stylegan2 as sg2
from vgbench.models import stylegan_v as sv

torch.set_num_threads(min(2, torch.get_num_threads()))

# ---------------------------------------------------------------------------------------------- official structure


def expected_stylegan_v_shapes(res: int = 256) -> dict[str, tuple]:
    """Key -> shape of the official 256x256 G_ema, written out from stylegan_v_protocol.md section 4.3."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64}
    s = {}
    for i in range(2):
        s[f"mapping.fc{i}.weight"] = (512, 512)
        s[f"mapping.fc{i}.bias"] = (512,)
    s["mapping.w_avg"] = (512,)
    me = "synthesis.motion_encoder"
    for i in range(2):
        s[f"{me}.conv.{i}.weight"] = (512, 512, 11)
        s[f"{me}.conv.{i}.bias"] = (512,)
    s[f"{me}.time_encoder.freqs"] = (1, 256)
    s[f"{me}.time_encoder.phase_scales"] = (1, 256)
    s[f"{me}.time_encoder.periods_predictor.weight"] = (256, 512)
    s[f"{me}.time_encoder.phase_predictor.weight"] = (256, 512)
    s[f"{me}.time_encoder.aligners_predictor.weight"] = (512, 512)
    r = 4
    while r <= res:
        b = f"synthesis.b{r}"
        s[f"{b}.resample_filter"] = (4, 4)
        layers = []
        if r == 4:
            s[f"{b}.input.input.const"] = (1, 512, 4, 4)
            layers.append(("conv1", 1024, ch[4]))
        else:
            layers += [("conv0", ch[r // 2], ch[r]), ("conv1", ch[r], ch[r])]
        for name, cin, cout in layers:
            s[f"{b}.{name}.weight"] = (cout, cin, 3, 3)
            s[f"{b}.{name}.bias"] = (cout,)
            s[f"{b}.{name}.resample_filter"] = (4, 4)
            s[f"{b}.{name}.affine.weight"] = (cin, 512)
            s[f"{b}.{name}.affine.bias"] = (cin,)
        s[f"{b}.torgb.weight"] = (3, ch[r], 1, 1)
        s[f"{b}.torgb.bias"] = (3,)
        s[f"{b}.torgb.affine.weight"] = (ch[r], 512)
        s[f"{b}.torgb.affine.bias"] = (ch[r],)
        r *= 2
    return s


def build_meta(kwargs):
    with torch.device("meta"):
        return sv.Generator(**kwargs)


def test_official_256_structure():
    G = build_meta(sv.official_config(256))
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert got == expected_stylegan_v_shapes(256)
    assert sum(p.numel() for p in G.parameters()) == 32_105_941  # stylegan_v_protocol.md 4.3
    assert G.num_ws == 14
    assert not any("noise" in k for k in got)  # use_noise: false
    # fp16 path: the 4 highest resolutions (num_fp16_res=4), conv_clamp 256 everywhere
    assert [b.use_fp16 for b in G.synthesis.blocks()] == [False, False, False, True, True, True, True]
    assert G.synthesis.b8.conv0.conv_clamp == 256 and G.synthesis.b256.torgb.conv_clamp == 256


@pytest.mark.parametrize("res,params,num_ws", [(128, 31_863_698, 12), (512, 37_615_064, 16)])
def test_official_other_resolutions(res, params, num_ws):
    # counts checked against upstream's networks.py built with the same arguments
    G = build_meta(sv.official_config(res))
    assert sum(p.numel() for p in G.parameters()) == params and G.num_ws == num_ws


def test_official_config_variants():
    # Sky-Timelapse: motion codes 256 frames apart; fp32 switch; noise buffers when use_noise is on
    G = build_meta(sv.official_config(256, motion_z_distance=256, fp32=True, cfg_overrides={"use_noise": True}))
    assert G.synthesis.motion_encoder.motion_z_distance == 256
    assert not any(b.use_fp16 for b in G.synthesis.blocks())
    keys = G.state_dict().keys()
    assert "synthesis.b8.conv0.noise_const" in keys and "synthesis.b8.conv0.noise_strength" in keys
    assert G.motion_z_shape(1, torch.tensor([[0.0]])) == (1, math.ceil(1023 / 256) + 2 + 20, 512)


def test_unresolved_interpolations_in_cfg():
    """Pickled configs keep OmegaConf interpolations. The network takes resolved values only (the checkpoint loader
    resolves them over the stored experiment config, tests/test_checkpoint_hardening.py): an unresolved value the
    network reads is an error naming it, never a silent default; unresolved values it does not read are kept."""
    kw = sv.tiny_config()
    kw["cfg"]["motion"]["motion_z_distance"] = "${model.generator.time_enc.min_period_len}"
    with pytest.raises(ValueError, match="unresolved.*motion.motion_z_distance"):
        sv.Generator(**kw)
    kw = sv.tiny_config()
    kw["cfg"]["sampling"] = "${sampling}"
    with pytest.raises(ValueError, match="unresolved.*sampling.max_num_frames"):
        sv.Generator(**kw)
    kw = sv.tiny_config()
    kw["cfg"]["source"] = "${oc.env:SOURCE}"  # not read by the network
    kw["cfg"]["time_enc"]["min_period_len"] = 32  # only initialises the freqs buffer; the spacing stays 16
    G = sv.Generator(**kw)
    assert G.cfg["source"] == "${oc.env:SOURCE}" and G.synthesis.motion_encoder.motion_z_distance == 16
    assert G.synthesis.motion_encoder.time_encoder.min_period_len() == 32
    del kw["cfg"]["c_dim"]  # a missing c_dim is the Generator's own label width
    assert sv.Generator(**dict(kw, c_dim=3)).cfg["c_dim"] == 3


# ---------------------------------------------------------------------------------------------- tiny network sampling


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    G = sv.Generator(**sv.tiny_config()).eval().requires_grad_(False)
    with torch.no_grad():  # non-trivial biases and w_avg
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G


def frames(G, z, t, **kw):
    with torch.no_grad():
        return G(z, None, t, **kw)


def test_tiny_forward_shape_dtype(tiny):
    G = tiny
    z = torch.randn(2, G.z_dim)
    t = torch.arange(16.0).repeat(2, 1)
    img = frames(G, z, t)
    assert img.shape == (32, 3, 64, 64) and img.dtype == torch.float32 and torch.isfinite(img).all()
    # default on CPU: the fp16 code path in float32; b32/b64 are in the fp16 path -> non-fused
    assert [b.last_fused_modconv for b in G.synthesis.blocks()] == [True, True, True, False, False]
    n_params = sum(p.numel() for p in G.parameters())
    assert n_params < 500_000  # <= 2 MB of float32


def test_determinism_and_generator(tiny):
    G = tiny
    z = torch.randn(2, G.z_dim)
    t = torch.arange(4.0).repeat(2, 1)
    a = frames(G, z, t, generator=torch.Generator().manual_seed(3))
    b = frames(G, z, t, generator=torch.Generator().manual_seed(3))
    c = frames(G, z, t, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    mz = G.sample_motion_z(2, t, generator=torch.Generator().manual_seed(3))
    assert mz.shape == G.motion_z_shape(2, t) == (2, 86, 16)
    assert torch.equal(frames(G, z, t, motion_z=mz), a)
    torch.manual_seed(9)
    d = frames(G, z, t)
    torch.manual_seed(9)
    assert torch.equal(frames(G, z, t), d)  # global RNG when no generator is given


def test_batch_composition_invariance(tiny):
    G = tiny
    z = torch.randn(3, G.z_dim)
    t = torch.tensor([[0.0, 1, 2, 3], [5, 6, 7, 8], [0, 10, 20, 30]])
    mz = G.sample_motion_z(3, t, generator=torch.Generator().manual_seed(1))
    batch = frames(G, z, t, motion_z=mz).reshape(3, 4, 3, 64, 64)
    for i in range(3):
        alone = frames(G, z[i:i + 1], t[i:i + 1], motion_z=mz[i:i + 1])
        torch.testing.assert_close(alone, batch[i], atol=1e-4, rtol=1e-4)


def test_time_semantics(tiny):
    G = tiny
    z = torch.randn(1, G.z_dim)
    mz = G.sample_motion_z(1, torch.tensor([[0.0]]), generator=torch.Generator().manual_seed(2))
    three = frames(G, z, torch.tensor([[0.0, 1, 2]]), motion_z=mz)
    last = frames(G, z, torch.tensor([[2.0]]), motion_z=mz)
    torch.testing.assert_close(last[0], three[2], atol=1e-4, rtol=1e-4)
    # continuous time: t=0.5 is a new frame, and small steps make small changes
    f = frames(G, z, torch.tensor([[0.0, 0.001, 0.5, 1.0, 8.0]]), motion_z=mz)
    assert torch.isfinite(f).all()
    assert (f[1] - f[0]).abs().mean() < 0.1 * (f[4] - f[0]).abs().mean()
    assert not torch.allclose(f[2], f[0]) and not torch.allclose(f[2], f[3])


def test_long_videos_and_trajectory_length(tiny):
    G = tiny
    z = torch.randn(1, G.z_dim)
    t = torch.tensor([[0.0, 150.0, 299.0, 300.0]])
    mz = G.sample_motion_z(1, t, generator=torch.Generator().manual_seed(5))
    out = frames(G, z, t, motion_z=mz)
    assert out.shape == (4, 3, 64, 64) and torch.isfinite(out).all()
    # beyond max_num_frames the trajectory grows: ceil(1500 / 16) + 2 + 20 codes
    assert G.motion_z_shape(1, torch.tensor([[1500.0]])) == (1, 94 + 2 + 20, 16)
    t_long = torch.tensor([[1499.5]])
    mz_long = G.sample_motion_z(1, t_long, generator=torch.Generator().manual_seed(5))
    assert torch.isfinite(frames(G, z, t_long, motion_z=mz_long)).all()
    # a longer trajectory than needed gives the same frames (padding-free conv: prefix property)
    torch.testing.assert_close(frames(G, z, t, motion_z=mz_long), out, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError):
        frames(G, z, torch.tensor([[-1.0]]), motion_z=mz)


def test_content_motion_separable(tiny):
    G = tiny
    z = torch.randn(2, G.z_dim)
    t = torch.arange(3.0).repeat(2, 1)
    mz = G.sample_motion_z(1, t, generator=torch.Generator().manual_seed(6)).repeat(2, 1, 1)
    # psi = 0: every video has w = w_avg, so the same motion noise gives the same video
    out = frames(G, z, t, motion_z=mz, truncation_psi=0.0).reshape(2, 3, 3, 64, 64)
    torch.testing.assert_close(out[0], out[1], atol=1e-4, rtol=1e-4)
    full = frames(G, z, t, motion_z=mz).reshape(2, 3, 3, 64, 64)
    assert not torch.allclose(full[0], full[1])


def test_precision_modes(tiny):
    G = tiny
    z = torch.randn(2, G.z_dim)
    t = torch.arange(3.0).repeat(2, 1)
    mz = G.sample_motion_z(2, t, generator=torch.Generator().manual_seed(7))
    emu = frames(G, z, t, motion_z=mz)
    f32 = frames(G, z, t, motion_z=mz, precision="fp32")
    assert all(b.last_fused_modconv for b in G.synthesis.blocks())
    torch.testing.assert_close(frames(G, z, t, motion_z=mz, force_fp32=True), f32)
    # plain StyleGAN2 layers: the branches differ only by rounding
    torch.testing.assert_close(emu, f32, atol=1e-4, rtol=1e-4)
    f16 = frames(G, z, t, motion_z=mz, precision="fp16")
    assert f16.dtype == torch.float32 and (f16 - emu).abs().max() < 0.05 * emu.abs().max()
    assert sg2.resolve_precision("auto", "cpu") == "fp16-emulated"
    assert sg2.resolve_precision("auto", "cuda") == "fp16"
    assert sg2.resolve_precision("fp16", "cuda", force_fp32=True) == "fp32"


def test_conditional_and_noise_modes():
    torch.manual_seed(1)
    G = sv.Generator(**sv.tiny_config("stylegan_v_cond")).eval()
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, sg2.SynthesisLayer):
                m.noise_strength.fill_(0.5)
    assert G.synthesis.motion_encoder.conv[0].weight.shape == (16, 16 + 3, 11)
    z, c = torch.randn(2, G.z_dim), torch.eye(3)[:2]
    t = torch.arange(2.0).repeat(2, 1)
    mz = G.sample_motion_z(2, t, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        const = G(z, c, t, motion_z=mz, noise_mode="const")
        assert torch.equal(const, G(z, c, t, motion_z=mz, noise_mode="const"))
        none = G(z, c, t, motion_z=mz, noise_mode="none")
        r1 = G(z, c, t, motion_z=mz, noise_mode="random", generator=torch.Generator().manual_seed(1))
        r2 = G(z, c, t, motion_z=mz, noise_mode="random", generator=torch.Generator().manual_seed(1))
        other_c = G(z, torch.eye(3)[1:3], t, motion_z=mz)
    assert torch.equal(r1, r2) and not torch.allclose(const, none) and not torch.allclose(r1, const)
    assert not torch.allclose(const, other_c)


def test_state_dict_roundtrip(tiny):
    G2 = sv.Generator(**sv.tiny_config())
    G2.load_state_dict(tiny.state_dict(), strict=True)
    z = torch.randn(1, tiny.z_dim)
    t = torch.arange(2.0)[None]
    mz = tiny.sample_motion_z(1, t, generator=torch.Generator().manual_seed(0))
    assert torch.equal(frames(tiny, z, t, motion_z=mz), frames(G2.eval(), z, t, motion_z=mz))
    with pytest.raises(ValueError):
        sv.tiny_config("nope")


# ---------------------------------------------------------------------------------------------- closed-form checks


def test_equalized_lr_constants():
    fc = sg2.FullyConnectedLayer(512, 256, activation="linear", lr_multiplier=0.01, bias_init=1)
    assert fc.weight_gain == pytest.approx(0.01 / math.sqrt(512)) and fc.bias_gain == 0.01
    assert fc.weight.std().item() == pytest.approx(100, rel=0.05)  # stored weights are N(0, 1/lr^2)
    x = torch.randn(4, 512)
    torch.testing.assert_close(fc(x), x @ (fc.weight * 0.01 / math.sqrt(512)).T + 0.01)
    conv = sv.EqLRConv1d(512, 512, 11, activation="lrelu", lr_multiplier=0.01)
    assert conv.weight_gain == pytest.approx(0.01 / math.sqrt(512 * 11))
    G = build_meta(sv.official_config(256))
    assert G.mapping.fc0.weight_gain == pytest.approx(0.01 / math.sqrt(512))
    assert G.synthesis.b8.conv0.affine.weight_gain == pytest.approx(1 / math.sqrt(512))
    assert G.synthesis.b256.torgb.weight_gain == pytest.approx(1 / math.sqrt(64))


def test_bias_act_reference_math():
    x = torch.randn(2, 3, 5, 5) * 100
    b = torch.randn(3)
    y = sg2.bias_act(x, b, act="lrelu", clamp=256)
    ref = (F.leaky_relu(x + b[None, :, None, None], 0.2) * math.sqrt(2)).clamp(-256, 256)
    torch.testing.assert_close(y, ref)
    h = sg2.bias_act(x.half(), b.half(), act="lrelu")
    assert h.dtype == torch.float16
    torch.testing.assert_close(h.float(), F.leaky_relu(x.half().float() + b.half().float()[None, :, None, None],
                                                        0.2) * math.sqrt(2), atol=0.5, rtol=1e-3)


def test_demodulation_unit_norm_and_branch_equality():
    torch.manual_seed(0)
    n, cin, cout = 3, 8, 6
    weight = torch.randn(cout, cin, 3, 3)
    styles = torch.randn(n, cin) + 1
    w = weight[None] * styles[:, None, :, None, None]
    d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    eff = w * d[:, :, None, None, None]
    torch.testing.assert_close(eff.square().sum(dim=[2, 3, 4]), torch.ones(n, cout), atol=1e-4, rtol=1e-4)
    # unit-norm filters keep unit variance for i.i.d. unit-variance inputs
    x = torch.randn(n, cin, 64, 64)
    f = sg2.setup_filter([1, 3, 3, 1])
    fused = sg2.modulated_conv2d(x, weight, styles, padding=1, fused_modconv=True)
    assert fused[:, :, 1:-1, 1:-1].var().item() == pytest.approx(1.0, rel=0.1)
    nonfused = sg2.modulated_conv2d(x, weight, styles, padding=1, fused_modconv=False)
    torch.testing.assert_close(fused, nonfused, atol=1e-4, rtol=1e-4)
    pre = sg2.modulated_conv2d(x, weight, styles, padding=1, fused_modconv=True, prenormalize=True)
    torch.testing.assert_close(fused, pre, atol=1e-4, rtol=1e-4)  # pre-normalisation cancels out
    up_f = sg2.modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f, flip_weight=False)
    up_n = sg2.modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f, flip_weight=False,
                                fused_modconv=False)
    assert up_f.shape == (n, cout, 128, 128)
    torch.testing.assert_close(up_f, up_n, atol=1e-4, rtol=1e-4)


def test_fir_filter_and_upsampling():
    f = sg2.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    x = torch.full((1, 2, 8, 8), 0.7)
    up = sg2.upsample2d(x, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full_like(up[:, :, 2:-2, 2:-2], 0.7))
    imp = torch.zeros(1, 1, 4, 4)
    imp[0, 0, 1, 1] = 1
    u = sg2.upsample2d(imp, f)
    torch.testing.assert_close(u.sum(), torch.tensor(4.0))  # gain up^2 keeps the DC level
    # fast transposed-convolution path == generic zero-insert/filter/convolve path
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    w = torch.randn(5, 4, 3, 3)
    fast = sg2.conv2d_resample(x, w, f=f, up=2, padding=1, flip_weight=False)
    slow = sg2.upfirdn2d(x, f, up=2, padding=[3, 2, 3, 2], gain=4)
    slow = F.conv2d(slow, w.flip([2, 3]))
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_time_encoder_constants():
    G = build_meta(sv.official_config(256))
    te = G.synthesis.motion_encoder.time_encoder
    freqs = te.freqs.cpu().double()[0]
    torch.testing.assert_close(freqs[0], torch.tensor(2 * np.pi / 1024, dtype=torch.float64), rtol=1e-6, atol=0)
    torch.testing.assert_close(freqs[-1], torch.tensor(2 * np.pi / 16, dtype=torch.float64), rtol=1e-6, atol=0)
    log_periods = torch.log2(2 * np.pi / freqs)
    torch.testing.assert_close(log_periods, torch.linspace(10, 4, 256, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(te.phase_scales.cpu()[0], (1024 * te.freqs / (2 * np.pi)).cpu()[0])
    assert te.min_period_len() == 16


# ---------------------------------------------------------------------------------------------- upstream golden values

def perturbed_tiny(module):
    """Tiny network from a fixed seed with perturbed parameters (initialisation order matches upstream, so the
    same seed gives the same weights as the authors' networks.py)."""
    torch.manual_seed(0)
    G = module.Generator(**module.tiny_config()).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in G.named_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        G.mapping.w_avg.copy_(torch.randn(G.mapping.w_avg.shape, generator=g))
    return G


def golden_inputs():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(2, 32, generator=g)
    t = torch.tensor([[0.0, 5.5, 40.0], [1.0, 300.0, 1100.0]])
    mz = torch.randn(2, 114, 16, generator=g)
    return z, t, mz


GOLDEN_POSITIONS = [(0, 0, 0, 0), (1, 1, 31, 17), (3, 2, 63, 63), (5, 0, 10, 50)]


def test_matches_upstream_golden_values():
    """Numbers produced by upstream's src/training/networks.py (universome/stylegan-v 3fecd69, CPU, force_fp32=True,
    same weights and inputs); the port matched them bit for bit when they were recorded."""
    G = perturbed_tiny(sv)
    z, t, mz = golden_inputs()
    for fused, mean, std, px in [
        (None, 0.04731311, 1.45815027, [0.211628, 0.026694, -0.612842, -1.294504]),
        (False, 0.04731308, 1.45815027, [0.211628, 0.026693, -0.612842, -1.294505]),
    ]:
        with torch.no_grad():
            out = G(z, None, t, truncation_psi=0.9, motion_z=mz, precision="fp32", fused_modconv=fused)
        assert out.mean().item() == pytest.approx(mean, abs=2e-5)
        assert out.std().item() == pytest.approx(std, abs=2e-5)
        assert [out[p].item() for p in GOLDEN_POSITIONS] == pytest.approx(px, abs=2e-5)


# ---------------------------------------------------------------------------------------------- class conditioning


def test_adapter_draws_a_class_per_video_and_honours_condition(tmp_path):
    """A class-conditional snapshot (StyleGAN-V on MEAD has c_dim 77) gets a one-hot label per video, drawn from the
    video's stream 2 and recorded; ``condition`` fixes it; an unconditional snapshot refuses a condition."""
    from vgbench.evaluate import conditioning_summary
    from vgbench.models import get_adapter
    from vgbench.models.base import ModelOptionError
    from vgbench.models.checkpoint import save_native

    kw = sv.tiny_config("stylegan_v_cond")
    torch.manual_seed(3)
    G = sv.Generator(**kw)
    ckpt = save_native(tmp_path / "cond.vgb", "stylegan_v", kw, G.state_dict(), extra={"dataset_fps": 25})
    a = get_adapter("stylegan_v", str(ckpt))
    assert a.info.conditioning == "class label (0..2, one-hot)"
    labels = [a.video_labels(i, seed=7)["class"] for i in range(60)]
    assert labels == [a.video_labels(i, seed=7)["class"] for i in range(60)]      # deterministic
    assert set(labels) == {0, 1, 2}                                                # uniform over 3 classes
    assert a.video_labels(5, seed=7, content_seed=2) == a.video_labels(0, seed=2)  # the label is content
    drawn = np.concatenate(list(a.sample(3, 4, seed=7)))
    k = labels[1]
    fixed = np.concatenate(list(get_adapter("stylegan_v", str(ckpt), condition=f"class={k}").sample(
        1, 4, seed=7, start=1)))
    assert np.array_equal(drawn[1], fixed[0])                                       # same class: same pixels
    other = np.concatenate(list(get_adapter("stylegan_v", str(ckpt), condition=f"class={(k + 1) % 3}").sample(
        1, 4, seed=7, start=1)))
    assert not np.array_equal(drawn[1], other[0])                                   # the label reaches G
    cyc = get_adapter("stylegan_v", str(ckpt), condition="class=0;class=2")
    assert [cyc.video_labels(i)["class"] for i in range(4)] == [0, 2, 0, 2]
    summary = conditioning_summary(cyc, 0, 4)
    assert summary["counts"] == {"class": {"0": 2, "2": 2}} and summary["condition"] == "class=0;class=2"
    with pytest.raises(ModelOptionError, match="class id 3 out of range; this checkpoint has 3 class ids"):
        get_adapter("stylegan_v", str(ckpt), condition="class=3")
    with pytest.raises(ModelOptionError, match="expected 'class=ID'"):
        get_adapter("stylegan_v", str(ckpt), condition="actor=1")

    ukw = sv.tiny_config()
    unc = save_native(tmp_path / "unc.vgb", "stylegan_v", ukw, sv.Generator(**ukw).state_dict())
    assert get_adapter("stylegan_v", str(unc)).video_labels(0) is None
    with pytest.raises(ModelOptionError, match="unconditional"):
        get_adapter("stylegan_v", str(unc), condition="class=0")
