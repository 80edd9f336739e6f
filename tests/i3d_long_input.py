"""The procedural input of the long-clip I3D reference (tests/fixtures/i3d_long/): bit-reproducible, nothing stored.

A low-resolution 28x(28+T) random strip (``numpy.random.RandomState(seed)``, whose stream numpy keeps frozen) is
panned one low-res column per frame and each pixel repeated 8x8, giving uint8 ``[T, 224, 224, 3]``: the content
changes along the clip, so I3D's per-time-step logits differ and the time-mean is distinguishable from any one step.
The fixture stores the sha256 of these bytes, so a drift in this generator fails loudly instead of comparing logits
of a different input.
"""
from __future__ import annotations

import hashlib

import numpy as np

UPSAMPLE = 8
LOW = 224 // UPSAMPLE  # 28


def long_clip(num_frames: int, seed: int) -> np.ndarray:
    """uint8 [num_frames, 224, 224, 3]: frame t shows low-res columns t .. t+27 of a random strip."""
    strip = np.random.RandomState(seed).randint(0, 256, size=(LOW, LOW + num_frames, 3), dtype=np.uint8)
    frames = np.stack([strip[:, t:t + LOW] for t in range(num_frames)])
    return np.repeat(np.repeat(frames, UPSAMPLE, axis=1), UPSAMPLE, axis=2)


def sha256_u8(a: np.ndarray) -> str:
    """sha256 of the C-ordered bytes of a uint8 array (shape and dtype checked by the caller)."""
    return hashlib.sha256(np.ascontiguousarray(a, np.uint8).tobytes()).hexdigest()


#: (num_frames, seed) of the stored references
CLIPS = {"t32": (32, 32), "t128": (128, 128)}
