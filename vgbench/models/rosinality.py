"""StyleGAN2 generator in the state-dict layout of rosinality's ``stylegan2-pytorch`` (``Generator``).

Several video GANs are built on that re-implementation of StyleGAN2 and ship its ``g_ema`` state dict:
MoCoGAN-HD (standard 512-d configuration) and CTSVG (unusual channel counts; modulation width larger than the
mapping width). This module is vgbench's own implementation (MIT) of that network; it loads those tensors with
``strict=True`` and reuses the shared ops of :mod:`vgbench.models.stylegan2` (``upfirdn2d``, ``bias_act``,
``modulated_conv2d``, ``FullyConnectedLayer``, ``normalize_2nd_moment``, ``setup_filter``).

State-dict layout (all top level)
---------------------------------
``style.{1..n_mlp}.{weight,bias}``          mapping MLP (index 0 is the parameter-free pixel norm)
``input.input``                             learned constant ``[1, C4, 4, 4]``
``conv1.conv.weight``                       ``[1, C_out, C_in, 3, 3]`` (leading singleton axis, as upstream)
``conv1.conv.modulation.{weight,bias}``     style affine, ``[C_in, style_dim]``, bias initialised to 1
``conv1.noise.weight``                      ``[1]`` noise strength
``conv1.activate.bias``                     ``[C_out]`` bias of the scaled leaky ReLU
``to_rgb1.conv.{weight,modulation.*}``, ``to_rgb1.bias`` ``[1, 3, 1, 1]``
``convs.{2j}``  up-sampling conv of resolution 2**(j+3), with ``conv.blur.kernel`` (4x4, [1,3,3,1] outer / 16 * 4)
``convs.{2j+1}`` conv at the same resolution
``to_rgbs.{j}.{conv.*, bias, upsample.kernel}``
``noises.noise_{i}``                        stored spatial noise ``[1, 1, r, r]``, ``r = 2 ** ((i + 5) // 2)``

Numerics (checked against the official code's pure-PyTorch path)
-----------------------------------------------------------------
* Weights are stored unscaled; convolutions multiply by ``1/sqrt(fan_in)`` before modulation, the mapping layers
  by ``lr_mlp/sqrt(in)`` (bias by ``lr_mlp``). Demodulation is ``rsqrt(sum((scale*W*s)^2) + 1e-8)``: the scale
  is folded into the weight *before* calling :func:`~vgbench.models.stylegan2.modulated_conv2d`, so the epsilon
  sees the same numbers as upstream (the StyleGAN2-ADA layers leave the scale out, which differs in the eps).
* Up-sampling conv: grouped stride-2 transposed convolution (weight transposed to ``[I, O, k, k]``, not flipped),
  then the 4x4 blur with padding (1, 1) and gain 4. That is exactly what ``conv2d_resample(up=2, padding=1,
  flip_weight=False)`` computes with filter ``kernel / 4`` (the stored buffer already contains the gain 4; the
  division by a power of two is exact), so the shared op is used unchanged.
* ToRGB skip path: ``upfirdn2d(skip, upsample.kernel, up=2, pad=(2, 1))`` with the stored (gain-4) kernel.
* Activation: ``leaky_relu(x + b, 0.2) * sqrt(2)`` (= ``bias_act(act='lrelu')``); noise is added before it:
  ``x + noise.weight * noise``.
* The stored ``blur.kernel`` / ``upsample.kernel`` buffers are the ones used at run time (as upstream), so a
  checkpoint with a different FIR filter runs with its own filter.

Noise
-----
``synthesize(..., noise=None, randomize_noise=False)`` uses the stored ``noises.noise_i`` buffers (upstream's
``randomize_noise=False``). ``randomize_noise=True`` draws ``[B, 1, r, r]`` per layer from ``generator`` (layer
order 0..num_layers-1); an explicit ``noise`` list may hold tensors broadcastable to ``[B, 1, r, r]`` or
``None`` entries, which add no noise at all (MoCoGAN-HD's ``use_noise=False``).
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn as nn

from .checkpoint import CheckpointError, load_strict, torch_load_safe
from .stylegan2 import FullyConnectedLayer, bias_act, modulated_conv2d, normalize_2nd_moment, setup_filter, upfirdn2d

__all__ = ["rosinality_channels", "StyleGAN2Generator", "infer_rosinality_config", "load_rosinality_checkpoint",
           "load_generator_state"]


def rosinality_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """Channels per resolution 4..size of rosinality's ``Generator`` (512 up to 32, then 256*m, 128*m, ...)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    _check_size(size)
    if size not in table:
        raise ValueError(f"rosinality's channel table stops at 1024, got size {size}")
    return {r: c for r, c in table.items() if r <= size}


def _check_size(size: int) -> int:
    log2 = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** log2 != size:
        raise ValueError(f"size must be a power of two >= 4, got {size}")
    return log2


class _PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_2nd_moment(x, dim=1)


class _Kernel(nn.Module):
    """Holds a FIR kernel buffer named ``kernel`` (the ``blur`` / ``upsample`` submodules upstream)."""

    def __init__(self, kernel: torch.Tensor):
        super().__init__()
        self.register_buffer("kernel", kernel)


class _ModulatedConv(nn.Module):
    """``ModulatedConv2d``: ``weight [1, O, I, k, k]``, ``modulation`` affine, optional ``blur`` for up=2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = FullyConnectedLayer(style_dim, in_channels, bias_init=1)
        if upsample:
            self.blur = _Kernel(setup_filter(blur_kernel) * 4)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        styles = self.modulation(style)
        weight = self.weight[0] * self.scale
        if self.upsample:
            return modulated_conv2d(x, weight, styles, noise=noise, up=2, padding=self.padding,
                                    resample_filter=self.blur.kernel / 4, demodulate=self.demodulate,
                                    flip_weight=False)
        return modulated_conv2d(x, weight, styles, noise=noise, padding=self.padding, demodulate=self.demodulate)


class _NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class _ScaledLeakyReLU(nn.Module):
    """``FusedLeakyReLU``: bias, leaky ReLU (0.2), times sqrt(2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bias_act(x, self.bias, act="lrelu")


class _StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = _ModulatedConv(in_channels, out_channels, 3, style_dim, upsample=upsample,
                                   blur_kernel=blur_kernel)
        self.noise = _NoiseInjection()
        self.activate = _ScaledLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: Optional[torch.Tensor]) -> torch.Tensor:
        if noise is not None:
            noise = self.noise.weight * noise
        return self.activate(self.conv(x, style, noise=noise))


class _ToRGB(nn.Module):
    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = _Kernel(setup_filter(blur_kernel) * 4)
        self.conv = _ModulatedConv(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            k = self.upsample.kernel
            p = k.shape[0] - 2
            pad0, pad1 = (p + 1) // 2 + 1, p // 2
            out = out + upfirdn2d(skip, k, up=2, padding=[pad0, pad1, pad0, pad1])
        return out


class _ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))


class StyleGAN2Generator(nn.Module):
    """rosinality-layout StyleGAN2 generator (see the module docstring for keys and numerics).

    ``style_dim``: width of the per-layer styles fed to the modulations; ``mapping_dim``: width of the mapping
    MLP ``style`` (defaults to ``style_dim``); ``channels``: resolution -> channels (default
    :func:`rosinality_channels`).
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 channels: dict[int, int] | None = None, mapping_dim: int | None = None, lr_mlp: float = 0.01,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.log_size = _check_size(size)
        if size < 8:
            raise ValueError("size must be at least 8 (one up-sampling block)")
        self.size, self.style_dim = size, style_dim
        self.mapping_dim = style_dim if mapping_dim is None else mapping_dim
        self.n_mlp, self.lr_mlp = n_mlp, lr_mlp
        if channels is None:
            channels = rosinality_channels(size, channel_multiplier)
        channels = {int(k): int(v) for k, v in channels.items()}
        needed = [2 ** i for i in range(2, self.log_size + 1)]
        if any(r not in channels for r in needed):
            raise ValueError(f"channels must give every resolution {needed}, got {sorted(channels)}")
        self.channels = {r: channels[r] for r in needed}

        self.style = nn.Sequential(_PixelNorm(), *[
            FullyConnectedLayer(self.mapping_dim, self.mapping_dim, activation="lrelu", lr_multiplier=lr_mlp)
            for _ in range(n_mlp)])
        c4 = self.channels[4]
        self.input = _ConstantInput(c4)
        self.conv1 = _StyledConv(c4, c4, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = _ToRGB(c4, style_dim, upsample=False)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_c = c4
        for res in needed[1:]:
            out_c = self.channels[res]
            self.convs.append(_StyledConv(in_c, out_c, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(_StyledConv(out_c, out_c, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(_ToRGB(out_c, style_dim, blur_kernel=blur_kernel))
            in_c = out_c

    # -------------------------------------------------------------------------------------------- mapping
    def map(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, mapping_dim] -> w [B, mapping_dim] (pixel norm + MLP)."""
        if z.ndim != 2 or z.shape[1] != self.mapping_dim:
            raise ValueError(f"z must be [B, {self.mapping_dim}], got {tuple(z.shape)}")
        return self.style(z)

    # -------------------------------------------------------------------------------------------- noise
    def noise_shapes(self) -> list[int]:
        """Spatial size of each layer's noise map (layer order of ``noises.noise_i``)."""
        return [2 ** ((i + 5) // 2) for i in range(self.num_layers)]

    def stored_noise(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def random_noise(self, batch: int, generator: Optional[torch.Generator] = None,
                     device: torch.device | str | None = None) -> list[torch.Tensor]:
        """Fresh ``[batch, 1, r, r]`` noise per layer drawn from ``generator`` in layer order."""
        device = self.input.input.device if device is None else device
        gdev = generator.device if generator is not None else device
        return [torch.randn([batch, 1, r, r], generator=generator, device=gdev).to(device)
                for r in self.noise_shapes()]

    # -------------------------------------------------------------------------------------------- synthesis
    def synthesize(self, latent: torch.Tensor, noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                   randomize_noise: bool = False, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """latent [B, n_latent, style_dim] (or [B, style_dim], broadcast) -> image [B, 3, size, size]."""
        if latent.ndim == 2:
            latent = latent.unsqueeze(1).expand(-1, self.n_latent, -1)
        if latent.ndim != 3 or latent.shape[1] != self.n_latent or latent.shape[2] != self.style_dim:
            raise ValueError(f"latent must be [B, {self.n_latent}, {self.style_dim}], got {tuple(latent.shape)}")
        if noise is None:
            noise = (self.random_noise(latent.shape[0], generator, latent.device) if randomize_noise
                     else self.stored_noise())
        noise = list(noise)
        if len(noise) != self.num_layers:
            raise ValueError(f"noise must hold {self.num_layers} entries, got {len(noise)}")
        x = self.input.input.repeat(latent.shape[0], 1, 1, 1)
        x = self.conv1(x, latent[:, 0], noise[0])
        skip = self.to_rgb1(x, latent[:, 1])
        i = 1
        for j, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * j](x, latent[:, i], noise[2 * j + 1])
            x = self.convs[2 * j + 1](x, latent[:, i + 1], noise[2 * j + 2])
            skip = to_rgb(x, latent[:, i + 2], skip)
            i += 2
        return skip

    def forward(self, z: torch.Tensor, truncation: float = 1.0, truncation_latent: Optional[torch.Tensor] = None,
                noise=None, randomize_noise: bool = False, generator: Optional[torch.Generator] = None):
        """Standard path: map z, optional truncation towards ``truncation_latent``, same w for every layer."""
        if self.mapping_dim != self.style_dim:
            raise ValueError(f"forward needs mapping_dim == style_dim ({self.mapping_dim} != {self.style_dim}); "
                             "build the styles yourself and call synthesize()")
        w = self.map(z)
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent")
            w = truncation_latent + truncation * (w - truncation_latent)
        return self.synthesize(w.unsqueeze(1).repeat(1, self.n_latent, 1), noise=noise,
                               randomize_noise=randomize_noise, generator=generator)


# ------------------------------------------------------------------------------------------------ checkpoints

_FC = re.compile(r"^style\.(\d+)\.weight$")


def infer_rosinality_config(state: dict) -> dict:
    """Constructor kwargs of :class:`StyleGAN2Generator` read from a ``g_ema`` state dict's shapes.

    Returns ``size``, ``style_dim``, ``n_mlp`` and either ``channel_multiplier`` (when the channels are
    rosinality's table for some multiplier) or ``channels``; ``mapping_dim`` when it differs from
    ``style_dim``. ``lr_mlp`` cannot be read from tensors (the official default 0.01 applies).
    Raises :class:`CheckpointError` when a needed tensor is absent.
    """
    def get(key):
        if key not in state:
            raise CheckpointError(f"not a rosinality StyleGAN2 state dict: no {key!r}")
        return state[key]

    n_rgb = len({k.split(".")[1] for k in state if k.startswith("to_rgbs.") and k.endswith(".conv.weight")})
    if n_rgb == 0:
        raise CheckpointError("not a rosinality StyleGAN2 state dict: no 'to_rgbs.*.conv.weight'")
    size = 2 ** (n_rgb + 2)
    style_dim = int(get("conv1.conv.modulation.weight").shape[1])
    mlp = sorted(int(m.group(1)) for k in state if (m := _FC.match(k)))
    if not mlp or mlp != list(range(1, len(mlp) + 1)):
        raise CheckpointError(f"mapping layers style.N.weight must be numbered 1..n, found {mlp}")
    mapping_dim = int(get("style.1.weight").shape[1])
    channels = {4: int(get("input.input").shape[1])}
    for j in range(n_rgb):
        channels[2 ** (j + 3)] = int(get(f"convs.{2 * j}.conv.weight").shape[1])
    cfg: dict = {"size": size, "style_dim": style_dim, "n_mlp": len(mlp)}
    for m in (2, 1, 4, 8):  # rosinality's table is a function of the multiplier from 64 up
        try:
            table = rosinality_channels(size, m)
        except ValueError:
            table = None
        if table == channels:
            cfg["channel_multiplier"] = m
            break
    else:
        cfg["channels"] = channels
    if mapping_dim != style_dim:
        cfg["mapping_dim"] = mapping_dim
    return cfg


def load_generator_state(state: dict, where: str, **overrides) -> StyleGAN2Generator:
    """Build a :class:`StyleGAN2Generator` from ``state``'s shapes (``overrides`` win) and load it strictly."""
    cfg = {**infer_rosinality_config(state), **overrides}
    try:
        G = StyleGAN2Generator(**cfg)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: cannot build the generator from {cfg}: {e}") from e
    return load_strict(G, state, where, "the StyleGAN2 generator built from its shapes")


def load_rosinality_checkpoint(path, key: str = "g_ema") -> tuple[dict, dict]:
    """Read a rosinality-style training checkpoint safely: ``(state dict under key, args as a plain dict)``.

    ``torch.load(weights_only=True)`` with ``argparse.Namespace`` allow-listed (the ``args`` entry); anything
    else a file would need to unpickle is refused with a :class:`CheckpointError` naming the global.
    """
    path = Path(path)
    obj = torch_load_safe(path, "rosinality-style training checkpoint", allowed=[argparse.Namespace])
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict with {key!r}, found {type(obj).__name__}")
    if key not in obj:
        raise CheckpointError(f"{path}: no {key!r} entry (found {sorted(map(str, obj))[:10]})")
    state = obj[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: {key!r} is not a state dict of tensors")
    args = obj.get("args")
    if isinstance(args, argparse.Namespace):
        args = dict(vars(args))
    elif not isinstance(args, dict):
        args = {}
    return dict(state), args
