"""DIGAN: official network structure, closed-form properties of its layers, the shipped tiny official-format
checkpoint (loading, sampling rules, errors) and its golden FVD16. The full 128x128 network is only built on the
meta device. Regenerate the fixture on purpose with
``python scripts/make_tiny_checkpoints.py --only digan --golden``."""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models import digan as dg
from vgbench.models import get_adapter
from vgbench.models.checkpoint import CheckpointError, InertObject, load_network_pickle
from vgbench.safe_pickle import UnsafePickleError
from vgbench.utils import sha256_file
from conftest import check_continuous_time, check_deterministic_sampling, golden_eval

torch.set_num_threads(min(2, torch.get_num_threads()))

FIX = Path(__file__).parent / "fixtures" / "digan_tiny.pkl"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "tiny_models.json").read_text())

# ---------------------------------------------------------------------------------------------- official structure


def expected_official_shapes() -> dict[str, tuple]:
    """Key -> shape of the official 128x128 DIGAN G_ema, written out from sihyun-yu/digan (src/training/networks.py,
    src/training/layers.py, configs/digan.yml, train.py: z = w = 512, 2 mapping layers, channel_base 32768,
    channel_max 512, predictable_emb_size 128 with sin + cos, fmm rank 10, blocks <= 32 at 32x32, one extra conv at
    128, skip architecture, no noise)."""
    s: dict[str, tuple] = {}
    for i in range(2):
        s[f"mapping.fc{i}.weight"], s[f"mapping.fc{i}.bias"] = (512, 512), (512,)
    s["mapping.w_avg"] = (512,)
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256}
    emb, rank = 128, 10

    def fuser(p):
        s[p + "xyaffine.weight"], s[p + "xyaffine.bias"] = (3 * emb, 512), (3 * emb,)  # 2 freqs + 1 phase each
        s[p + "affine.weight"], s[p + "affine.bias"] = (emb, 1024), (emb,)  # [w, z_motion]
        for j in range(2):
            s[p + f"motion_mlp.{j}.weight"], s[p + f"motion_mlp.{j}.bias"] = (emb, emb), (emb,)

    def layer(p, cin, cout):
        s[p + "weight"], s[p + "bias"], s[p + "resample_filter"] = (cout, cin, 1, 1), (cout,), (4, 4)
        s[p + "affine.weight"], s[p + "affine.bias"] = ((cin + cout) * rank, 512), ((cin + cout) * rank,)

    for r in ch:
        b = f"synthesis.b{r}."
        s[b + "resample_filter"] = (4, 4)
        if r == 4:
            fuser(b + "input.input.coord_fuser.")
            layer(b + "conv1.", 2 * emb, ch[4])
        else:
            cin = ch[r // 2]
            if r > 32:  # upsampling blocks concatenate fresh coordinate embeddings
                fuser(b + "coord_fuser.")
                cin += 2 * emb
            layer(b + "conv0.", cin, ch[r])
            layer(b + "conv1.", ch[r], ch[r])
        if r == 128:
            layer(b + "extra_convs.0.", ch[r], ch[r])
        s[b + "torgb.weight"], s[b + "torgb.bias"] = (3, ch[r], 1, 1), (3,)
        s[b + "torgb.affine.weight"], s[b + "torgb.affine.bias"] = (ch[r], 512), (ch[r],)
    return s


def test_official_128_structure():
    with torch.device("meta"):
        G = dg.Generator(**dg.official_config())
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    expected = expected_official_shapes()
    assert len(got) == len(expected) == 119
    assert got == expected
    # counts checked against upstream's networks.py built with the same arguments (scratch comparison)
    assert sum(p.numel() for p in G.parameters()) == 63_538_706
    assert G.num_ws == 13 and G.motion_z_dim == 512
    assert got["synthesis.b64.conv0.affine.weight"] == (12800, 512)  # (512 + 256 + 512) * 10
    assert got["synthesis.b128.conv0.weight"] == (256, 768, 1, 1)
    assert not any("noise" in k for k in got)
    syn = G.synthesis
    assert [(b.resolution, b.up) for b in syn.blocks()] == [(32, 1), (32, 1), (32, 1), (32, 1), (64, 2), (128, 2)]
    assert [b.num_conv for b in syn.blocks()] == [1, 2, 2, 2, 2, 3]
    assert syn.b4.input.input.coord_fuser.fourier_scale == pytest.approx(math.sqrt(10))
    assert syn.b64.coord_fuser.motion_sigma == 0.25 and syn.b32.coord_fuser is None


def test_tiny_config_is_the_official_structure_at_small_width():
    G = dg.Generator(**dg.tiny_config())
    assert sum(p.numel() for p in G.parameters()) == 96_431  # same count from upstream's networks.py
    assert G.num_ws == 11 and G.img_resolution == 64
    assert [(b.resolution, b.up, b.coord_fuser is not None) for b in G.synthesis.blocks()] == [
        (16, 1, False), (16, 1, False), (16, 1, False), (32, 2, True), (64, 2, True)]
    assert G.synthesis.b64.extra_convs is not None and len(G.synthesis.b64.extra_convs) == 1


def test_cfg_interpolations_resolve_like_omegaconf():
    cfg = dg.official_config()["cfg"]
    r = dg.resolve_cfg(cfg)
    assert r["input"]["coord_fuser_cfg"]["res_configs"]["128"] == {"predictable_emb_size": 128, "use_cosine": True}
    assert r["coords"]["res_configs"]["4"]["use_diagonal"] is True
    assert cfg["input"]["coord_fuser_cfg"] == "${coords}"  # the input is not modified
    with pytest.raises(ValueError, match="does not resolve"):
        dg.resolve_cfg({"a": "${dataset.fps}"})
    with pytest.raises(ValueError, match="cyclic"):
        dg.resolve_cfg({"a": "${b}", "b": "${a}"})


# ---------------------------------------------------------------------------------------------- layer closed forms


def test_pixel_coords():
    c = dg.pixel_coords(4)[0]
    assert c.shape == (2, 4, 4)
    assert torch.equal(c[0, 2], torch.tensor([-1.0, -0.5, 0.0, 0.5]))  # x: left to right, every row
    assert torch.equal(c[1, :, 1], torch.tensor([0.5, 0.0, -0.5, -1.0]))  # y: top row is the largest


def test_fmm_rows_have_unit_norm_and_zero_styles_reduce_to_normalised_weight():
    g = torch.Generator().manual_seed(0)
    cin, cout, rank, n = 5, 3, 2, 2
    weight = torch.randn(cout, cin, 1, 1, generator=g)
    eye = torch.eye(cin).reshape(1, cin, 1, cin).repeat(n, 1, 1, 1)  # column j of the output = column j of W'
    styles = torch.randn(n, (cin + cout) * rank, generator=g)
    w_eff = dg.fmm_linear(eye, weight, styles)[:, :, 0, :]  # [n, cout, cin]
    assert torch.allclose(w_eff.norm(dim=2), torch.ones(n, cout), atol=1e-6)
    # closed form of the factorisation: W * (1 + L R / sqrt(rank)), rows normalised
    left = styles[:, :cout * rank].view(n, cout, rank)
    right = styles[:, cout * rank:].view(n, rank, cin)
    raw = weight[:, :, 0, 0] * (1 + left @ right / math.sqrt(rank))
    assert torch.allclose(w_eff, raw / raw.norm(dim=2, keepdim=True), atol=1e-6)
    zero = dg.fmm_linear(eye, weight, torch.zeros(n, (cin + cout) * rank))[:, :, 0, :]
    w0 = weight[:, :, 0, 0]
    assert torch.allclose(zero, (w0 / w0.norm(dim=1, keepdim=True)).expand(n, -1, -1), atol=1e-6)


def test_coord_fuser_closed_form_and_motion_term():
    cfg = dg.resolve_cfg(dg.tiny_config()["cfg"])["coords"]
    f = dg.CoordFuser(cfg, w_dim=6, resolution=8)
    e = f.emb_size
    g = torch.Generator().manual_seed(1)
    w, zm = torch.randn(2, 6, generator=g), torch.randn(1, 6, generator=g)
    x = torch.randn(2, 3, 8, 8, generator=g)
    with torch.no_grad():
        f.xyaffine.bias.normal_(generator=g)
        f.motion_mlp[1].bias.normal_(generator=g)
        out = f(x, w, torch.tensor([0.0, 0.0]), zm)
        mod = f.xyaffine(w)
        freqs = math.sqrt(10) * mod[:, :2 * e].view(2, e, 2)
        phase = mod[:, 2 * e:] + f.motion_mlp(torch.zeros(2, e))  # Ts = 0: motion input is exactly zero
        c = dg.pixel_coords(8)[0]
        arg = freqs[..., 0, None, None] * c[0] + freqs[..., 1, None, None] * c[1] + phase[..., None, None]
        assert out.shape == (2, 3 + 2 * e, 8, 8) and torch.equal(out[:, :3], x)
        assert torch.allclose(out[:, 3:3 + e], arg.sin(), atol=1e-5)
        assert torch.allclose(out[:, 3 + e:], arg.cos(), atol=1e-5)
        # time enters only through leaky_relu(affine([w, z_motion]) * Ts * 0.25) -> motion_mlp -> phase
        moved = f(x, w, torch.tensor([0.5, 1.0]), zm)
        a = f.affine(torch.cat([w, zm.expand(2, -1)], 1)) * torch.tensor([[0.5], [1.0]]) * 0.25
        phase_t = mod[:, 2 * e:] + f.motion_mlp(torch.nn.functional.leaky_relu(a, 0.01))
        arg_t = arg - phase[..., None, None] + phase_t[..., None, None]
        assert torch.allclose(moved[:, 3:3 + e], arg_t.sin(), atol=1e-5)


# ---------------------------------------------------------------------------------------------- the tiny checkpoint


@pytest.fixture(scope="module")
def adapter():
    return get_adapter("digan", str(FIX), device="cpu", native_fps=30)


def test_loads_official_pickle(adapter):
    p = adapter.provenance()
    assert p["format"] == "official-pickle" and p["part"] == "G_ema"
    assert p["checkpoint_sha256"] == sha256_file(FIX)
    assert p["options"] == {"clip_stride": 1, "clip_stride_source": "default", "truncation_psi": 1.0}
    assert adapter.info.resolution == (64, 64) and adapter.info.native_fps == 30.0
    assert adapter.info.fps_control and adapter.info.content_motion_separable
    snap = load_network_pickle(FIX)  # the official layout, Beta objects kept as inert records
    assert {"G", "G_ema", "D", "augment_pipe", "training_set_kwargs"} <= set(snap)
    g = snap["G_ema"]
    assert g.class_name == "Generator" and g.init_kwargs["cfg"]["input"]["coord_fuser_cfg"] == "${coords}"
    assert isinstance(g.state["dist1"], InertObject) and g.state["dist1"]._path == "torch.distributions.beta.Beta"
    fuser = g.state["_modules"]["synthesis"].state["_modules"]["b32"].state["_modules"]["coord_fuser"]
    assert isinstance(fuser.state["dist2"], InertObject)


def test_sampling_is_deterministic_and_batch_invariant(adapter):
    check_deterministic_sampling(adapter, (64, 64), moves=True)


def test_time_and_fps_semantics(adapter):
    check_continuous_time(adapter)
    # DIGAN time: Ts = t / 15 per 16-frame clip; the official sampler's linspace(0, 1, 16) up to float rounding
    ts = adapter.digan_times(np.arange(16))
    assert torch.allclose(ts, torch.linspace(0, 1, 16), rtol=0, atol=1e-7) and ts[15] == 1.0


def test_clip_stride_scales_time(adapter):
    taichi = get_adapter("digan", str(FIX), native_fps=30, clip_stride=4)
    assert taichi.provenance()["options"]["clip_stride_source"] == "option"
    assert torch.equal(taichi.digan_times([0, 15, 60]), torch.tensor([0.0, 0.25, 1.0]))
    a = next(taichi.sample(1, 3, seed=2, times=[0, 30, 60]))[0]
    b = next(adapter.sample(1, 3, seed=2, times=[0, 7.5, 15]))[0]
    assert np.array_equal(a, b)
    assert dg.clip_stride_from_training_set({"class_name": "training.dataset.ImageFolderDataset",
                                             "path": "/data/taichi"})[0] == 4
    assert dg.clip_stride_from_training_set({"class_name": "training.dataset.UCF101Wrapper",
                                             "path": "/data/UCF-101"}) == (1, "default")
    for bad in (0, 2.5, "abc"):
        with pytest.raises(ValueError, match="clip_stride must be a positive integer"):
            get_adapter("digan", str(FIX), clip_stride=bad)


def test_content_and_motion_can_be_fixed(adapter):
    same_motion = np.concatenate(list(adapter.sample(2, 6, seed=0, motion_seed=3, batch_size=2)))
    same_content = np.concatenate(list(adapter.sample(2, 6, seed=0, content_seed=3, batch_size=2)))
    assert not np.array_equal(same_motion[0], same_motion[1])
    # at t = 0 the motion term is motion_mlp(0): with the content fixed, every video starts from the same frame
    assert np.array_equal(same_content[0, 0], same_content[1, 0])
    assert not np.array_equal(same_content[0, 5], same_content[1, 5])
    again = np.concatenate(list(adapter.sample(2, 6, seed=5, motion_seed=3, batch_size=2)))
    assert not np.array_equal(again[0], same_motion[0])


def test_native_format_gives_the_same_videos(adapter, tmp_path):
    from vgbench.models.checkpoint import save_native

    p = save_native(tmp_path / "m.vgb", "digan", adapter.init_kwargs, adapter.G.state_dict(),
                    {"dataset_fps": 30, "clip_stride": 1})
    native = get_adapter("digan", str(p))
    assert native.provenance()["format"] == "vgbench" and native.info.native_fps == 30.0
    assert np.array_equal(next(native.sample(2, 4, seed=3, batch_size=2)), next(adapter.sample(2, 4, seed=3,
                                                                                              batch_size=2)))


# ---------------------------------------------------------------------------------------------- bad input


def _write(path, G, kwargs):
    from vgbench.models.official_pickle import write_snapshot

    return write_snapshot(path, G, kwargs, persistence_module="torch_utils.persistence", with_optimizer=False)


def test_bad_checkpoints_are_refused(tmp_path):
    stylegan = Path(__file__).parent / "fixtures" / "stylegan_v_tiny.pkl"
    with pytest.raises(CheckpointError, match="not a DIGAN generator.*coord_fuser"):
        get_adapter("digan", str(stylegan))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        get_adapter("digan", str(tmp_path / "missing.pkl"))
    no_g = tmp_path / "no_g.pkl"
    no_g.write_bytes(pickle.dumps({"training_set_kwargs": {}, "G": None}))
    with pytest.raises(CheckpointError, match="has no 'G_ema'"):
        get_adapter("digan", str(no_g))
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(FIX.read_bytes()[:200_000])
    with pytest.raises(CheckpointError, match="not a readable network pickle"):
        get_adapter("digan", str(cut))
    # weights that do not fit the pickled config (8 Fourier frequencies declared, 4 stored)
    kw = dg.tiny_config()
    small = dg.tiny_config()
    small["cfg"]["coords"]["low_res_cfg"]["predictable_emb_size"] = 4
    bad = _write(tmp_path / "shapes.pkl", dg.Generator(**small), kw)
    with pytest.raises(CheckpointError, match="weights do not match.*with other shapes.*coord_fuser"):
        get_adapter("digan", str(bad))
    G = dg.Generator(**kw)
    with torch.no_grad():
        G.synthesis.b32.conv0.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="non-finite"):
        get_adapter("digan", str(_write(tmp_path / "nan.pkl", G, kw)))
    broken = dict(kw, cfg={k: v for k, v in kw["cfg"].items() if k != "input"})
    with pytest.raises(CheckpointError, match="do not build a network.*input"):
        get_adapter("digan", str(_write(tmp_path / "cfg.pkl", G, broken)))
    with pytest.raises(ValueError, match="unknown option.*clipstride"):
        get_adapter("digan", str(FIX), clipstride=4)


def test_unpickler_allows_distributions_only_as_inert_records(tmp_path):
    p = tmp_path / "beta.pkl"
    p.write_bytes(pickle.dumps({"G_ema": None, "dist": torch.distributions.Beta(2.0, 1.0)}))
    d = load_network_pickle(p)["dist"]
    assert isinstance(d, InertObject) and not isinstance(d, torch.distributions.Distribution)
    private = tmp_path / "private.pkl"
    private.write_bytes(b"ctorch.distributions.utils\n_sum_rightmost\n.")
    with pytest.raises(UnsafePickleError, match="torch.distributions.utils._sum_rightmost"):
        load_network_pickle(private)


# ---------------------------------------------------------------------------------------------- golden FVD


def test_golden_fvd16_on_tiny(i3d_state, tmp_path):
    rec = golden_eval("digan", FIX, tmp_path)
    assert rec["model"]["checkpoint_sha256"] == sha256_file(FIX)
    assert rec["model"]["options"]["clip_stride"] == 1
    assert rec["seeds"]["seed"] == 0 and rec["env"]["packages"]["torch"]
