"""Native PyTorch StyleGAN-V generator (Skorokhodov, Tulyakov, Elhoseiny, CVPR 2022).

An independent MIT-licensed implementation whose module tree, parameter names and shapes equal those of the
authors' ``G_ema`` (repository ``universome/stylegan-v``), so the tensors of an official
``network-snapshot-*.pkl`` load with ``strict=True`` into ``Generator(**official_init_kwargs)``.

Structure (256x256 defaults; 32,105,941 parameters, ``num_ws == 14``)::

    mapping            2-layer MLP z -> w (lr x0.01, lrelu), w broadcast to num_ws, buffer w_avg
    synthesis
      motion_encoder   MotionMappingNetwork
        conv.0, conv.1   EqLRConv1d 512->512, kernel 11, no padding, lrelu(0.2) without gain, lr x0.01
        time_encoder     AlignedTimeEncoder (buffers freqs, phase_scales; bias-free linears
                         periods_predictor, phase_predictor [256, 512], aligners_predictor [512, 512])
      b4               input.input.const [1, 512, 4, 4] (TemporalInput: const ++ motion_v -> 1024 channels),
                       conv1 (1024 -> 512), torgb
      b8 .. b256       conv0 (up 2), conv1, torgb; skip architecture; resample_filter buffers

Video sampling (``forward``)
----------------------------
``G(z [B, z_dim], c [B, c_dim], t [B, F])`` -> ``[B*F, 3, H, W]`` float32, video-major, roughly in [-1, 1]
(not clamped). ``t`` is measured in frames of the training dataset and may be fractional.

* Content: ``w = mapping(z, c)``, the same for every frame of a video.
* Motion: per video a trajectory of Gaussian codes ``motion_z [B, L + 2(k-1), motion.z_dim]`` placed
  ``motion_z_distance`` (delta) frames apart, ``L = ceil(max(max_num_frames - 1, max t) / delta) + 2``
  (``max_num_frames = 1024``: L = 66 and ``motion_z`` is [B, 86, 512] for delta = 16). Two padding-free conv1d
  layers turn it into L codes ``u``. For time t, the codes at knots ``floor(t / delta)`` and the next one are
  combined by the AlignedTimeEncoder into ``motion_v`` (2 * time_enc.dim values, sin ++ cos), which is
  concatenated to the 4x4 constant (``cond_type == 'concat_const'``).
* ``motion_z`` defaults to fresh Gaussian noise drawn from ``generator`` (a ``torch.Generator``) when given,
  else from the global RNG exactly like upstream (``torch.randn(B, L', z_dim, device=c.device)``). Pass a
  pre-drawn ``motion_z`` (:meth:`Generator.sample_motion_z`, shape :meth:`Generator.motion_z_shape`) to render
  a long video in several calls or to make the output independent of the batch composition: a longer
  trajectory is fine (upstream slices it), because the padding-free convolution makes code j depend only on
  ``motion_z[j : j + 2(k-1) + 1]``.
* Mixed precision (see :mod:`vgbench.models.stylegan2`): upstream runs blocks >= ``fp16_start_resolution`` in
  float16 whenever ``force_fp32`` is False, with *no device check* (its scripts always use CUDA; on CPU the
  float16 convolutions of the PyTorch versions it targeted were not implemented). ``precision='auto'`` runs real
  float16 on CUDA and the same code path in float32 elsewhere. For StyleGAN-V the fused and non-fused
  modulated-convolution branches are mathematically equal, so precision only affects rounding.

Config keys read (``cfg``: the official OmegaConf ``model.generator`` node as a plain nested dict; missing keys
take the defaults of ``configs/model/stylegan-v.yaml`` + ``configs/model/base.yaml`` + ``configs/dataset/base.yaml``,
listed in :data:`DEFAULT_CFG`):

* ``z_dim`` (512), ``c_dim`` (0; motion conditioning width), ``use_noise`` (False: no noise buffers),
* ``input.type`` ('temporal'; or 'const'),
* ``motion.{z_dim 512, v_dim 512, motion_z_distance 16, gen_strategy 'conv', kernel_size 11, fourier True}``,
* ``time_enc.{cond_type 'concat_const' (or 'concat_w', 'sum_w'), dim 256, min_period_len 16, max_period_len 1024}``,
* ``sampling.max_num_frames`` (1024).

The network takes *resolved* values: an OmegaConf interpolation (a string such as ``'${dataset.motion_z_distance}'``)
left in a key the network reads (:data:`READ_KEYS`) is a ``ValueError``, never a silent default. The official code
resolves them at run time over the experiment config stored with the node; vgbench's loader
(:mod:`vgbench.models.stylegan_family`) does the same from the snapshot without running code. Upstream's forward
uses ``motion.motion_z_distance`` from the config for the motion knots and the stored ``freqs``/``phase_scales``
buffers for the time encoding; ``time_enc.min_period_len``/``max_period_len`` only initialise those buffers.

Not supported (upstream either never trained them or crashes): ``motion.gen_strategy == 'autoregressive'``
(LSTM) and ``motion.fourier == False`` (upstream's ``get_dim`` then raises).
"""
from __future__ import annotations

import copy
import math
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import deep_merge
from .stylegan2 import (FullyConnectedLayer, MappingNetwork, SynthesisBlock, block_channels,
                        fp16_start_resolution, resolve_precision)

__all__ = ["DEFAULT_CFG", "READ_KEYS", "resolve_config", "EqLRConv1d", "AlignedTimeEncoder", "MotionMappingNetwork",
           "TemporalInput", "GenInput", "SynthesisNetwork", "Generator", "official_config", "tiny_config",
           "construct_linspaced_frequencies"]

# Composed defaults of the official generator config (configs/model/base.yaml + stylegan-v.yaml,
# configs/dataset/base.yaml, configs/sampling/base.yaml); only these keys influence the network.
DEFAULT_CFG: dict = {
    "z_dim": 512,
    "w_dim": 512,
    "c_dim": 0,
    "use_noise": False,
    "input": {"type": "temporal"},
    "sampling": {"max_num_frames": 1024, "num_frames_per_video": 3},
    "motion": {
        "z_dim": 512,
        "v_dim": 512,
        "motion_z_distance": 16,
        "gen_strategy": "conv",
        "kernel_size": 11,
        "use_fractional_t": True,
        "fourier": True,
    },
    "time_enc": {
        "cond_type": "concat_const",
        "dim": 256,
        "min_period_len": 16,
        "max_period_len": 1024,
        "phase_dropout_std": 1.0,
    },
}

# The config values the network reads (dotted keys); nothing else in a stored config changes the network.
READ_KEYS = ("z_dim", "c_dim", "use_noise", "input.type", "sampling.max_num_frames", "motion.z_dim", "motion.v_dim",
             "motion.motion_z_distance", "motion.gen_strategy", "motion.kernel_size", "motion.fourier",
             "time_enc.cond_type", "time_enc.dim", "time_enc.min_period_len", "time_enc.max_period_len")

_MISSING = object()


def _unresolved(v) -> bool:
    return isinstance(v, str) and ("${" in v or v == "???")


def _lookup(d: dict, path: str):
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return d if _unresolved(d) else _MISSING
        d = d[key]
    return d


def resolve_config(cfg: Optional[dict], defaults: dict = DEFAULT_CFG, c_dim: Optional[int] = None,
                   read_keys=READ_KEYS) -> dict:
    """Plain copy of ``cfg`` (the official ``model.generator`` node as a nested dict) over ``defaults``.

    Missing keys take ``defaults``; ``c_dim`` (the Generator's label width) fills a missing ``cfg['c_dim']``. A key
    of ``read_keys`` holding an unresolved interpolation raises ``ValueError`` naming it.
    """
    given = dict(cfg or {})
    if c_dim is not None and "c_dim" not in given:
        given["c_dim"] = int(c_dim)
    out = deep_merge(defaults, given)
    bad = {k: _lookup(out, k) for k in read_keys if _unresolved(_lookup(out, k))}
    if bad:
        raise ValueError(f"unresolved config interpolations in values the network reads: {bad} (resolve them from "
                         f"the experiment config first; vgbench's checkpoint loader does)")
    return out


# ------------------------------------------------------------------------------------------------ motion path

class EqLRConv1d(nn.Module):
    """1-D convolution with equalised learning rate; activation 'linear' or 'lrelu' (slope 0.2, *no* gain)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, padding: int = 0, stride: int = 1,
                 activation: str = "linear", lr_multiplier: float = 1.0, bias: bool = True,
                 bias_init: float = 0.0):
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"EqLRConv1d supports 'linear' and 'lrelu', not {activation!r}")
        self.activation, self.padding, self.stride = activation, padding, stride
        self.weight = nn.Parameter(torch.randn([out_features, in_features, kernel_size]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features * kernel_size)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C_in, L] -> [N, C_out, L']
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        y = F.conv1d(x, w, b, stride=self.stride, padding=self.padding)
        return F.leaky_relu(y, 0.2) if self.activation == "lrelu" else y


def construct_linspaced_frequencies(num_freqs: int, min_period_len: float, max_period_len: float) -> torch.Tensor:
    """[1, num_freqs] float32 angular frequencies 2 pi / period, periods log-spaced from ``max_period_len``
    (first entry) down to ``min_period_len`` (last entry); computed in float64, then rounded."""
    log_periods = np.linspace(np.log2(min_period_len), np.log2(max_period_len), num_freqs)
    freqs = (2 * np.pi / 2 ** log_periods)[::-1]
    return torch.from_numpy(freqs.astype(np.float32).copy()).unsqueeze(0)


class AlignedTimeEncoder(nn.Module):
    """StyleGAN-V's acyclic positional encoding of time.

    For a frame at time t between knots t_l = t - (t mod delta) and t_r = t_l + delta with codes u_l, u_r and
    alpha = (t mod delta) / delta::

        periods = tanh(P u_l) + 1,  phases = Phi u_l
        e(s)    = [sin, cos](freqs * periods * s + phases * phase_scales)
        motion_v = e(t) - lerp(e(t_l), e(t_r), alpha) + lerp(A u_l, A u_r, alpha)

    ``phase_scales = max_period_len * freqs / (2 pi)``; P, Phi, A are bias-free linear maps.
    """

    def __init__(self, latent_dim: int, dim: int, min_period_len: float, max_period_len: float):
        super().__init__()
        self.latent_dim = latent_dim
        freqs = construct_linspaced_frequencies(dim, min_period_len, max_period_len)
        self.register_buffer("freqs", freqs)
        self.periods_predictor = FullyConnectedLayer(latent_dim, dim, activation="linear", bias=False)
        self.phase_predictor = FullyConnectedLayer(latent_dim, dim, activation="linear", bias=False)
        period_lens = 2 * np.pi / freqs  # float32 arithmetic, as upstream
        self.register_buffer("phase_scales", max_period_len / period_lens)
        self.aligners_predictor = FullyConnectedLayer(latent_dim, dim * 2, activation="linear", bias=False)

    def get_dim(self) -> int:
        return self.freqs.shape[1] * 2

    def min_period_len(self) -> float:
        """The shortest period (2 pi / last frequency), rounded to an integer when within 1e-3 of one."""
        p = float(2 * np.pi / float(self.freqs[0, -1]))
        return float(round(p)) if abs(p - round(p)) < 1e-3 * max(1.0, p) else p

    def forward(self, t, u_left, u_right, interp_weights, t_left, t_right) -> torch.Tensor:
        b, f, d = u_left.shape
        u_left = u_left.reshape(b * f, d)
        u_right = u_right.reshape(b * f, d)
        periods = self.periods_predictor(u_left).tanh() + 1
        phases = self.phase_predictor(u_left)
        aligners_left = self.aligners_predictor(u_left)
        aligners_right = self.aligners_predictor(u_right)

        def embed(time):
            raw = self.freqs * periods * time.reshape(-1).float().unsqueeze(1) + phases * self.phase_scales
            return torch.cat([raw.sin(), raw.cos()], dim=1)

        pos, pos_left, pos_right = embed(t), embed(t_left), embed(t_right)
        a = interp_weights.reshape(-1, 1)
        remove = pos_left * (1 - a) + pos_right * a
        add = aligners_left * (1 - a) + aligners_right * a
        return pos - remove + add  # [B*F, 2*dim]


class MotionMappingNetwork(nn.Module):
    """Motion noise trajectory -> per-frame motion codes ``motion_v`` (attribute names follow upstream)."""

    def __init__(self, cfg: dict):
        super().__init__()
        m, te = cfg["motion"], cfg["time_enc"]
        if m["gen_strategy"] != "conv":
            raise NotImplementedError(f"motion.gen_strategy={m['gen_strategy']!r} is not supported (only 'conv')")
        if not m["fourier"]:
            raise NotImplementedError("motion.fourier=False is not supported (the official code cannot run it)")
        self.z_dim, self.v_dim, self.c_dim = int(m["z_dim"]), int(m["v_dim"]), int(cfg["c_dim"])
        self.kernel_size = int(m["kernel_size"])
        self.max_num_frames = int(cfg["sampling"]["max_num_frames"])
        self.motion_z_distance = m["motion_z_distance"]  # what upstream's forward uses for the knots
        self.time_encoder = AlignedTimeEncoder(latent_dim=self.v_dim, dim=int(te["dim"]),
                                               min_period_len=te["min_period_len"],
                                               max_period_len=te["max_period_len"])
        self.conv = nn.Sequential(
            EqLRConv1d(self.z_dim + self.c_dim, self.z_dim, self.kernel_size, padding=0, activation="lrelu",
                       lr_multiplier=0.01),
            EqLRConv1d(self.z_dim, self.v_dim, self.kernel_size, padding=0, activation="lrelu",
                       lr_multiplier=0.01),
        )
        self.num_additional_codes = (self.kernel_size - 1) * 2

    def get_dim(self) -> int:
        return self.time_encoder.get_dim()

    def traj_len(self, t_max: float) -> int:
        """Number of trajectory codes u for times up to ``t_max`` (upstream's ``get_max_traj_len``)."""
        max_t = max(self.max_num_frames - 1, float(t_max))
        return int(np.ceil(max_t / self.motion_z_distance)) + 2

    def motion_z_shape(self, batch_size: int, t) -> tuple[int, int, int]:
        t_max = float(t.max()) if torch.is_tensor(t) else float(np.max(t))
        return batch_size, self.traj_len(t_max) + self.num_additional_codes, self.z_dim

    def forward(self, c: torch.Tensor, t: torch.Tensor, motion_z: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> dict:
        """c: [B, c_dim]; t: [B, F] -> {'motion_v': [B*F, 2*dim], 'motion_z': the trajectory noise used}."""
        b, f = t.shape
        dist = self.motion_z_distance
        n_codes = self.traj_len(t.max().item()) + self.num_additional_codes
        if motion_z is None:
            shape = (b, n_codes, self.z_dim)
            if generator is None:
                motion_z = torch.randn(shape, device=c.device)
            else:
                motion_z = torch.randn(shape, generator=generator, device=generator.device).to(c.device)
        if motion_z.ndim != 3 or motion_z.shape[0] < b or motion_z.shape[2] < self.z_dim:
            raise ValueError(f"motion_z has shape {tuple(motion_z.shape)}; expected at least "
                             f"[{b}, {n_codes}, {self.z_dim}]")
        trajs_in = motion_z[:b, :n_codes, :self.z_dim].to(c.device)
        if self.c_dim > 0:
            trajs_in = torch.cat([trajs_in, c.unsqueeze(1).repeat(1, trajs_in.shape[1], 1)], dim=2)
        trajs = self.conv(trajs_in.permute(0, 2, 1)).permute(0, 2, 1)  # [B, n_traj, v_dim]

        left_idx = (t / dist).floor().long()
        if int(left_idx.min()) < 0 or int(left_idx.max()) + 1 >= trajs.shape[1]:
            raise ValueError(f"times in [{float(t.min())}, {float(t.max())}] need a motion trajectory of "
                             f"{n_codes} codes, motion_z has {motion_z.shape[1]} (times must be >= 0)")
        batch_idx = torch.arange(b, device=t.device).unsqueeze(1).repeat(1, f)
        u_left = trajs[batch_idx, left_idx]
        u_right = trajs[batch_idx, left_idx + 1]
        t_left = t - t % dist
        t_right = t_left + dist
        interp = ((t % dist) / dist).unsqueeze(2).to(torch.float32)
        motion_v = self.time_encoder(t=t, u_left=u_left, u_right=u_right, interp_weights=interp,
                                     t_left=t_left, t_right=t_right)
        return {"motion_v": motion_v, "motion_z": motion_z}


# ------------------------------------------------------------------------------------------------ first block input

class TemporalInput(nn.Module):
    """Learned 4x4 constant with the frame's motion code broadcast and concatenated along channels."""

    def __init__(self, channel_dim: int, motion_v_dim: int):
        super().__init__()
        self.motion_v_dim = motion_v_dim
        self.const = nn.Parameter(torch.randn(1, channel_dim, 4, 4))

    def get_dim(self) -> int:
        return self.motion_v_dim + self.const.shape[1]

    def forward(self, motion_v: torch.Tensor) -> torch.Tensor:  # [N, v] -> [N, C + v, 4, 4]
        n = len(motion_v)
        return torch.cat([self.const.repeat(n, 1, 1, 1),
                          motion_v[:, :, None, None].repeat(1, 1, *self.const.shape[2:])], dim=1)


class GenInput(nn.Module):
    """Input of the 4x4 block: ``input`` is a TemporalInput ('temporal') or a [C, 4, 4] parameter ('const')."""

    def __init__(self, input_type: str, channel_dim: int, motion_v_dim: int = 0):
        super().__init__()
        self.input_type = input_type
        if input_type == "const":
            self.input = nn.Parameter(torch.randn([channel_dim, 4, 4]))
            self.total_dim = channel_dim
        elif input_type == "temporal":
            self.input = TemporalInput(channel_dim, motion_v_dim)
            self.total_dim = self.input.get_dim()
        else:
            raise NotImplementedError(f"unknown input type {input_type!r}")

    @property
    def out_channels(self) -> int:
        return self.total_dim

    def forward(self, batch_size: int, motion_v: Optional[torch.Tensor] = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if self.input_type == "const":
            return self.input.to(dtype).unsqueeze(0).repeat([batch_size, 1, 1, 1])
        if motion_v is None:
            raise ValueError("the temporal input needs motion codes")
        return self.input(motion_v)  # upstream does not cast this one (the 4x4 block is always float32)


# ------------------------------------------------------------------------------------------------ networks

class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim], t [B, F] -> images [B*F, C, H, W]."""

    block_class = SynthesisBlock
    defaults = DEFAULT_CFG
    read_keys = READ_KEYS

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, cfg: Optional[dict] = None, **block_kwargs):
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        cfg = resolve_config(cfg, self.defaults, read_keys=self.read_keys)  # idempotent on a resolved config
        self.cfg = cfg
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = block_channels(img_resolution, channel_base, channel_max)
        self.fp16_resolution = fp16_start_resolution(img_resolution, num_fp16_res)
        self.cond_type = cfg["time_enc"]["cond_type"]
        if self.cond_type not in ("concat_const", "concat_w", "sum_w"):
            raise NotImplementedError(f"time_enc.cond_type={self.cond_type!r} is not supported")

        if int(cfg["motion"]["v_dim"]) > 0:
            self.motion_encoder = MotionMappingNetwork(cfg)
            self.motion_v_dim = self.motion_encoder.get_dim()
        else:
            self.motion_encoder = None
            self.motion_v_dim = 0
        self._build_extra(cfg)

        block_w_dim = w_dim + (self.motion_v_dim if self.cond_type == "concat_w" else 0)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            input_layer = GenInput(cfg["input"]["type"], channels[res], self.motion_v_dim) if res == 4 else None
            block = self.block_class(in_ch, channels[res], w_dim=block_w_dim, resolution=res,
                                     img_channels=img_channels, is_last=is_last, use_fp16=res >= self.fp16_resolution,
                                     input_layer=input_layer, **self._block_kwargs(res, cfg), **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    # hooks for subclasses (MoStGAN-V)
    def _build_extra(self, cfg: dict) -> None:
        pass

    def _block_kwargs(self, res: int, cfg: dict) -> dict:
        return {"use_noise": bool(cfg["use_noise"])}

    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def compute_motion_v(self, c, t, motion_z=None, generator=None) -> Optional[torch.Tensor]:
        if self.motion_encoder is None:
            return None
        return self.motion_encoder(c, t, motion_z=motion_z, generator=generator)["motion_v"]

    def _split_ws(self, ws: torch.Tensor) -> list[torch.Tensor]:
        out, idx = [], 0
        for block in self.blocks():
            out.append(ws.narrow(1, idx, block.num_conv + block.num_torgb))
            idx += block.num_conv
        return out

    def _check_inputs(self, ws, t, c, precision, force_fp32):
        """Validate ``ws``/``t`` shapes; default ``c`` to an empty label; resolve the precision mode."""
        if t.ndim != 2 or len(ws) != len(t):
            raise ValueError(f"need ws [B, num_ws, w_dim] and t [B, F]; got {tuple(ws.shape)}, {tuple(t.shape)}")
        if ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws has shape {tuple(ws.shape)}, expected [B, {self.num_ws}, {self.w_dim}]")
        if c is None:
            c = torch.zeros(len(t), 0, device=ws.device)
        return c, resolve_precision(precision, ws.device, force_fp32), t.shape[1]

    def forward(self, ws: torch.Tensor, t: torch.Tensor, c: Optional[torch.Tensor] = None,
                motion_z: Optional[torch.Tensor] = None, motion_v: Optional[torch.Tensor] = None,
                noise_mode: str = "const", precision: str = "auto", force_fp32: bool = False,
                fused_modconv: Optional[bool] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        c, precision, num_frames = self._check_inputs(ws, t, c, precision, force_fp32)
        ws = ws.repeat_interleave(num_frames, dim=0)
        if self.motion_encoder is not None and motion_v is None:
            motion_v = self.compute_motion_v(c, t, motion_z, generator)
        if motion_v is not None and self.cond_type == "concat_w":
            ws = torch.cat([ws, motion_v.unsqueeze(1).repeat(1, self.num_ws, 1)], dim=2)
        elif motion_v is not None and self.cond_type == "sum_w":
            ws = ws + motion_v.unsqueeze(1)
        ws = ws.to(torch.float32)
        block_motion_v = motion_v if self.cond_type == "concat_const" else None

        x = img = None
        for block, cur_ws in zip(self.blocks(), self._split_ws(ws)):
            x, img = block(x, img, cur_ws, input_arg=block_motion_v, precision=precision,
                           fused_modconv=fused_modconv, noise_mode=noise_mode, generator=generator)
        return img


class Generator(nn.Module):
    """StyleGAN-V generator. Constructor arguments are the official ones (``z_dim`` comes from ``cfg['z_dim']``
    as upstream; the optional keyword is only a consistency check / override for configs without it)."""

    synthesis_class = SynthesisNetwork
    defaults = DEFAULT_CFG
    read_keys = READ_KEYS

    def __init__(self, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 256, img_channels: int = 3,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None,
                 cfg: Optional[dict] = None, z_dim: Optional[int] = None):
        super().__init__()
        given_z = (cfg or {}).get("z_dim")
        cfg = resolve_config(cfg, self.defaults, c_dim=c_dim, read_keys=self.read_keys)
        if z_dim is not None:
            if isinstance(given_z, int) and given_z != z_dim:
                raise ValueError(f"z_dim={z_dim} contradicts cfg['z_dim']={given_z}")
            cfg["z_dim"] = int(z_dim)
        self.cfg = cfg
        self.sampling_dict = dict(cfg.get("sampling", {}))
        self.z_dim = int(cfg["z_dim"])
        self.c_dim, self.w_dim = int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.synthesis = self.synthesis_class(w_dim=self.w_dim, img_resolution=self.img_resolution,
                                              img_channels=self.img_channels, cfg=cfg, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        mk = dict(mapping_kwargs or {})
        mk.pop("cfg", None)
        self.mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws, **mk)

    # ---- motion noise helpers
    @property
    def motion_encoder(self) -> Optional[MotionMappingNetwork]:
        return self.synthesis.motion_encoder

    def motion_z_shape(self, batch_size: int, t) -> tuple[int, int, int]:
        """Shape of the motion noise upstream would draw for times ``t`` (tensor/array; its max matters).
        (0, 0, 0) if the model has no motion encoder."""
        if self.motion_encoder is None:
            return (0, 0, 0)
        return self.motion_encoder.motion_z_shape(batch_size, t)

    def sample_motion_z(self, batch_size: int, t, generator: Optional[torch.Generator] = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
        """Gaussian motion noise of :meth:`motion_z_shape`, drawn from ``generator`` (else the global RNG) on the
        generator's device, returned on ``device`` (default: the model's device)."""
        shape = self.motion_z_shape(batch_size, t)
        device = torch.device(device) if device is not None else self.mapping.fc0.weight.device
        if generator is None:
            return torch.randn(shape, device=device)
        return torch.randn(shape, generator=generator, device=generator.device).to(device)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor], t: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, motion_z: Optional[torch.Tensor] = None,
                noise_mode: str = "const", *, generator: Optional[torch.Generator] = None,
                motion_v: Optional[torch.Tensor] = None, precision: str = "auto", force_fp32: bool = False,
                fused_modconv: Optional[bool] = None) -> torch.Tensor:
        """z [B, z_dim], c [B, c_dim] (None = no label), t [B, F] -> frames [B*F, img_channels, H, W]."""
        if t.ndim != 2 or len(z) != len(t) or (c is not None and len(c) != len(z)):
            raise ValueError(f"need z [B, z_dim], c [B, c_dim], t [B, F]; got {tuple(z.shape)}, "
                             f"{None if c is None else tuple(c.shape)}, {tuple(t.shape)}")
        if c is None:
            c = torch.zeros(len(z), self.c_dim, device=z.device)
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, t=t, c=c, motion_z=motion_z, motion_v=motion_v, noise_mode=noise_mode,
                              precision=precision, force_fp32=force_fp32, fused_modconv=fused_modconv,
                              generator=generator)


# ------------------------------------------------------------------------------------------------ configs

def official_config(img_resolution: int = 256, c_dim: int = 0, motion_z_distance: int = 16,
                    fmaps: Optional[float] = None, mapping_layers: int = 2, fp32: bool = False,
                    cfg_overrides: Optional[dict] = None, default_cfg: Optional[dict] = None) -> dict:
    """Constructor kwargs that ``src/train.py`` (``cfg=auto``) builds for the default StyleGAN-V config:
    ``channel_base = fmaps * 32768`` (fmaps 0.5 below 512 px, else 1), ``channel_max 512``, 2 mapping layers,
    ``num_fp16_res 4`` and ``conv_clamp 256`` (``None``/0 with ``fp32``). ``default_cfg`` lets a derived model
    (MoStGAN-V) start from its own model config."""
    if fmaps is None:
        fmaps = 1 if img_resolution >= 512 else 0.5
    cfg = copy.deepcopy(DEFAULT_CFG if default_cfg is None else default_cfg)
    cfg["c_dim"] = c_dim
    cfg["motion"]["motion_z_distance"] = motion_z_distance
    cfg["time_enc"]["min_period_len"] = motion_z_distance
    if cfg_overrides:
        cfg = deep_merge(cfg, cfg_overrides)
    return {
        "c_dim": c_dim,
        "w_dim": cfg["w_dim"],
        "img_resolution": img_resolution,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": mapping_layers},
        "synthesis_kwargs": {"channel_base": int(fmaps * 32768), "channel_max": 512,
                             "num_fp16_res": 0 if fp32 else 4, "conv_clamp": None if fp32 else 256},
        "cfg": cfg,
    }


def tiny_config(kind: str = "stylegan_v") -> dict:
    """Constructor kwargs of a tiny StyleGAN-V for tests and smoke runs (64x64, ~0.2M parameters).

    ``kind``: 'stylegan_v' (unconditional, no noise) or 'stylegan_v_cond' (3 classes and spatial noise buffers).
    ``num_fp16_res=2`` puts b32 and b64 in the fp16 path and keeps b4..b16 in fp32.
    """
    kind = kind.replace("-", "_").lower()
    if kind not in ("stylegan_v", "tiny", "default", "stylegan_v_cond"):
        raise ValueError(f"unknown tiny config {kind!r} (use 'stylegan_v' or 'stylegan_v_cond')")
    cond = kind == "stylegan_v_cond"
    c_dim = 3 if cond else 0
    cfg = copy.deepcopy(DEFAULT_CFG)
    cfg.update({"z_dim": 32, "w_dim": 32, "c_dim": c_dim, "use_noise": cond})
    return tiny_kwargs(cfg, c_dim)


def tiny_kwargs(cfg: dict, c_dim: int) -> dict:
    """The tiny 64x64 constructor kwargs around a model config (shared with MoStGAN-V's tiny config)."""
    cfg = copy.deepcopy(cfg)
    cfg["motion"].update({"z_dim": 16, "v_dim": 16})
    cfg["time_enc"].update({"dim": 8})
    return {
        "c_dim": c_dim,
        "w_dim": 32,
        "img_resolution": 64,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 2},
        "synthesis_kwargs": {"channel_base": 1024, "channel_max": 32, "num_fp16_res": 2, "conv_clamp": 256},
        "cfg": cfg,
    }
