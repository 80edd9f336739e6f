"""The StyleGAN-V discriminator and its MoStGAN-V variant, with the authors' ``state_dict`` layout.

An independent MIT implementation of the video discriminator of Skorokhodov et al., "StyleGAN-V" (CVPR 2022) and
of the variant in Shen et al., "MoStGAN-V" (CVPR 2023). Module names, parameter/buffer keys and shapes equal those
of ``Discriminator`` in the authors' ``src/training/networks.py`` (universome/stylegan-v and
xiaoqian-shen/MoStGAN-V), so their weights load with ``strict=True`` and ours load into their code.

Architecture (``architecture='resnet'``, the one every released model uses)
--------------------------------------------------------------------------
* Blocks ``b{res}`` for res = img_resolution .. 8, channels ``min(channel_base // res, channel_max)``. A block:
  ``fromrgb`` (1x1 conv, first block only), ``conv0`` (3x3), ``conv1`` (3x3, FIR [1,3,3,1] down 2, gain
  sqrt(.5)) and ``skip`` (1x1, no bias, down 2, gain sqrt(.5)); output = skip(x) + conv1(conv0(x)). Each block
  also holds a (unused) ``resample_filter`` buffer, as upstream. ``'orig'`` drops ``skip``; ``'skip'`` is refused
  (upstream would feed per-frame images into the per-video blocks after the frames are concatenated).
* The F frames of a video go through the blocks independently (batch B*F) until ``cfg['concat_res']`` (16). The
  block feeding it outputs ``channels // num_frames_div_factor`` channels; there the features of a video's frames
  are concatenated along channels (frame-major: [frame 0 channels, frame 1 channels, ...]), so the block at
  ``concat_res`` takes ``(channels // num_frames_div_factor) * F`` channels and the rest runs per video (batch B).
* MoStGAN-V ``motion_diff``: before the first block each video's F frames are followed by F difference images
  ``img[i] - img[(i + 1) % F]`` (cyclic), i.e. 2F "frames" per video in the order f0..f(F-1), d0..d(F-1); the
  concatenation block therefore takes twice the channels.
* Time conditioning (F > 1): for the F-1 consecutive differences ``t[:, i+1] - t[:, i]`` a
  ``TemporalDifferenceEncoder`` concatenates ``const_embed`` (``nn.Embedding(max_num_frames, 256)`` of the
  rounded difference) and ``time_encoder`` (sin and cos of the difference times the buffer ``fourier_coefs``:
  ``pi * 2**k / T`` for k < log2 T, T = max_num_frames rounded up to a power of two). The result, after the class
  label ``c`` (``[c, emb(d_1), emb(d_2), ...]``), goes through ``mapping`` (StyleGAN2 mapping network with
  z_dim=0: label embedding, 2nd-moment normalisation, ``num_layers`` FC layers with lr multiplier 0.01) to
  ``cmap`` [B, cmap_dim]. ``dummy_c`` multiplies that conditioning vector by 0 (an ablation of the authors).
* Epilogue ``b4`` (always float32): minibatch standard deviation (one channel), ``conv`` 3x3, ``fc`` (lrelu) to
  ``channels[4]`` features (MoStGAN-V: ``cfg['motion_dim']``, 128), ``out`` to ``cmap_dim`` and the projection
  logit ``sum(out * cmap) / sqrt(cmap_dim)``. MoStGAN-V's epilogue also returns the ``fc`` output ("hidden"); its
  training loss never reads it, so :meth:`Discriminator.forward` returns the logits only.

Minibatch standard deviation: groups are strided, not consecutive
----------------------------------------------------------------
Upstream reshapes the N samples of a call to [G, N/G, ...] and takes the statistic over the first axis, so sample i
belongs to group ``i % (N // G)`` (with G = min(group_size, N)): the groups of N=8, G=4 are {0,2,4,6}, {1,3,5,7}.
:func:`minibatch_std_groups` lists them. Kept exactly (it is part of the function the released weights learned).
Consequences: N must be a multiple of G (a :class:`DiscriminatorError` otherwise), and the result depends on the
*composition of each call*. A training loop is independent of how the global batch is split over ranks only if
it always calls the discriminator on the same fixed-size chunks of the global batch (chunk size a multiple of
the group size; simplest: per-call batch == group size, then each call is one group), whatever the world size.

Precision and numerics
----------------------
* Blocks with ``res >= max(2 ** (log2(img_resolution) + 1 - num_fp16_res), 8)`` run in float16 unless
  ``force_fp32=True`` (no device check, as upstream: a CPU caller passes ``force_fp32=True``); ``conv_clamp``
  clamps their convolution outputs (times the layer gain). The epilogue and the mapping always run in float32.
* Layers are :mod:`vgbench.models.stylegan2`'s (equalised learning rate, FIR resampling in plain PyTorch, no custom
  CUDA kernels) and the order of operations follows upstream. Measured against the authors' code in float32 on
  CPU (torch 2.13, same perturbed weights and inputs; tiny and 256x256 configs, F = 1..4, see docs/training.md):
  logits and every parameter gradient bit-identical; d logits / d img bit-identical for StyleGAN-V and within
  1e-7 (relative to its max) for MoStGAN-V, whose frame differences accumulate their gradient in another order.
* Images. With one frame per video (``sampling.num_frames_per_video = 1``), ``num_frames_div_factor = 1`` and
  ``c_dim = 0`` there is no time encoder, no mapping and the concatenation is the identity: the network is the plain
  StyleGAN2 image discriminator (``training/networks_stylegan2.Discriminator`` of the StyleGAN3 repository, resnet,
  unconditional), with its keys; :func:`image_kwargs` builds it (MotionStyleGAN's 6-channel pair discriminator).
  ``t`` is then ``[B, 1]`` and unused.
* Time differences are rounded to the nearest integer for the embedding (fractional ``t`` allowed) and must lie in
  [0, max_num_frames): ``t`` must be sorted per video. Checking this costs one device sync per call.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from vgbench.errors import VgbenchError
from vgbench.models.stylegan2 import (Conv2dLayer, FullyConnectedLayer, MappingNetwork, block_channels,
                                      fp16_start_resolution, setup_filter)

__all__ = ["DiscriminatorError", "KINDS", "MinibatchStd", "minibatch_std_groups", "log_spaced_frequencies",
           "FixedTimeEncoder", "TemporalDifferenceEncoder", "DiscriminatorBlock", "DiscriminatorEpilogue",
           "Discriminator", "interleave_motion_diffs", "official_cfg", "official_kwargs", "tiny_kwargs", "image_kwargs"]

KINDS = ("stylegan_v", "mostgan_v")
TIME_EMBED_DIM = 256  # upstream's fixed width of ``const_embed``


class DiscriminatorError(VgbenchError, ValueError):
    """A discriminator config or input that upstream would reject (or silently mis-handle)."""


# ------------------------------------------------------------------------------------------------ minibatch std

def minibatch_std_groups(batch_size: int, group_size: Optional[int]) -> list[list[int]]:
    """The sample indices of each minibatch-stddev group for a call with ``batch_size`` samples (strided groups)."""
    g = batch_size if group_size is None else min(group_size, batch_size)
    if g <= 0 or batch_size % g:
        raise DiscriminatorError(f"minibatch-stddev: batch size {batch_size} is not a multiple of the group size "
                                 f"{g} (use a per-call batch that is a multiple of mbstd_group_size)")
    n = batch_size // g
    return [list(range(j, batch_size, n)) for j in range(n)]


class MinibatchStd(nn.Module):
    """Append the mean (over channels in a slice and pixels) of the per-group standard deviation as
    ``num_channels`` extra feature maps; groups as in :func:`minibatch_std_groups`."""

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        f = self.num_channels
        if n % g:
            minibatch_std_groups(n, g)  # raises with the explanation
        if c % f:
            raise DiscriminatorError(f"minibatch-stddev: {c} channels do not split into {f} slices")
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


# ------------------------------------------------------------------------------------------------ time encoding

def log_spaced_frequencies(max_num_frames: int, skip_small_t_freqs: int = 0) -> torch.Tensor:
    """``[1, K]`` float32 angular frequencies ``pi * 2**k / T`` (k < log2 T, T = max_num_frames rounded up to a
    power of two), dropping the ``skip_small_t_freqs`` highest."""
    if max_num_frames < 1:
        raise DiscriminatorError(f"max_num_frames must be >= 1, got {max_num_frames}")
    log2_t = math.ceil(math.log2(max_num_frames))
    powers = 2.0 ** np.arange(max(log2_t - skip_small_t_freqs, 0))
    return torch.from_numpy(powers * math.pi / 2.0 ** log2_t).float().unsqueeze(0)


class FixedTimeEncoder(nn.Module):
    """Fourier features ``[sin(t * fourier_coefs), cos(t * fourier_coefs)]`` of scalar times."""

    def __init__(self, max_num_frames: int, skip_small_t_freqs: int = 0):
        super().__init__()
        self.register_buffer("fourier_coefs", log_spaced_frequencies(max_num_frames, skip_small_t_freqs))

    def get_dim(self) -> int:
        return 2 * self.fourier_coefs.shape[1]

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        raw = self.fourier_coefs * t.reshape(-1).float().unsqueeze(1)  # [N, K]
        return torch.cat([raw.sin(), raw.cos()], dim=1)


class TemporalDifferenceEncoder(nn.Module):
    """Embeds the F-1 consecutive time differences of each video: [B, F] -> [B, (F-1) * (256 + 2K)]."""

    def __init__(self, num_frames: int, max_num_frames: int, skip_small_t_freqs: int = 0):
        super().__init__()
        self.num_frames, self.max_num_frames = num_frames, max_num_frames
        self.const_embed = nn.Embedding(max_num_frames, TIME_EMBED_DIM)
        self.time_encoder = FixedTimeEncoder(max_num_frames, skip_small_t_freqs)

    def get_dim(self) -> int:
        return (TIME_EMBED_DIM + self.time_encoder.get_dim()) * (self.num_frames - 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        diffs = (t[:, 1:] - t[:, :-1]).reshape(-1)  # [B * (F-1)], in t's dtype like upstream
        idx = diffs.float().round().long()
        lo, hi = (int(idx.min()), int(idx.max())) if idx.numel() else (0, 0)
        if lo < 0 or hi >= self.max_num_frames:
            raise DiscriminatorError(f"time differences between consecutive frames must lie in [0, max_num_frames="
                                     f"{self.max_num_frames}) after rounding; got {lo}..{hi} (t must be sorted "
                                     "per video)")
        out = torch.cat([self.const_embed(idx), self.time_encoder(diffs)], dim=1)
        return out.reshape(t.shape[0], -1)


# ------------------------------------------------------------------------------------------------ blocks

class DiscriminatorBlock(nn.Module):
    """One resolution: optional ``fromrgb``, ``conv0``, ``conv1`` (down 2) and, for 'resnet', ``skip``."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: Optional[float] = None, use_fp16: bool = False,
                 fp16_channels_last: bool = False, freeze_layers: int = 0):
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_layers = 0

        def layer(*args, **kwargs) -> Conv2dLayer:  # Freeze-D: the first ``freeze_layers`` layers are buffers
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return Conv2dLayer(*args, trainable=trainable, **kwargs)

        conv0_in = in_channels if in_channels > 0 else tmp_channels
        if in_channels == 0:
            self.fromrgb = layer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                 conv_clamp=conv_clamp)
        self.conv0 = layer(conv0_in, tmp_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = layer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                           resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = layer(conv0_in, out_channels, kernel_size=1, bias=False, down=2,
                              resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: torch.Tensor, force_fp32: bool = False) -> torch.Tensor:
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        fmt = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if self.in_channels == 0:
            x = self.fromrgb(img.to(dtype=dtype, memory_format=fmt))
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv1(self.conv0(x), gain=np.sqrt(0.5))
            return y + x
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch stddev, ``conv``, ``fc``, ``out``, projection onto ``cmap`` (always float32)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, fc_features: Optional[int] = None,
                 mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1, activation: str = "lrelu",
                 conv_clamp: Optional[float] = None):
        super().__init__()
        fc_features = in_channels if fc_features is None else fc_features
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, fc_features, activation=activation)
        self.out = FullyConnectedLayer(fc_features, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, cmap: Optional[torch.Tensor]) -> torch.Tensor:
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x.squeeze(1)


def interleave_motion_diffs(img: torch.Tensor, num_frames: int) -> torch.Tensor:
    """[B*F, C, H, W] -> [B*2F, C, H, W]: each video's F frames, then its F cyclic differences
    ``img[i] - img[(i + 1) % F]`` (MoStGAN-V ``motion_diff``)."""
    v = img.reshape(-1, num_frames, *img.shape[1:])
    return torch.cat([v, v - v.roll(-1, dims=1)], dim=1).reshape(-1, *img.shape[1:])


# ------------------------------------------------------------------------------------------------ discriminator

def _plain(cfg) -> dict:
    """A plain-dict deep copy of a mapping (dict or OmegaConf node), nested mappings included."""
    if not isinstance(cfg, Mapping):
        raise DiscriminatorError(f"discriminator cfg must be a mapping, got {type(cfg).__name__}")
    return {k: _plain(v) if isinstance(v, Mapping) else copy.deepcopy(v) for k, v in cfg.items()}


def _checked_cfg(cfg, block_resolutions: list[int]) -> dict:
    cfg = _plain(cfg)
    missing = [k for k in ("concat_res", "num_frames_div_factor", "sampling") if k not in cfg]
    sampling = cfg.get("sampling", {})
    missing += [f"sampling.{k}" for k in ("type", "num_frames_per_video", "max_num_frames") if k not in sampling]
    if missing:
        raise DiscriminatorError(f"discriminator cfg lacks {', '.join(missing)}")
    if sampling["type"] != "random":
        raise DiscriminatorError(f"discriminator cfg: sampling.type {sampling['type']!r} is not supported (only "
                                 "'random', the frame sampling of every released StyleGAN-V/MoStGAN-V model)")
    for key, value in (("sampling.num_frames_per_video", sampling["num_frames_per_video"]),
                       ("sampling.max_num_frames", sampling["max_num_frames"]),
                       ("num_frames_div_factor", cfg["num_frames_div_factor"])):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DiscriminatorError(f"discriminator cfg: {key} must be a positive integer, got {value!r}")
    if cfg["concat_res"] not in block_resolutions[1:]:
        raise DiscriminatorError(f"discriminator cfg: concat_res {cfg['concat_res']!r} must be one of the block "
                                 f"resolutions below the input resolution {block_resolutions[1:]}")
    cfg.setdefault("dummy_c", False)
    cfg.setdefault("motion_diff", False)
    cfg.setdefault("motion_dim", None)
    cfg.setdefault("spectral_norm", False)
    cfg.setdefault("skip_small_t_freqs", 0)
    return cfg


class Discriminator(nn.Module):
    """StyleGAN-V / MoStGAN-V video discriminator; ``forward(img [B*F,C,H,W], c [B,c_dim], t [B,F]) -> [B]``.

    Constructor arguments as upstream. ``cfg`` (dict or OmegaConf node) keys read: ``concat_res``,
    ``num_frames_div_factor``, ``dummy_c`` (False), ``motion_diff`` (False; MoStGAN-V True), ``motion_dim``
    (None = StyleGAN-V epilogue; MoStGAN-V 128), ``skip_small_t_freqs`` (0), ``spectral_norm`` (False; it only
    changes upstream's 'orig' architecture, where it crashes, so True is refused there) and ``sampling.type``
    ('random'), ``sampling.num_frames_per_video`` (F), ``sampling.max_num_frames``.
    """

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None,
                 block_kwargs: Optional[dict] = None, mapping_kwargs: Optional[dict] = None,
                 epilogue_kwargs: Optional[dict] = None, cfg: Optional[dict] = None):
        super().__init__()
        if (not isinstance(img_resolution, (int, np.integer)) or img_resolution < 16
                or img_resolution & (img_resolution - 1)):
            raise DiscriminatorError(f"img_resolution must be a power of 2 >= 16, got {img_resolution!r}")
        if architecture not in ("resnet", "orig"):
            raise DiscriminatorError(f"architecture {architecture!r} is not supported (use 'resnet' or 'orig'; "
                                     "'skip' feeds per-frame images to per-video blocks upstream)")
        if c_dim < 0 or img_channels < 1:
            raise DiscriminatorError(f"bad c_dim {c_dim} / img_channels {img_channels}")
        self.block_resolutions = [2 ** i for i in range(int(np.log2(img_resolution)), 2, -1)]
        self.cfg = cfg = _checked_cfg({} if cfg is None else cfg, self.block_resolutions)
        if cfg["spectral_norm"] and architecture == "orig":
            raise DiscriminatorError("cfg spectral_norm=True with architecture 'orig' crashes upstream; "
                                     "not supported")
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.num_frames = cfg["sampling"]["num_frames_per_video"]
        self.concat_res = cfg["concat_res"]
        self.motion_diff, self.dummy_c = bool(cfg["motion_diff"]), bool(cfg["dummy_c"])
        channels = block_channels(img_resolution, channel_base, channel_max)
        fp16_res = fp16_start_resolution(img_resolution, num_fp16_res)
        if cmap_dim is None:
            cmap_dim = channels[4]

        self.time_encoder = None
        if self.num_frames > 1:
            self.time_encoder = TemporalDifferenceEncoder(self.num_frames, cfg["sampling"]["max_num_frames"],
                                                          cfg["skip_small_t_freqs"])
        if c_dim == 0 and self.time_encoder is None:
            cmap_dim = 0
        self.cmap_dim = cmap_dim

        div = cfg["num_frames_div_factor"]
        frames_at_concat = self.num_frames * (2 if self.motion_diff else 1)
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            out_channels = channels[res // 2]
            if res // 2 == self.concat_res:
                out_channels //= div
            if res == self.concat_res:
                in_channels = (in_channels // div) * frames_at_concat
            if min(channels[res], out_channels) < 1 or (res < img_resolution and in_channels < 1):
                raise DiscriminatorError(f"block {res}: no channels left (channel_base {channel_base}, "
                                         f"num_frames_div_factor {div})")
            block = DiscriminatorBlock(in_channels, channels[res], out_channels, res, img_channels, layer_idx,
                                       architecture=architecture, conv_clamp=conv_clamp, use_fp16=res >= fp16_res,
                                       **(block_kwargs or {}))
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers

        if c_dim > 0 or self.time_encoder is not None:
            total_c_dim = c_dim + (0 if self.time_encoder is None else self.time_encoder.get_dim())
            self.mapping = MappingNetwork(z_dim=0, c_dim=total_c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, resolution=4, fc_features=cfg["motion_dim"],
                                        conv_clamp=conv_clamp, **(epilogue_kwargs or {}))

    def _check_inputs(self, img: torch.Tensor, c: Optional[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        f, r = self.num_frames, self.img_resolution
        if t.ndim != 2 or t.shape[1] != f:
            raise DiscriminatorError(f"t must be [batch, {f}] (frame times of each video), got {list(t.shape)}")
        b = t.shape[0]
        if img.ndim != 4 or tuple(img.shape) != (b * f, self.img_channels, r, r) or not img.is_floating_point():
            raise DiscriminatorError(f"img must be a float tensor [batch*frames={b * f}, {self.img_channels}, {r}, "
                                     f"{r}] (t is {list(t.shape)}), got {img.dtype} {list(img.shape)}")
        if c is None:
            if self.c_dim:
                raise DiscriminatorError(f"c (class labels [batch, {self.c_dim}]) is required")
            c = torch.zeros([b, 0], device=img.device)
        if c.ndim != 2 or tuple(c.shape) != (b, self.c_dim):
            raise DiscriminatorError(f"c must be [batch={b}, c_dim={self.c_dim}], got {list(c.shape)}")
        return c

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor], t: torch.Tensor,
                force_fp32: bool = False) -> torch.Tensor:
        """Logits [B] (float32) of B videos of F frames: ``img`` [B*F, C, H, W] (video-major), ``c`` [B, c_dim]
        (None allowed when c_dim == 0), ``t`` [B, F] frame times."""
        c = self._check_inputs(img, c, t)
        b = t.shape[0]
        if self.motion_diff:
            img = interleave_motion_diffs(img, self.num_frames)
        if self.time_encoder is not None:
            c = torch.cat([c.to(torch.float32), self.time_encoder(t)], dim=1)
            if self.dummy_c:
                c = c * 0.0
        x = None
        for res in self.block_resolutions:
            if res == self.concat_res:
                x = x.reshape(b, -1, *x.shape[2:])  # [B, frames * C, h, w], frame-major channels
            x = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if c.shape[1] > 0 else None
        return self.b4(x, cmap)


# ------------------------------------------------------------------------------------------------ configs

def official_cfg(kind: str, num_frames: int = 3, max_num_frames: int = 1024) -> dict:
    """The discriminator cfg of the authors' configs/model/{stylegan-v,mostgan}.yaml (the keys the network reads)."""
    if kind not in KINDS:
        raise DiscriminatorError(f"unknown discriminator kind {kind!r} (use one of {KINDS})")
    cfg = {"concat_res": 16, "num_frames_div_factor": 2, "dummy_c": False,
           "sampling": {"type": "random", "num_frames_per_video": num_frames, "max_num_frames": max_num_frames}}
    if kind == "mostgan_v":
        cfg.update({"motion_diff": True, "motion_dim": 128, "spectral_norm": False})
    return cfg


def official_kwargs(kind: str, img_resolution: int, c_dim: int = 0, batch_per_gpu: Optional[int] = None,
                    mbstd_group_size: int = 4, num_frames: int = 3, max_num_frames: int = 1024,
                    fp32: bool = False) -> dict:
    """Constructor kwargs that the authors' ``src/train.py`` builds for ``cfg=auto``: channel_base = fmaps * 32768
    (fmaps 0.5 below 512 px, else 1), channel_max 512, num_fp16_res 4 and conv_clamp 256 (0 / None with
    ``fp32``), 2 mapping layers, minibatch-stddev group ``min(batch_per_gpu, mbstd_group_size)`` (``batch_per_gpu``
    None = at least the group size)."""
    group = mbstd_group_size if batch_per_gpu is None else min(batch_per_gpu, mbstd_group_size)
    return {
        "c_dim": c_dim, "img_resolution": img_resolution, "img_channels": 3, "architecture": "resnet",
        "channel_base": int((1 if img_resolution >= 512 else 0.5) * 32768), "channel_max": 512,
        "num_fp16_res": 0 if fp32 else 4, "conv_clamp": None if fp32 else 256,
        "block_kwargs": {}, "mapping_kwargs": {"num_layers": 2}, "epilogue_kwargs": {"mbstd_group_size": group},
        "cfg": official_cfg(kind, num_frames, max_num_frames),
    }


def tiny_kwargs(kind: str = "stylegan_v") -> dict:
    """A tiny 64x64 discriminator for CPU tests (like the generators' ``tiny_config``: channel_base 1024,
    channel_max 32, num_fp16_res 2, conv_clamp 256; MoStGAN-V motion_dim 8 as its tiny generator), minibatch-stddev
    group 2, F = 3, max_num_frames 64 (time differences up to 63): 128,768 (StyleGAN-V) / 131,048 (MoStGAN-V)
    parameters, a quarter of them in the 256-wide time-difference embedding and the mapping's label embedding."""
    kwargs = official_kwargs(kind, 64, batch_per_gpu=2, max_num_frames=64)
    kwargs.update({"channel_base": 1024, "channel_max": 32, "num_fp16_res": 2, "conv_clamp": 256})
    if kind == "mostgan_v":
        kwargs["cfg"]["motion_dim"] = 8
    return kwargs


def image_kwargs(img_resolution: int, img_channels: int, channel_base: int = 32768, channel_max: int = 512,
                 num_fp16_res: int = 4, conv_clamp: Optional[float] = 256, mbstd_group_size: int = 4) -> dict:
    """Constructor kwargs of the unconditional StyleGAN2 *image* discriminator (``networks_stylegan2.Discriminator``
    of the StyleGAN3 repository, resnet, defaults as there): this class with one frame per video (module docstring).
    MotionStyleGAN's pair discriminator is ``img_channels = 6``."""
    return {
        "c_dim": 0, "img_resolution": img_resolution, "img_channels": img_channels, "architecture": "resnet",
        "channel_base": channel_base, "channel_max": channel_max, "num_fp16_res": num_fp16_res,
        "conv_clamp": conv_clamp, "block_kwargs": {}, "mapping_kwargs": {},
        "epilogue_kwargs": {"mbstd_group_size": mbstd_group_size},
        "cfg": {"concat_res": img_resolution // 2, "num_frames_div_factor": 1,
                "sampling": {"type": "random", "num_frames_per_video": 1, "max_num_frames": 1}},
    }
