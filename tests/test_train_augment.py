"""vgbench.training.augment: the ADA pipelines ('bgc', 'bgc_noro', 'easy', noise, cutout) for videos.

The golden file tests/data/training/augment_golden.npz was written by the AUTHORS' AugmentPipe (StyleGAN-V's
src/training/augment.py, CPU, float32, flags from MoStGAN-V's augpipe_specs; how it was made, including how the
per-pixel noise was matched, is stored in its 'how' entry). The other tests are closed forms: flips, whole-pixel
shifts, quarter turns and colour matrices on constant images, the cutout square, the noise level on zero images.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.training.augment import PIPELINES, AugmentParams, AugmentPipe, ada_adjust, make_pipe

GOLDEN = Path(__file__).parent / "data" / "training" / "augment_golden.npz"


def _pipe(p=1.0, **flags):
    pipe = AugmentPipe(**flags)
    pipe.p.fill_(p)
    return pipe


def _image(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("case", ["video", "rgb", "noise", "cutout", "bgc_noro", "easy"])
def test_matches_authors_pipe(case):
    data = np.load(GOLDEN)
    x = torch.from_numpy(data[f"{case}_x_int8"].astype(np.float32) / 127).requires_grad_(True)
    w = torch.from_numpy(data[f"{case}_w_int8"].astype(np.float32) / 127)
    pipe = make_pipe(str(data[f"{case}_pipe"]))
    pipe.p.fill_(float(data[f"{case}_p"]))
    out = pipe(x, torch.Generator().manual_seed(int(data[f"{case}_seed"])))
    grad, = torch.autograd.grad((out * w).sum(), x)
    torch.testing.assert_close(out.detach(), torch.from_numpy(data[f"{case}_out"]), atol=1e-5, rtol=0)
    torch.testing.assert_close(grad, torch.from_numpy(data[f"{case}_grad"]), atol=1e-5, rtol=0)


def _smooth(shape, seed=0):
    """Sums of random cosines of at most 2 cycles per image: content the sym6 filters pass unchanged."""
    n, c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h) / h, torch.arange(w) / w, indexing="ij")
    out = torch.zeros(shape)
    for _ in range(4):
        a, fx, fy, phase = torch.rand(4, n, c, 1, 1, generator=g)
        out += a * torch.cos(2 * math.pi * (2 * fx * xx + 2 * fy * yy) + 6 * phase) / 2
    return out


# sym6 is not symmetric: after a mirror (flip, half turn) upsampling and downsampling no longer cancel, and the
# result is the mirrored image displaced by ~0.1 pixel (the authors' pipe does the same; the golden test checks
# that bit for bit). A wrong flip or turn direction would differ by ~1, a correct one by < 0.05.
MIRROR_ATOL = 0.05


def test_xflip_and_untouched_rows():
    x = _smooth([2, 6, 32, 32])
    out = _pipe(xflip=1).apply(x, AugmentParams(p=1.0, size=2, xflip=torch.tensor([1.0, 0.0])))
    torch.testing.assert_close(out[0], x[0].flip(-1), atol=MIRROR_ATOL, rtol=0)
    # A row that was not selected goes through the resampling filters unchanged up to float rounding.
    noise = _image([2, 6, 32, 32])
    out = _pipe(xflip=1).apply(noise, AugmentParams(p=1.0, size=2, xflip=torch.tensor([1.0, 0.0])))
    torch.testing.assert_close(out[1], noise[1], atol=1e-5, rtol=0)


def test_integer_translation_moves_pixels():
    x = _image([1, 3, 32, 32])
    shift = torch.tensor([[3 / 32, 2 / 32]])  # +3 px in x, +2 px in y
    out = _pipe(xint=1).apply(x, AugmentParams(p=1.0, size=1, xint=shift))
    torch.testing.assert_close(out[:, :, 2:, 3:], x[:, :, :-2, :-3], atol=1e-5, rtol=0)
    # The uncovered border is filled by reflection: column -3 is column 3.
    torch.testing.assert_close(out[:, :, 2:, 0], x[:, :, :-2, 3], atol=1e-5, rtol=0)


def test_quarter_turns():
    x = _smooth([4, 3, 24, 24])
    out = _pipe(rotate90=1).apply(x, AugmentParams(p=1.0, size=4, rotate90=torch.arange(4.0)))
    torch.testing.assert_close(out[0], x[0], atol=1e-5, rtol=0)
    for k in range(1, 4):
        torch.testing.assert_close(out[k], torch.rot90(x[k], k, dims=(-2, -1)), atol=MIRROR_ATOL, rtol=0)


def _constant_video(colours, size=8):
    """[1, F*3, size, size] whose frame f is the constant colour colours[f]."""
    c = torch.tensor(colours, dtype=torch.float32).reshape(1, -1, 1, 1)
    return c.expand(1, c.shape[1], size, size).contiguous()


COLOURS = [[0.2, -0.4, 0.9], [0.5, 0.5, 0.5], [-1.0, 0.3, 0.1]]


@pytest.mark.parametrize("name, value, expected", [
    ("brightness", 0.25, lambda c: c + 0.25),
    ("contrast", 1.5, lambda c: c * 1.5),
    ("saturation", 0.5, lambda c: c.mean() + (c - c.mean()) * 0.5),
    ("lumaflip", 1.0, lambda c: c - 2 * c.mean()),
    ("hue", 2 * math.pi / 3, lambda c: c.roll(1)),  # a third of a turn about grey permutes r -> g -> b
])
def test_colour_transforms_on_constant_frames(name, value, expected):
    x = _constant_video(COLOURS)
    params = AugmentParams(p=1.0, size=1, **{name: torch.tensor([value])})
    out = _pipe(**{name: 1}).apply(x, params)
    want = _constant_video([expected(torch.tensor(c)).tolist() for c in COLOURS])
    torch.testing.assert_close(out, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("centre, size, rows, cols", [
    ((0.5, 0.5), 0.5, slice(4, 12), slice(4, 12)),
    ((0.25, 0.75), 0.25, slice(10, 14), slice(2, 6)),
    ((0.0, 0.5), 0.5, slice(4, 12), slice(0, 4)),  # clipped at the left edge
    ((17 / 32, 0.5), 0.5, slice(4, 12), slice(5, 12)),  # columns 4 and 12 lie exactly on the edge: kept
])
def test_cutout_zeroes_the_square(centre, size, rows, cols):
    x = torch.full([2, 9, 16, 16], 0.7)
    params = AugmentParams(p=1.0, size=2, cutout=torch.tensor([size, 0.0]),
                           cutout_centre=torch.tensor([centre, (0.5, 0.5)]))
    out = _pipe(cutout=1).apply(x, params)
    want = x.clone()
    want[0, :, rows, cols] = 0  # the same square on every frame and channel
    assert torch.equal(out, want)  # row 1 (size 0) is untouched


def test_noise_level_per_video_noise_per_frame():
    x = torch.zeros([2, 12, 32, 32])  # 4 frames per video
    params = AugmentParams(p=1.0, size=2, noise=torch.tensor([0.3, 0.0]), noise_seed=torch.tensor([5, 6]))
    out = _pipe(noise=1).apply(x, params)
    assert torch.equal(out[1], x[1])
    noise = out[0].reshape(4, 3, 32 * 32)
    assert abs(noise.mean().item()) < 0.01 and abs(noise.std().item() - 0.3) < 0.01
    for f in range(4):  # each frame (and channel) has its own noise at the video's level
        assert abs(noise[f].std().item() - 0.3) < 0.03
        for g in range(f):
            assert (noise[f] - noise[g]).abs().amax() > 0.5
    assert (noise[0, 0] - noise[0, 1]).abs().amax() > 0.5
    # The noise is a function of the row's seed: seed 5 on another row gives the same values.
    again = _pipe(noise=1).apply(x[:1], AugmentParams(p=1.0, size=1, noise=torch.tensor([0.3]),
                                                      noise_seed=torch.tensor([5])))
    assert torch.equal(again, out[:1])


def test_p_zero_returns_input_unchanged():
    x = _image([3, 9, 16, 16])
    pipe = make_pipe("bgc")
    pipe.p.zero_()
    assert pipe(x, torch.Generator().manual_seed(0)) is x
    params = pipe.sample_params(3, torch.Generator().manual_seed(0))
    assert params.p == 0 and torch.equal(params.scale, torch.ones(3)) and torch.equal(params.hue, torch.zeros(3))


def test_every_frame_gets_the_same_transform():
    frame = _image([6, 3, 16, 16])
    video = frame.repeat(1, 4, 1, 1)  # 4 identical frames per video
    out = _pipe(**PIPELINES["bgc"])(video, torch.Generator().manual_seed(3))
    frames = out.reshape(6, 4, 3, 16, 16)
    assert (frames[:, 0] - frame).abs().amax() > 0.1  # it was augmented
    for f in range(1, 4):
        torch.testing.assert_close(frames[:, f], frames[:, 0], atol=1e-6, rtol=0)


# 'easy' with noise always on, so that noise and cutout rows are both exercised.
EASY_NOISY = {**PIPELINES["easy"], "noise": 1}


@pytest.mark.parametrize("flags", [PIPELINES["bgc"], EASY_NOISY], ids=["bgc", "easy"])
def test_draws_come_from_the_generator_only(flags):
    pipe = _pipe(0.7, **flags)
    x = _image([5, 6, 16, 16])
    torch.manual_seed(0)
    a = pipe(x, torch.Generator().manual_seed(11))
    torch.manual_seed(1)
    b = pipe(x, torch.Generator().manual_seed(11))
    c = pipe(x, torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert (a - c).abs().amax() > 0.1
    params = pipe.sample_params(5, torch.Generator().manual_seed(11))
    assert torch.equal(pipe.apply(x, params), a)  # apply is deterministic


@pytest.mark.parametrize("flags", [PIPELINES["bgc"], EASY_NOISY], ids=["bgc", "easy"])
def test_slices_match_the_whole_batch(flags):
    pipe = _pipe(0.8, **flags)
    x = _image([6, 6, 16, 16])
    params = pipe.sample_params(6, torch.Generator().manual_seed(5), "cpu")
    if "noise" in flags:
        assert (params.noise > 0).sum() >= 3 and (params.cutout > 0).sum() >= 3
    whole = pipe.apply(x, params)
    for i, j in [(0, 2), (2, 5), (5, 6)]:
        part = params[i:j]
        assert len(part) == j - i
        assert torch.equal(pipe.apply(x[i:j], part), whole[i:j])
    assert torch.equal(pipe.apply(x[3:5], params[2:6][1:3]), whole[3:5])  # a slice of a slice
    with pytest.raises(TypeError):
        params[0]


@pytest.mark.parametrize("flags", [PIPELINES["bgc"], EASY_NOISY], ids=["bgc", "easy"])
def test_gradient_flows_twice(flags):
    """R1 differentiates the discriminator's input gradient, so the pipe must support double backward."""
    pipe = _pipe(**flags)
    x = _image([2, 6, 16, 16]).requires_grad_(True)
    w = _image([2, 6, 16, 16], seed=1).requires_grad_(True)
    out = pipe(x, torch.Generator().manual_seed(2))
    grad, = torch.autograd.grad((out * w).sum(), x, create_graph=True)
    assert torch.isfinite(grad).all() and grad.abs().amax() > 0
    grad.square().sum().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().amax() > 0


def test_bad_inputs_are_refused():
    pipe = _pipe(xflip=1)
    params = pipe.sample_params(2, torch.Generator())
    with pytest.raises(ValueError, match="not a whole number of RGB frames"):
        pipe.apply(torch.zeros(2, 4, 8, 8), params)
    with pytest.raises(ValueError, match="2 images but parameters for 3"):
        pipe.apply(torch.zeros(2, 3, 8, 8), pipe.sample_params(3, torch.Generator()))
    with pytest.raises(TypeError, match="torch.Generator"):
        pipe.sample_params(2, 0)
    with pytest.raises(ValueError, match="unknown augmentation pipeline"):
        make_pipe("bgcx")


def test_bgc_defaults_and_state():
    pipe = AugmentPipe.bgc()
    assert list(pipe.state_dict()) == ["p"] and float(pipe.p) == 0
    strengths = (pipe.xint_max, pipe.scale_std, pipe.rotate_max, pipe.aniso_std, pipe.xfrac_std,
                 pipe.brightness_std, pipe.contrast_std, pipe.hue_max, pipe.saturation_std)
    assert strengths == (0.125, 0.2, 1.0, 0.2, 0.125, 0.2, 0.5, 1.0, 1.0)  # the ADA paper's defaults


def test_ada_adjust():
    step = 32 * 4 / (500 * 1000)
    assert ada_adjust(0.5, 0.7, 0.6, 32, 4, 500) == pytest.approx(0.5 + step)
    assert ada_adjust(0.5, 0.5, 0.6, 32, 4, 500) == pytest.approx(0.5 - step)
    assert ada_adjust(0.5, 0.6, 0.6, 32, 4, 500) == 0.5
    assert ada_adjust(0.0001, 0.0, 0.6, 32, 4, 500) == 0.0


def test_grid_sample_is_pytorchs_with_a_second_derivative_on_every_device():
    """vgbench's grid_sample (custom autograd, so that R1 through the augmentation runs on CUDA, where PyTorch has no
    second derivative of grid_sample) equals F.grid_sample bit for bit on the CPU: the output, the gradient and the
    gradient of a function of the gradient (R1's path); and gradcheck/gradgradcheck in float64."""
    import torch.nn.functional as F

    from vgbench.training.augment import grid_sample

    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 3, 16, 16, dtype=dtype, generator=g).requires_grad_(True)
        grid = torch.rand(2, 20, 20, 2, dtype=dtype, generator=g) * 2.4 - 1.2  # some points outside: zeros
        w = torch.randn(2, 3, 20, 20, dtype=dtype, generator=g)
        results = []
        for f in (lambda a: F.grid_sample(a, grid, mode="bilinear", padding_mode="zeros", align_corners=False),
                  lambda a: grid_sample(a, grid)):
            y = f(x)
            grad, = torch.autograd.grad((y.tanh() * w).sum(), x, create_graph=True)
            grad2, = torch.autograd.grad(grad.square().sum(), x)
            results.append((y, grad, grad2))
        for ours, theirs in zip(results[1], results[0]):
            assert torch.equal(ours, theirs)
        assert results[1][2].abs().max() > 0
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, generator=g).requires_grad_(True)
    grid = torch.rand(1, 4, 6, 2, dtype=torch.float64, generator=g) * 2.2 - 1.1
    assert torch.autograd.gradcheck(lambda a: grid_sample(a, grid), (x,))
    assert torch.autograd.gradgradcheck(lambda a: grid_sample(a, grid), (x,))


def test_exact_float32_switches_tf32_off_on_cuda_only_and_restores_it():
    """The context every generator, detector and training run computes in: TF32 off for a CUDA device (the flags are
    process globals, so this is checkable without a GPU), untouched for the CPU, restored afterwards even on error."""
    from vgbench.utils import exact_float32

    flags = (torch.backends.cuda.matmul, torch.backends.cudnn)
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True
        with exact_float32("cpu"):
            assert [f.allow_tf32 for f in flags] == [True, True]
        with pytest.raises(RuntimeError, match="inside"):
            with exact_float32(torch.device("cuda", 0)):
                assert [f.allow_tf32 for f in flags] == [False, False]
                raise RuntimeError("inside")
        assert [f.allow_tf32 for f in flags] == [True, True]
    finally:
        for f, v in zip(flags, saved):
            f.allow_tf32 = v
