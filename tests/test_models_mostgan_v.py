"""Native MoStGAN-V generator: official structure, the fused/non-fused branch rule that official inference
depends on, MoStAtt closed forms and sampling semantics. CPU only, tiny networks."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vgbench.models import mostgan_v as mv
from vgbench.models import stylegan2 as sg2
from vgbench.models import stylegan_v as sv

torch.set_num_threads(min(2, torch.get_num_threads()))


def build_meta(module, kwargs):
    with torch.device("meta"):
        return module.Generator(**kwargs)


# ---------------------------------------------------------------------------------------------- official structure


def test_official_256_structure():
    G = build_meta(mv, mv.official_config(256))
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    base = {k: tuple(v.shape) for k, v in build_meta(sv, sv.official_config(256)).state_dict().items()}
    extra = {k: s for k, s in got.items() if k not in base}
    assert set(base) <= set(got) and all(got[k] == base[k] for k in base)
    expected_extra = {
        "synthesis.multimotionmap.0.weight": (4096, 1024), "synthesis.multimotionmap.0.bias": (4096,),
        "synthesis.multimotionmap.1.weight": (1024, 4096), "synthesis.multimotionmap.1.bias": (1024,),
    }
    # rank * (C_in + 3 + 3) rows: 518 for C_in 512, 262 for 256, 134 for 128
    cin = {16: (512, 512), 32: (512, 512), 64: (512, 256), 128: (256, 128)}
    for res, (c0, c1) in cin.items():
        for name, c in (("conv0", c0), ("conv1", c1)):
            p = f"synthesis.b{res}.{name}.hypernet.conv0"
            expected_extra[f"{p}.weight"] = (c + 6, 128, 1, 1)
            expected_extra[f"{p}.resample_filter"] = (4, 4)
    assert extra == expected_extra
    assert got["synthesis.b64.conv1.hypernet.conv0.weight"] == (262, 128, 1, 1)
    assert got["synthesis.b128.conv1.hypernet.conv0.weight"] == (134, 128, 1, 1)
    assert sum(p.numel() for p in G.parameters()) == 40_915_413  # = upstream networks.py, same arguments
    assert G.num_ws == 14
    # word-modulated layers in b16 (fp32 path) and b32..b128 (fp16 path)
    fp16 = {b.resolution: b.use_fp16 for b in G.synthesis.blocks()}
    assert [r for r, f in fp16.items() if f] == [32, 64, 128, 256]


def test_hypernet_rank_and_mod_layers():
    kw = mv.official_config(256, cfg_overrides={"rank": 2, "mod_layers": "8,256"})
    G = build_meta(mv, kw)
    sd = G.state_dict()
    assert sd["synthesis.b8.conv1.hypernet.conv0.weight"].shape == (2 * (512 + 6), 128, 1, 1)
    assert sd["synthesis.b256.conv1.hypernet.conv0.weight"].shape == (2 * (64 + 6), 128, 1, 1)
    assert not any(".hypernet." in k for k in sd if k.startswith("synthesis.b16."))


# ---------------------------------------------------------------------------------------------- tiny network


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    G = mv.Generator(**mv.tiny_config()).eval().requires_grad_(False)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G


def frames(G, z, t, **kw):
    with torch.no_grad():
        return G(z, None, t, **kw)


def fused_flags(G):
    return [b.last_fused_modconv for b in G.synthesis.blocks()]


def test_tiny_covers_both_paths(tiny):
    blocks = {b.resolution: b for b in tiny.synthesis.blocks()}
    assert blocks[16].conv0.has_hypernet and not blocks[16].use_fp16
    assert blocks[32].conv1.has_hypernet and blocks[32].use_fp16
    assert not blocks[64].conv0.has_hypernet and not blocks[8].conv1.has_hypernet
    assert sum(p.numel() for p in tiny.parameters()) < 500_000


def test_tiny_forward(tiny):
    z = torch.randn(2, tiny.z_dim)
    t = torch.arange(16.0).repeat(2, 1)
    img = frames(tiny, z, t)
    assert img.shape == (32, 3, 64, 64) and img.dtype == torch.float32 and torch.isfinite(img).all()


def test_branch_selection_rule(tiny):
    # upstream: fused = not training and (dtype == float32 or batch == 1)
    assert sg2.official_fused_modconv(False, False, 7) is True
    assert sg2.official_fused_modconv(False, True, 7) is False
    assert sg2.official_fused_modconv(False, True, 1) is True
    assert sg2.official_fused_modconv(True, False, 1) is False
    z = torch.randn(2, tiny.z_dim)
    t = torch.arange(3.0).repeat(2, 1)
    frames(tiny, z, t)  # default on CPU: fp16 path emulated in float32
    assert fused_flags(tiny) == [True, True, True, False, False]
    frames(tiny, z, t, precision="fp32")  # = upstream force_fp32=True
    assert fused_flags(tiny) == [True] * 5
    w_avg = tiny.mapping.w_avg.clone()  # training mode updates w_avg
    tiny.train()
    try:
        frames(tiny, z, t)
        assert fused_flags(tiny) == [False] * 5
    finally:
        tiny.eval()
        tiny.mapping.w_avg.copy_(w_avg)
    # a single frame: upstream crashes (hypernet squeeze) whenever hypernets exist; here it takes the same
    # branch as a larger batch
    frames(tiny, z[:1], t[:1, :1])
    assert fused_flags(tiny) == [True, True, True, False, False]
    # without hypernets the batch-1 clause of the rule is kept
    kw = mv.tiny_config()
    kw["cfg"]["mod_layers"] = ""
    plain = mv.Generator(**kw).eval()
    frames(plain, z[:1], t[:1, :1])
    assert fused_flags(plain) == [True] * 5
    frames(plain, z, t)
    assert fused_flags(plain) == [True, True, True, False, False]


def test_fused_vs_nonfused_difference_is_real(tiny):
    z = torch.randn(2, tiny.z_dim)
    t = torch.arange(3.0).repeat(2, 1)
    mz = tiny.sample_motion_z(2, t, generator=torch.Generator().manual_seed(0))
    default = frames(tiny, z, t, motion_z=mz)
    all_fused = frames(tiny, z, t, motion_z=mz, fused_modconv=True)
    none_fused = frames(tiny, z, t, motion_z=mz, fused_modconv=False)
    scale = default.abs().max()
    assert (default - all_fused).abs().max() > 1e-2 * scale
    assert (default - none_fused).abs().max() > 1e-2 * scale
    assert (all_fused - none_fused).abs().max() > 1e-2 * scale
    # fp32 precision = all fused, without pre-normalisation
    assert (frames(tiny, z, t, motion_z=mz, precision="fp32") - default).abs().max() > 1e-2 * scale
    # real float16 follows the same function as the emulation, up to half-precision rounding
    f16 = frames(tiny, z, t, motion_z=mz, precision="fp16")
    assert (f16 - default).abs().max() < 0.05 * scale
    # without MoStAtt the branches agree (plain StyleGAN2)
    kw = mv.tiny_config()
    kw["cfg"]["mod_layers"] = ""
    torch.manual_seed(1)
    plain = mv.Generator(**kw).eval()
    torch.testing.assert_close(frames(plain, z, t, motion_z=mz, fused_modconv=True),
                               frames(plain, z, t, motion_z=mz, fused_modconv=False), atol=1e-4, rtol=1e-4)


def test_batch_composition_and_time(tiny):
    z = torch.randn(3, tiny.z_dim)
    t = torch.tensor([[0.0, 1, 2], [4, 5.5, 6], [0, 100, 299]])
    mz = tiny.sample_motion_z(3, t, generator=torch.Generator().manual_seed(1))
    batch = frames(tiny, z, t, motion_z=mz).reshape(3, 3, 3, 64, 64)
    for i in range(3):
        alone = frames(tiny, z[i:i + 1], t[i:i + 1], motion_z=mz[i:i + 1])
        torch.testing.assert_close(alone, batch[i], atol=1e-4, rtol=1e-4)
    lone = frames(tiny, z[:1], torch.tensor([[2.0]]), motion_z=mz[:1])  # B*F == 1
    torch.testing.assert_close(lone[0], batch[0, 2], atol=1e-4, rtol=1e-4)
    cont = frames(tiny, z[:1], torch.tensor([[0.5, 300.0]]), motion_z=mz[:1])
    assert torch.isfinite(cont).all() and not torch.allclose(cont[0], batch[0, 0])


def test_generator_draws_and_shapes(tiny):
    z = torch.randn(1, tiny.z_dim)
    t = torch.arange(4.0)[None]
    a = frames(tiny, z, t, generator=torch.Generator().manual_seed(3))
    mz = tiny.sample_motion_z(1, t, generator=torch.Generator().manual_seed(3))
    assert mz.shape == tiny.motion_z_shape(1, t) == (1, 86, 16)
    assert torch.equal(a, frames(tiny, z, t, motion_z=mz))


def test_conditional_noise_variant():
    torch.manual_seed(2)
    G = mv.Generator(**mv.tiny_config("mostgan_v_cond")).eval()
    assert "synthesis.b16.conv0.noise_const" in G.state_dict()
    z, c = torch.randn(2, G.z_dim), torch.eye(3)[:2]
    t = torch.arange(2.0).repeat(2, 1)
    with torch.no_grad():
        out = G(z, c, t, noise_mode="random", generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 64, 64) and torch.isfinite(out).all()


# ---------------------------------------------------------------------------------------------- MoStAtt closed forms


def test_mostatt_single_style_closed_form():
    torch.manual_seed(0)
    n, o, i, k = 2, 5, 4, 3
    w = torch.randn(n, o, i, k, k)
    sm = torch.randn(n, 1, 1, i + 2 * k)  # K = 1 style, rank 1
    m = sm[:, 0, 0, :i, None, None] * sm[:, 0, 0, None, i:i + k, None] * sm[:, 0, 0, None, None, i + k:]
    mod = m / m.abs().amax(dim=[1, 2, 3], keepdim=True)  # softmax over one style = 1
    expected = w * (1 + F.leaky_relu(mod, 0.2))[:, None]
    torch.testing.assert_close(mv.mostatt_modulate(w, sm), expected)
    # K identical styles behave as one
    torch.testing.assert_close(mv.mostatt_modulate(w, sm.repeat(1, 4, 1, 1)), expected)
    # rank R: the R rank-1 tensors are summed and scaled by 1/sqrt(R)
    sm2 = torch.randn(n, 1, 3, i + 2 * k)
    m2 = sum(sm2[:, 0, r, :i, None, None] * sm2[:, 0, r, None, i:i + k, None] * sm2[:, 0, r, None, None, i + k:]
             for r in range(3)) / math.sqrt(3)
    mod2 = m2 / m2.abs().amax(dim=[1, 2, 3], keepdim=True)
    torch.testing.assert_close(mv.mostatt_modulate(w, sm2), w * (1 + F.leaky_relu(mod2, 0.2))[:, None])


def test_mostatt_attention_weights():
    torch.manual_seed(1)
    n, o, i, k, K = 1, 3, 2, 3, 4
    w = torch.randn(n, o, i, k, k)
    sm = torch.randn(n, K, 1, i + 2 * k)
    m = (sm[:, :, 0, :i, None, None] * sm[:, :, 0, None, i:i + k, None] * sm[:, :, 0, None, None, i + k:])
    scores = torch.einsum("noijk,nKijk->noK", w, m) / math.sqrt(i * k * k)
    mix = torch.einsum("noK,nKijk->noijk", scores.softmax(-1), m)
    mix = mix / mix.abs().amax(dim=[1, 2, 3, 4], keepdim=True)
    torch.testing.assert_close(mv.mostatt_modulate(w, sm), w * (1 + F.leaky_relu(mix, 0.2)))


def test_nonfused_branch_uses_mostatt_only_in_demodulation():
    torch.manual_seed(2)
    n, cin, cout, K = 2, 4, 5, 3
    x = torch.randn(n, cin, 8, 8)
    weight = torch.randn(cout, cin, 3, 3)
    styles = torch.randn(n, cin) + 1
    sm = torch.randn(n, K, 1, cin + 6)
    nonfused = mv.modulated_conv2d_mostatt(x, weight, styles, sm, padding=1, fused_modconv=False)
    w_att = mv.mostatt_modulate(weight[None] * styles[:, None, :, None, None], sm)
    d = (w_att.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    plain = F.conv2d(x * styles[:, :, None, None], weight, padding=1)
    torch.testing.assert_close(nonfused, plain * d[:, :, None, None], atol=1e-5, rtol=1e-5)
    fused = mv.modulated_conv2d_mostatt(x, weight, styles, sm, padding=1, fused_modconv=True)
    full = torch.stack([F.conv2d(x[j:j + 1], w_att[j] * d[j][:, None, None, None], padding=1)[0] for j in range(n)])
    torch.testing.assert_close(fused, full, atol=1e-5, rtol=1e-5)
    # with style_m=None both branches reduce to StyleGAN2
    torch.testing.assert_close(mv.modulated_conv2d_mostatt(x, weight, styles, None, padding=1),
                               sg2.modulated_conv2d(x, weight, styles, padding=1), atol=1e-5, rtol=1e-5)
    # fp16-path pre-normalisation rescales the scores, so it changes MoStAtt (not plain StyleGAN2)
    pre = mv.modulated_conv2d_mostatt(x, weight * 3, styles * 2, sm, padding=1, prenormalize=True)
    raw = mv.modulated_conv2d_mostatt(x, weight * 3, styles * 2, sm, padding=1, prenormalize=False)
    assert (pre - raw).abs().max() > 1e-3


def test_matches_upstream_golden_values():
    """Numbers produced by upstream's src/training/networks.py (xiaoqian-shen/MoStGAN-V a2503ee, CPU,
    force_fp32=True with the default (fused) and the forced non-fused branch; same weights and inputs)."""
    torch.manual_seed(0)  # initialisation order matches upstream: same seed, same weights
    G = mv.Generator(**mv.tiny_config()).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in G.named_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        G.mapping.w_avg.copy_(torch.randn(G.mapping.w_avg.shape, generator=g))
    g = torch.Generator().manual_seed(2)
    z = torch.randn(2, 32, generator=g)
    t = torch.tensor([[0.0, 5.5, 40.0], [1.0, 300.0, 1100.0]])
    mz = torch.randn(2, 114, 16, generator=g)
    positions = [(0, 0, 0, 0), (1, 1, 31, 17), (3, 2, 63, 63), (5, 0, 10, 50)]
    for fused, mean, std, px in [
        (None, -0.89092517, 1.20835233, [-0.039288, -0.257964, -0.051034, -0.812649]),
        (False, -0.79232156, 1.09051979, [-0.044415, -0.177856, -0.057287, -0.835086]),
    ]:
        with torch.no_grad():
            out = G(z, None, t, truncation_psi=0.9, motion_z=mz, precision="fp32", fused_modconv=fused)
        assert out.mean().item() == pytest.approx(mean, abs=2e-5)
        assert out.std().item() == pytest.approx(std, abs=2e-5)
        assert [out[p].item() for p in positions] == pytest.approx(px, abs=2e-5)
