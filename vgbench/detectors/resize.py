"""TF1's legacy bilinear resize, exact, for detector input contracts copied from TensorFlow code.

``resize_tf1_bilinear`` is ``tf.compat.v1.image.resize_bilinear(x, size, align_corners=False,
half_pixel_centers=False)``, the resize of the original FVD code (google-research ``frechet_video_distance.py``,
``preprocess``). TensorFlow computes, per axis and in float32 (``resize_bilinear_op.cc``,
``image_resizer_state.h``)::

    scale = float(in) / out                 # CalculateResizeScale
    src   = float(j) * scale                # LegacyScaler: no half-pixel offset, so pixel 0 maps to 0
    lower = floor(src); upper = min(ceil(src), in - 1); lerp = src - floor(src)

and per output pixel ``top = tl + (tr - tl) * x_lerp``, ``bottom = bl + (br - bl) * x_lerp``,
``out = top + (bottom - top) * y_lerp``. This module does the same float32 operations in the same order, as
gathers of whole columns and rows (vectorised, any device); the taps are computed once per (in, out, device).
Measured against TensorFlow 2.21 CPU ``tf.compat.v1.image.resize_bilinear``: bit-identical (docs/resize.md).
An input already at the output size is returned unchanged (TF's no-op path).

Compared with torch's ``F.interpolate(mode='bilinear', align_corners=False)`` (source ``(j + 0.5) * in / out - 0.5``,
clamped at 0) the TF1 grid is shifted by ``(in / out - 1) / 2`` source pixels towards the top-left: 0.071 px for
256 -> 224. Neither filters before sampling (no antialiasing). See docs/resize.md.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

__all__ = ["resize_tf1_bilinear", "tf1_bilinear_taps"]


def tf1_bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: (lower source index, upper source index, float32 weight of the upper one), as TF1
    computes them for ``align_corners=False, half_pixel_centers=False``."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be positive, got {in_size} -> {out_size}")
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(src)
    lower = np.minimum(floor.astype(np.int64), in_size - 1)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _taps(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.from_numpy(a).to(device) for a in tf1_bilinear_taps(in_size, out_size))  # type: ignore


def _lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``a + (b - a) * w`` in TF's operation order, reusing ``a`` and ``b`` (both fresh gathers)."""
    return a.add_(b.sub_(a).mul_(w))


def resize_tf1_bilinear(images: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Float ``[N, H, W, C]`` -> ``[N, size[0], size[1], C]`` with TF1's legacy bilinear kernel (module docstring).
    Channels last, as TensorFlow: the I3D input layout needs no transposes around it."""
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"resize_tf1_bilinear expects a float [N, H, W, C] tensor, got {images.dtype} "
                         f"{tuple(images.shape)}")
    n, h, w, c = images.shape
    oh, ow = int(size[0]), int(size[1])
    if (h, w) == (oh, ow):
        return images
    y0, y1, wy = _taps(h, oh, images.device)
    x0, x1, wx = _taps(w, ow, images.device)
    # TF lerps along x within rows y0 and y1, then along y; lerping every row along x first gives the same values
    # in fewer passes. index_select on [N*H, W, C] is the fastest column gather on CPU (3x torch.gather).
    # The weights are laid out along whole rows (ow * C values) so that every lerp runs on contiguous memory.
    rows = images.reshape(n * h, w, c)
    wx = wx.to(images.dtype).view(ow, 1).expand(ow, c).reshape(ow * c)
    cols = _lerp(rows.index_select(1, x0).view(n, h, ow * c), rows.index_select(1, x1).view(n, h, ow * c), wx)
    out = _lerp(cols.index_select(1, y0), cols.index_select(1, y1), wy.to(images.dtype).view(oh, 1))
    return out.view(n, oh, ow, c)
