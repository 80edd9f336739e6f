"""rosinality-layout StyleGAN2 generator (vgbench.models.rosinality): official key layout, golden values from the
official implementation, config inference, safe loading, noise modes, differentiability. CPU only."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from vgbench.models.checkpoint import CheckpointError, check_state_dict
from vgbench.models.rosinality import (StyleGAN2Generator, infer_rosinality_config,
                                       load_generator_state, load_rosinality_checkpoint, rosinality_channels)

torch.set_num_threads(min(2, torch.get_num_threads()))

GOLDEN = json.loads((Path(__file__).parent / "golden" / "rosinality_stylegan2.json").read_text())


def meta_generator(**kw):
    with torch.device("meta"):
        return StyleGAN2Generator(**kw)


def test_official_256_key_set_and_shapes():
    G = meta_generator(size=256)
    got = {k: list(v.shape) for k, v in G.state_dict().items()}
    expected = GOLDEN["keys_256"]
    assert len(expected) == 135
    assert got == expected
    assert got["convs.0.conv.weight"] == [1, 512, 512, 3, 3]
    assert got["convs.10.conv.blur.kernel"] == [4, 4]
    assert got["convs.11.conv.weight"] == [1, 128, 128, 3, 3]
    assert got["to_rgbs.5.conv.weight"] == [1, 3, 128, 1, 1]
    assert got["noises.noise_12"] == [1, 1, 256, 256]
    assert "to_rgb1.upsample.kernel" not in got and "convs.1.conv.blur.kernel" not in got
    assert (G.n_latent, G.num_layers) == (14, 13)
    # upstream parameter count for Generator(256, 512, 8): parameters only (buffers excluded)
    n = sum(p.numel() for p in G.parameters())
    assert n == sum(int(torch.tensor(s).prod()) for k, s in expected.items()
                    if not (k.startswith("noises.") or k.endswith(".kernel")))


def test_channel_table():
    assert rosinality_channels(256) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert rosinality_channels(1024, 1)[1024] == 16
    with pytest.raises(ValueError):
        rosinality_channels(100)


def deterministic_weights(G):
    """The golden file's weight recipe: sorted keys, one torch.Generator(1234), kernels kept."""
    g = torch.Generator().manual_seed(1234)
    sd = G.state_dict()
    new = {}
    for k in sorted(sd):
        v = sd[k]
        if k.endswith(".kernel"):
            new[k] = v
        elif k.startswith("noises."):
            new[k] = torch.randn(v.shape, generator=g)
        elif k.endswith("bias") or k.endswith("noise.weight"):
            new[k] = 0.3 * torch.randn(v.shape, generator=g)
        else:
            new[k] = torch.randn(v.shape, generator=g)
    G.load_state_dict(new)
    return G


@pytest.fixture(scope="module")
def g16():
    return deterministic_weights(StyleGAN2Generator(16, style_dim=32, n_mlp=2)).eval()


def test_matches_official_golden_values(g16):
    gold = GOLDEN["golden_16"]
    g = torch.Generator().manual_seed(99)
    z = torch.randn(2, 32, generator=g)
    noise = [torch.randn(2, 1, r, r, generator=g) for r in g16.noise_shapes()]
    with torch.no_grad():
        a = g16(z)
        b = g16.synthesize(g16.map(z).unsqueeze(1).repeat(1, g16.n_latent, 1), noise=noise)
    for img, ref in ((a, gold["stored_noise"]), (b, gold["explicit_noise"])):
        assert img.shape == (2, 3, 16, 16)
        assert img.double().sum().item() == pytest.approx(ref["sum"], rel=1e-5, abs=1e-3)
        assert img.double().abs().sum().item() == pytest.approx(ref["abs_sum"], rel=1e-5)
        px = [img[0, 0, 0, 0].item(), img[1, 2, 15, 7].item(), img[0, 1, 8, 8].item()]
        assert px == pytest.approx(ref["px"], abs=1e-5)


def test_infer_config_round_trip():
    cases = [dict(size=256), dict(size=64, channel_multiplier=1, n_mlp=4, style_dim=64),
             dict(size=32, style_dim=48, mapping_dim=16, n_mlp=3,
                  channels={4: 8, 8: 16, 16: 12, 32: 8})]
    for kw in cases:
        G = meta_generator(**kw)
        cfg = infer_rosinality_config(G.state_dict())
        G2 = meta_generator(**cfg)
        assert {k: v.shape for k, v in G2.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}
    assert infer_rosinality_config(meta_generator(size=256).state_dict()) == \
        {"size": 256, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}
    cfg = infer_rosinality_config(meta_generator(**cases[2]).state_dict())
    assert cfg["channels"] == {4: 8, 8: 16, 16: 12, 32: 8} and cfg["mapping_dim"] == 16
    with pytest.raises(CheckpointError, match="to_rgbs"):
        infer_rosinality_config({"style.1.weight": torch.zeros(2, 2)})


def test_mapping_dim_differs_from_style_dim():
    torch.manual_seed(0)
    G = StyleGAN2Generator(16, style_dim=24, mapping_dim=8, n_mlp=2, channels={4: 8, 8: 8, 16: 8})
    w = G.map(torch.randn(3, 8))
    assert w.shape == (3, 8)
    assert G.style[1].weight.shape == (8, 8) and G.conv1.conv.modulation.weight.shape == (8, 24)
    img = G.synthesize(torch.randn(3, G.n_latent, 24))
    assert img.shape == (3, 3, 16, 16)
    with pytest.raises(ValueError, match="mapping_dim"):
        G(torch.randn(1, 8))


def test_noise_modes(g16):
    lat = torch.randn(2, g16.n_latent, 32)
    with torch.no_grad():
        stored = g16.synthesize(lat)
        stored2 = g16.synthesize(lat, noise=g16.stored_noise())
        r1 = g16.synthesize(lat, randomize_noise=True, generator=torch.Generator().manual_seed(5))
        r2 = g16.synthesize(lat, randomize_noise=True, generator=torch.Generator().manual_seed(5))
        r3 = g16.synthesize(lat, randomize_noise=True, generator=torch.Generator().manual_seed(6))
        none = g16.synthesize(lat, noise=[None] * g16.num_layers)
        zero = g16.synthesize(lat, noise=[torch.zeros(1, 1, r, r) for r in g16.noise_shapes()])
        explicit = g16.synthesize(lat, noise=g16.random_noise(2, torch.Generator().manual_seed(5)))
    assert torch.equal(stored, stored2)
    assert torch.equal(r1, r2) and torch.equal(r1, explicit)
    assert (r1 - r3).abs().max() > 1e-3 and (r1 - stored).abs().max() > 1e-3
    assert torch.equal(none, zero)  # a None entry adds no noise at all
    assert (none - stored).abs().max() > 1e-3
    # per-sample random noise: the two samples get different maps
    nz = g16.random_noise(2, torch.Generator().manual_seed(1))
    assert all(n.shape == (2, 1, r, r) for n, r in zip(nz, g16.noise_shapes()))
    assert not torch.equal(nz[0][0], nz[0][1])
    with pytest.raises(ValueError, match="entries"):
        g16.synthesize(lat, noise=[None])
    with pytest.raises(ValueError, match="latent"):
        g16.synthesize(torch.randn(2, 3, 32))


def test_gradient_flows_to_latent(g16):
    lat = torch.randn(1, g16.n_latent, 32, requires_grad=True)
    img = g16.synthesize(lat)
    img.square().mean().backward()
    assert lat.grad is not None and lat.grad.shape == lat.shape
    assert torch.isfinite(lat.grad).all() and (lat.grad.abs().sum(dim=2) > 0).all()  # every layer's style matters
    g16.zero_grad(set_to_none=True)


def test_broadcast_latent_and_truncation(g16):
    z = torch.randn(2, 32)
    with torch.no_grad():
        w = g16.map(z)
        assert torch.equal(g16.synthesize(w), g16(z))
        mean = g16.map(torch.randn(64, 32)).mean(0, keepdim=True)
        assert torch.allclose(g16(z, truncation=0.0, truncation_latent=mean),
                              g16.synthesize(mean.repeat(2, 1)), atol=1e-6)


# ---------------------------------------------------------------------------------------------- loading


def tiny_state(**kw):
    torch.manual_seed(0)
    return StyleGAN2Generator(**kw).state_dict()


def test_loader_round_trip_with_namespace_args(tmp_path):
    state = tiny_state(size=16, style_dim=16, n_mlp=2, channels={4: 8, 8: 8, 16: 4})
    p = tmp_path / "ckpt.pt"
    torch.save({"g": state, "g_ema": state, "args": argparse.Namespace(size=16, latent=16, n_mlp=2)}, p)
    sd, args = load_rosinality_checkpoint(p)
    assert args == {"size": 16, "latent": 16, "n_mlp": 2}
    assert set(sd) == set(state) and all(torch.equal(sd[k], state[k]) for k in state)
    G = load_generator_state(sd, str(p))
    assert G.channels == {4: 8, 8: 8, 16: 4}
    torch.save({"g_ema": state}, p)
    assert load_rosinality_checkpoint(p)[1] == {}


def test_loader_refuses_unsafe_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "payload": Evil()}, p)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*(system|posix)"):
        load_rosinality_checkpoint(p)


def test_loader_errors(tmp_path):
    state = tiny_state(size=8, style_dim=8, n_mlp=1, channels={4: 4, 8: 4})
    p = tmp_path / "no_ema.pt"
    torch.save({"g": state, "d": {}}, p)
    with pytest.raises(CheckpointError, match=r"no_ema\.pt.*'g_ema'"):
        load_rosinality_checkpoint(p)
    p2 = tmp_path / "list.pt"
    torch.save([1, 2], p2)
    with pytest.raises(CheckpointError, match=r"list\.pt.*list"):
        load_rosinality_checkpoint(p2)
    p3 = tmp_path / "junk.pt"
    p3.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_rosinality_checkpoint(p3)
    with pytest.raises(CheckpointError, match="no such file"):
        load_rosinality_checkpoint(tmp_path / "missing.pt")


def test_strict_state_checks():
    state = tiny_state(size=8, style_dim=8, n_mlp=1, channels={4: 4, 8: 4})
    G = StyleGAN2Generator(8, style_dim=8, n_mlp=1, channels={4: 4, 8: 4})
    bad = dict(state)
    bad["conv1.activate.bias"] = torch.zeros(5)
    bad["extra.weight"] = torch.zeros(1)
    del bad["noises.noise_0"]
    with pytest.raises(CheckpointError, match=r"1 missing.*noise_0.*1 unexpected.*extra\.weight.*conv1\.activate"):
        check_state_dict(G, bad, "here")
    check_state_dict(G, {**state, "person_embed.weight": torch.zeros(3, 8)}, "here", ignore=("person_embed.",))
    nan = dict(state)
    nan["input.input"] = torch.full_like(state["input.input"], float("nan"))
    with pytest.raises(CheckpointError, match="input.input"):
        load_generator_state(nan, "nanfile")
