"""MotionVideoGAN's two video discriminators (stage 3 of its training, :mod:`vgbench.training.motionvideogan`).

Both are the authors' ``ModelD_3d`` (``MotionVideoGAN/models/D_3d.py``, from MoCoGAN-HD): a multi-scale PatchGAN of
3-D convolutions. Scale ``s`` (``s = 0 .. num_D - 1``) has ``n_layers + 2`` stages: a 4x4x4 convolution with stride
2 and padding 2 + LeakyReLU(0.2); ``n_layers - 1`` more of those with an instance norm (no affine parameters,
running statistics tracked) before the activation, channels doubling up to 512; one with stride 1; a final stride-1
convolution to one channel. The first scale sees the clip, each later one the clip average-pooled by a 3x3x3 window
(stride 2 in space, and in time too for clips longer than 16 frames; padding not counted). Scale ``s`` has
``min(ndf_max, ndf * 2 ** (num_D - 1 - s))`` base channels, and the pooled clip goes to the scale with the smaller
index first (the authors' order: the full clip to scale ``num_D - 1``).

Input ``[B, C, T, H, W]`` (``C`` = 6: two RGB clips stacked along channels); :meth:`VideoDiscriminator.forward`
returns each scale's last output (the only one the losses read), full-resolution scale first.

State dict keys are the authors' (``netD.scale{s}_layer{j}.{k}.*``), so their ``modelD_3d_*.pth`` files load as is.
Initialisation as upstream: convolution weights N(0, 0.02), biases PyTorch's default.
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["VideoDiscriminator"]


def _stages(in_channels: int, ndf: int, n_layers: int) -> list[nn.Sequential]:
    def conv(i, o, stride):
        return nn.Conv3d(i, o, kernel_size=4, stride=stride, padding=2)

    def norm(c):
        return nn.InstanceNorm3d(c, affine=False, track_running_stats=True)

    stages = [nn.Sequential(conv(in_channels, ndf, 2), nn.LeakyReLU(0.2, True))]
    nf = ndf
    for _ in range(1, n_layers):
        prev, nf = nf, min(nf * 2, 512)
        stages.append(nn.Sequential(conv(prev, nf, 2), norm(nf), nn.LeakyReLU(0.2, True)))
    prev, nf = nf, min(nf * 2, 512)
    stages.append(nn.Sequential(conv(prev, nf, 1), norm(nf), nn.LeakyReLU(0.2, True)))
    stages.append(nn.Sequential(conv(nf, 1, 1)))
    return stages


class _Scales(nn.Module):
    def __init__(self, in_channels: int, num_frames: int, ndf: int, n_layers: int, num_D: int, ndf_max: int):
        super().__init__()
        self.num_D, self.n_layers = num_D, n_layers
        for s in range(num_D):
            for j, stage in enumerate(_stages(in_channels, min(ndf_max, ndf * 2 ** (num_D - 1 - s)), n_layers)):
                self.add_module(f"scale{s}_layer{j}", stage)
        stride = 2 if num_frames > 16 else (1, 2, 2)
        self.downsample = nn.AvgPool3d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i in range(self.num_D):
            s = self.num_D - 1 - i
            h = x
            for j in range(self.n_layers + 2):
                h = getattr(self, f"scale{s}_layer{j}")(h)
            out.append(h)
            if i != self.num_D - 1:
                x = self.downsample(x)
        return out


class VideoDiscriminator(nn.Module):
    """``ModelD_3d``: ``forward(x [B, in_channels, T, H, W]) -> [scores of each scale]``."""

    def __init__(self, num_frames: int, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, num_D: int = 2,
                 ndf_max: int = 64):
        super().__init__()
        if min(num_frames, in_channels, ndf, n_layers, num_D, ndf_max) < 1:
            raise ValueError("VideoDiscriminator sizes must be >= 1")
        self.num_frames = int(num_frames)
        self.netD = _Scales(in_channels, num_frames, ndf, n_layers, num_D, ndf_max)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv3d):
                    m.weight.normal_(0.0, 0.02)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 5 or x.shape[2] != self.num_frames:
            raise ValueError(f"expected clips [B, C, {self.num_frames}, H, W], got {tuple(x.shape)}")
        return self.netD(x)
