"""Native PyTorch MoStGAN-V generator (Shen, Li, Elhoseiny, "MoStGAN-V: Video Generation with Temporal Motion
Styles", CVPR 2023), reproducing the *inference* behaviour of the authors' code (``xiaoqian-shen/MoStGAN-V``).

An independent MIT-licensed implementation. MoStGAN-V is StyleGAN-V (:mod:`vgbench.models.stylegan_v`; the motion
path ``motion.py`` is byte-identical upstream) plus "temporal motion styles":

* ``synthesis.multimotionmap``: FC(w_dim + motion_v_dim -> motion_num * w_dim, lrelu) then
  FC(motion_num * w_dim -> motion_num * motion_dim), applied per frame *and* per ws slot to ``[w ++ motion_v]``
  and reshaped to ``motion_num`` (K) motion styles of ``motion_dim`` values (256x256 defaults: K = 8, d = 128).
* In blocks whose resolution is in ``mod_layers`` ('16,32,64,128'), every modulated 3x3 layer (conv0/conv1, not
  torgb) owns ``hypernet.conv0``: a bias-free 1x1 ``Conv2dLayer`` (lrelu, gain sqrt 2) mapping each motion style
  to ``rank * (C_in + 3 + 3)`` numbers (weight ``[rank*(C_in+6), motion_dim, 1, 1]``: 518/262/134 for
  C_in = 512/256/128), read as a rank-``rank`` factorisation (input-channel vector x kernel-row vector x
  kernel-column vector, summed over rank / sqrt(rank)) of a per-style tensor M_k [C_in, 3, 3].
* MoStAtt (upstream ``tensor_modulation_word``): with the style-modulated weight W = weight * s (per sample,
  [O, I, 3, 3]): scores_ok = <W_o, M_k> / sqrt(I*9); attention = softmax over k; mod = sum_k attn_ok M_k;
  mod /= max|mod| (per sample, over all O, I, 3, 3); W' = W * (1 + lrelu_0.2(mod)); demodulation coefficients
  d_o = rsqrt(sum W'^2 + 1e-8). (Upstream's ``normalize`` argument is ignored; the similarity term ``sim`` it
  returns only feeds a training loss with weight 0 and is not computed here.)

Fused vs non-fused branch -- the part a port must get right
-----------------------------------------------------------
Upstream's modulated convolution has two branches that are equal for plain StyleGAN2 but *not* here:

* fused (grouped conv with per-sample weights): output = conv(x, W' * d) -- full MoStAtt.
* non-fused: output = conv(x * s, weight) * d -- the MoStAtt tensor only enters through d (the demodulation
  coefficients); the convolution itself uses the plain weight.

A block picks the branch per forward as ``fused = not training and (dtype == float32 or batch == 1)`` where
``dtype`` is float16 exactly for the blocks in the fp16 path (resolution >= ``max(2**(log2(res)+1-num_fp16_res),
8)``; b32..b256 for 256x256 with ``num_fp16_res=4``) unless ``force_fp32``. Blocks in the fp16 path also
pre-normalise weight and styles by their infinity norms *before* MoStAtt, which changes the attention scores
(so it changes the function, not just rounding). Consequences for the official 256x256 models, whose word-mod
blocks are b16 (fp32) and b32/b64/b128 (fp16):

* Official sampling (CUDA, default flags): b16 applies full MoStAtt (fused); b32..b128 run non-fused with
  pre-normalisation, i.e. MoStAtt only rescales output channels. Training always used the non-fused branch.
* Upstream on CPU: the network code has no device check, so the same blocks would run in float16 on CPU (which
  the PyTorch versions of the time could not do); with ``force_fp32=True`` every block is fp32 and therefore
  fused at inference -- a *different function* (full MoStAtt everywhere) from official CUDA sampling.
* ``batch == 1`` (a single frame of a single video): upstream's ``hypernet(...).squeeze()`` then drops the batch
  axis and the forward crashes whenever the network has any hypernet, so the batch-1 clause never produced an
  official output. Here the squeeze is done on the last axis only and, in networks with hypernets, the batch-1
  clause is dropped (a lone frame takes the same branch as any other batch, so outputs do not depend on the
  batch composition). In networks without hypernets the clause is kept (it only affects rounding there).

vgbench exposes this through ``precision`` (see :mod:`vgbench.models.stylegan2`):

* ``'auto'`` (default): on CUDA ``'fp16'``; elsewhere ``'fp16-emulated'``.
* ``'fp16'``: official CUDA behaviour, float16 activations in fp16 blocks.
* ``'fp16-emulated'``: the official branch selection and pre-normalisation with float32 activations: the same
  function as official CUDA sampling, so CPU samples match GPU ones up to float16 rounding.
* ``'fp32'`` (= upstream ``force_fp32=True``): every block fused, full MoStAtt everywhere.

``fused_modconv=True/False`` forces one branch in every block (upstream's block keyword).

Config keys read (``cfg``; defaults = composed ``configs/model/mostgan.yaml`` + ``base.yaml`` +
``configs/dataset/base.yaml``, :data:`DEFAULT_CFG`): everything StyleGAN-V reads (``z_dim``, ``c_dim``,
``use_noise``, ``input.type``, ``motion.*``, ``time_enc.*``, ``sampling.max_num_frames``) plus ``style_z`` (True),
``word_mod`` (True), ``motion_num`` (8), ``motion_dim`` (128), ``mod_layers`` ('16,32,64,128'), ``rank`` (1).
``time_enc.cond_type`` must be 'concat_const' (the only value upstream's MoStGAN-V synthesis can run).
"""
from __future__ import annotations

import copy
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import deep_merge
from .stylegan2 import ACTIVATIONS, Conv2dLayer, FullyConnectedLayer, bias_act, conv2d_resample
from .stylegan2 import SynthesisBlock as StyleGAN2Block
from .stylegan2 import official_fused_modconv, parse_resolutions, setup_filter
from .stylegan_v import DEFAULT_CFG as STYLEGAN_V_CFG
from .stylegan_v import READ_KEYS as STYLEGAN_V_READ_KEYS
from .stylegan_v import Generator as StyleGANVGenerator
from .stylegan_v import SynthesisNetwork as StyleGANVSynthesis
from .stylegan_v import official_config as _stylegan_v_official_config
from .stylegan_v import tiny_kwargs

__all__ = ["DEFAULT_CFG", "READ_KEYS", "mostatt_modulate", "modulated_conv2d_mostatt", "HyperNet", "SynthesisLayer",
           "SynthesisBlock", "SynthesisNetwork", "Generator", "official_config", "tiny_config"]

DEFAULT_CFG: dict = deep_merge(STYLEGAN_V_CFG, {
    "style_z": True,
    "word_mod": True,
    "motion_num": 8,
    "motion_dim": 128,
    "mod_layers": "16,32,64,128",
    "rank": 1,
})
READ_KEYS = STYLEGAN_V_READ_KEYS + ("style_z", "word_mod", "motion_num", "motion_dim", "mod_layers", "rank")


# ------------------------------------------------------------------------------------------------ MoStAtt

def mostatt_modulate(w: torch.Tensor, style_m: torch.Tensor) -> torch.Tensor:
    """Apply motion-style attention to per-sample weights.

    w: [N, O, I, kh, kw] (already multiplied by the content styles); style_m: [N, K, R, I + kh + kw] (K motion
    styles, rank R). Returns ``w * (1 + lrelu(mod / max|mod|))`` with ``mod`` the attention-weighted mixture of
    the K rank-R tensors (see the module docstring).
    """
    n, out_c, in_c, kh, kw = w.shape
    k, rank = style_m.shape[1], style_m.shape[2]
    chan = style_m[..., :in_c].reshape(n, k, rank, in_c, 1, 1)
    rows = style_m[..., in_c:in_c + kh].reshape(n, k, rank, 1, kh, 1)
    cols = style_m[..., in_c + kh:].reshape(n, k, rank, 1, 1, kw)
    m = (chan * rows * cols).sum(dim=2) / math.sqrt(rank)  # [N, K, I, kh, kw]
    m = m.reshape(n, k, -1)
    w_flat = w.reshape(n, out_c, -1)
    scores = torch.bmm(w_flat, m.transpose(1, 2)) / math.sqrt(in_c * kh * kw)  # [N, O, K]
    mod = torch.bmm(F.softmax(scores, dim=-1), m).reshape(n, out_c, in_c, kh, kw)
    mod = mod / mod.norm(float("inf"), dim=[1, 2, 3, 4], keepdim=True)
    mod = F.leaky_relu(mod, negative_slope=0.2)
    return w_flat.reshape(n, out_c, in_c, kh, kw) * (mod + 1.0)


def modulated_conv2d_mostatt(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                             style_m: Optional[torch.Tensor], noise: Optional[torch.Tensor] = None, up: int = 1,
                             padding: int = 0, resample_filter: Optional[torch.Tensor] = None,
                             flip_weight: bool = True, fused_modconv: bool = True,
                             prenormalize: Optional[bool] = None) -> torch.Tensor:
    """Demodulated modulated convolution with optional MoStAtt (``style_m`` None = plain StyleGAN2).

    Fused: conv(x, W' * d). Non-fused: conv(x * s, weight) * d, where MoStAtt only enters through d -- upstream's
    behaviour, kept on purpose (see the module docstring).
    """
    n = x.shape[0]
    out_c, in_c, kh, kw = weight.shape
    if prenormalize is None:
        prenormalize = x.dtype == torch.float16
    if prenormalize:
        weight = weight * (1 / math.sqrt(in_c * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if style_m is not None:
        w = mostatt_modulate(w, style_m)
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding,
                            flip_weight=flip_weight)
        if noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        return x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)

    w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(-1, in_c, kh, kw).to(x.dtype), f=resample_filter, up=up, padding=padding,
                        groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise)
    return x


class HyperNet(nn.Module):
    """Motion style [N, motion_dim, K] -> [N, out_channels, K, 1] via a bias-free 1x1 ``Conv2dLayer`` with lrelu
    (upstream's ``training.layers.Conv1d``; state-dict keys ``conv0.weight``, ``conv0.resample_filter``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, out_channels, kernel_size=1, activation="lrelu", bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv0(x.unsqueeze(-1))


# ------------------------------------------------------------------------------------------------ layers / blocks

class SynthesisLayer(nn.Module):
    """MoStGAN-V modulated 3x3 layer: content style (``affine``), optional motion-style hypernet, MoStAtt."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = False, activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: Optional[float] = None, channels_last: bool = False,
                 word_mod: bool = True, instance_norm: bool = False, mostgan_cfg: Optional[dict] = None):
        super().__init__()
        mc = mostgan_cfg or {}
        style_z, cfg_word_mod = bool(mc.get("style_z", True)), bool(mc.get("word_mod", True))
        self.rank = int(mc.get("rank", 1))
        self.resolution, self.up = resolution, up
        self.activation, self.conv_clamp = activation, conv_clamp
        self.use_noise, self.word_mod, self.instance_norm = use_noise, word_mod, instance_norm
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][2]
        self.has_affine = style_z or not word_mod
        self.has_hypernet = cfg_word_mod and word_mod
        if not self.has_affine:  # upstream then multiplies the weight by None
            raise NotImplementedError("style_z=False with word-modulated layers cannot run upstream either")
        if self.has_affine:
            self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        if self.has_hypernet:
            self.hypernet = HyperNet(int(mc["motion_dim"]), self.rank * (in_channels + 2 * kernel_size))

    def motion_styles(self, m: torch.Tensor) -> torch.Tensor:
        """m: [N, K, motion_dim] -> [N, K, rank, C_in + kh + kw]."""
        n, k, _ = m.shape
        s = self.hypernet(m.permute(0, 2, 1)).squeeze(-1).permute(0, 2, 1)  # [N, K, rank*(I+kh+kw)]
        return s.reshape(n, k, self.rank, s.shape[-1] // self.rank)

    def forward(self, x: torch.Tensor, w: torch.Tensor, extra: Optional[torch.Tensor] = None,
                noise_mode: str = "random", fused_modconv: bool = True, gain: float = 1.0,
                prenormalize: Optional[bool] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        styles = self.affine(w)
        style_m = None
        if self.has_hypernet:
            if extra is None:
                raise ValueError("a word-modulated layer needs its motion styles (extra)")
            style_m = self.motion_styles(extra)
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            if generator is None:
                noise = torch.randn(shape, device=x.device)
            else:
                noise = torch.randn(shape, generator=generator, device=generator.device).to(x.device)
            noise = noise * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        if self.instance_norm:
            x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-8)
        x = modulated_conv2d_mostatt(x, self.weight, styles, style_m, noise=noise, up=self.up,
                                     padding=self.padding, resample_filter=self.resample_filter,
                                     flip_weight=(self.up == 1), fused_modconv=fused_modconv,
                                     prenormalize=prenormalize)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class SynthesisBlock(StyleGAN2Block):
    """Shared StyleGAN2 block with MoStGAN-V layers and the batch-1 rule described in the module docstring."""

    layer_class = SynthesisLayer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch1_fused = True  # the network turns it off when it has hypernets

    def select_fused_modconv(self, fp16_path: bool, x: Optional[torch.Tensor]) -> bool:
        batch = None if x is None else int(x.shape[0])
        if not self.batch1_fused:
            batch = None
        return official_fused_modconv(self.training, fp16_path, batch)


class SynthesisNetwork(StyleGANVSynthesis):
    """StyleGAN-V synthesis + ``multimotionmap`` + word-modulated blocks."""

    block_class = SynthesisBlock
    defaults = DEFAULT_CFG
    read_keys = READ_KEYS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        has_hypernet = any(getattr(getattr(b, name, None), "has_hypernet", False)
                           for b in self.blocks() for name in ("conv0", "conv1"))
        for b in self.blocks():
            b.batch1_fused = not has_hypernet

    def _build_extra(self, cfg: dict) -> None:
        if self.cond_type != "concat_const":
            raise NotImplementedError("MoStGAN-V supports time_enc.cond_type='concat_const' only")
        if self.motion_encoder is None:
            raise NotImplementedError("MoStGAN-V needs the motion encoder (motion.v_dim > 0)")
        self.motion_num = int(cfg["motion_num"])
        self.motion_dim = int(cfg["motion_dim"])
        if self.motion_num <= 0:
            raise NotImplementedError("motion_num must be positive (upstream cannot run motion_num=0)")
        self.mod_layers = parse_resolutions(cfg["mod_layers"])
        self.multimotionmap = nn.Sequential(
            FullyConnectedLayer(self.motion_v_dim + self.w_dim, self.motion_num * self.w_dim, activation="lrelu"),
            FullyConnectedLayer(self.motion_num * self.w_dim, self.motion_num * self.motion_dim),
        )

    def _block_kwargs(self, res: int, cfg: dict) -> dict:
        mc = {k: cfg[k] for k in ("style_z", "word_mod", "rank", "motion_dim")}
        return {"use_noise": bool(cfg["use_noise"]), "word_mod": res in self.mod_layers, "mostgan_cfg": mc}

    def forward(self, ws: torch.Tensor, t: torch.Tensor, c: Optional[torch.Tensor] = None,
                motion_z: Optional[torch.Tensor] = None, motion_v: Optional[torch.Tensor] = None,
                noise_mode: str = "const", precision: str = "auto", force_fp32: bool = False,
                fused_modconv: Optional[bool] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        c, precision, num_frames = self._check_inputs(ws, t, c, precision, force_fp32)
        if motion_v is None:
            motion_v = self.compute_motion_v(c, t, motion_z, generator)  # [B*F, motion_v_dim]
        ws = ws.repeat_interleave(num_frames, dim=0)  # [B*F, num_ws, w_dim]
        joint = torch.cat([ws, motion_v.unsqueeze(1).repeat(1, self.num_ws, 1)], dim=2)
        motion = self.multimotionmap(joint.reshape(-1, self.w_dim + self.motion_v_dim))
        motion = motion.reshape(len(motion_v), self.num_ws, self.motion_num, -1).to(torch.float32)
        ws = ws.to(torch.float32)

        x = img = None
        for block, cur_ws, cur_m in zip(self.blocks(), self._split_ws(ws), self._split_ws(motion)):
            x, img = block(x, img, cur_ws, input_arg=motion_v, precision=precision, fused_modconv=fused_modconv,
                           layer_extras=cur_m, noise_mode=noise_mode, generator=generator)
        return img


class Generator(StyleGANVGenerator):
    """MoStGAN-V generator; constructor, ``forward`` and motion helpers as :class:`stylegan_v.Generator`."""

    synthesis_class = SynthesisNetwork
    defaults = DEFAULT_CFG
    read_keys = READ_KEYS


# ------------------------------------------------------------------------------------------------ configs

def official_config(img_resolution: int = 256, c_dim: int = 0, motion_z_distance: int = 16,
                    fmaps: Optional[float] = None, mapping_layers: int = 2, fp32: bool = False,
                    cfg_overrides: Optional[dict] = None) -> dict:
    """Constructor kwargs that upstream's ``src/train.py`` (``cfg=auto``) builds for ``configs/model/mostgan.yaml``
    (``channel_base = fmaps * 32768``, fmaps 0.5 below 512 px; ``num_fp16_res 4``, ``conv_clamp 256``)."""
    return _stylegan_v_official_config(img_resolution, c_dim, motion_z_distance, fmaps, mapping_layers, fp32,
                                       cfg_overrides, default_cfg=DEFAULT_CFG)


def tiny_config(kind: str = "mostgan_v") -> dict:
    """Constructor kwargs of a tiny MoStGAN-V (64x64) for tests and smoke runs.

    ``num_fp16_res=2`` puts b32/b64 in the fp16 path; ``mod_layers='16,32'`` gives one word-modulated fp32 block
    (b16) and one fp16 block (b32). ``rank=2`` exercises the rank factorisation. ``kind``: 'mostgan_v' or
    'mostgan_v_cond' (3 classes and spatial noise buffers).
    """
    kind = kind.replace("-", "_").lower()
    if kind not in ("mostgan_v", "tiny", "default", "mostgan_v_cond"):
        raise ValueError(f"unknown tiny config {kind!r} (use 'mostgan_v' or 'mostgan_v_cond')")
    cond = kind == "mostgan_v_cond"
    c_dim = 3 if cond else 0
    cfg = copy.deepcopy(DEFAULT_CFG)
    cfg.update({"z_dim": 32, "w_dim": 32, "c_dim": c_dim, "use_noise": cond, "motion_num": 4, "motion_dim": 8,
                "mod_layers": "16,32", "rank": 2})
    return tiny_kwargs(cfg, c_dim)

