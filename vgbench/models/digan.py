"""DIGAN (Yu, Tack, Mo, Kim, Kim, Ha, Shin, "Generating Videos with Dynamics-aware Implicit Generative Adversarial
Networks", ICLR 2022): a native generator and the ``digan`` adapter.

An independent MIT-licensed implementation of the *inference* path of the authors' code (``sihyun-yu/digan``,
built on INR-GAN). Module and parameter names and tensor shapes follow the official ``G_ema`` so its weights load
with ``strict=True``; hyper-parameters come from the pickled constructor arguments (``_init_kwargs``: ``z_dim``,
``w_dim``, ``mapping_kwargs``, ``synthesis_kwargs``, ``cfg``).

Architecture (official 128x128 configuration, ``configs/digan.yml``)
--------------------------------------------------------------------
* Mapping: StyleGAN2 mapping network with 2 layers (z = w = 512), ``num_ws = 13``
  (:class:`vgbench.models.stylegan2.MappingNetwork`).
* Synthesis: an implicit network over pixel coordinates. Blocks ``b4 .. b{input.resolution}`` all run at
  ``input.resolution`` (32) without upsampling; the later blocks (``b64``, ``b128``) upsample features and the
  image by 2 (``upsampling_mode``: nearest) and concatenate fresh coordinate embeddings before ``conv0``. ``b4``
  starts from coordinate embeddings alone (``b4.input.input.coord_fuser``). Every convolution is 1x1
  (``coords.kernel_size``) and modulated by *factorised multiplicative modulation* (``fmm``): the layer's affine
  maps w to a rank-r pair (L [out, r], R [r, in]) and the weight becomes ``W * (1 + L R / sqrt(r))``, each output
  row then scaled to unit L2 norm (``activation: demod``), followed by bias, leaky ReLU(0.2) and gain sqrt(2).
  ``b{res}`` has ``num_extra_convs[res]`` further 1x1 layers (one at 128) and every block a StyleGAN2 ``torgb``
  (skip architecture). Channels ``min(channel_base / res, channel_max)``: 512 up to 64, 256 at 128. fp32, no
  spatial noise (``use_noise: false``).
* Coordinate embeddings (``CoordFuser``): coordinates ``x, y`` in ``[-1, 1)`` (``arange(n) / n * 2 - 1``; ``y``
  runs bottom to top) mapped by a per-sample linear map ``W`` (``sqrt(10) * xyaffine(w)[: 2E]``, shape [E, 2])
  plus a phase ``b = xyaffine(w)[2E:]``; the phase gets the motion term
  ``motion_mlp(leaky_relu(affine([w, z_motion]) * Ts * motion_sigma))`` (``motion_sigma = 0.25``; this leaky ReLU
  has PyTorch's default slope 0.01 and no gain; ``motion_mlp`` = FC + lrelu(0.2)*sqrt(2), FC). Output channels
  ``[features, sin(Wxy + b), cos(Wxy + b)]`` (E = ``predictable_emb_size`` = 128, so 256 embedding channels).
  ``w`` is the style of the layer that follows (``conv1`` in ``b4``, ``conv0`` elsewhere).

Checkpoint format
-----------------
The authors' ``network-snapshot-*.pkl`` (StyleGAN2-ADA persistence pickle with reconstructor
``torch_utils.persistence``; parts ``G``, ``D``, ``G_ema``, ``augment_pipe``, ``training_set_kwargs``). It is read by
:func:`vgbench.models.checkpoint.load_network_pickle`, which never executes the source text embedded in the file
(the official loader does, and that source no longer runs on NumPy >= 1.24). Only ``G_ema`` is used, as by the
official scripts. The OmegaConf ``cfg`` keeps ``${...}`` interpolations (``coord_fuser_cfg: ${coords}``); they are
resolved against the generator config, as OmegaConf does. The ``torch.distributions.Beta`` objects the official
modules hold (used only to draw training time pairs) are read as inert records and ignored. vgbench's own ``.vgb``
format (:func:`~vgbench.models.checkpoint.save_native`) is accepted too.

Time and fps
------------
DIGAN's time ``Ts`` is 1.0 per 16-frame training clip: clips are 16 frames spaced ``clip_stride`` dataset frames
apart (1 for UCF-101 and Sky-Timelapse; 4 for TaiChi-HD, whose clips take every 4th frame), and the official
samplers render ``Ts = linspace(0, 1, 16)``. vgbench renders dataset time ``t`` (in dataset frames) at
``Ts = t / (15 * clip_stride)``, so any fps and any time are possible (``fps_control``); times past one clip
(``Ts > 1``) are extrapolation (the authors' project video marks frames past 16 as extrapolated,
``src/scripts/webpage_extrapolation.py``). ``clip_stride`` is the option of that name, else ``clip_stride`` in
the pickled ``training_set_kwargs`` (or its ``cfg``), else the official dataset rule (an ``ImageFolderDataset``
whose path contains ``taichi`` uses every 4th frame), else 1. The frame rate of the dataset
(``native_fps``) comes from vgbench's dataset card (``vgbench eval``) or ``training_set_kwargs.cfg.fps``.

Seeds and noise
---------------
Video ``i`` of ``seed`` draws its content code ``z`` from stream 0 and its motion code ``z_motion`` from stream 1 of
:func:`~vgbench.models.base.video_seed`; ``content_seed`` / ``motion_seed`` fix one of them for every video. DIGAN
has no spatial noise in its released configuration; configurations with ``use_noise`` use the stored constant
noise (``noise_mode='const'``, as the official samplers).

Differences from the official sampler, and why
-----------------------------------------------
* ``Generator.forward`` is bypassed: it renders ``linspace(0, 1, F)`` for ``F > 2`` frames but silently switches to
  random Beta-distributed training times for ``F <= 2``, and draws ``z_motion`` from the global RNG. vgbench calls
  ``mapping`` and ``synthesis`` directly with explicit times and seeded codes. ``Ts`` is computed in float64 and
  rounded once (``linspace`` may differ from ``k / 15`` in the last bit of float32).
* ``z_motion`` has ``w_dim`` entries (the motion affine reads ``[w, z_motion]`` of width ``2 * w_dim``); the
  official forward hard-codes 512, which equals ``w_dim`` in every official configuration.
* Frames are generated in fixed-shape calls (one video x 16 frames, the last call padded by repeating its last
  time), so pixels do not depend on the batch size or on how many frames are requested.
* Quantisation rounds (``x * 127.5 + 128``, vgbench's convention); the official FVD script clamps and truncates
  ``(x + 1) / 2 * 255``.
* Everything runs in float32. Official DIGAN is trained and sampled in fp32 (``fp32: true``); a checkpoint trained
  with ``num_fp16_res > 0`` would run some blocks in float16 on CUDA officially (a warning is issued).
* Conditional checkpoints (``c_dim > 0``) are refused: the official samplers pass no labels either.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Adapter, Capabilities, ModelInfo, jsonable, register, to_uint8, video_seed
from .checkpoint import (CheckpointError, checkpoint_sha256, load_native, load_network_pickle, load_strict,
                         module_state_dict, network_record, plain)
from .stylegan2 import (ACTIVATIONS, FullyConnectedLayer, MappingNetwork, ToRGBLayer, bias_act, modulated_conv2d,
                        setup_filter)
from .stored_config import resolve_plain

__all__ = ["Generator", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "CoordFuser", "fmm_linear",
           "pixel_coords", "resolve_cfg", "official_config", "tiny_config", "load_generator", "DIGANAdapter",
           "FRAMES_PER_CLIP", "FRAME_CHUNK"]

FRAMES_PER_CLIP = 16  # DIGAN's training clips: Ts = 1.0 spans FRAMES_PER_CLIP - 1 clip steps
FRAME_CHUNK = 16  # frames per generator call (fixed shape => batch-invariant pixels)

# ------------------------------------------------------------------------------------------------ config

def resolve_cfg(cfg: dict) -> dict:
    """Resolve OmegaConf-style interpolations (``'${coords}'``, ``'${coords.low_res_cfg}'``) against ``cfg`` itself,
    as ``OmegaConf.create(cfg)`` does for the generator config (DIGAN's ``train.py`` stores it with
    ``OmegaConf.to_container``). Returns a new plain dict; ``ValueError`` names a value that does not resolve."""
    if not isinstance(cfg, dict):
        raise ValueError(f"the generator cfg must be a mapping, got {type(cfg).__name__}")
    return resolve_plain(cfg)


def _need(d: dict, key: str, where: str):
    if key not in d or d[key] is None:
        raise ValueError(f"generator cfg lacks {where}{key}")
    return d[key]


# ------------------------------------------------------------------------------------------------ coordinates


def pixel_coords(size: int, device=None) -> torch.Tensor:
    """[1, 2, size, size] pixel coordinates in [-1, 1): channel 0 is x (left to right), channel 1 is y (bottom to
    top), as the official ``generate_coords`` (``align_corners=False``)."""
    r = torch.arange(size, device=device, dtype=torch.float32) / size * 2 - 1
    x = r.view(1, size).expand(size, size)
    y = r.flip(0).view(size, 1).expand(size, size)
    return torch.stack([x, y])[None].contiguous()


class CoordFuser(nn.Module):
    """Concatenates learned Fourier features of the pixel coordinates to the input channels (channels first).

    Only the ``predictable_emb_size`` embedding (frequencies and phases predicted from w, phases shifted by the
    motion term) is implemented: it is the only kind the DIGAN configurations use.
    """

    def __init__(self, cfg: dict, w_dim: int, resolution: int):
        super().__init__()
        res_cfgs = _need(cfg, "res_configs", "coords.")
        if str(resolution) not in res_cfgs:
            raise ValueError(f"generator cfg lacks coords.res_configs.{resolution}")
        res_cfg = res_cfgs[str(resolution)] or {}
        other = [k for k in ("log_emb_size", "random_emb_size", "shared_emb_size", "const_emb_size")
                 if (res_cfg.get(k) or 0) > 0]
        if other or res_cfg.get("use_raw_coords") or cfg.get("fallback"):
            raise ValueError(f"coordinate embeddings {other or ['raw coords/fallback']} at resolution {resolution} "
                             f"are not implemented (DIGAN uses predictable_emb_size only)")
        self.resolution = resolution
        self.emb_size = int(res_cfg.get("predictable_emb_size") or 0)
        if self.emb_size <= 0:
            raise ValueError(f"coords.res_configs.{resolution} has no predictable_emb_size")
        self.coord_dim = int(_need(cfg, "coord_dim", "coords."))
        if self.coord_dim != 2:
            raise ValueError(f"coords.coord_dim must be 2 (image coordinates), got {self.coord_dim}")
        self.fourier_scale = float(res_cfg.get("fourier_scale", math.sqrt(10)))
        self.use_cosine = bool(res_cfg.get("use_cosine", False))
        self.motion_sigma = float(cfg.get("motion_sigma", 0.25))
        self.w_dim = w_dim
        e = self.emb_size
        self.xyaffine = FullyConnectedLayer(w_dim, e * self.coord_dim + e, bias_init=0)
        self.affine = FullyConnectedLayer(2 * w_dim, e, bias_init=0)  # reads [w, z_motion]
        self.motion_mlp = nn.Sequential(FullyConnectedLayer(e, e, activation="lrelu"), FullyConnectedLayer(e, e))
        self.total_dim = e * (2 if self.use_cosine else 1)

    def forward(self, x: torch.Tensor, w: torch.Tensor, Ts: torch.Tensor, z_motion: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, H]; w: [N, w_dim]; Ts: [N, 1, 1, 1]; z_motion: [B, w_dim] with N = B * frames (video-major).
        Returns [N, C + total_dim, H, H]."""
        n, size = x.shape[0], x.shape[2]
        e, wsize = self.emb_size, self.emb_size * self.coord_dim
        mod = self.xyaffine(w)
        freqs = (self.fourier_scale * mod[:, :wsize]).view(n, e, self.coord_dim)
        phase = mod[:, wsize:]
        per_video = n // z_motion.shape[0]
        zm = z_motion.repeat_interleave(per_video, dim=0)
        motion = self.affine(torch.cat([w, zm], dim=1)).view(n, e, 1, 1)
        motion = F.leaky_relu(motion * Ts.view(n, 1, 1, 1) * self.motion_sigma)  # slope 0.01, no gain
        phase = (phase + self.motion_mlp(motion.view(n, e))).view(n, e, 1, 1)
        coords = pixel_coords(size, x.device).expand(n, -1, -1, -1)
        emb = torch.einsum("bdc,bcxy->bdxy", freqs, coords) + phase
        parts = [x, emb.sin()] + ([emb.cos()] if self.use_cosine else [])
        return torch.cat(parts, dim=1)


class CoordsInput(nn.Module):
    """First-block input: coordinate embeddings of an empty feature map at ``input.resolution``."""

    def __init__(self, input_cfg: dict, w_dim: int):
        super().__init__()
        self.resolution = int(_need(input_cfg, "resolution", "input."))
        self.coord_fuser = CoordFuser(_need(input_cfg, "coord_fuser_cfg", "input."), w_dim, self.resolution)
        self.total_dim = self.coord_fuser.total_dim

    def forward(self, n: int, w, Ts, z_motion) -> torch.Tensor:
        empty = torch.zeros(n, 0, self.resolution, self.resolution, device=w.device)
        return self.coord_fuser(empty, w, Ts, z_motion)


class GenInput(nn.Module):
    """``input.type`` 'coords' (DIGAN) or 'const' (a learned [C, res, res] tensor); stored as ``input``."""

    def __init__(self, input_cfg: dict, channels: int, w_dim: int):
        super().__init__()
        self.type = _need(input_cfg, "type", "input.")
        if self.type == "coords":
            self.input = CoordsInput(input_cfg, w_dim)
            self.total_dim = self.input.total_dim
        elif self.type == "const":
            res = int(_need(input_cfg, "resolution", "input."))
            self.input = nn.Parameter(torch.randn([channels, res, res]))
            self.total_dim = channels
        else:
            raise ValueError(f"unknown input.type {self.type!r}")

    def forward(self, n: int, w, Ts, z_motion) -> torch.Tensor:
        if self.type == "const":
            return self.input.unsqueeze(0).repeat([n, 1, 1, 1])
        return self.input(n, w, Ts, z_motion)


# ------------------------------------------------------------------------------------------------ layers

FMM_ACTIVATIONS = ("demod", "tanh", "sigmoid", "none")


def fmm_linear(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, activation: str = "demod",
               noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Factorised multiplicative modulation of a 1x1 convolution.

    x: [N, I, H, W]; weight: [O, I, 1, 1]; styles: [N, (O + I) * r] = (L [O, r] row-major, R [r, I] row-major).
    Per sample ``W' = weight * (1 + act(L R / sqrt(r)))`` with act = tanh | sigmoid - 0.5 | identity; ``'demod'``
    then divides each output row by its L2 norm (+1e-8). Returns ``W' x`` (+ noise).
    """
    n, cin, h, w = x.shape
    cout = weight.shape[0]
    if weight.shape[2:] != (1, 1):
        raise ValueError(f"fmm needs 1x1 kernels, got {tuple(weight.shape)}")
    if styles.shape[1] % (cin + cout):
        raise ValueError(f"fmm styles width {styles.shape[1]} is not a multiple of in + out = {cin + cout}")
    rank = styles.shape[1] // (cin + cout)
    left = styles[:, :cout * rank].view(n, cout, rank)
    right = styles[:, cout * rank:].view(n, rank, cin)
    mod = left @ right / math.sqrt(rank)
    if activation == "tanh":
        mod = mod.tanh()
    elif activation == "sigmoid":
        mod = mod.sigmoid() - 0.5
    wmat = weight[:, :, 0, 0].unsqueeze(0) * (mod + 1.0)
    if activation == "demod":
        wmat = wmat / (wmat.norm(dim=2, keepdim=True) + 1e-8)
    out = torch.bmm(wmat.to(x.dtype), x.reshape(n, cin, h * w)).view(n, cout, h, w)
    return out if noise is None else out + noise


class SynthesisLayer(nn.Module):
    """Modulated convolution (fmm 1x1, or StyleGAN2 modulated conv when ``fmm.enabled`` is false), bias, lrelu."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, cfg: dict,
                 kernel_size: int = 1, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, instance_norm: bool = False):
        super().__init__()
        fmm = cfg.get("fmm") or {}
        self.use_fmm = bool(fmm.get("enabled", False))
        self.fmm_activation = fmm.get("activation", "demod") if self.use_fmm else None
        if self.use_fmm and self.fmm_activation not in FMM_ACTIVATIONS:
            self.fmm_activation = "none"  # upstream applies no activation for other names
        self.use_noise = bool(cfg.get("use_noise", False))
        self.resolution, self.activation, self.conv_clamp = resolution, activation, conv_clamp
        self.instance_norm = instance_norm
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][2]
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if self.use_fmm:
            if kernel_size != 1:
                raise ValueError("fmm modulation needs coords.kernel_size 1")
            self.affine = FullyConnectedLayer(w_dim, (in_channels + out_channels) * int(fmm["rank"]), bias_init=0)
        else:
            self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if self.use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        noise = self.noise_const * self.noise_strength if self.use_noise else None
        if self.instance_norm:
            x = x / (x.std(dim=[2, 3], keepdim=True) + 1e-8)
        if self.use_fmm:
            x = fmm_linear(x, self.weight, styles, self.fmm_activation, noise=noise)
        else:
            x = modulated_conv2d(x, self.weight, styles, noise=noise, padding=self.padding,
                                 resample_filter=self.resample_filter, fused_modconv=True)
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain, clamp=self.conv_clamp)


def _resize(x: torch.Tensor, mode: str) -> torch.Tensor:
    """2x upsampling of features or images (``upsampling_mode``)."""
    if mode == "bilinear":
        return F.interpolate(x, mode="bilinear", align_corners=True, scale_factor=2)
    return F.interpolate(x, mode=mode, scale_factor=2)


class SynthesisBlock(nn.Module):
    """One DIGAN block. Blocks up to ``input.resolution`` run at that resolution; later ones upsample by 2 and
    (with per-resolution coordinates) concatenate fresh coordinate embeddings before ``conv0``."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, cfg: dict, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 **layer_kwargs):
        super().__init__()
        if architecture not in ("skip", "orig"):
            raise ValueError(f"synthesis architecture {architecture!r} is not implemented (DIGAN uses 'skip')")
        input_res = int(_need(_need(cfg, "input", ""), "resolution", "input."))
        if resolution <= input_res:
            self.resolution, self.up, self.input_resolution = input_res, 1, input_res
        else:
            self.resolution, self.up, self.input_resolution = resolution, 2, resolution // 2
        self.upsampling_mode = cfg.get("upsampling_mode")
        if self.up == 2 and self.upsampling_mode is None:
            raise ValueError("upsampling_mode None (FIR up-sampling convolutions) is not implemented; DIGAN uses "
                             "'nearest'")
        self.in_channels, self.w_dim, self.img_channels = in_channels, w_dim, img_channels
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        coords = _need(cfg, "coords", "")
        kernel_size = int(coords.get("kernel_size", 3)) if coords.get("enabled") else 3
        instance_norm = bool((cfg.get("fmm") or {}).get("instance_norm", False))
        layer = dict(w_dim=w_dim, resolution=self.resolution, cfg=cfg, kernel_size=kernel_size,
                     resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv = self.num_torgb = 0
        self.coord_fuser = None
        if in_channels == 0:
            self.input = GenInput(_need(cfg, "input", ""), out_channels, w_dim)
            conv1_in = self.input.total_dim
        else:
            conv0_in = in_channels
            if coords.get("enabled") and (not coords.get("per_resolution") or self.resolution > self.input_resolution):
                self.coord_fuser = CoordFuser(coords, w_dim, self.resolution)
                conv0_in += self.coord_fuser.total_dim
            self.conv0 = SynthesisLayer(conv0_in, out_channels, **layer)
            self.num_conv += 1
            conv1_in = out_channels
        self.conv1 = SynthesisLayer(conv1_in, out_channels, instance_norm=in_channels > 0 and instance_norm, **layer)
        self.num_conv += 1
        n_extra = int((cfg.get("num_extra_convs") or {}).get(str(self.resolution), 0))
        self.extra_convs = None
        if n_extra > 0:
            self.extra_convs = nn.ModuleList([SynthesisLayer(out_channels, out_channels, instance_norm=instance_norm,
                                                             **layer) for _ in range(n_extra)])
            self.num_conv += n_extra
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1

    def forward(self, x, img, ws: torch.Tensor, Ts: torch.Tensor, z_motion: torch.Tensor):
        if ws.shape[1] != self.num_conv + self.num_torgb:
            raise ValueError(f"block {self.resolution}: ws has {ws.shape[1]} entries, expected "
                             f"{self.num_conv + self.num_torgb}")
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            w = next(w_iter)
            x = self.conv1(self.input(ws.shape[0], w, Ts, z_motion), w)
        else:
            if self.up == 2:
                x = _resize(x, self.upsampling_mode)
            w = next(w_iter)
            if self.coord_fuser is not None:
                x = self.coord_fuser(x, w, Ts, z_motion)
            x = self.conv0(x, w)
            x = self.conv1(x, next(w_iter))
        for conv in self.extra_convs or ():
            x = conv(x, next(w_iter))
        if img is not None and self.up == 2:
            img = _resize(img, self.upsampling_mode)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=True)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, cfg: dict, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_fp16_res = num_fp16_res
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim=w_dim, resolution=r,
                                   img_channels=img_channels, is_last=r == img_resolution, cfg=cfg,
                                   use_fp16=r >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if r == img_resolution else 0)
            setattr(self, f"b{r}", block)

    def blocks(self):
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def forward(self, ws: torch.Tensor, Ts: torch.Tensor, z_motion: torch.Tensor) -> torch.Tensor:
        """ws: [B, num_ws, w_dim] (one per video); Ts: [B * F] or [B * F, 1, 1, 1] (video-major); z_motion:
        [B, w_dim]. Returns [B * F, C, H, W] images in about [-1, 1]."""
        b = ws.shape[0]
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if z_motion.shape[0] != b or Ts.numel() % b:
            raise ValueError(f"{b} videos need {b} motion codes and a multiple of {b} times, got "
                             f"{z_motion.shape[0]} and {Ts.numel()}")
        frames = Ts.numel() // b
        Ts = Ts.reshape(-1, 1, 1, 1).to(torch.float32)
        ws = ws.to(torch.float32).repeat_interleave(frames, dim=0)
        x = img = None
        i = 0
        for block in self.blocks():
            x, img = block(x, img, ws[:, i:i + block.num_conv + block.num_torgb], Ts, z_motion)
            i += block.num_conv
        return img


class Generator(nn.Module):
    """DIGAN generator; constructor arguments as the official ``training.networks.Generator``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int, ours=None,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None,
                 cfg: Optional[dict] = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels, self.ours = img_resolution, img_channels, ours
        self.cfg = resolve_cfg(dict(cfg or {}))
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          cfg=self.cfg, **dict(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **dict(mapping_kwargs or {}))
        self.motion_z_dim = w_dim  # the motion affine reads [w, z_motion] (upstream draws 512 = w_dim)

    def forward(self, z: torch.Tensor, Ts: torch.Tensor, z_motion: torch.Tensor, c: Optional[torch.Tensor] = None,
                truncation_psi: float = 1.0) -> torch.Tensor:
        """z: [B, z_dim]; Ts: [B * F] DIGAN times (1.0 = one 16-frame clip); z_motion: [B, w_dim] -> [B*F, C, H, W]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi)
        return self.synthesis(ws, Ts, z_motion)


# ------------------------------------------------------------------------------------------------ configurations


def _official_generator_cfg(input_resolution: int, extra_convs: dict, res_configs: dict, emb_size: int,
                            rank: int) -> dict:
    """The generator section of ``configs/digan.yml``, with its interpolations kept as strings."""
    return {
        "fp32": True, "upsampling_mode": "nearest", "use_noise": False, "fmaps": 1,
        "num_extra_convs": extra_convs,
        "input": {"type": "coords", "resolution": input_resolution, "coord_fuser_cfg": "${coords}"},
        "coords": {
            "enabled": True, "per_resolution": True, "kernel_size": 1, "coord_dim": 2, "fallback": False,
            "use_full_cache": False, "global_motion": False, "motion_sigma": 0.25,
            "low_res_cfg": {"predictable_emb_size": emb_size, "use_cosine": True, "use_diagonal": True},
            "medium_res_cfg": {"predictable_emb_size": emb_size, "use_cosine": True},
            "res_configs": res_configs,
        },
        "fmm": {"enabled": True, "rank": rank, "activation": "demod"},
    }


def official_config(img_resolution: int = 128) -> dict:
    """Constructor kwargs of the official DIGAN generator (``train.py`` with ``configs/digan.yml``: z = w = 512,
    2 mapping layers, channel_base 32768, channel_max 512, fp32, no clamp)."""
    low, med = "${coords.low_res_cfg}", "${coords.medium_res_cfg}"
    res_configs = {"4": low, "8": low, "16": low, "32": low, "64": low, "128": med, "256": med}
    cfg = _official_generator_cfg(32, {"128": 1, "256": 1}, res_configs, 128, 10)
    return {"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": img_resolution, "img_channels": 3,
            "ours": True, "mapping_kwargs": {"num_layers": 2},
            "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 0, "conv_clamp": None},
            "cfg": cfg}


def tiny_config() -> dict:
    """A 64x64 DIGAN with the official structure at small width: input block + 2 blocks at 16x16, two upsampling
    blocks with coordinate fusers, one extra conv at 64, w = z = 32, 8 Fourier frequencies, fmm rank 4."""
    low, med = "${coords.low_res_cfg}", "${coords.medium_res_cfg}"
    res_configs = {"4": low, "8": low, "16": low, "32": low, "64": med}
    cfg = _official_generator_cfg(16, {"64": 1}, res_configs, 8, 4)
    return {"z_dim": 32, "w_dim": 32, "c_dim": 0, "img_resolution": 64, "img_channels": 3, "ours": True,
            "mapping_kwargs": {"num_layers": 2},
            "synthesis_kwargs": {"channel_base": 1024, "channel_max": 32, "num_fp16_res": 0, "conv_clamp": None},
            "cfg": cfg}


# ------------------------------------------------------------------------------------------------ loading


def _build(init_args: tuple, init_kwargs: dict, state: dict, where: str) -> Generator:
    try:
        G = Generator(*init_args, **init_kwargs)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{where}: the pickled DIGAN generator arguments do not build a network: {e}") from e
    return load_strict(G, state, where, "the DIGAN network built from its config")


def _is_digan(state: dict) -> bool:
    return any(".coord_fuser." in k for k in state)


def load_generator(path: str | Path) -> tuple[Generator, dict]:
    """Load ``G_ema`` of an official DIGAN snapshot (or a vgbench ``.vgb``). Returns (generator, meta) with meta
    keys ``format``, ``init_kwargs``, ``training_set_kwargs`` (plain dict or None) and ``extra`` (native only)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.suffix == ".pkl":
        snap = load_network_pickle(path)
        g = network_record(snap, "G_ema", path)
        state = module_state_dict(g, where=path)
        init_args, init_kwargs = g.init_args, g.init_kwargs
        tsk = plain(snap.get("training_set_kwargs"))
        meta = {"format": "official-pickle", "training_set_kwargs": tsk if isinstance(tsk, dict) else None,
                "extra": {}}
        kind = f"a {g.class_name} network"
    else:
        config, state = load_native(path)
        if config.get("model") not in (None, "digan"):
            raise CheckpointError(f"{path}: a {config.get('model')} checkpoint, not digan")
        init_args, init_kwargs = (), config.get("init_kwargs") or {}
        meta = {"format": "vgbench", "training_set_kwargs": None, "extra": config}
        kind = "this network"
    if not _is_digan(state):
        raise CheckpointError(f"{path}: not a DIGAN generator: {kind} has no coordinate-fuser weights "
                              f"(synthesis.*.coord_fuser.*)")
    G = _build(tuple(init_args), dict(init_kwargs), state, str(path))
    meta["init_kwargs"] = init_kwargs
    if G.c_dim:
        raise CheckpointError(f"{path}: a class-conditional DIGAN (c_dim={G.c_dim}) is not supported (the official "
                              f"samplers pass no labels)")
    if G.synthesis.num_fp16_res:
        warnings.warn(f"{path}: trained with num_fp16_res={G.synthesis.num_fp16_res}; vgbench computes every block "
                      f"in float32 (upstream would use float16 on CUDA)")
    return G, meta


def clip_stride_from_training_set(tsk: Optional[dict]) -> tuple[int, str]:
    """DIGAN's clip stride (dataset frames between consecutive clip frames) from pickled training_set_kwargs."""
    if not isinstance(tsk, dict):
        return 1, "default"
    for where, d in (("training_set_kwargs.clip_stride", tsk), ("training_set_kwargs.cfg.clip_stride",
                                                                 tsk.get("cfg") if isinstance(tsk.get("cfg"), dict)
                                                                 else {})):
        if d.get("clip_stride") is not None:
            return int(d["clip_stride"]), where
    if str(tsk.get("class_name", "")).endswith("ImageFolderDataset") and "taichi" in str(tsk.get("path", "")) \
            and not tsk.get("interpolate", False):
        return 4, "training_set_kwargs.path (official rule: TaiChi clips take every 4th frame)"
    return 1, "default"


# ------------------------------------------------------------------------------------------------ adapter


@register
class DIGANAdapter(Adapter):
    name = "digan"
    description = "DIGAN (Yu et al., ICLR 2022): implicit neural representation video GAN (INR-GAN based)"
    capabilities = Capabilities(
        fps_control=True, content_motion_separable=True, conditioning=None, max_frames=None,
        time_step="continuous: Ts = t / (15 * clip_stride), t in dataset frames (Ts 1.0 = one 16-frame clip)",
        notes="trained on times within one 16-frame clip (Ts in [0, 1]); later frames are extrapolation. "
              "Options: clip_stride (4 for TaiChi-HD), truncation_psi.")

    def __init__(self, ckpt, device="cpu", native_fps: float | None = None, clip_stride: int | None = None,
                 truncation_psi: float = 1.0, **options):
        super().__init__(ckpt, device, **options)
        self.reject_unknown_options(options, ("clip_stride", "truncation_psi", "native_fps"))
        if ckpt is None:
            raise ValueError("digan needs --ckpt (an official network-snapshot .pkl or a vgbench .vgb file)")
        self.G, meta = load_generator(ckpt)
        self.G = self.G.to(self.device)
        self.format, self.init_kwargs = meta["format"], meta["init_kwargs"]
        tsk = meta["training_set_kwargs"]
        if clip_stride is not None:
            stride, source = clip_stride, "option"
        elif meta["format"] == "vgbench" and meta["extra"].get("clip_stride") is not None:
            stride, source = meta["extra"]["clip_stride"], "checkpoint config"
        else:
            stride, source = clip_stride_from_training_set(tsk)
        try:
            ok = not isinstance(stride, bool) and float(stride).is_integer() and float(stride) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"digan: clip_stride must be a positive integer, got {stride!r}")
        self.clip_stride, self.clip_stride_source = int(float(stride)), source
        try:
            self.truncation_psi = float(truncation_psi)
        except (TypeError, ValueError):
            raise ValueError(f"digan: truncation_psi must be a number, got {truncation_psi!r}") from None
        self.dataset_fps = None
        cfg = tsk.get("cfg") if isinstance(tsk, dict) else None
        if isinstance(cfg, dict) and cfg.get("fps"):
            self.dataset_fps = float(cfg["fps"])
        if meta["format"] == "vgbench" and meta["extra"].get("dataset_fps"):
            self.dataset_fps = float(meta["extra"]["dataset_fps"])
        if native_fps is not None:
            self.dataset_fps = float(native_fps)
        self.sha256 = checkpoint_sha256(ckpt)

    @property
    def info(self) -> ModelInfo:
        r = int(self.G.img_resolution)
        return self.model_info((r, r), self.dataset_fps)

    def provenance(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.ckpt), "checkpoint_sha256": self.sha256,
                "format": self.format, "part": "G_ema" if self.format == "official-pickle" else None,
                "precision": "fp32", "config": jsonable(self.init_kwargs), "dataset_fps": self.dataset_fps,
                "options": {"clip_stride": self.clip_stride, "clip_stride_source": self.clip_stride_source,
                            "truncation_psi": self.truncation_psi},
                "time_mapping": f"Ts = t / {(FRAMES_PER_CLIP - 1) * self.clip_stride} (t in dataset frames)"}

    def digan_times(self, t) -> torch.Tensor:
        """Dataset times (frames) -> DIGAN's Ts (float64 division, rounded once to float32)."""
        return torch.as_tensor(np.asarray(t, np.float64) / ((FRAMES_PER_CLIP - 1) * self.clip_stride),
                               dtype=torch.float32)

    @torch.inference_mode()
    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        G = self.G
        Ts = self.digan_times(t)
        videos = []
        for i in indices:
            cg = video_seed(content_seed, 0, 0) if content_seed is not None else video_seed(seed, i, 0)
            mg = video_seed(motion_seed, 0, 1) if motion_seed is not None else video_seed(seed, i, 1)
            z = torch.randn(1, G.z_dim, generator=cg).to(self.device)
            z_motion = torch.randn(1, G.motion_z_dim, generator=mg).to(self.device)
            ws = G.mapping(z, None, truncation_psi=self.truncation_psi)
            frames = []
            for f0 in range(0, len(Ts), FRAME_CHUNK):
                chunk = Ts[f0:f0 + FRAME_CHUNK]
                real = len(chunk)
                # fixed-shape calls (1 video x FRAME_CHUNK frames, padded with the last time): pixels do not
                # depend on the batch size or the number of frames asked for
                chunk = torch.cat([chunk, chunk[-1:].repeat(FRAME_CHUNK - real)]).to(self.device)
                img = G.synthesis(ws, chunk, z_motion)
                frames.append(to_uint8(img[:real].permute(0, 2, 3, 1)))
            videos.append(np.concatenate(frames))
        return np.stack(videos)
