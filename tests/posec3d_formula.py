"""Deterministic PoseC3D weights, inputs and keypoints defined by formulas (numpy only).

Shared by ``scripts/posec3d_mmaction_reference.py`` (which runs mmaction2 on them in a scratch environment and writes
``tests/fixtures/posec3d/``) and ``tests/test_posec3d.py`` (which rebuilds them to compare vgbench's network and
heatmap pipeline with the stored mmaction2 outputs). No weights are stored: both sides regenerate them.
"""
from __future__ import annotations

import numpy as np

# The reference cases: (name, frames, image (h, w)); the pipeline is mmaction2's test pipeline.
VIDEOS = (("long", 131, (480, 640)), ("mid", 70, (360, 300)), ("short", 23, (240, 320)))
SMALL_INPUT = (2, 17, 16, 32, 32)  # formula heatmap input for the network check
GAIN, SHIFT = 6.0, 0.01  # weight gain, BN shift scale: logits of ~10 that depend on the input


def formula_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Every tensor of a PoseC3D state dict from ``sin`` of its flat index and its rank ``k`` in sorted key order:
    conv/linear weights ``sin(0.731 i + 1.37 k) sqrt(6 / fan_in)``, biases and BN shifts/means ``0.01 sin(...)``,
    BN scales ``1 + 0.2 sin(...)``, running variances ``0.5 + sin(...)^2`` (non-trivial statistics)."""
    out = {}
    for k, name in enumerate(sorted(shapes)):
        shape = tuple(shapes[name])
        n = int(np.prod(shape)) if shape else 1
        s = np.sin(0.731 * np.arange(n, dtype=np.float64) + 1.37 * k)
        if name.endswith("num_batches_tracked"):
            out[name] = np.array(1000 + k, dtype=np.int64).reshape(shape)
            continue
        if name.endswith("running_var"):
            v = 0.5 + s ** 2
        elif name.endswith(".weight") and len(shape) >= 2:
            v = s * np.sqrt(GAIN / (n // shape[0]))
        elif name.endswith("bn.weight"):
            v = 1.0 + 0.2 * s
        else:  # biases, BN biases, running means
            v = SHIFT * s
        out[name] = v.reshape(shape).astype(np.float32)
    return out


def formula_input(shape=SMALL_INPUT) -> np.ndarray:
    """A heatmap-like input in [0, 1]: ``max(0, sin(0.013 i) * cos(0.0071 i + 0.3))`` over the flat index."""
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    return np.maximum(0.0, np.sin(0.013 * i) * np.cos(0.0071 * i + 0.3)).reshape(shape).astype(np.float32)


def formula_keypoints(frames: int, hw: tuple[int, int], seed: int) -> np.ndarray:
    """A moving COCO-17 skeleton ``[frames, 17, 3]`` (x, y in pixels, score) with a few missing keypoints (score 0 at
    (0, 0)) and one frame without a person."""
    h, w = hw
    t = np.arange(frames, dtype=np.float64)[:, None]
    j = np.arange(17, dtype=np.float64)[None, :]
    x = w * (0.5 + 0.15 * np.sin(0.9 * j + 0.05 * t + seed) + 0.05 * np.sin(0.11 * t))
    y = h * (0.2 + 0.035 * j + 0.03 * np.cos(0.07 * t + j + seed))
    score = 0.55 + 0.45 * np.abs(np.sin(1.3 * j + 0.2 * t + seed))
    kp = np.stack([x, y, score], axis=-1).astype(np.float32)
    kp[(np.arange(frames) % 7 == 3), 5 + seed % 3] = 0.0  # a missing keypoint every 7th frame
    kp[frames // 2] = 0.0  # no person in the middle frame
    return kp
