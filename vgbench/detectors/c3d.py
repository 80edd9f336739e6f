"""C3D fine-tuned on UCF101 (TGAN/TGAN2 ``C3DVersion1UCF101``), the classifier behind the video Inception Score.

Written for vgbench from the layer description of TGAN2's Chainer model; what is implemented, exactly:

* input: uint8 RGB clips ``[B, 16, H, W, 3]`` → ``x = u / 127.5 - 1`` (the generators' [-1, 1] range, as TGAN2
  feeds the model) → every frame resized to **112x112**, bilinear with **corner alignment** (Chainer
  ``resize_images``: source position ``j * (in - 1) / (112 - 1)``), no crop, aspect ratio not kept (skipped when
  already 112x112) → channels swapped **RGB → BGR** and scaled by **128** (TGAN2's fixed 1x1x1 ``pre`` conv) →
  plus ``128 - mean`` where ``mean`` is the centre 112x112 crop ``[:, :, 8:120, 8:120]`` of the 3x16x128x128
  per-pixel BGR mean of ``mean2.npz`` (so the net sees ``128 (x + 1) - mean``, pixel values minus the mean);
* ``conv1a`` 3→64, ``pool1`` max (1,2,2); ``conv2a`` 64→128, ``pool2`` max (2,2,2); ``conv3a`` 128→256,
  ``conv3b`` 256→256, ``pool3``; ``conv4a`` 256→512, ``conv4b``, ``pool4``; ``conv5a``, ``conv5b`` 512→512,
  ``pool5``. All convs 3x3x3, stride 1, padding 1, with bias, each followed by ReLU. Pools have stride = kernel
  and Chainer's ``cover_all=True`` (= PyTorch ``ceil_mode=True``), which makes ``pool5`` map 7x7 to 4x4;
* ``fc6`` 8192 (= 512x1x4x4, C-order flatten) → 4096, ReLU; ``fc7`` 4096 → 4096, ReLU; ``fc8`` 4096 → 101;
  softmax → the 101 class probabilities (dropout is inactive at test time).

Weights (``WEIGHTS`` below, kept by :mod:`vgbench.weights`; :func:`load_detector` builds the detector with them)
are not distributed by any package registry; :func:`convert_c3d` reads the files a user brings:

* TGAN's Chainer ``conv3d_deepnetA_ucf.npz`` (keys ``conv1a/W``, ``conv1a/b``, ..., ``fc8/b``; Chainer's
  ``ConvolutionND``/``Linear`` layouts equal PyTorch's) plus ``mean2.npz`` (key ``mean``, 3x16x128x128) found
  next to it or merged into the same ``.npz``;
* StyleGAN-V's TorchScript ``c3d_ucf101.pt`` (read without running it: :func:`~vgbench.detectors.inception.
  load_torchscript_tensors`), whose tensors are matched by name under any prefix: ``<layer>.weight``/``.bias``
  (or ``.W``/``.b``) and either a raw ``mean`` tensor or TGAN2's ``mean.b`` bias (= ``128 - mean``).
  The real file's layout could not be inspected where this was written (it is not obtainable here);
  a file with other names is refused with the list of what is missing.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from ..errors import VgbenchError
from ..utils import exact_float32

__all__ = ["C3DUCF101", "C3DDetector", "convert_c3d", "expected_shapes", "C3DWeightsError", "NUM_CLASSES",
           "NUM_FRAMES", "INPUT_SIZE", "missing_weights_message", "load_detector", "WEIGHTS"]

NUM_CLASSES = 101
NUM_FRAMES = 16
INPUT_SIZE = 112
_CONVS = [("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
          ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512)]
_FCS = [("fc6", 512 * 4 * 4, 4096), ("fc7", 4096, 4096), ("fc8", 4096, NUM_CLASSES)]
_POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2),
               "conv5b": (2, 2, 2)}


def missing_weights_message() -> str:
    return ("the C3D-UCF101 weights (c3d_ucf101) for the video Inception Score are not in "
            f"{weights.home() / 'weights'}. No package registry distributes them, so vgbench cannot fetch them: get "
            "TGAN's conv3d_deepnetA_ucf.npz (with TGAN2's mean2.npz in the same folder) or StyleGAN-V's c3d_ucf101.pt "
            "from their authors, then run `vgbench weights import c3d_ucf101 FILE`. No score is computed "
            "without them.")


class C3DWeightsError(VgbenchError, ValueError):
    """A C3D weight file is not in a known format, or lacks tensors (the message lists them)."""


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Canonical state-dict names and shapes (``mean`` is the cropped 3x16x112x112 BGR mean)."""
    out: dict[str, tuple[int, ...]] = {}
    for name, cin, cout in _CONVS:
        out[f"{name}.weight"], out[f"{name}.bias"] = (cout, cin, 3, 3, 3), (cout,)
    for name, cin, cout in _FCS:
        out[f"{name}.weight"], out[f"{name}.bias"] = (cout, cin), (cout,)
    out["mean"] = (3, NUM_FRAMES, INPUT_SIZE, INPUT_SIZE)
    return out


class C3DUCF101(nn.Module):
    """Preprocessed float input ``[B, 3, 16, 112, 112]`` (BGR, ``128 (x + 1) - mean``) → 101 logits."""

    def __init__(self):
        super().__init__()
        for name, cin, cout in _CONVS:
            self.add_module(name, nn.Conv3d(cin, cout, 3, 1, 1))
        for name, cin, cout in _FCS:
            self.add_module(name, nn.Linear(cin, cout))
        self.register_buffer("mean", torch.zeros(3, NUM_FRAMES, INPUT_SIZE, INPUT_SIZE))

    def preprocess(self, u8: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, T, H, W, 3]`` → network input ``[B, 3, T, 112, 112]`` (see the module docstring)."""
        b, t, h, w, c = u8.shape
        x = u8.float() / 127.5 - 1.0
        x = x.reshape(b * t, h, w, c).permute(0, 3, 1, 2)
        if (h, w) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=True)
        x = x.flip(1) * 128.0  # RGB -> BGR, x128
        x = x.reshape(b, t, 3, INPUT_SIZE, INPUT_SIZE).permute(0, 2, 1, 3, 4)
        return x + (128.0 - self.mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, _, _ in _CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in _POOL_AFTER:
                k = _POOL_AFTER[name]
                x = F.max_pool3d(x, k, k, ceil_mode=True)
        x = x.flatten(1)
        x = F.relu(self.fc6(x))
        x = F.relu(self.fc7(x))
        return self.fc8(x)


class C3DDetector:
    """uint8 clips ``[B, 16, H, W, 3]`` → float32 ``[B, 101]`` softmax class probabilities."""

    name = "c3d"
    feature_dim = NUM_CLASSES
    resize_mode = "bilinear"  # align_corners=True, the only resize it implements (protocols' [detector].resize_mode)

    def __init__(self, state_dict: dict, device: str = "cpu"):
        self.device = torch.device(device)
        net = C3DUCF101()
        net.load_state_dict(state_dict, strict=True)
        self.net = net.eval().to(self.device)
        self.provenance: dict = {"name": "c3d"}

    @torch.no_grad()
    def logits(self, videos) -> torch.Tensor:
        clips = [torch.from_numpy(np.ascontiguousarray(v)) if not isinstance(v, torch.Tensor) else v
                 for v in videos]
        if not clips:
            return torch.zeros(0, NUM_CLASSES)
        shapes = {tuple(c.shape) for c in clips}
        for s in shapes:
            if len(s) != 4 or s[0] != NUM_FRAMES or s[-1] != 3:
                raise ValueError(f"C3D takes uint8 clips of {NUM_FRAMES} frames [16, H, W, 3], got {s}")
        out = []
        for s in shapes:  # clips of different resolutions are resized separately, in order
            idx = [i for i, c in enumerate(clips) if tuple(c.shape) == s]
            x = torch.stack([clips[i] for i in idx]).to(self.device)
            with exact_float32(self.device):
                out.append((idx, self.net(self.net.preprocess(x)).float().cpu()))
        res = torch.empty(len(clips), NUM_CLASSES)
        for idx, o in out:
            res[idx] = o
        return res

    def __call__(self, videos) -> np.ndarray:
        return torch.softmax(self.logits(videos).double(), dim=1).float().numpy()


# --------------------------------------------------------------------------- converters


def _finish(found: dict, where: str) -> dict[str, torch.Tensor]:
    exp = expected_shapes()
    missing = [k for k in exp if k not in found]
    if missing:
        raise C3DWeightsError(
            f"{where}: not a complete C3D-UCF101 weight file; missing {len(missing)} of {len(exp)} tensors: "
            f"{', '.join(missing)}" + (" (the per-pixel mean comes from TGAN2's mean2.npz: put it next to the "
                                       "weights file)" if "mean" in missing else ""))
    bad = [f"{k}: {tuple(found[k].shape)} instead of {exp[k]}" for k in exp if tuple(found[k].shape) != exp[k]]
    if bad:
        raise C3DWeightsError(f"{where}: tensors of the wrong shape: {'; '.join(bad)}")
    return {k: found[k].float().contiguous() for k in exp}


def _mean_tensor(arr, where: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(arr, np.float32))
    if t.ndim == 5 and t.shape[0] == 1:
        t = t[0]
    if tuple(t.shape) == (3, NUM_FRAMES, 128, 128):
        t = t[:, :, 8:8 + INPUT_SIZE, 8:8 + INPUT_SIZE]
    return t.contiguous()


def _from_named(tensors: dict, where: str) -> dict[str, torch.Tensor]:
    """Match ``<layer>.(weight|W)`` / ``<layer>.(bias|b)`` and the mean under any prefix."""
    found: dict[str, torch.Tensor] = {}
    layers = [n for n, _, _ in _CONVS] + [n for n, _, _ in _FCS]
    for key, t in tensors.items():
        parts = key.replace("/", ".").strip(".").split(".")
        if len(parts) >= 2 and parts[-2] in layers:
            kind = {"weight": "weight", "W": "weight", "bias": "bias", "b": "bias"}.get(parts[-1])
            if kind:
                found.setdefault(f"{parts[-2]}.{kind}", torch.as_tensor(np.asarray(t)) if not
                                 isinstance(t, torch.Tensor) else t)
        elif parts[-1] == "mean":
            found.setdefault("mean", _mean_tensor(t, where))
        elif len(parts) >= 2 and parts[-2] == "mean" and parts[-1] == "b":  # TGAN2's Bias link: 128 - mean
            found.setdefault("mean", _mean_tensor(128.0 - np.asarray(t, np.float32), where))
    return found


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise C3DWeightsError(f"{path}: not a readable .npz file: {e}") from e


def convert_c3d(path: str | Path) -> dict[str, torch.Tensor]:
    """State dict of :class:`C3DUCF101` from TGAN's Chainer ``.npz`` or StyleGAN-V's TorchScript ``.pt``."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        raise C3DWeightsError(f"{path}: neither a Chainer .npz nor a TorchScript .pt file") from None
    if any(n.endswith("/data.pkl") for n in names):
        from .inception import load_torchscript_tensors

        found = _from_named(load_torchscript_tensors(path), str(path))
    elif names and all(n.endswith(".npy") for n in names):
        found = _from_named(_read_npz(path), str(path))
    else:
        raise C3DWeightsError(f"{path}: neither a Chainer .npz nor a TorchScript .pt file")
    if "mean" not in found:
        side = path.with_name("mean2.npz")
        if side.is_file():
            m = _read_npz(side)
            if "mean" in m:
                found["mean"] = _mean_tensor(m["mean"], str(side))
    return _finish(found, str(path))


# --------------------------------------------------------------------------- weights and the ready detector

WEIGHTS = [
    weights.WeightSpec(
        name="c3d_ucf101",
        description="C3D fine-tuned on UCF101 (TGAN2 C3DVersion1UCF101), the video Inception Score network. No "
                    "package registry ships it: import TGAN's conv3d_deepnetA_ucf.npz (with mean2.npz beside it) "
                    "or StyleGAN-V's c3d_ucf101.pt",
        sha256=None, pip_requirement=None, member=None,
        license="C3D (Tran et al.) weights fine-tuned by the TGAN authors; see their terms",
        convert=convert_c3d, detector="c3d", aliases=("c3d",)),
]


def load_detector(device: str, auto_fetch: bool = True) -> C3DDetector:
    """The video Inception Score detector, with the imported C3D-UCF101 weights (never in a registry: nothing is
    fetched, whatever ``auto_fetch`` says; without them the error says how to import them)."""
    if not weights.is_present("c3d_ucf101"):
        raise weights.WeightsError(missing_weights_message())
    state, prov = weights.load_state_dict("c3d_ucf101", auto_fetch=False)
    det = C3DDetector(state, device=device)
    det.provenance = {"name": "c3d", **prov}
    return det
