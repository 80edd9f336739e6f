"""Adaptive discriminator augmentation (ADA) for video discriminators, as StyleGAN-V trains with it.

An independent MIT implementation of the augmentation pipeline of Karras et al., "Training Generative Adversarial
Networks with Limited Data" (NeurIPS 2020), with the transforms of the pipelines StyleGAN-V and MoStGAN-V train
with ('bgc' by default; MoStGAN-V's configs also name 'bgc_noro' and 'easy'): pixel blitting (x-flip, 90-degree
rotations, integer translation), general geometric transforms (isotropic scaling, rotation, anisotropic scaling,
fractional translation), colour transforms (brightness, contrast, luma flip, hue rotation, saturation) and the
image-space corruptions additive Gaussian noise and cutout. The ADA paper's default strengths are the defaults.

Videos. The discriminator sees clips as ``[n * f, 3, h, w]``; the training loop reshapes them to
``[n, f * 3, h, w]`` (frame-major channels: r0 g0 b0 r1 g1 b1 ...) before augmenting, so every frame of a video
gets the same transform: geometry acts on all channels alike, the colour matrix of a video is applied to each
of its ``f`` RGB triplets and the cutout square is the same on every frame. As in the authors' pipe, the noise
*level* is drawn per video but the noise itself per channel and pixel, so each frame gets different noise. Channel
counts that are not a multiple of 3 are refused.

Randomness. :meth:`AugmentPipe.sample_params` draws every random number for a *global* batch from a
``torch.Generator`` (never the global RNG) into an :class:`AugmentParams`; :meth:`AugmentPipe.apply` is a
deterministic, differentiable function of the images and those parameters. A rank applies ``params[i:j]`` to its
rows; the reflection padding of the geometric stage is sized from the whole batch the parameters were drawn for
(sliced parameters remember it), so each row's result does not depend on how the batch is split. The draws follow
the authors' order, shapes and distributions, so a CPU generator seeded ``s`` yields the parameters the authors'
pipe draws after ``torch.manual_seed(s)`` on CPU, with one exception: the per-pixel noise. The authors draw it as
one ``[N, C, H, W]`` tensor between the noise level and the cutout draws; here, after every other draw, each video
gets a 63-bit seed and :meth:`AugmentPipe.apply` generates its noise as ``torch.randn([C, H, W])`` from a fresh
generator on the images' device seeded with it. The parameters thus stay small (no ``[N, C, H, W]`` tensor for the
global batch on every rank, no image shape needed to draw them) and a rank applying ``params[i:j]`` gets exactly the
noise of rows ``i..j-1`` of the whole batch. Like every torch draw, the noise depends on the device type (CPU and
CUDA generators differ).

Execution of the geometric stage (as the authors do it): compose the inverse 2-D homogeneous transform of output
to input pixel coordinates, reflect-pad the image so that the transformed corners plus the filter support lie
inside it, upsample 2x with the 12-tap Symlet-6 ('sym6') wavelet low-pass filter, resample bilinearly
(``grid_sample``, zeros outside), then low-pass and downsample 2x with the same filter and crop. The colour stage
applies one 4x4 homogeneous colour matrix per video. Then noise is added (``x + sigma * randn``) and the cutout
square is zeroed: the pixels whose centre lies strictly within ``size / 2`` of the square's centre along both axes
(in units of the image width and height). Because sym6 is not symmetric, a mirrored transform (x-flip, half turn)
does not cancel the filters' phase: the result is the mirrored image displaced by about 0.1 pixel, as in the
authors' pipe.

Deliberate differences from the authors' pipe: with ``p == 0`` :meth:`apply` returns its input unchanged (the
authors still resample it through the filters, which changes it by float rounding); the per-pixel noise comes
from per-video seeds (above); the image-space filtering transform ('imgfilter', used by none of the two projects'
configs) is not implemented.

The ADA controller (:func:`ada_adjust`) moves ``p`` by ``sign(E[sign(D(real))] - target)`` times
``batch_size * interval / (ada_kimg * 1000)`` and clamps it at 0, as the authors' training loop does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from vgbench.models.stylegan2 import upfirdn2d

__all__ = ["AugmentParams", "AugmentPipe", "PIPELINES", "make_pipe", "ada_adjust", "SYM6"]

# Low-pass decomposition filter of the Symlet wavelet of order 6 (12 taps, sum sqrt(2)).
SYM6 = (
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
)

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
# Named pipelines (probability multipliers and strengths), as the ADA / StyleGAN-V / MoStGAN-V training scripts
# name them ('bgc_noro': 'bgc' without rotations; 'easy': milder geometry plus rare noise and small cutouts).
PIPELINES = {
    "blit": dict(_BLIT), "geom": dict(_GEOM), "color": dict(_COLOR), "noise": dict(noise=1), "cutout": dict(cutout=1),
    "bg": {**_BLIT, **_GEOM}, "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgc_noro": {**_BLIT, **_GEOM, **_COLOR, "rotate90": 0, "rotate": 0},
    "easy": dict(xflip=1, xint=1, scale=1, rotate=0.5, rotate_max=0.1, xfrac=1, noise=0.1, cutout=1, cutout_size=0.25),
}

_GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate_pre", "aniso", "rotate_post", "xfrac")
_COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")


def grid_sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``F.grid_sample(images, grid)`` (bilinear, zeros outside, ``align_corners=False``) whose gradient with respect
    to ``images`` can itself be differentiated on every device: R1 on augmented reals needs that second derivative,
    and PyTorch implements it on the CPU only (on CUDA: "derivative for aten::grid_sampler_2d_backward is not
    implemented"). The gradient is PyTorch's own kernel; its derivative is ``grid_sample`` again (the map from
    ``images`` to the output is linear, and the gradient is its adjoint). On the CPU every value, first and second
    derivatives included, is bit-identical to ``F.grid_sample`` (tests/test_train_augment.py). ``grid`` gets no
    gradient: the augmentation builds it from constants."""
    return _GridSample.apply(images, grid)


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, images, grid):
        ctx.save_for_backward(images, grid)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    @staticmethod
    def backward(ctx, grad_out):
        images, grid = ctx.saved_tensors
        return _GridSampleAdjoint.apply(grad_out, images, grid), None


class _GridSampleAdjoint(torch.autograd.Function):
    """``grad_out -> d images``: PyTorch's ``grid_sampler_2d_backward`` (interpolation 0 = bilinear, padding 0 =
    zeros), differentiable through :class:`_GridSample`."""

    @staticmethod
    def forward(ctx, grad_out, images, grid):
        ctx.save_for_backward(grid)
        return torch.ops.aten.grid_sampler_2d_backward(grad_out, images, grid, 0, 0, False, [True, False])[0]

    @staticmethod
    def backward(ctx, grad_grad):
        grid, = ctx.saved_tensors
        return _GridSample.apply(grad_grad, grid), None, None


@dataclass(eq=False)
class AugmentParams:
    """Per-video transform parameters for a batch (``None`` = transform disabled in the pipe).

    Values are the resolved ones (identity where a video was not selected): ``xflip`` in {0, 1}; ``rotate90`` in
    {0, 1, 2, 3} quarter turns; ``xint`` [B, 2] and ``xfrac`` [B, 2] translations as fractions of width/height
    (``xint`` is rounded to whole pixels at apply time); ``scale``/``aniso`` factors; ``rotate_pre``/``rotate_post``
    angles in radians; ``brightness`` offset; ``contrast`` factor; ``lumaflip`` in {0, 1}; ``hue`` angle in
    radians; ``saturation`` factor; ``noise`` the noise standard deviation (0 = no noise) and ``noise_seed`` the
    int64 seed of the video's per-pixel noise; ``cutout`` the side of the cutout square as a fraction of the image
    size (0 = no cutout) and ``cutout_centre`` [B, 2] its centre (x, y) in [0, 1) of width/height. ``p`` is the
    augmentation probability they were drawn with. ``batch`` holds the parameters of the whole batch a slice came
    from (None for an unsliced batch); it sizes the padding.
    """
    p: float
    size: int
    xflip: Optional[torch.Tensor] = None
    rotate90: Optional[torch.Tensor] = None
    xint: Optional[torch.Tensor] = None
    scale: Optional[torch.Tensor] = None
    rotate_pre: Optional[torch.Tensor] = None
    aniso: Optional[torch.Tensor] = None
    rotate_post: Optional[torch.Tensor] = None
    xfrac: Optional[torch.Tensor] = None
    brightness: Optional[torch.Tensor] = None
    contrast: Optional[torch.Tensor] = None
    lumaflip: Optional[torch.Tensor] = None
    hue: Optional[torch.Tensor] = None
    saturation: Optional[torch.Tensor] = None
    noise: Optional[torch.Tensor] = None
    noise_seed: Optional[torch.Tensor] = None
    cutout: Optional[torch.Tensor] = None
    cutout_centre: Optional[torch.Tensor] = None
    batch: Optional["AugmentParams"] = field(default=None, repr=False)

    def _tensors(self):
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: slice) -> "AugmentParams":
        if not isinstance(index, slice):
            raise TypeError(f"AugmentParams can only be sliced (params[i:j]), got {type(index).__name__}")
        rows = range(self.size)[index]
        sliced = {name: value[index] for name, value in self._tensors().items()}
        return replace(self, size=len(rows), batch=self.batch if self.batch is not None else self, **sliced)

    def to(self, device) -> "AugmentParams":
        moved = {name: value.to(device) for name, value in self._tensors().items()}
        return replace(self, batch=None if self.batch is None else self.batch.to(device), **moved)

    @property
    def has_geometry(self) -> bool:
        return any(getattr(self, name) is not None for name in _GEOMETRIC)

    @property
    def has_colour(self) -> bool:
        return any(getattr(self, name) is not None for name in _COLOUR)


# ------------------------------------------------------------------------------------------------ matrices
# Batched homogeneous matrices from [B] tensors (python numbers are broadcast).

def _stack(rows, like: torch.Tensor) -> torch.Tensor:
    entries = [e if isinstance(e, torch.Tensor) else torch.full_like(like, float(e)) for row in rows for e in row]
    return torch.stack(entries, dim=-1).reshape(like.shape + (len(rows), len(rows[0])))


def _translate2(tx, ty, like):
    return _stack([[1, 0, tx], [0, 1, ty], [0, 0, 1]], like)


def _scale2(sx, sy, like):
    return _stack([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], like)


def _rotate2(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    return _stack([[c, -s, 0], [s, c, 0], [0, 0, 1]], theta)


def _const(matrix_rows, device) -> torch.Tensor:
    return torch.tensor(matrix_rows, dtype=torch.float32, device=device)


def _luma_axis(device) -> torch.Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64).div(math.sqrt(3)).float().to(device)


def _rotate3(v, theta):
    """Rotation by ``theta`` [B] about the unit axis ``v`` (first three entries of a 4-vector)."""
    vx, vy, vz = v[0], v[1], v[2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _stack([
        [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
        [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
        [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
        [0, 0, 0, 1],
    ], theta)


def _geometry(params: AugmentParams, width: int, height: int, device) -> torch.Tensor:
    """Inverse transform [B, 3, 3] mapping output pixel coordinates (origin at the image centre) to input ones."""
    ref = torch.zeros([params.size], dtype=torch.float32, device=device)
    g = torch.eye(3, device=device).expand(params.size, 3, 3)
    if params.xflip is not None:
        g = g @ _scale2(1 / (1 - 2 * params.xflip), 1, ref)
    if params.rotate90 is not None:
        g = g @ _rotate2(math.pi / 2 * params.rotate90)
    if params.xint is not None:
        g = g @ _translate2(-torch.round(params.xint[:, 0] * width), -torch.round(params.xint[:, 1] * height), ref)
    if params.scale is not None:
        g = g @ _scale2(1 / params.scale, 1 / params.scale, ref)
    if params.rotate_pre is not None:
        g = g @ _rotate2(params.rotate_pre)
    if params.aniso is not None:
        g = g @ _scale2(1 / params.aniso, 1 / (1 / params.aniso), ref)
    if params.rotate_post is not None:
        g = g @ _rotate2(params.rotate_post)
    if params.xfrac is not None:
        g = g @ _translate2(-(params.xfrac[:, 0] * width), -(params.xfrac[:, 1] * height), ref)
    return g


def _colour(params: AugmentParams, device) -> torch.Tensor:
    """Homogeneous colour matrix [B, 4, 4]: colour_out = C @ colour_in."""
    ref = torch.zeros([params.size], dtype=torch.float32, device=device)
    eye = torch.eye(4, device=device)
    c = eye.expand(params.size, 4, 4)
    v = _luma_axis(device)
    vv = torch.outer(v, v)
    if params.brightness is not None:
        b = params.brightness
        c = _stack([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]], ref) @ c
    if params.contrast is not None:
        k = params.contrast
        c = _stack([[k, 0, 0, 0], [0, k, 0, 0], [0, 0, k, 0], [0, 0, 0, 1]], ref) @ c
    if params.lumaflip is not None:
        c = (eye - 2 * vv * params.lumaflip[:, None, None]) @ c  # Householder reflection of the luma axis
    if params.hue is not None:
        c = _rotate3(v, params.hue) @ c
    if params.saturation is not None:
        c = (vv + (eye - vv) * params.saturation[:, None, None]) @ c
    return c


def _noise(params: AugmentParams, shape, device) -> torch.Tensor:
    """Per-pixel noise [B, *shape] scaled by each video's ``noise`` level; videos at level 0 get none drawn."""
    sigma = params.noise.to(device=device, dtype=torch.float32)
    out = torch.zeros([params.size, *shape], device=device)
    for row, (level, seed) in enumerate(zip(sigma.tolist(), params.noise_seed.tolist())):
        if level != 0:
            generator = torch.Generator(device=device).manual_seed(seed)
            out[row] = torch.randn(list(shape), generator=generator, device=device) * sigma[row]
    return out


def _cutout_mask(params: AugmentParams, height: int, width: int, device) -> torch.Tensor:
    """[B, 1, H, W]: 0 inside each video's cutout square, 1 elsewhere (float32, as the authors compute it)."""
    half = (params.cutout.to(device=device, dtype=torch.float32) / 2).reshape(-1, 1, 1, 1)
    centre = params.cutout_centre.to(device=device, dtype=torch.float32).reshape(-1, 2, 1, 1, 1)
    xs = (torch.arange(width, device=device).reshape(1, 1, 1, -1) + 0.5) / width
    ys = (torch.arange(height, device=device).reshape(1, 1, -1, 1) + 0.5) / height
    outside = ((xs - centre[:, 0]).abs() >= half) | ((ys - centre[:, 1]).abs() >= half)
    return outside.to(torch.float32)


def _separable_fir(x, taps, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """upfirdn2d with a separable filter: the 1-D ``taps`` along x, then along y (half the gain each)."""
    half = math.sqrt(gain)
    x = upfirdn2d(x, taps[None, :], up=up, padding=padding, flip_filter=flip_filter, gain=half)
    return upfirdn2d(x, taps[:, None], down=down, flip_filter=flip_filter, gain=half)


# ------------------------------------------------------------------------------------------------ pipeline

class AugmentPipe(nn.Module):
    """ADA pipeline. Flags are probability multipliers (0 = transform off, 1 = on with probability ``p``)."""

    def __init__(self, xflip=0, rotate90=0, xint=0, xint_max=0.125,
                 scale=0, rotate=0, aniso=0, xfrac=0, scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125,
                 brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0,
                 brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1,
                 noise=0, cutout=0, noise_std=0.1, cutout_size=0.5):
        super().__init__()
        self.register_buffer("p", torch.zeros([]))  # overall augmentation probability (ADA adjusts it)
        self.xflip, self.rotate90, self.xint = float(xflip), float(rotate90), float(xint)
        self.xint_max = float(xint_max)  # fraction of the image size
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max = float(scale_std), float(rotate_max)  # log2 std; 1 = full circle
        self.aniso_std, self.xfrac_std = float(aniso_std), float(xfrac_std)    # log2 std; fraction of size
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)  # additive; log2
        self.hue_max, self.saturation_std = float(hue_max), float(saturation_std)              # 1 = circle; log2
        self.noise, self.cutout = float(noise), float(cutout)
        self.noise_std, self.cutout_size = float(noise_std), float(cutout_size)  # of |N(0, std)|; fraction of size
        taps = torch.tensor(SYM6, dtype=torch.float32)
        self.register_buffer("fir", taps / taps.sum(), persistent=False)

    @classmethod
    def bgc(cls, **strengths) -> "AugmentPipe":
        """StyleGAN-V's default pipeline: blit + geometric + colour transforms."""
        return make_pipe("bgc", **strengths)

    def extra_repr(self) -> str:
        on = [name for name in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness",
                                "contrast", "lumaflip", "hue", "saturation", "noise", "cutout")
              if getattr(self, name) > 0]
        return f"transforms={','.join(on) or 'none'}, p={float(self.p):.4f}"

    # -------------------------------------------------------------------------------------------- sampling

    @torch.no_grad()
    def sample_params(self, batch_size: int, generator: torch.Generator, device=None) -> AugmentParams:
        """Draw the transforms of ``batch_size`` videos from ``generator`` (on its device), returned on ``device``."""
        if not isinstance(generator, torch.Generator):
            raise TypeError("AugmentPipe.sample_params needs a torch.Generator (the global RNG is never used)")
        n, gdev = int(batch_size), generator.device
        p = self.p.detach().to(device=gdev, dtype=torch.float32)

        def uniform(*shape):
            return torch.rand([n, *shape], generator=generator, device=gdev)

        def normal(*shape):
            return torch.randn([n, *shape], generator=generator, device=gdev)

        def chosen(strength, value, identity, *shape):
            """``value`` where a uniform draw falls below strength * p, else ``identity``."""
            return torch.where(uniform(*shape) < strength * p, value, torch.full_like(value, identity))

        out = {}
        if self.xflip > 0:
            out["xflip"] = chosen(self.xflip, torch.floor(uniform() * 2), 0)
        if self.rotate90 > 0:
            out["rotate90"] = chosen(self.rotate90, torch.floor(uniform() * 4), 0)
        if self.xint > 0:
            out["xint"] = chosen(self.xint, (uniform(2) * 2 - 1) * self.xint_max, 0, 1)
        if self.scale > 0:
            out["scale"] = chosen(self.scale, torch.exp2(normal() * self.scale_std), 1)
        # Rotation is applied before and after the anisotropic scaling, each with p_rot: P(either) = rotate * p.
        p_rot = 1 - torch.sqrt((1 - self.rotate * p).clamp(0, 1))
        if self.rotate > 0:
            out["rotate_pre"] = self._rotation(uniform, p_rot)
        if self.aniso > 0:
            out["aniso"] = chosen(self.aniso, torch.exp2(normal() * self.aniso_std), 1)
        if self.rotate > 0:
            out["rotate_post"] = self._rotation(uniform, p_rot)
        if self.xfrac > 0:
            out["xfrac"] = chosen(self.xfrac, normal(2) * self.xfrac_std, 0, 1)
        if self.brightness > 0:
            out["brightness"] = chosen(self.brightness, normal() * self.brightness_std, 0)
        if self.contrast > 0:
            out["contrast"] = chosen(self.contrast, torch.exp2(normal() * self.contrast_std), 1)
        if self.lumaflip > 0:
            out["lumaflip"] = chosen(self.lumaflip, torch.floor(uniform() * 2), 0)
        if self.hue > 0:
            out["hue"] = chosen(self.hue, (uniform() * 2 - 1) * math.pi * self.hue_max, 0)
        if self.saturation > 0:
            out["saturation"] = chosen(self.saturation, torch.exp2(normal() * self.saturation_std), 1)
        if self.noise > 0:
            out["noise"] = chosen(self.noise, normal().abs() * self.noise_std, 0)
        if self.cutout > 0:
            out["cutout"] = chosen(self.cutout, torch.full([n], self.cutout_size, device=gdev), 0)
            out["cutout_centre"] = uniform(2)
        if self.noise > 0:  # last, so that every other draw follows the authors' stream (module docstring)
            out["noise_seed"] = torch.randint(0, 2**63 - 1, [n], generator=generator, device=gdev, dtype=torch.int64)
        params = AugmentParams(p=float(p), size=n, **out)
        return params if device is None else params.to(device)

    def _rotation(self, uniform, p_rot):
        theta = (uniform() * 2 - 1) * math.pi * self.rotate_max
        return torch.where(uniform() < p_rot, theta, torch.zeros_like(theta))

    # -------------------------------------------------------------------------------------------- applying

    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Augment ``images`` [N, F*3, H, W] with ``params`` (N rows); differentiable w.r.t. the images."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise ValueError(f"AugmentPipe.apply: expected a float tensor [N, F*3, H, W], got "
                             f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}")
        n, channels, height, width = images.shape
        if len(params) != n:
            raise ValueError(f"AugmentPipe.apply: {n} images but parameters for {len(params)}")
        if channels % 3 != 0:
            raise ValueError(f"AugmentPipe.apply: {channels} channels is not a whole number of RGB frames")
        if params.p == 0 or n == 0:
            return images
        params = params.to(images.device)
        if params.has_geometry:
            images = self._apply_geometry(images, params)
        if params.has_colour:
            c = _colour(params, images.device).to(images.dtype)
            frames = images.reshape(n, channels // 3, 3, height * width)
            frames = c[:, None, :3, :3] @ frames + c[:, None, :3, 3:]
            images = frames.reshape(n, channels, height, width)
        if params.noise is not None:
            images = images + _noise(params, images.shape[1:], images.device).to(images.dtype)
        if params.cutout is not None:
            images = images * _cutout_mask(params, height, width, images.device).to(images.dtype)
        return images

    def _apply_geometry(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        n, channels, height, width = images.shape
        device = images.device
        g = _geometry(params, width, height, device)
        # Reflection padding: enough for the transformed corners of every image in the batch the parameters were
        # drawn for, plus the support of the upsampling filter, at most one image size per side.
        batch = params.batch if params.batch is not None else params
        g_batch = g if batch is params else _geometry(batch, width, height, device)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        corners = _const([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device).t()
        xy = (g_batch @ corners)[:, :2, :].permute(1, 0, 2).flatten(1)  # [2, B * 4]
        margin = torch.cat([-xy, xy]).max(dim=1).values  # [x0, y0, x1, y1]
        support = len(self.fir) // 4
        margin = margin + _const([support * 2 - cx, support * 2 - cy] * 2, device)
        margin = margin.max(_const([0, 0] * 2, device)).min(_const([width - 1, height - 1] * 2, device))
        mx0, my0, mx1, my1 = (int(m) for m in margin.ceil().to(torch.int32).tolist())
        images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
        ref = torch.zeros([], device=device)
        g = _translate2((mx0 - mx1) / 2, (my0 - my1) / 2, ref) @ g

        # 2x upsampling: pixel centres move from k to 2k + 0.5.
        fir = self.fir.to(device)
        taps = len(fir)
        p0, p1 = (taps + 1) // 2, (taps - 2) // 2
        images = _separable_fir(images, fir, up=2, padding=(p0, p1, p0, p1), gain=4)
        g = _scale2(2, 2, ref) @ g @ _scale2(0.5, 0.5, ref)
        g = _translate2(-0.5, -0.5, ref) @ g @ _translate2(0.5, 0.5, ref)

        # Resample into an output of twice the padded-by-support size, in grid_sample's normalised coordinates.
        shape = [n, channels, (height + support * 2) * 2, (width + support * 2) * 2]
        to_unit = _scale2(2 / images.shape[3], 2 / images.shape[2], ref)
        g = to_unit @ g @ _scale2(1 / (2 / shape[3]), 1 / (2 / shape[2]), ref)
        grid = F.affine_grid(g[:, :2, :].to(images.dtype), shape, align_corners=False)
        images = grid_sample(images, grid)

        # Low-pass, decimate and crop the support margin away.
        c0, c1 = (taps - 1) // 2 - support * 2, (taps - 2) // 2 - support * 2
        return _separable_fir(images, fir, down=2, padding=(c0, c1, c0, c1), flip_filter=True)

    def forward(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(images, self.sample_params(len(images), generator, images.device))


def make_pipe(name: str = "bgc", **strengths) -> AugmentPipe:
    """A named pipeline (see :data:`PIPELINES`); keyword arguments override flags or strengths."""
    if name not in PIPELINES:
        raise ValueError(f"unknown augmentation pipeline {name!r}; known: {', '.join(PIPELINES)}")
    return AugmentPipe(**{**PIPELINES[name], **strengths})


def ada_adjust(p: float, sign_mean: float, target: float, batch_size: int, interval: int, ada_kimg: float) -> float:
    """One ADA controller step: ``max(0, p + sign(sign_mean - target) * batch_size * interval / (ada_kimg * 1000))``.

    ``sign_mean`` is the mean of sign(D(real)) since the last step, ``batch_size`` the videos per iteration,
    ``interval`` the iterations between steps and ``ada_kimg`` the thousands of videos for p to move by 1.
    """
    diff = float(sign_mean) - float(target)
    sign = (diff > 0) - (diff < 0)
    return max(0.0, float(p) + sign * batch_size * interval / (ada_kimg * 1000))
