"""The StyleGAN-V / MoStGAN-V discriminator (vgbench.training.discriminator): the authors' state-dict layout,
golden logits computed with the authors' code (tests/data/training/disc_golden.npz, see the README there),
closed-form checks of the minibatch-stddev layer, the motion-difference frames, dummy_c, precision and errors."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.training.discriminator import (Discriminator, DiscriminatorError, MinibatchStd,
                                            interleave_motion_diffs, minibatch_std_groups, official_kwargs,
                                            tiny_kwargs)

GOLDEN = Path(__file__).parent / "data" / "training" / "disc_golden.npz"
KINDS = ("stylegan_v", "mostgan_v")


def perturbed_state(keys_and_shapes: dict, seed: int) -> dict:
    """Random values for every parameter and buffer (so no default hides a bug); keys in sorted order.

    The golden fixture was made by loading exactly these tensors into the authors' network."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in sorted(keys_and_shapes.items()):
        r = torch.randn(shape, generator=g)
        if key.endswith("resample_filter"):
            r = (1 + 0.25 * r) / r.numel()  # an asymmetric low-pass filter: catches flipped filters
        elif key.endswith("fourier_coefs"):
            r = r.abs() * 0.5
        elif key.endswith(".bias"):
            r = 0.2 * r
        if key.startswith("mapping.fc"):  # stored / lr_multiplier (0.01), as upstream initialises them
            r = r * 100
        out[key] = r
    return out


def sampler_times(b: int, f: int, g: torch.Generator, max_dist: int = 32) -> torch.Tensor:
    """Integer frame times like the authors' random sampler: sorted, last - first <= max_dist."""
    rows = []
    for _ in range(b):
        d = int(torch.randint(f - 1, max_dist + 1, [1], generator=g))
        mids = torch.randperm(d - 1, generator=g)[: f - 2] + 1 if f > 2 else torch.zeros(0, dtype=torch.long)
        off = int(torch.randint(0, 100, [1], generator=g))
        rows.append(sorted([off, off + d] + [off + int(m) for m in mids])[:f] if f > 1 else [off])
    return torch.tensor(rows, dtype=torch.long)


def make_inputs(b: int, f: int, res: int, c_dim: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn([b * f, 3, res, res], generator=g)
    c = torch.randn([b, c_dim], generator=g)
    return img, c, sampler_times(b, f, g)


def perturbed(kind: str, seed: int = 0, **changes) -> Discriminator:
    kwargs = tiny_kwargs(kind)
    cfg_changes = changes.pop("cfg", {})
    kwargs.update(changes)
    kwargs["cfg"].update(cfg_changes)
    D = Discriminator(**kwargs)
    D.load_state_dict(perturbed_state({k: v.shape for k, v in D.state_dict().items()}, seed), strict=True)
    return D


# ------------------------------------------------------------------------------------------------ layout

def expected_shapes(kind: str) -> dict:
    """The authors' keys and shapes for tiny_kwargs(kind) (64x64, channels 16/32/32/32/32, F=3, /2 before the
    concatenation at 16, max_num_frames 64 -> 6 Fourier frequencies, MoStGAN-V: 2F frames and motion_dim 8)."""
    concat_in = 16 * 3 * (2 if kind == "mostgan_v" else 1)
    fc = 8 if kind == "mostgan_v" else 32
    shapes = {"time_encoder.const_embed.weight": (64, 256), "time_encoder.time_encoder.fourier_coefs": (1, 6)}
    convs = {64: [("fromrgb", 16, 3, 1), ("conv0", 16, 16, 3), ("conv1", 32, 16, 3), ("skip", 32, 16, 1)],
             32: [("conv0", 32, 32, 3), ("conv1", 16, 32, 3), ("skip", 16, 32, 1)],
             16: [("conv0", 32, concat_in, 3), ("conv1", 32, 32, 3), ("skip", 32, concat_in, 1)],
             8: [("conv0", 32, 32, 3), ("conv1", 32, 32, 3), ("skip", 32, 32, 1)]}
    for res, layers in convs.items():
        shapes[f"b{res}.resample_filter"] = (4, 4)
        for name, out_c, in_c, k in layers:
            shapes[f"b{res}.{name}.weight"] = (out_c, in_c, k, k)
            if name != "skip":
                shapes[f"b{res}.{name}.bias"] = (out_c,)
            shapes[f"b{res}.{name}.resample_filter"] = (4, 4)
    shapes.update({"mapping.embed.weight": (32, 2 * (256 + 12)), "mapping.embed.bias": (32,),
                   "mapping.fc0.weight": (32, 32), "mapping.fc0.bias": (32,),
                   "mapping.fc1.weight": (32, 32), "mapping.fc1.bias": (32,),
                   "b4.conv.weight": (32, 33, 3, 3), "b4.conv.bias": (32,), "b4.conv.resample_filter": (4, 4),
                   "b4.fc.weight": (fc, 32 * 16), "b4.fc.bias": (fc,), "b4.out.weight": (32, fc), "b4.out.bias": (32,)})
    return shapes


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_keys_and_shapes_are_the_authors(kind):
    state = Discriminator(**tiny_kwargs(kind)).state_dict()
    expected = expected_shapes(kind)
    assert sorted(state) == sorted(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    # upstream's registration order: time encoder, blocks from the input resolution down, mapping, epilogue
    assert list(state)[:3] == ["time_encoder.const_embed.weight", "time_encoder.time_encoder.fourier_coefs",
                               "b64.resample_filter"]
    assert list(state)[-1] == "b4.out.bias"


def test_official_kwargs_follow_the_authors_train_py():
    kw = official_kwargs("stylegan_v", 256, batch_per_gpu=2)
    assert (kw["channel_base"], kw["channel_max"], kw["num_fp16_res"], kw["conv_clamp"]) == (16384, 512, 4, 256)
    assert kw["epilogue_kwargs"] == {"mbstd_group_size": 2} and kw["mapping_kwargs"] == {"num_layers": 2}
    assert official_kwargs("stylegan_v", 512)["channel_base"] == 32768
    assert official_kwargs("stylegan_v", 256, fp32=True)["conv_clamp"] is None
    mo = official_kwargs("mostgan_v", 256)
    assert mo["epilogue_kwargs"]["mbstd_group_size"] == 4
    assert (mo["cfg"]["motion_diff"], mo["cfg"]["motion_dim"]) == (True, 128)
    with pytest.raises(DiscriminatorError, match="unknown discriminator kind"):
        official_kwargs("stylegan2", 256)


def test_freeze_layers_turns_the_first_layers_into_buffers_without_changing_keys():
    D = Discriminator(**{**tiny_kwargs("stylegan_v"), "block_kwargs": {"freeze_layers": 4}})
    params = {k for k, _ in D.named_parameters()}
    assert "b64.fromrgb.weight" not in params and "b64.skip.weight" not in params
    assert "b32.conv0.weight" in params
    assert sorted(D.state_dict()) == sorted(expected_shapes("stylegan_v"))


# ------------------------------------------------------------------------------------------------ golden

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_logits_match_the_authors_code(kind, seed):
    gold = np.load(GOLDEN)
    D = Discriminator(**tiny_kwargs(kind))
    state = perturbed_state({k: v.shape for k, v in D.state_dict().items()}, 1000 + seed)
    D.load_state_dict(state, strict=True)
    img, c, t = make_inputs(4, 3, 64, 0, 2000 + seed)
    # the fixture's inputs are regenerated, not stored: check they are the same ones
    assert np.array_equal(t.numpy(), gold[f"{kind}_seed{seed}_t"])
    assert float(img.double().sum()) == pytest.approx(float(gold[f"{kind}_seed{seed}_img_sum"]), rel=1e-12)
    assert sum(float(v.double().sum()) for v in state.values()) == pytest.approx(
        float(gold[f"{kind}_seed{seed}_state_sum"]), rel=1e-12)
    with torch.no_grad():
        logits = D(img, c, t, force_fp32=True)
    assert logits.dtype == torch.float32 and logits.shape == (4,)
    np.testing.assert_allclose(logits.numpy(), gold[f"{kind}_seed{seed}_logits"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_num_frames", [64, 1024])
def test_default_fourier_coefs_and_filters_are_the_authors(max_num_frames):
    kw = tiny_kwargs("stylegan_v")
    kw["cfg"]["sampling"]["max_num_frames"] = max_num_frames
    state = Discriminator(**kw).state_dict()
    np.testing.assert_array_equal(state["time_encoder.time_encoder.fourier_coefs"].numpy(),
                                  np.load(GOLDEN)[f"fourier_coefs_max{max_num_frames}"])
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    assert torch.equal(state["b32.conv1.resample_filter"], torch.outer(taps, taps) / 64)


# ------------------------------------------------------------------------------------------------ pieces

def test_minibatch_std_closed_form_with_strided_groups():
    assert minibatch_std_groups(8, 4) == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert minibatch_std_groups(4, None) == [[0, 1, 2, 3]]
    assert minibatch_std_groups(2, 4) == [[0, 1]]
    # 4 samples, 2 channels, 1x1; group 2 pairs samples {0, 2} and {1, 3}
    x = torch.tensor([[1.0, 0.0], [5.0, 2.0], [3.0, 4.0], [5.0, 8.0]]).reshape(4, 2, 1, 1)
    y = MinibatchStd(group_size=2)(x)
    assert y.shape == (4, 3, 1, 1) and torch.equal(y[:, :2], x)
    # group {0,2}: std over the pair = |a - b| / 2 per channel -> (1, 2), mean 1.5; group {1,3}: (0, 3) -> 1.5
    # (plus the 1e-8 inside the square root)
    expected_02 = (np.sqrt(1 + 1e-8) + np.sqrt(4 + 1e-8)) / 2
    expected_13 = (np.sqrt(0 + 1e-8) + np.sqrt(9 + 1e-8)) / 2
    np.testing.assert_allclose(y[:, 2, 0, 0].numpy(), [expected_02, expected_13, expected_02, expected_13],
                               rtol=1e-6)
    # two statistic channels: one per half of the channels
    y2 = MinibatchStd(group_size=2, num_channels=2)(x)
    np.testing.assert_allclose(y2[0, 2:, 0, 0].numpy(), [1.0, 2.0], rtol=1e-6)
    with pytest.raises(DiscriminatorError, match="not a multiple of the group size"):
        MinibatchStd(group_size=2)(torch.zeros(3, 2, 1, 1))


def test_time_encoding_rounds_differences_for_the_embedding_and_keeps_them_for_the_fourier_features():
    enc = perturbed("stylegan_v", seed=12).time_encoder
    t = torch.tensor([[10.0, 12.6, 14.0]], dtype=torch.float64)  # differences 2.6 and 1.4
    out = enc(t)
    assert out.shape == (1, 2 * (256 + 12))
    coefs = enc.time_encoder.fourier_coefs[0]
    for i, (diff, row) in enumerate(((2.6, 3), (1.4, 1))):
        part = out[0, i * 268:(i + 1) * 268]
        assert torch.equal(part[:256], enc.const_embed.weight[row])
        angle = coefs * torch.tensor(diff, dtype=torch.float64).float()
        torch.testing.assert_close(part[256:], torch.cat([angle.sin(), angle.cos()]), rtol=0, atol=1e-6)


def test_motion_diff_frames_follow_the_clip_then_cyclic_differences():
    b, f = 2, 3
    img = torch.tensor([10.0 * v + i for v in range(b) for i in range(f)]).reshape(b * f, 1, 1, 1)
    out = interleave_motion_diffs(img, f).flatten().tolist()
    # video v: frames 10v, 10v+1, 10v+2, then img[i] - img[(i+1) % 3] = -1, -1, 2
    assert out == [0.0, 1.0, 2.0, -1.0, -1.0, 2.0, 10.0, 11.0, 12.0, -1.0, -1.0, 2.0]


def test_mostgan_v_logits_see_the_frame_differences_only_through_the_whole_video():
    # motion_diff feeds 2F frames per video: shuffling the frames of one video changes its logit
    D = perturbed("mostgan_v", seed=3)
    img, c, t = make_inputs(1, 3, 64, 0, 4)
    shuffled = img.clone()
    shuffled[:3] = img[[1, 2, 0]]
    with torch.no_grad():
        a, b = D(img, c, t, force_fp32=True), D(shuffled, c, t, force_fp32=True)
    assert not torch.allclose(a, b)


def test_dummy_c_removes_the_time_and_label_conditioning():
    img, c, t = make_inputs(1, 3, 64, 3, 5)
    t2 = t.clone()
    t2[:, 2] += 7
    for dummy, same in ((True, True), (False, False)):
        D = perturbed("stylegan_v", seed=6, c_dim=3, cfg={"dummy_c": dummy})
        with torch.no_grad():
            a = D(img, c, t, force_fp32=True)
            b = D(img, c * 2 + 1, t2, force_fp32=True)
        assert torch.equal(a, b) is same


def test_force_fp32_equals_a_network_without_fp16_blocks_and_fp16_stays_close():
    D16 = perturbed("stylegan_v", seed=7)
    D32 = perturbed("stylegan_v", seed=7, num_fp16_res=0)
    assert D16.b64.use_fp16 and D16.b32.use_fp16 and not D16.b16.use_fp16
    assert not D32.b64.use_fp16
    img, c, t = make_inputs(1, 3, 64, 0, 8)
    with torch.no_grad():
        ref = D32(img, c, t)
        assert torch.equal(D16(img, c, t, force_fp32=True), ref)
        half = D16(img, c, t)  # b64/b32 in real float16 (also on CPU, as upstream)
    assert half.dtype == torch.float32
    assert not torch.equal(half, ref)
    np.testing.assert_allclose(half.numpy(), ref.numpy(), atol=2e-2 * float(ref.abs().max()))


def test_gradients_flow_to_the_images_and_every_parameter():
    D = perturbed("mostgan_v", seed=9, c_dim=2)
    img, c, t = make_inputs(2, 3, 64, 2, 10)
    img.requires_grad_(True)
    D(img, c, t, force_fp32=True).sum().backward()
    assert img.grad is not None and img.grad.abs().max() > 0
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in D.parameters())


# ------------------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("change, message", [
    ({"img_resolution": 48}, "power of 2"),
    ({"architecture": "skip"}, "architecture 'skip' is not supported"),
    ({"cfg": {"concat_res": 64}}, "concat_res 64 must be one of"),
    ({"cfg": {"concat_res": 4}}, "concat_res 4 must be one of"),
    ({"cfg": {"sampling": {"type": "uniform", "num_frames_per_video": 3, "max_num_frames": 64}}},
     "sampling.type 'uniform' is not supported"),
    ({"cfg": {"sampling": {"type": "random", "num_frames_per_video": 0, "max_num_frames": 64}}},
     "num_frames_per_video must be a positive integer"),
    ({"cfg": {"sampling": {"type": "random", "max_num_frames": 64}}}, "lacks sampling.num_frames_per_video"),
])
def test_bad_configs_are_refused(change, message):
    kwargs = tiny_kwargs("stylegan_v")
    kwargs["cfg"].update(change.pop("cfg", {}))
    kwargs.update(change)
    with pytest.raises(DiscriminatorError, match=message):
        Discriminator(**kwargs)


def test_bad_inputs_are_refused():
    D = Discriminator(**{**tiny_kwargs("stylegan_v"), "c_dim": 2})
    img, c, t = make_inputs(2, 3, 64, 2, 11)
    with pytest.raises(DiscriminatorError, match=r"t must be \[batch, 3\]"):
        D(img, c, t[:, :2], force_fp32=True)
    with pytest.raises(DiscriminatorError, match=r"img must be a float tensor \[batch\*frames=6, 3, 64, 64\]"):
        D(img[:5], c, t, force_fp32=True)
    with pytest.raises(DiscriminatorError, match="img must be a float tensor"):
        D((img * 100).to(torch.uint8), c, t, force_fp32=True)
    with pytest.raises(DiscriminatorError, match=r"c must be \[batch=2, c_dim=2\]"):
        D(img, c[:, :1], t, force_fp32=True)
    with pytest.raises(DiscriminatorError, match="c .* is required"):
        D(img, None, t, force_fp32=True)
    with pytest.raises(DiscriminatorError, match="t must be sorted"):
        D(img, c, t.flip(1), force_fp32=True)
    with pytest.raises(DiscriminatorError, match=r"max_num_frames=64\)"):
        D(img, c, t * torch.tensor([1, 1, 40]), force_fp32=True)
    with pytest.raises(DiscriminatorError, match="not a multiple of the group size"):
        D(*make_inputs(3, 3, 64, 2, 12), force_fp32=True)
