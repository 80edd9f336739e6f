"""StyleGAN2 building blocks in plain PyTorch, shared by vgbench's native video-GAN generators.

This is an independent implementation (MIT, like the rest of vgbench) of the generator layers described in
Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020) and "Training Generative
Adversarial Networks with Limited Data" (NeurIPS 2020). It follows the *interface* of the public StyleGAN2-ADA
PyTorch release closely enough that checkpoints of models built on it (StyleGAN-V, MoStGAN-V, ...) load with
``strict=True``: module and parameter names (``fc0``, ``affine``, ``weight``, ``bias``, ``resample_filter``,
``noise_const``, ``noise_strength``, ``w_avg``, ``torgb``, ``conv0``/``conv1``...) and tensor shapes are the same.
No custom CUDA kernels are used; every operation is written with standard PyTorch ops.

Numerics that matter for reproducing official samples
-----------------------------------------------------
* Equalised learning rate: weights are stored unscaled and multiplied at run time by
  ``lr_multiplier / sqrt(fan_in)``; biases by ``lr_multiplier``.
* ``bias_act``: ``clamp(act(x + b) * gain, -clamp, clamp)``; leaky ReLU uses slope 0.2 and default gain sqrt(2).
  The official CUDA kernels compute float16 inputs in float32 internally and round once at the end; for float16
  tensors we do the same (upcast, compute, cast back), so real-fp16 runs on CUDA match the official ones as
  closely as plain PyTorch allows.
* ``upfirdn2d``: zero-insertion upsampling, zero padding (negative = crop), true convolution with the FIR filter,
  decimation. The [1, 3, 3, 1] filter is used as its (normalised) outer product, 4x4, as upstream does for
  filters with fewer than 8 taps. float16 inputs are filtered in float32 (as the CUDA kernel does).
* Up-sampling convolutions (``up=2``) are a stride-2 transposed convolution followed by the FIR filter with gain
  4, the same order of operations as upstream, so rounding behaves alike.
* Mixed precision. A block whose resolution is >= ``fp16_resolution`` has ``use_fp16=True``. Upstream runs such a
  block in float16 whenever ``use_fp16 and not force_fp32`` -- there is *no* device check in the network code
  (``SynthesisBlock.forward``), all official sampling scripts run on CUDA. Being "in the fp16 path" changes three
  things: (1) the activations' dtype, (2) modulated convolutions pre-normalise weight and styles by their
  infinity norms before demodulation, and (3) ``fused_modconv`` defaults to False at inference unless the block
  input has batch size 1 (rule: ``not training and (dtype == float32 or batch == 1)``). For plain StyleGAN2 layers
  (2) and (3) only change rounding; for layers that modulate the weight non-linearly (MoStGAN-V) they change the
  function. vgbench therefore separates "fp16 *path*" from "fp16 *arithmetic*" through :class:`Precision`:

  - ``'fp16'``: official behaviour, real float16 activations in fp16 blocks.
  - ``'fp16-emulated'``: fp16 blocks take the fp16 code path (pre-normalisation, fused/non-fused rule) but keep
    float32 activations: the same function as the official CUDA sampler, computed in float32 (any device).
  - ``'fp32'``: upstream's ``force_fp32=True``: no block is in the fp16 path, so every block is fused at
    inference.
  - ``'auto'`` (default): ``'fp16'`` on CUDA, ``'fp16-emulated'`` elsewhere.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ACTIVATIONS", "bias_act", "normalize_2nd_moment", "setup_filter", "upfirdn2d", "upsample2d", "filter2d",
    "downsample2d", "conv2d_resample", "modulated_conv2d", "resolve_precision", "official_fused_modconv",
    "FullyConnectedLayer", "Conv2dLayer", "MappingNetwork", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock",
    "block_channels", "fp16_start_resolution", "parse_resolutions", "PRECISIONS",
]

# ------------------------------------------------------------------------------------------------ activations

# name -> (function(x, alpha), default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, a: x, 0.0, 1.0),
    "relu": (lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": (lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": (lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": (lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": (lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": (lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None,
             clamp: Optional[float] = None) -> torch.Tensor:
    """Add ``b`` along ``dim``, apply ``act``, multiply by ``gain``, clamp to ``[-clamp, clamp]``.

    ``gain``/``alpha`` default to the activation's defaults (sqrt(2) / 0.2 for lrelu). Half-precision input is
    computed in float32 and rounded once, as the upstream CUDA kernel does.
    """
    func, def_alpha, def_gain = ACTIVATIONS[act]
    alpha = float(def_alpha if alpha is None else alpha)
    gain = float(def_gain if gain is None else gain)
    out_dtype = x.dtype
    if x.dtype == torch.float16:
        x = x.float()
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.to(x.dtype).reshape(shape)
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-float(clamp), float(clamp))
    return x.to(out_dtype)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ------------------------------------------------------------------------------------------------ FIR resampling

def setup_filter(f: Sequence[float] | torch.Tensor | None = (1, 3, 3, 1), normalize: bool = True,
                 gain: float = 1.0) -> torch.Tensor:
    """A float32 2-D FIR filter from taps. 1-D taps become their outer product (upstream does so for filters
    with fewer than 8 taps, which covers every filter used here); ``normalize`` makes the taps sum to 1."""
    if f is None:
        f = [1.0]
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f * (gain ** (f.ndim / 2))


def _pad4(padding) -> tuple[int, int, int, int]:
    """``int`` | ``[x, y]`` | ``[x0, x1, y0, y1]`` -> (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    x0, x1, y0, y1 = padding
    return x0, x1, y0, y1


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: int = 1, down: int = 1, padding=0,
              flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad (negative = crop), convolve with FIR ``f``, downsample; per channel.

    ``x``: [N, C, H, W]; ``f``: 2-D float32 filter (None = identity).
    """
    out_dtype = x.dtype
    if x.dtype == torch.float16:  # the CUDA kernel accumulates half inputs in float32
        x = x.float()
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    x0, x1, y0, y1 = _pad4(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(device=x.device, dtype=x.dtype)
    if not flip_filter:  # conv2d correlates; flipping the taps turns it into a true convolution
        f = f.flip(list(range(f.ndim)))
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x.to(out_dtype)


def filter2d(x: torch.Tensor, f: torch.Tensor, padding=0, gain: float = 1.0) -> torch.Tensor:
    """Filter keeping the image size (plus optional extra padding)."""
    fh, fw = f.shape
    x0, x1, y0, y1 = _pad4(padding)
    return upfirdn2d(x, f, padding=[x0 + fw // 2, x1 + (fw - 1) // 2, y0 + fh // 2, y1 + (fh - 1) // 2],
                     gain=gain)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, padding=0, gain: float = 1.0) -> torch.Tensor:
    """Upsample by ``up`` with FIR filter ``f`` (output size = up x input size)."""
    fh, fw = f.shape
    x0, x1, y0, y1 = _pad4(padding)
    p = [x0 + (fw + up - 1) // 2, x1 + (fw - up) // 2, y0 + (fh + up - 1) // 2, y1 + (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, padding=0, gain: float = 1.0) -> torch.Tensor:
    """Downsample by ``down`` after FIR filtering with ``f``."""
    fh, fw = f.shape
    x0, x1, y0, y1 = _pad4(padding)
    p = [x0 + (fw - down + 1) // 2, x1 + (fw - down) // 2, y0 + (fh - down + 1) // 2, y1 + (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=p, gain=gain)


def _conv(x, w, stride=1, padding=(0, 0), groups=1, transpose=False, flip_weight=True):
    """conv2d / conv_transpose2d; ``flip_weight=False`` turns the correlation into a true convolution."""
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1,
                    down: int = 1, padding=0, groups: int = 1, flip_weight: bool = True) -> torch.Tensor:
    """2-D convolution with optional FIR up/down-sampling; ``padding`` is relative to the upsampled image.

    Mirrors the order of operations of upstream's ``conv2d_resample`` (so float rounding behaves alike):
    up-sampling convolutions run as a stride-``up`` transposed convolution followed by the FIR filter.
    """
    out_c, in_c_per_group, kh, kw = w.shape
    fh, fw = (1, 1) if f is None else f.shape
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kh == 1 and kw == 1 and down > 1 and up == 1:  # 1x1, down only: filter first
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kh == 1 and kw == 1 and up > 1 and down == 1:  # 1x1, up only: convolve first
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    if down > 1 and up == 1:  # strided convolution after filtering
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:  # transposed strided convolution, then filter
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_c // groups, in_c_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_c_per_group, out_c // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=(pyt, pxt), groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain convolution
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down)
    return x


# ------------------------------------------------------------------------------------------------ precision rules

PRECISIONS = ("auto", "fp16", "fp16-emulated", "fp32")


def resolve_precision(precision: str, device: torch.device | str, force_fp32: bool = False) -> str:
    """Map ``'auto'`` (and upstream's ``force_fp32`` flag) to one of ``'fp16'``, ``'fp16-emulated'``, ``'fp32'``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if force_fp32:
        return "fp32"
    if precision == "auto":
        return "fp16" if torch.device(device).type == "cuda" else "fp16-emulated"
    return precision


def official_fused_modconv(training: bool, fp16_path: bool, batch_size: Optional[int]) -> bool:
    """Upstream's default for ``fused_modconv``: ``not training and (dtype == float32 or batch == 1)``,
    where ``dtype`` is float16 exactly for blocks in the fp16 path and ``batch`` is the block input's batch size
    (``None`` for the first block, whose input is built internally)."""
    return (not training) and ((not fp16_path) or batch_size == 1)


# ------------------------------------------------------------------------------------------------ modulated conv

def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: Optional[torch.Tensor] = None, up: int = 1, down: int = 1, padding=0,
                     resample_filter: Optional[torch.Tensor] = None, demodulate: bool = True,
                     flip_weight: bool = True, fused_modconv: bool = True,
                     prenormalize: Optional[bool] = None) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    x: [N, I, H, W]; weight: [O, I, k, k]; styles: [N, I]. With ``demodulate`` each output channel of the
    per-sample weight ``weight * styles`` is rescaled to unit L2 norm (``rsqrt(sum w^2 + 1e-8)``).
    ``fused_modconv=True`` builds per-sample weights and runs one grouped convolution; ``False`` scales the
    activations before and after a shared convolution (same result up to rounding). ``prenormalize``
    (default: ``x.dtype == float16``) divides weight and styles by their infinity norms first, as upstream does
    in float16 to avoid overflow (demodulation cancels it up to the 1e-8 epsilon).
    """
    n = x.shape[0]
    out_c, in_c, kh, kw = weight.shape
    if prenormalize is None:
        prenormalize = x.dtype == torch.float16
    if prenormalize and demodulate:
        weight = weight * (1 / math.sqrt(in_c * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        if noise is not None:
            return x.add_(noise.to(x.dtype))
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(-1, in_c, kh, kw).to(x.dtype), f=resample_filter, up=up, down=down,
                        padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise)  # in place: the sum is rounded to x's dtype once, as upstream
    return x


# ------------------------------------------------------------------------------------------------ dense layers

class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: ``y = act(x @ (W * lr/sqrt(in)).T + b * lr)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}"


class Conv2dLayer(nn.Module):
    """Plain (non-modulated) convolution with equalised learning rate, optional FIR up/down-sampling."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 channels_last: bool = False, trainable: bool = True, instance_norm: bool = False,
                 lr_multiplier: float = 1.0):
        super().__init__()
        self.activation, self.up, self.down = activation, up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ACTIVATIONS[activation][2]
        self.instance_norm = instance_norm
        self.lr_multiplier = lr_multiplier
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        b = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", weight)
            if b is not None:
                self.register_buffer("bias", b)
            else:
                self.bias = None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * (self.weight_gain * self.lr_multiplier)
        b = self.bias.to(x.dtype) * self.lr_multiplier if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        x = bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)
        if self.instance_norm:
            x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-8)
        return x


class MappingNetwork(nn.Module):
    """z (and optional label c) -> w: 2nd-moment normalisation, ``num_layers`` FC layers (lr multiplier 0.01),
    optional broadcast to ``num_ws`` copies, truncation towards the tracked average ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: Optional[int], num_layers: int = 8,
                 embed_features: Optional[int] = None, layer_features: Optional[int] = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: Optional[float] = 0.995,
                 cfg: Optional[dict] = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, num_layers, w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor], truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, skip_w_avg_update: bool = False) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.w_avg_beta is not None and self.training and not skip_w_avg_update and hasattr(self, "w_avg"):
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


# ------------------------------------------------------------------------------------------------ synthesis layers

class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (+ optional 2x FIR up-sampling, spatial noise), bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 channels_last: bool = False):
        super().__init__()
        self.resolution, self.up = resolution, up
        self.use_noise = use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][2]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def make_noise(self, x: torch.Tensor, noise_mode: str, generator: Optional[torch.Generator] = None):
        """Spatial noise for ``noise_mode`` in {'random', 'const', 'none'} (None when the layer has none)."""
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "const":
            return self.noise_const * self.noise_strength
        shape = [x.shape[0], 1, self.resolution, self.resolution]
        if generator is None:
            noise = torch.randn(shape, device=x.device)
        else:
            noise = torch.randn(shape, generator=generator, device=generator.device).to(x.device)
        return noise * self.noise_strength

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0, prenormalize: Optional[bool] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        styles = self.affine(w)
        noise = self.make_noise(x, noise_mode, generator)
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv, prenormalize=prenormalize)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, no demodulation; bias and optional clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, channels_last: bool = False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


def block_channels(img_resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """Channels of each block resolution 4 .. img_resolution: ``min(channel_base // res, channel_max)``."""
    log2 = int(np.log2(img_resolution))
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(2, log2 + 1)}


def fp16_start_resolution(img_resolution: int, num_fp16_res: int) -> int:
    """Lowest block resolution in the fp16 path: ``max(2 ** (log2(res) + 1 - num_fp16_res), 8)``."""
    return max(2 ** (int(np.log2(img_resolution)) + 1 - num_fp16_res), 8)


class SynthesisBlock(nn.Module):
    """One resolution of the StyleGAN2 synthesis network ('skip' / 'orig' / 'resnet' architecture).

    The first block (``in_channels == 0``) starts from ``input_layer`` when given (a module called as
    ``input_layer(batch_size, input_arg, dtype)`` that exposes ``out_channels``), else from a learned constant
    ``const`` [C, 4, 4]. Every other block upsamples with ``conv0`` (up=2). ``forward`` returns ``(x, img)``.

    Subclasses may replace ``layer_class`` (the class of ``conv0``/``conv1``); per-layer auxiliary inputs can be
    passed as ``layer_extras`` ([N, num_conv + num_torgb, ...], consumed in the same order as ``ws``) and reach
    conv layers as the ``extra`` keyword.
    """

    layer_class = SynthesisLayer

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 input_layer: Optional[nn.Module] = None, **layer_kwargs):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown architecture {architecture!r}")
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        self.last_fused_modconv: Optional[bool] = None  # what the last forward used (introspection/tests)

        if in_channels == 0:
            if input_layer is not None:
                self.input = input_layer
                conv1_in = input_layer.out_channels
            else:
                self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
                conv1_in = out_channels
        else:
            self.conv0 = self.layer_class(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                          resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
            conv1_in = out_channels
        self.conv1 = self.layer_class(conv1_in, out_channels, w_dim=w_dim, resolution=resolution,
                                      conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def select_fused_modconv(self, fp16_path: bool, x: Optional[torch.Tensor]) -> bool:
        """Upstream's default branch choice (see :func:`official_fused_modconv`). Subclasses may override."""
        return official_fused_modconv(self.training, fp16_path, None if x is None else int(x.shape[0]))

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: torch.Tensor,
                input_arg=None, precision: str = "fp32", fused_modconv: Optional[bool] = None,
                layer_extras: Optional[torch.Tensor] = None, **layer_kwargs):
        """``precision`` is already resolved ('fp16', 'fp16-emulated' or 'fp32'); ``ws``: [N, n_layers, w_dim]."""
        if ws.shape[1] != self.num_conv + self.num_torgb or ws.shape[2] != self.w_dim:
            raise ValueError(f"b{self.resolution}: ws has shape {tuple(ws.shape)}, expected "
                             f"[N, {self.num_conv + self.num_torgb}, {self.w_dim}]")
        fp16_path = self.use_fp16 and precision != "fp32"
        dtype = torch.float16 if fp16_path and precision == "fp16" else torch.float32
        if fused_modconv is None:
            fused_modconv = self.select_fused_modconv(fp16_path, x)
        self.last_fused_modconv = fused_modconv
        layer_kwargs = dict(layer_kwargs, fused_modconv=fused_modconv, prenormalize=fp16_path)
        w_iter = iter(ws.unbind(dim=1))
        e_iter = iter(layer_extras.unbind(dim=1)) if layer_extras is not None else None

        def run(layer, x, **kw):
            if e_iter is not None:
                kw["extra"] = next(e_iter)
            return layer(x, next(w_iter), **kw, **layer_kwargs)

        if self.in_channels == 0:
            if hasattr(self, "input"):
                x = self.input(ws.shape[0], input_arg, dtype)
            else:
                x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = run(self.conv1, x)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=np.sqrt(0.5))
            x = run(self.conv0, x)
            x = run(self.conv1, x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = x.to(dtype)
            x = run(self.conv0, x)
            x = run(self.conv1, x)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img.add_(y) if img is not None else y
        return x, img


def parse_resolutions(value) -> set[int]:
    """'16,32,64' | 16 | [16, 32] | None -> {16, 32, 64}."""
    if value is None or value == "":
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, str):
        return {int(v) for v in value.split(",") if v.strip()}
    if isinstance(value, Iterable):
        return {int(v) for v in value}
    raise TypeError(f"cannot read resolutions from {value!r}")


# ------------------------------------------------------------------------------------------------ plain StyleGAN2
#
# The image generator of StyleGAN2-ADA (``training/networks.py``) and of the StyleGAN3 repository
# (``training/networks_stylegan2.py``), as used by generators that build on an unmodified StyleGAN2 (MotionVideoGAN's
# MotionStyleGAN, with 6 image channels). Both code bases have the same module tree and keys
# (``mapping.fc{i}.{weight,bias}``, ``mapping.w_avg``, ``synthesis.b4.const``,
# ``synthesis.b{res}.{conv0,conv1}.{weight,bias,resample_filter,noise_const,noise_strength,affine.*}``,
# ``synthesis.b{res}.torgb.{weight,bias,affine.*}``, ``synthesis.b{res}.resample_filter``). They differ in ways that
# matter at sampling time, selected here by ``flavour``:
#
# * constructor layout: SG2-ADA passes ``synthesis_kwargs={...}``; the StyleGAN3 repository passes the synthesis
#   arguments as top-level keywords (``channel_base=..., fused_modconv_default=...``);
# * defaults: SG2-ADA ``num_fp16_res=0``, ``conv_clamp=None``, mapping ``w_avg_beta=0.995``; StyleGAN3 repository
#   ``num_fp16_res=4``, ``conv_clamp=256``, ``w_avg_beta=0.998`` (training only);
# * ``fused_modconv``: SG2-ADA fuses at inference when the block runs in float32 or has batch 1; the StyleGAN3
#   repository uses the block's ``fused_modconv_default`` (True, or ``'inference_only'`` = not training, which its
#   ``train.py`` sets for ``--cfg=stylegan2``), whatever the dtype. For these layers the two branches are the same
#   function; only rounding differs;
# * device check: the StyleGAN3 repository forces float32 when the input is not on CUDA (SG2-ADA has no such check),
#   so its ``precision='auto'`` is ``'fp16'`` on CUDA and ``'fp32'`` elsewhere.

FLAVOURS = ("sg2-ada", "sg3")
_FLAVOUR_DEFAULTS = {
    "sg2-ada": {"num_fp16_res": 0, "conv_clamp": None, "w_avg_beta": 0.995},
    "sg3": {"num_fp16_res": 4, "conv_clamp": 256, "w_avg_beta": 0.998},
}


class PlainSynthesisBlock(SynthesisBlock):
    """:class:`SynthesisBlock` with the StyleGAN3 repository's ``fused_modconv_default`` switch (True, False or
    ``'inference_only'``). ``None`` keeps SG2-ADA's rule (:func:`official_fused_modconv`)."""

    def __init__(self, *args, fused_modconv_default=None, **kwargs):
        if fused_modconv_default not in (None, True, False, "inference_only"):
            raise ValueError(f"fused_modconv_default must be True, False or 'inference_only', "
                             f"got {fused_modconv_default!r}")
        super().__init__(*args, **kwargs)
        self.fused_modconv_default = fused_modconv_default

    def select_fused_modconv(self, fp16_path: bool, x: Optional[torch.Tensor]) -> bool:
        if self.fused_modconv_default is None:
            return super().select_fused_modconv(fp16_path, x)
        if self.fused_modconv_default == "inference_only":
            return not self.training
        return bool(self.fused_modconv_default)


class SynthesisNetwork(nn.Module):
    """Plain StyleGAN2 synthesis network: ws [N, num_ws, w_dim] -> images [N, img_channels, H, W] (skip
    architecture by default, learned 4x4 constant input, spatial noise). ``flavour``: 'sg2-ada' or 'sg3' (see the
    notes above this class); ``num_fp16_res``/``conv_clamp`` default to the flavour's defaults."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: Optional[int] = None, flavour: str = "sg3", **block_kwargs):
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        defaults = _FLAVOUR_DEFAULTS[flavour]
        if flavour == "sg3":
            block_kwargs.setdefault("fused_modconv_default", True)
        elif "fused_modconv_default" in block_kwargs:
            raise ValueError("fused_modconv_default exists only in the StyleGAN3 repository's networks (flavour 'sg3')")
        block_kwargs.setdefault("conv_clamp", defaults["conv_clamp"])
        self.flavour = flavour
        self.w_dim, self.img_resolution, self.img_channels = int(w_dim), int(img_resolution), int(img_channels)
        self.num_fp16_res = defaults["num_fp16_res"] if num_fp16_res is None else int(num_fp16_res)
        self.block_resolutions = [2 ** i for i in range(2, int(np.log2(img_resolution)) + 1)]
        channels = block_channels(img_resolution, channel_base, channel_max)
        self.fp16_resolution = fp16_start_resolution(img_resolution, self.num_fp16_res)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = PlainSynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim,
                                        resolution=res, img_channels=img_channels, is_last=is_last,
                                        use_fp16=res >= self.fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[PlainSynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def resolve_precision(self, precision: str, device, force_fp32: bool = False) -> str:
        """:func:`resolve_precision`, plus the StyleGAN3 repository's device check ('auto' = 'fp32' off CUDA)."""
        if self.flavour == "sg3" and precision == "auto" and torch.device(device).type != "cuda":
            precision = "fp32"
        return resolve_precision(precision, device, force_fp32)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", precision: str = "auto", force_fp32: bool = False,
                fused_modconv: Optional[bool] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws has shape {tuple(ws.shape)}, expected [N, {self.num_ws}, {self.w_dim}]")
        precision = self.resolve_precision(precision, ws.device, force_fp32)
        ws = ws.to(torch.float32)
        x = img = None
        idx = 0
        for block in self.blocks():
            cur = ws.narrow(1, idx, block.num_conv + block.num_torgb)
            idx += block.num_conv
            x, img = block(x, img, cur, precision=precision, fused_modconv=fused_modconv, noise_mode=noise_mode,
                           generator=generator)
        return img


class Generator(nn.Module):
    """Plain StyleGAN2 generator (mapping + synthesis) with the official constructor arguments of either code base:
    ``Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs={...})``
    (SG2-ADA) or ``Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)``
    (StyleGAN3 repository). ``flavour`` defaults to 'sg2-ada' when ``synthesis_kwargs`` is given, else 'sg3'."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None,
                 flavour: Optional[str] = None, **more_synthesis_kwargs):
        if synthesis_kwargs is not None and more_synthesis_kwargs:
            raise ValueError("give the synthesis arguments either as synthesis_kwargs={...} (StyleGAN2-ADA) or as "
                             f"keywords (StyleGAN3 repository), not both: {sorted(more_synthesis_kwargs)}")
        if flavour is None:
            flavour = "sg2-ada" if synthesis_kwargs is not None else "sg3"
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.flavour = flavour
        self.synthesis = SynthesisNetwork(self.w_dim, self.img_resolution, self.img_channels, flavour=flavour,
                                          **dict(synthesis_kwargs if synthesis_kwargs is not None
                                                 else more_synthesis_kwargs))
        self.num_ws = self.synthesis.num_ws
        mk = dict(mapping_kwargs or {})
        mk.setdefault("w_avg_beta", _FLAVOUR_DEFAULTS[flavour]["w_avg_beta"])
        self.mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws, **mk)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "random", precision: str = "auto",
                force_fp32: bool = False, fused_modconv: Optional[bool] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """z [N, z_dim], c [N, c_dim] (None: no label) -> images [N, img_channels, H, W], roughly in [-1, 1]."""
        if c is None:
            c = torch.zeros(len(z), self.c_dim, device=z.device)
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, precision=precision, force_fp32=force_fp32,
                              fused_modconv=fused_modconv, generator=generator)


__all__ += ["FLAVOURS", "PlainSynthesisBlock", "SynthesisNetwork", "Generator"]
