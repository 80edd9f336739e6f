"""MotionVideoGAN adapter: official structure (MotionStyleGAN = StyleGAN3-repository StyleGAN2 with 6 channels, the
LSTM latent code generator), loading the official three-part layout from the shipped tiny fixture
(tests/fixtures/motionvideogan_tiny, written by scripts/tiny_fixtures/motionvideogan.py), frame order and time
rules, seeds, clear errors, and the golden FVD16."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models import get_adapter
from vgbench.models import motionvideogan as mvg
from vgbench.models import stylegan2 as sg2
from vgbench.models.checkpoint import CheckpointError
from vgbench.utils import sha256_file
from conftest import check_deterministic_sampling, golden_eval

torch.set_num_threads(min(2, torch.get_num_threads()))

FIX = Path(__file__).parent / "fixtures" / "motionvideogan_tiny"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "tiny_models.json").read_text())
PARTS = {"generator": "models/tiny/network-snapshot-000000.pkl", "lstm": "checkpoints/tiny/modelR_epoch_99.pth",
         "forward_direction": "directions/tiny/forward_direction.npy",
         "backward_direction": "directions/tiny/backward_direction.npy"}

# ---------------------------------------------------------------------------------------------- official structure

# Generator kwargs MotionStyleGAN's train.py records for --cfg=stylegan2 on 256x256 pairs (6 channels).
OFFICIAL_KWARGS = {"z_dim": 512, "w_dim": 512, "mapping_kwargs": {"num_layers": 8}, "channel_base": 32768,
                   "channel_max": 512, "fused_modconv_default": "inference_only", "c_dim": 0, "img_resolution": 256,
                   "img_channels": 6}


def expected_motionstylegan_shapes(img_channels: int = 6) -> dict[str, tuple]:
    """Key -> shape of the official 256x256 G_ema, written out from MotionStyleGAN/training/networks_stylegan2.py
    (MappingNetwork fc0..fc7 + w_avg; SynthesisBlock const / conv0 / conv1 with noise_const and noise_strength /
    torgb; channels min(32768 // res, 512))."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    s = {}
    for i in range(8):
        s[f"mapping.fc{i}.weight"] = (512, 512)
        s[f"mapping.fc{i}.bias"] = (512,)
    s["mapping.w_avg"] = (512,)
    for r, c in ch.items():
        b = f"synthesis.b{r}"
        s[f"{b}.resample_filter"] = (4, 4)
        layers = [("conv1", c, c)] if r == 4 else [("conv0", ch[r // 2], c), ("conv1", c, c)]
        if r == 4:
            s[f"{b}.const"] = (512, 4, 4)
        for name, cin, cout in layers:
            s[f"{b}.{name}.weight"] = (cout, cin, 3, 3)
            s[f"{b}.{name}.bias"] = (cout,)
            s[f"{b}.{name}.resample_filter"] = (4, 4)
            s[f"{b}.{name}.noise_const"] = (r, r)
            s[f"{b}.{name}.noise_strength"] = ()
            s[f"{b}.{name}.affine.weight"] = (cin, 512)
            s[f"{b}.{name}.affine.bias"] = (cin,)
        s[f"{b}.torgb.weight"] = (img_channels, c, 1, 1)
        s[f"{b}.torgb.bias"] = (img_channels,)
        s[f"{b}.torgb.affine.weight"] = (c, 512)
        s[f"{b}.torgb.affine.bias"] = (c,)
    return s


def expected_lstm_shapes(h: int = 512, n: int = 30, z: int = 512) -> dict[str, tuple]:
    """MotionVideoGAN/models/temporal.py LSTMModule(h_dim=G.z_dim, n_direction=30, z_dim=G.z_dim)."""
    s = {}
    for cell in ("enc_cell", "cell"):
        s.update({f"{cell}.weight_ih": (4 * h, z), f"{cell}.weight_hh": (4 * h, h), f"{cell}.bias_ih": (4 * h,),
                  f"{cell}.bias_hh": (4 * h,)})
    s.update({"w": (h, n), "b": (n,), "fc1.weight": (z, 2 * h), "fc1.bias": (z,), "fc2.weight": (z, z),
              "fc2.bias": (z,)})
    return s


def test_official_256_structure():
    with torch.device("meta"):
        G = sg2.Generator(**OFFICIAL_KWARGS)
        G3 = sg2.Generator(**dict(OFFICIAL_KWARGS, img_channels=3))
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert got == expected_motionstylegan_shapes() and len(got) == 144
    assert G.flavour == "sg3" and G.num_ws == 14
    n6 = sum(p.numel() for p in G.parameters())
    n3 = sum(p.numel() for p in G3.parameters())
    assert n6 == 30_043_191  # the official networks_stylegan2.Generator with these kwargs (checked in a scratch run)
    # the paper: "MotionStyleGAN has only 9237 more parameters than StyleGAN2" = 8853 in G's toRGB layers
    # (3 more outputs: 3 * sum(channels) + 3 * 7 biases) + 384 in D's 1x1 fromrgb (3 more inputs x 128)
    assert n6 - n3 == 3 * sum([512] * 5 + [256, 128]) + 3 * 7 == 9237 - 3 * 128
    # StyleGAN3-repository defaults: fp16 in the 4 highest resolutions (on CUDA), conv_clamp 256, fused at inference
    assert [b.use_fp16 for b in G.synthesis.blocks()] == [False, False, False, True, True, True, True]
    assert G.synthesis.b8.conv0.conv_clamp == 256 and G.synthesis.b256.torgb.conv_clamp == 256
    assert all(b.fused_modconv_default == "inference_only" for b in G.synthesis.blocks())


def test_lstm_structure():
    with torch.device("meta"):
        lstm = mvg.LSTMModule(512, 30, 512)
    assert {k: tuple(v.shape) for k, v in lstm.state_dict().items()} == expected_lstm_shapes()
    assert "forward_direction" not in lstm.state_dict()  # plain attributes upstream, not saved


def test_plain_stylegan2_flavours():
    # the SG2-ADA constructor layout (synthesis_kwargs={...}) and defaults; the same keys as the SG3 layout
    ada = sg2.Generator(8, 0, 8, 16, 3, mapping_kwargs={"num_layers": 2},
                        synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    sg3 = sg2.Generator(8, 0, 8, 16, 3, mapping_kwargs={"num_layers": 2}, channel_base=64, channel_max=8)
    assert ada.flavour == "sg2-ada" and sg3.flavour == "sg3"
    assert set(ada.state_dict()) == set(sg3.state_dict())
    assert ada.synthesis.num_fp16_res == 0 and ada.synthesis.b8.conv1.conv_clamp is None
    assert sg3.synthesis.num_fp16_res == 4 and sg3.synthesis.b8.conv1.conv_clamp == 256
    assert ada.mapping.w_avg_beta == 0.995 and sg3.mapping.w_avg_beta == 0.998
    # precision: the StyleGAN3 repository forces float32 off CUDA; SG2-ADA runs the fp16 path (emulated on CPU)
    assert sg3.synthesis.resolve_precision("auto", "cpu") == "fp32"
    assert ada.synthesis.resolve_precision("auto", "cpu") == "fp16-emulated"
    # fused_modconv: SG3 uses its default whatever the dtype/batch; SG2-ADA fuses only in fp32 or at batch 1
    ada = sg2.Generator(8, 0, 8, 16, 3, mapping_kwargs={"num_layers": 2},
                        synthesis_kwargs={"channel_base": 64, "channel_max": 8, "num_fp16_res": 2}).eval()
    sg3 = sg2.Generator(8, 0, 8, 16, 3, mapping_kwargs={"num_layers": 2}, channel_base=64, channel_max=8,
                        num_fp16_res=2, fused_modconv_default="inference_only").eval()
    sg3.load_state_dict(ada.state_dict())
    z = torch.randn(3, 8)
    img = sg3(z, noise_mode="const", precision="fp16-emulated")
    assert [b.use_fp16 for b in sg3.synthesis.blocks()] == [False, True, True]
    assert all(b.last_fused_modconv for b in sg3.synthesis.blocks())
    ada(z, noise_mode="const", precision="fp16-emulated")
    assert [b.last_fused_modconv for b in ada.synthesis.blocks()] == [True, False, False]  # fp16 path, batch 3
    assert torch.allclose(img, ada(z, noise_mode="const", precision="fp32"), atol=1e-5)  # the same function
    sg3.train()(z, noise_mode="const")
    assert not any(b.last_fused_modconv for b in sg3.synthesis.blocks())  # 'inference_only' while training
    with pytest.raises(ValueError, match="not both"):
        sg2.Generator(8, 0, 8, 16, 3, synthesis_kwargs={}, channel_base=64)
    with pytest.raises(ValueError, match="StyleGAN3 repository"):
        sg2.Generator(8, 0, 8, 16, 3, synthesis_kwargs={"fused_modconv_default": True})


def test_frame_plan_closed_form():
    # paper: x01, x10, x21, x30, ...: frame k = code k, former image (0) for odd k
    assert mvg.frame_plan(5, "paper") == [(0, 0, 0, 1), (0, 1, 1, 0), (1, 2, 1, 1), (2, 3, 1, 0), (3, 4, 1, 1)]
    # official model.py: latter of code 0, then code k-1 for frame k (former for odd k): code 0 twice
    assert mvg.frame_plan(5, "official") == [(0, 0, 0, 1), (0, 1, 0, 0), (1, 2, 0, 1), (2, 3, 0, 0), (3, 4, 0, 1)]
    # n_frames_G = 17 codes give 16 official frames; the last two codes (15, 16) are never rendered
    assert mvg.codes_needed(mvg.frame_plan(16, "official")) == 14
    assert mvg.codes_needed(mvg.frame_plan(16, "paper")) == 15
    # interpolation r: official renders 1 + (n_codes - 2) * r frames from n_codes codes, weights j/r, j = 0..r-1
    assert mvg.frame_plan(4, "official", 3)[1:] == [(0, 1, 0, 0), (0, 1, 1, 0), (0, 1, 2, 0)]
    assert mvg.frame_plan(4, "paper", 3)[1:] == [(0, 1, 1, 0), (0, 1, 2, 0), (0, 1, 3, 0)]
    with pytest.raises(ValueError, match="frame_order"):
        mvg.frame_plan(3, "reverse")


# ---------------------------------------------------------------------------------------------- the tiny fixture


@pytest.fixture(scope="module")
def adapter():
    return get_adapter("motionvideogan", str(FIX), native_fps=30)


def video(a, frames, **kw):
    return next(a.sample(1, frames, **kw))[0]


def test_fixture_is_in_the_official_layout(adapter):
    files = sorted(p.relative_to(FIX).as_posix() for p in FIX.rglob("*") if p.is_file())
    assert files == sorted(PARTS.values())
    raw = (FIX / PARTS["generator"]).read_bytes()
    assert b"torch_utils.persistence" in raw and b"src.torch_utils" not in raw and b"_reconstruct_persistent_obj" in raw
    assert np.load(FIX / PARTS["forward_direction"]).shape == (6, 32)  # rank 6 > n_direction 4: first 4 rows used
    p = adapter.provenance()
    assert p["format"] == "directory"
    assert {r: p["parts"][r]["sha256"] for r in PARTS} == {r: sha256_file(FIX / f) for r, f in PARTS.items()}
    assert p["config"]["lstm"] == {"h_dim": 32, "z_dim": 32, "n_direction": 4, "w_residual": 0.2}
    assert p["config"]["generator"]["img_channels"] == 6 and p["precision"] == "fp32"
    info = adapter.info
    assert info.resolution == (64, 64) and info.native_fps == 30.0 and not info.fps_control
    assert info.content_motion_separable and info.max_frames is None
    assert torch.equal(adapter.lstm.forward_direction.double(),
                       torch.from_numpy(np.load(FIX / PARTS["forward_direction"])[:4]).float().double())


def test_lstm_recurrence_closed_form(adapter):
    """codes[0] = mapping(z)[:, 0]; each step adds 0.2 * tanh(h W + b) @ D with the LSTMCell gate equations
    (i, f, g, o) and D alternating backward (even steps) / forward (odd steps)."""
    g = torch.Generator().manual_seed(0)
    z, noise = torch.randn(1, 32, generator=g), torch.randn(5, 32, generator=g)
    codes = adapter.video_codes(z, noise)
    L = adapter.lstm
    w0 = adapter.G.mapping(z, torch.zeros(1, 0))[:, 0]
    assert torch.equal(codes[0], w0[0])

    def cell(m, x, h, c):
        i, f, gg, o = (x @ m.weight_ih.T + m.bias_ih + h @ m.weight_hh.T + m.bias_hh).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        return torch.sigmoid(o) * torch.tanh(c), c

    h, c = cell(L.enc_cell, w0, torch.zeros(1, 32), torch.zeros(1, 32))
    w = w0
    for k in range(5):
        h, c = cell(L.cell, noise[k:k + 1], h, c)
        D = L.backward_direction if k % 2 == 0 else L.forward_direction
        w = w + 0.2 * torch.tanh(h @ L.w + L.b) @ D
        assert torch.allclose(codes[k + 1], w[0], atol=1e-5)
        step = codes[k + 1] - codes[k]  # lies in the span of this step's directions, not of the other set
        other = L.forward_direction if k % 2 == 0 else L.backward_direction
        res = lambda basis: (step - torch.linalg.lstsq(basis.T, step[:, None]).solution[:, 0] @ basis).norm()
        assert res(D) < 1e-5 * step.norm() and res(other) > 0.3 * step.norm()


def test_sampling_is_deterministic_and_batch_invariant(adapter):
    check_deterministic_sampling(adapter, (64, 64))


def test_frames_prefix_orders_and_interpolation(adapter):
    paper = video(adapter, 20, seed=1)
    assert np.array_equal(video(adapter, 7, seed=1), paper[:7])  # more frames never change earlier ones
    assert all(not np.array_equal(paper[k], paper[k + 1]) for k in range(19))
    official = video(get_adapter("motionvideogan", str(FIX), frame_order="official"), 9, seed=1)
    assert np.array_equal(official[0], paper[0])  # both start with the latter image of w_0
    assert not np.array_equal(official[1], paper[1])  # former image of w_0 vs of w_1
    # interpolation r=2: the paper frames are every other frame; official keeps its frames at odd positions
    p2 = video(get_adapter("motionvideogan", str(FIX), interpolation=2), 19, seed=1)
    assert all(np.array_equal(p2[2 * k], paper[k]) for k in range(10))
    assert not np.array_equal(p2[1], p2[0]) and not np.array_equal(p2[1], p2[2])
    o2 = video(get_adapter("motionvideogan", str(FIX), interpolation=2, frame_order="official"), 17, seed=1)
    assert all(np.array_equal(o2[2 * m + 1], official[m + 1]) for m in range(8))


def test_time_and_fps_semantics(adapter):
    full = video(adapter, 8, seed=2)
    assert np.array_equal(video(adapter, 3, seed=2, times=[0, 3, 6]), full[[0, 3, 6]])
    assert np.array_equal(video(adapter, 4, seed=2, fps=30), full[:4])
    with pytest.raises(ValueError, match="cannot change its frame rate"):
        video(adapter, 4, seed=2, fps=15)
    with pytest.raises(ValueError, match="times must be frame indices"):
        video(adapter, 2, seed=2, times=[0, 0.5])
    r2 = get_adapter("motionvideogan", str(FIX), native_fps=30, interpolation=2)
    assert r2.info.native_fps == 60.0 and r2.frame_step == 0.5
    # a fixed-step model's times index its own frames: with 2x interpolation, every other frame is a code frame
    assert np.array_equal(video(r2, 4, seed=2, times=[0, 2, 4, 6]), full[:4])
    ts = get_adapter("motionvideogan", str(FIX), native_fps=30, time_step=2)
    assert ts.info.native_fps == 15.0
    assert get_adapter("motionvideogan", str(FIX)).info.native_fps is None  # dataset fps unknown


def test_content_and_motion_can_be_fixed(adapter):
    same_content = np.concatenate(list(adapter.sample(2, 6, seed=0, content_seed=3, batch_size=2)))
    assert np.array_equal(same_content[0][0], same_content[1][0])  # frame 0 = latter image of w_0: content only
    assert not np.array_equal(same_content[0], same_content[1])
    same_motion = np.concatenate(list(adapter.sample(2, 6, seed=0, motion_seed=3, batch_size=2)))
    assert not np.array_equal(same_motion[0][0], same_motion[1][0])
    # the same content with the same motion noise is the same video, whatever the seed
    both = [video(adapter, 6, seed=s, content_seed=1, motion_seed=3) for s in (0, 9)]
    assert np.array_equal(both[0], both[1])
    assert not np.array_equal(video(adapter, 6, seed=0, content_seed=1, motion_seed=4), both[0])


def write_manifest(tmp_path, name="m.json", **entries):
    man = {role: os.path.relpath(FIX / f, tmp_path) for role, f in PARTS.items()}
    man.update(entries)
    man = {k: v for k, v in man.items() if v is not None}
    (tmp_path / name).write_text(json.dumps(man))
    return tmp_path / name


def test_manifest_gives_the_same_model(adapter, tmp_path):
    m = get_adapter("motionvideogan", str(write_manifest(tmp_path, dataset_fps=25, time_step=2)))
    p = m.provenance()
    assert p["format"] == "manifest" and p["checkpoint_sha256"] == adapter.provenance()["checkpoint_sha256"]
    assert m.info.native_fps == 12.5 and p["options"]["time_step"] == 2
    assert np.array_equal(video(m, 5, seed=4), video(adapter, 5, seed=4))
    assert get_adapter("motionvideogan", str(tmp_path / "m.json"), native_fps=30).info.native_fps == 15.0


# ---------------------------------------------------------------------------------------------- errors


def copy_fixture(tmp_path) -> Path:
    return Path(shutil.copytree(FIX, tmp_path / "ckpt"))


def load(path, **kw):
    return get_adapter("motionvideogan", str(path), **kw)


def test_directory_errors(tmp_path):
    d = copy_fixture(tmp_path)
    (d / PARTS["backward_direction"]).unlink()
    with pytest.raises(CheckpointError, match=r"backward_direction \(\*backward_direction.npy\): not found.*"
                                              r"Files found: .*forward_direction.npy"):
        load(d)
    shutil.copy(FIX / PARTS["backward_direction"], d / PARTS["backward_direction"])
    shutil.copy(FIX / PARTS["lstm"], d / "checkpoints/tiny/modelR_latest.pth")
    with pytest.raises(CheckpointError, match=r"lstm \(modelR_\*.pth\): 2 candidates .*modelR_latest.pth.*manifest"):
        load(d)
    with pytest.raises(CheckpointError, match="directory or a JSON manifest"):
        load(FIX / PARTS["generator"])
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(tmp_path / "nope")


def test_manifest_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing \['lstm'\]"):
        load(write_manifest(tmp_path, lstm=None))
    with pytest.raises(CheckpointError, match=r"unknown \['fps'\]"):
        load(write_manifest(tmp_path, fps=25))
    with pytest.raises(CheckpointError, match="generator file .*gone.pkl does not exist"):
        load(write_manifest(tmp_path, generator="gone.pkl"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable JSON manifest"):
        load(tmp_path / "bad.json")


def test_direction_errors(tmp_path):
    def with_dirs(arr, **kw):
        np.save(tmp_path / "d.npy", arr, **kw)
        return load(write_manifest(tmp_path, forward_direction="d.npy"))

    with pytest.raises(CheckpointError, match="only 3 directions .*n_direction=4"):
        with_dirs(np.ones((3, 32)))
    with pytest.raises(CheckpointError, match=r"shape \(6, 16\), expected \[rank, 32\]"):
        with_dirs(np.ones((6, 16)))
    with pytest.raises(CheckpointError, match="not a plain .npy array"):
        with_dirs(np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="NaN or inf"):
        with_dirs(np.full((6, 32), np.nan))
    with pytest.raises(CheckpointError, match="expected a float array"):
        with_dirs(np.ones((6, 32), dtype=np.int64))


def test_lstm_errors(tmp_path):
    state = torch.load(FIX / PARTS["lstm"], weights_only=True)

    def with_lstm(sd=None, raw=None):
        p = tmp_path / "modelR_epoch_1.pth"
        if raw is not None:
            p.write_bytes(raw)
        else:
            torch.save(sd, p)
        return load(write_manifest(tmp_path, lstm=p.name))

    with pytest.raises(CheckpointError, match=r"missing \['fc1.bias', 'fc1.weight'\]"):
        with_lstm({k: v for k, v in state.items() if not k.startswith("fc1.")})
    with pytest.raises(CheckpointError, match=r"other shapes \['b: \(5,\) vs \(4,\)'\]"):
        with_lstm(dict(state, b=torch.zeros(5)))
    with pytest.raises(CheckpointError, match=r"unexpected \['module.extra'\]"):
        with_lstm(dict(state, **{"module.extra": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint .LSTM"):
        with_lstm(raw=b"garbage")
    small = mvg.LSTMModule(16, 4, 16).state_dict()
    with pytest.raises(CheckpointError, match="codes of size 16, the generator's w_dim is 32"):
        with_lstm(small)


def test_generator_errors(tmp_path):
    other = Path(__file__).parent / "fixtures" / "stylegan_v_tiny.pkl"
    with pytest.raises(CheckpointError, match="StyleGAN-V/MoStGAN-V snapshot"):
        load(write_manifest(tmp_path, generator=os.path.relpath(other, tmp_path)))
    from vgbench.models.official_pickle import write_snapshot

    kw = dict(json.loads(json.dumps(load(FIX).init_kwargs)), img_channels=3)
    torch.manual_seed(0)
    write_snapshot(tmp_path / "rgb.pkl", sg2.Generator(**kw), kw, persistence_module="torch_utils.persistence")
    with pytest.raises(CheckpointError, match="img_channels=3: not a MotionStyleGAN image-pair generator"):
        load(write_manifest(tmp_path, generator="rgb.pkl"))
    (tmp_path / "trunc.pkl").write_bytes((FIX / PARTS["generator"]).read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="trunc.pkl: not a readable network pickle"):
        load(write_manifest(tmp_path, generator="trunc.pkl"))


def test_option_errors():
    with pytest.raises(ValueError, match="unknown option.*frame_rate"):
        load(FIX, frame_rate=2)
    with pytest.raises(ValueError, match="frame_order must be one of"):
        load(FIX, frame_order="reverse")
    with pytest.raises(ValueError, match="interpolation must be a positive integer"):
        load(FIX, interpolation=0)
    with pytest.raises(ValueError, match="time_step must be a positive integer"):
        load(FIX, time_step=1.5)


# ---------------------------------------------------------------------------------------------- golden FVD16


def test_golden_fvd16_on_tiny(i3d_state, tmp_path):
    rec = golden_eval("motionvideogan", FIX, tmp_path)
    assert rec["model"]["parts"]["lstm"]["sha256"] == sha256_file(FIX / PARTS["lstm"])
    assert rec["model"]["info"]["native_fps"] == 30.0 and rec["seeds"]["seed"] == 0
