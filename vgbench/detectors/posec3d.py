"""PoseC3D (Duan et al., "Revisiting skeleton-based action recognition", CVPR 2022) in plain PyTorch.

The network of mmaction2's ``slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint`` config, written for vgbench from
that config and the layer description of mmaction2's ``ResNet3dSlowOnly`` / ``I3DHead``; module names follow
mmaction2's ``Recognizer3D`` so that its checkpoints load unchanged (``backbone.conv1.conv.weight``,
``backbone.layer1.0.conv2.bn.running_mean``, ``backbone.layer2.0.downsample.conv.weight``,
``cls_head.fc_cls.weight``, ...). What is implemented, exactly:

* input: heatmap volumes ``[B, 17, T, H, W]`` (:mod:`vgbench.action.heatmaps`; 48x64x64 at test time);
* stem ``conv1``: Conv3d 17 -> 32, kernel (1, 7, 7), stride 1, padding (0, 3, 3), no bias, BatchNorm3d, ReLU;
  ``maxpool`` (1, 3, 3), stride 1, padding (0, 1, 1); no ``pool2``;
* three stages of ResNet-50 bottlenecks (expansion 4), blocks (4, 6, 3), planes 32/64/128 (outputs 128/256/512),
  "pytorch" style (the stride sits on ``conv2``): ``conv1`` 1x1x1 in stage 1 and (3, 1, 1) with temporal padding
  1 in the inflated stages 2 and 3; ``conv2`` (1, 3, 3) padding (0, 1, 1) with stride (temporal, 2, 2) on the first
  block of a stage, temporal strides (1, 1, 2); ``conv3`` 1x1x1 without ReLU; the first block of each stage has a
  ``downsample`` 1x1x1 Conv3d + BN with the block's stride; ReLU after the residual sum;
* ``cls_head``: global average pool, dropout (p = 0.5, training only), ``fc_cls`` Linear 512 -> classes.

Every BatchNorm3d has eps 1e-5 and momentum 0.1 (torch's defaults, which mmaction2's ``BN3d`` uses).
:func:`load_mmaction_checkpoint` reads an mmaction2 checkpoint (``{"state_dict": ..., "meta": ...}`` or a bare
state dict) without running code from the file; :func:`from_checkpoint` builds the network for it.
"""
from __future__ import annotations

import pickle
import types
from pathlib import Path

import torch
from torch import nn

from ..models.checkpoint import (TORCH_SAFE_GLOBALS, CheckpointError, InertObject, check_state_dict, inert_class,
                                 load_strict, torch_load_safe)
from ..safe_pickle import UnsafePickleError

__all__ = ["PoseC3D", "NTU60_KEYPOINT", "load_mmaction_checkpoint", "from_checkpoint", "config_from_state"]

# mmaction2's slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint backbone/head settings (num_classes=60 there).
NTU60_KEYPOINT = dict(in_channels=17, base_channels=32, stage_blocks=(4, 6, 3), inflate=(0, 1, 1),
                      spatial_strides=(2, 2, 2), temporal_strides=(1, 1, 2), dropout=0.5, num_classes=60)


class ConvBN(nn.Sequential):
    """mmaction2's ``ConvModule``: ``conv`` (no bias), ``bn``, then ReLU unless ``relu=False``."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(cout)
        if relu:
            self.relu = nn.ReLU(inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride_s: int = 1, stride_t: int = 1, inflate: bool = False,
                 downsample: nn.Module | None = None):
        super().__init__()
        k1, p1 = ((3, 1, 1), (1, 0, 0)) if inflate else (1, 0)
        self.conv1 = ConvBN(cin, planes, k1, padding=p1)
        self.conv2 = ConvBN(planes, planes, (1, 3, 3), stride=(stride_t, stride_s, stride_s), padding=(0, 1, 1))
        self.conv3 = ConvBN(planes, planes * self.expansion, 1, relu=False)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class SlowOnlyBackbone(nn.Module):
    def __init__(self, in_channels: int, base_channels: int, stage_blocks, inflate, spatial_strides,
                 temporal_strides):
        super().__init__()
        self.conv1 = ConvBN(in_channels, base_channels, (1, 7, 7), padding=(0, 3, 3))
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=1, padding=(0, 1, 1))
        cin = base_channels
        self.num_stages = len(stage_blocks)
        for i, blocks in enumerate(stage_blocks):
            planes = base_channels * 2 ** i
            s, t = spatial_strides[i], temporal_strides[i]
            down = None
            if s != 1 or cin != planes * Bottleneck.expansion:
                down = ConvBN(cin, planes * Bottleneck.expansion, 1, stride=(t, s, s), relu=False)
            layer = [Bottleneck(cin, planes, s, t, bool(inflate[i]), down)]
            cin = planes * Bottleneck.expansion
            layer += [Bottleneck(cin, planes, inflate=bool(inflate[i])) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class I3DHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(dim=(2, 3, 4))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x)


class PoseC3D(nn.Module):
    """Heatmap volumes ``[B, 17, T, H, W]`` -> class logits ``[B, num_classes]`` (one clip per row)."""

    def __init__(self, num_classes: int = 60, in_channels: int = 17, base_channels: int = 32,
                 stage_blocks=(4, 6, 3), inflate=(0, 1, 1), spatial_strides=(2, 2, 2), temporal_strides=(1, 1, 2),
                 dropout: float = 0.5):
        super().__init__()
        n = len(stage_blocks)
        if not (len(inflate) == len(spatial_strides) == len(temporal_strides) == n):
            raise ValueError("stage_blocks, inflate, spatial_strides and temporal_strides need one entry per stage")
        self.config = dict(num_classes=int(num_classes), in_channels=int(in_channels),
                           base_channels=int(base_channels), stage_blocks=[int(b) for b in stage_blocks],
                           inflate=[int(i) for i in inflate], spatial_strides=[int(s) for s in spatial_strides],
                           temporal_strides=[int(t) for t in temporal_strides], dropout=float(dropout))
        self.backbone = SlowOnlyBackbone(in_channels, base_channels, stage_blocks, inflate, spatial_strides,
                                         temporal_strides)
        self.cls_head = I3DHead(self.backbone.out_channels, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.backbone(x))


# ----------------------------------------------------------------------------------------- mmaction2 checkpoints



def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Protocol-2 pickles write ``bytes`` (e.g. inside numpy scalars) as ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode called with {type(text).__name__}, {encoding!r}")
    return text.encode("latin1")


def _inert_getattr(obj, name: str):
    """``getattr`` as mmengine's ``HistoryBuffer`` pickles its statistics methods: only on inert records, giving
    another inert record (never an attribute of a real object)."""
    cls = obj if isinstance(obj, type) else type(obj)
    if not (issubclass(cls, InertObject) and isinstance(name, str)):
        raise UnsafePickleError(f"getattr on {cls.__name__}, which is not an inert record")
    return inert_class(f"{cls._path}.{name}")


_SAFE = dict(TORCH_SAFE_GLOBALS)
_SAFE.update({("_codecs", "encode"): _latin1_bytes, ("builtins", "getattr"): _inert_getattr,
              ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
              ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
              ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
              ("torch", "device"): torch.device})
# What the ``meta`` (and optimizer / message-hub) records of mmcv 1.x and mmengine checkpoints pickle by reference:
# replaced by inert records (their state is kept as data, no code of theirs is imported or run).
_INERT_META = ("mmengine.", "mmcv.", "mmaction.", "mmdet.", "mmpose.", "numpy.", "torch.optim.")


class _MetaUnpickler(pickle.Unpickler):
    where = "<checkpoint>"

    def find_class(self, module: str, name: str):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        if (module, name) in _SAFE:
            return _SAFE[(module, name)]
        if module.startswith(_INERT_META) and not name.startswith("_"):
            return inert_class(f"{module}.{name}")
        raise UnsafePickleError(f"{self.where}: refusing to load global '{module}.{name}': an mmaction2 checkpoint "
                                f"may only hold tensors and plain data, so it was not loaded")


def load_mmaction_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an mmaction2 checkpoint (``{"state_dict": ..., "meta": ...}``, or a bare state dict).

    First ``torch.load(weights_only=True)``; a file whose ``meta`` pickles classes by reference (mmengine message
    hubs, numpy scalars) is read again with an unpickler that resolves only tensors, plain containers and inert
    stand-ins for mmengine/mmcv/numpy records, never importing or running anything the file names.
    """
    path = Path(path)
    try:
        obj = torch_load_safe(path, "mmaction2 PoseC3D checkpoint")
    except CheckpointError as first:
        if "GLOBAL" not in str(first):
            raise
        unpickler = type("_Unpickler", (_MetaUnpickler,), {"where": str(path)})
        module = types.SimpleNamespace(Unpickler=unpickler, load=pickle.load, __name__="vgbench_restricted")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=module)
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{path}: not a readable mmaction2 checkpoint: {e}") from e
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state dict of tensors (expected mmaction2's {{'state_dict': ..., "
                              f"'meta': ...}} or a plain state dict)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def config_from_state(state: dict[str, torch.Tensor], where: str = "state dict") -> dict:
    """The :class:`PoseC3D` constructor arguments that a state dict's shapes imply (stage count, blocks per stage,
    widths, inflation, classes). Strides are not stored in weights: the NTU-60 config's are assumed."""
    try:
        w = state["backbone.conv1.conv.weight"]
        fc = state["cls_head.fc_cls.weight"]
    except KeyError as e:
        raise CheckpointError(f"{where}: not a PoseC3D state dict (no {e.args[0]})") from None
    blocks, inflate = [], []
    while any(k.startswith(f"backbone.layer{len(blocks) + 1}.") for k in state):
        i = len(blocks) + 1
        blocks.append(1 + max(int(k.split(".")[2]) for k in state if k.startswith(f"backbone.layer{i}.")))
        inflate.append(int(state[f"backbone.layer{i}.0.conv1.conv.weight"].shape[2] == 3))
    n = len(blocks)
    defaults = NTU60_KEYPOINT
    return dict(num_classes=int(fc.shape[0]), in_channels=int(w.shape[1]), base_channels=int(w.shape[0]),
                stage_blocks=blocks, inflate=inflate,
                spatial_strides=list(defaults["spatial_strides"][:n]) + [2] * max(0, n - 3),
                temporal_strides=list(defaults["temporal_strides"][:n]) + [1] * max(0, n - 3),
                dropout=defaults["dropout"])


def from_checkpoint(path: str | Path, **overrides) -> PoseC3D:
    """A :class:`PoseC3D` in inference mode holding the weights of an mmaction2 PoseC3D checkpoint."""
    state = load_mmaction_checkpoint(path)
    model = PoseC3D(**{**config_from_state(state, str(path)), **overrides})
    check_state_dict(model, state, str(path), what="PoseC3D (mmaction2 slowonly keypoint config)")
    return load_strict(model, state, str(path), what="PoseC3D")
