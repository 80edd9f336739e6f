"""CTSVG's two discriminators (``DiscriminatorConPerson`` = D_t and ``Discriminator_FRAMES`` = D_s of the authors'
``model.py``), vgbench's own implementation in the authors' state-dict layout (their ``d`` and ``d2`` load strictly).

Both share rosinality's StyleGAN2 discriminator trunk: a 1x1 ``ConvLayer`` from RGB, then one ``ResBlock`` per
resolution down to 4x4 (two 3x3 convs, the second down-sampling by [1,3,3,1] blur + stride 2; a 1x1 blurred skip;
sum / sqrt 2). Channels: ``{4: 512, 8: 512, 16: 512, 32: 512, 64: 256 cm, 128: 128 cm, 256: 64 cm}`` (``cm`` the
channel multiplier, 2), unless a table is given (the tiny CI config). Equalised learning rate everywhere
(weights ``N(0, 1)`` scaled by ``1/sqrt(fan_in)`` at run time), leaky ReLU 0.2 times sqrt 2 after a bias.

D_t (time-conditioned, actor/action projection) sees a batch of ``3b`` frames stacked frame-major
(``[frames tau, ...; frames tau + o, ...; frames tau + 2o, ...]``): trunk, minibatch stddev (groups of 4, one
feature), ``final_conv`` (3x3 to 128 channels), the three frames' features of a video concatenated (``3 * 128 *
16``), then three heads: ``final_linear`` (to ``3 * 128``, dotted with the time2vec codes of ``tau``, ``tau + o``,
``tau + 2o`` concatenated, / sqrt(384)), ``final_linear_con`` (dotted with the action embedding, / sqrt(128)) and
``final_linear_pcon`` (dotted with the actor embedding, / sqrt(128)). Output: ``x + transition * y + z``. The
authors' module also defines ``final_conv2``, which its forward never uses; it is kept (same keys) and gets no
gradient.

D_s (frame order) sees ``3b`` images, groups them by three (``[b, 3, ...]`` after the trunk), and scores a video
``b`` by ``final_linear(f_0) * final_linear(f_1) / sqrt(b)`` of its first two images (the third is unused, as
upstream). What the three images are is decided by the caller (vgbench.training.ctsvg: the authors' reshape).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..models.ctsvg import SineWaveMixer
from ..models.rosinality import _Kernel, _ScaledLeakyReLU
from ..models.stylegan2 import FullyConnectedLayer, setup_filter, upfirdn2d

__all__ = ["discriminator_channels", "TimeDiscriminator", "FrameOrderDiscriminator"]


def discriminator_channels(size: int, channel_multiplier: int = 2, table: dict | None = None) -> dict[int, int]:
    """Channels per resolution 4..size (the authors' table, or ``table`` with int keys)."""
    if table:
        out = {int(k): int(v) for k, v in table.items()}
    else:
        cm = channel_multiplier
        out = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
               1024: 16 * cm}
    need = [2 ** i for i in range(2, int(math.log2(size)) + 1)]
    missing = [r for r in need if r not in out]
    if missing:
        raise ValueError(f"discriminator channels miss resolutions {missing}")
    return {r: out[r] for r in need}


class _EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class _Blur(_Kernel):
    def __init__(self, blur_kernel, pad: tuple[int, int]):
        super().__init__(setup_filter(blur_kernel))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pad
        return upfirdn2d(x, self.kernel, padding=[p0, p1, p0, p1])


class _ConvLayer(nn.Sequential):
    """rosinality ``ConvLayer``: [blur] + equalised conv (stride 2 when down-sampling) + [bias, scaled lrelu]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 blur_kernel=(1, 3, 3, 1), bias: bool = True, activate: bool = True):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(_Blur(blur_kernel, ((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(_EqualConv2d(in_channels, out_channels, kernel_size, stride, padding,
                                   bias=bias and not activate))
        if activate:
            layers.append(_ScaledLeakyReLU(out_channels))
        super().__init__(*layers)


class _ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = _ConvLayer(in_channels, in_channels, 3)
        self.conv2 = _ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = _ConvLayer(in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel,
                               activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def _trunk(size: int, channels: dict[int, int]) -> nn.Sequential:
    convs = [_ConvLayer(3, channels[size], 1)]
    in_c = channels[size]
    for i in range(int(math.log2(size)), 2, -1):
        convs.append(_ResBlock(in_c, channels[2 ** (i - 1)]))
        in_c = channels[2 ** (i - 1)]
    return nn.Sequential(*convs)


def _minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """rosinality's minibatch stddev (one feature): row ``n`` is grouped with the rows ``n mod (N / group)``."""
    n, c, h, w = x.shape
    group = min(n, group_size)
    s = x.view(group, -1, 1, c, h, w)
    s = torch.sqrt(s.var(0, unbiased=False) + 1e-8)
    s = s.mean([2, 3, 4], keepdim=True).squeeze(2)
    return torch.cat([x, s.repeat(group, 1, h, w)], 1)


class TimeDiscriminator(nn.Module):
    """D_t (``DiscriminatorConPerson``): ``D(frames [3b, 3, H, W], action [b], actor [b], transition, tau [b, 1],
    offset) -> [b, 1]``."""

    def __init__(self, size: int, num_classes: int, num_person: int, channel_multiplier: int = 2,
                 channels: dict | None = None, embed_dim: int = 128, head_channels: int = 128):
        super().__init__()
        ch = discriminator_channels(size, channel_multiplier, channels)
        self.init_kwargs = dict(size=size, num_classes=num_classes, num_person=num_person,
                                channel_multiplier=channel_multiplier, channels=ch, embed_dim=embed_dim,
                                head_channels=head_channels)
        self.embed_dim = embed_dim
        self.class_embed = nn.Embedding(num_classes, embed_dim)
        self.person_embed = nn.Embedding(num_person, embed_dim)
        self.convs = _trunk(size, ch)
        self.tauEmbedding = SineWaveMixer(embed_dim)
        c4 = ch[4]
        self.final_conv = _ConvLayer(c4 + 1, head_channels, 3)
        self.final_conv2 = _ConvLayer(c4 + 1, head_channels, 3)  # defined upstream, never used
        flat = head_channels * 16 * 3
        self.final_linear = nn.Sequential(FullyConnectedLayer(flat, c4, activation="lrelu"),
                                          FullyConnectedLayer(c4, 3 * embed_dim))
        self.final_linear_con = nn.Sequential(FullyConnectedLayer(flat, c4, activation="lrelu"),
                                              FullyConnectedLayer(c4, embed_dim))
        self.final_linear_pcon = nn.Sequential(FullyConnectedLayer(flat, c4, activation="lrelu"),
                                               FullyConnectedLayer(c4, embed_dim))

    def forward(self, frames: torch.Tensor, action: torch.Tensor, actor: torch.Tensor, transition: float,
                tau: torch.Tensor, offset: float) -> torch.Tensor:
        out = _minibatch_stddev(self.convs(frames))
        b = out.shape[0] // 3
        codes = torch.cat([self.tauEmbedding.basis(tau + k * offset) for k in range(3)], 1)
        out = self.final_conv(out)
        joined = torch.cat([out[k * b:(k + 1) * b].reshape(b, -1) for k in range(3)], 1)
        x = (self.final_linear(joined) * codes).sum(dim=1, keepdim=True) * (1 / math.sqrt(3 * self.embed_dim))
        y = (self.class_embed(action) * self.final_linear_con(joined)).sum(dim=1, keepdim=True) \
            * (1 / math.sqrt(self.embed_dim))
        z = (self.person_embed(actor) * self.final_linear_pcon(joined)).sum(dim=1, keepdim=True) \
            * (1 / math.sqrt(self.embed_dim))
        return x + transition * y + z


class FrameOrderDiscriminator(nn.Module):
    """D_s (``Discriminator_FRAMES``): ``D(images [3b, 3, H, W]) -> [b, 1]`` (module docstring)."""

    def __init__(self, size: int, channel_multiplier: int = 2, channels: dict | None = None):
        super().__init__()
        ch = discriminator_channels(size, channel_multiplier, channels)
        self.init_kwargs = dict(size=size, channel_multiplier=channel_multiplier, channels=ch)
        self.convs = _trunk(size, ch)
        self.final_linear = nn.Sequential(FullyConnectedLayer(ch[4] * 16, ch[4], activation="lrelu"),
                                          FullyConnectedLayer(ch[4], 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.convs(images)
        n, c, h, w = out.shape
        b = n // 3
        out = out.view(b, 3, c, h, w)
        first = self.final_linear(out[:, 0].reshape(b, -1))
        second = self.final_linear(out[:, 1].reshape(b, -1))
        return (first * second).sum(dim=1, keepdim=True) * (1 / math.sqrt(b))
