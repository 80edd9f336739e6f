"""Keypoint sets: 2-D COCO-17 keypoints of one person per frame for a list of videos, and their ``.npz`` format.

The pose extractor writes a :class:`KeypointSet`; the action recogniser reads one. The file (``vgbench action
pose VIDEOS --out kp.npz``) holds plain arrays only, so reading it never unpickles anything:

``keypoints``  float32 ``[N, T, 17, 3]``: x and y in pixels of the source frame, and the keypoint score in [0, 1].
               Videos shorter than ``T`` are padded with zeros after their last frame. A frame without a detected
               person has all 17 rows zero.
``lengths``    int64 ``[N]``: the number of frames of each video (``1 <= lengths[i] <= T``).
``person``     bool ``[N, T]``: a person was detected in that frame (False in the padding).
``img_shape``  int64 ``[N, 2]``: each video's frame height and width in pixels.
``ids``        str ``[N]``: the video ids, unique.
``meta``       str ``[]``: a JSON object (schema, backend, weights sha256, ...).

Keypoint order (COCO): nose, left eye, right eye, left ear, right ear, left shoulder, right shoulder, left elbow,
right elbow, left wrist, right wrist, left hip, right hip, left knee, right knee, left ankle, right ankle.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VgbenchError
from ..utils import atomic_write

__all__ = ["COCO17", "KeypointError", "KeypointSet", "SCHEMA"]

SCHEMA = "vgbench.keypoints/1"
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
_ARRAYS = ("keypoints", "lengths", "person", "img_shape", "ids", "meta")


class KeypointError(VgbenchError, ValueError):
    """A keypoint set or file that breaks the format above (the message names the file and the field)."""


@dataclass
class KeypointSet:
    keypoints: np.ndarray  # float32 [N, T, 17, 3]
    lengths: np.ndarray  # int64 [N]
    person: np.ndarray  # bool [N, T]
    img_shape: np.ndarray  # int64 [N, 2]
    ids: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        self.person = np.asarray(self.person, dtype=bool)
        self.img_shape = np.asarray(self.img_shape, dtype=np.int64)
        self.ids = [str(i) for i in self.ids]
        self.validate()

    def __len__(self) -> int:
        return len(self.ids)

    def validate(self, where: str = "keypoint set") -> None:
        k = self.keypoints
        if k.ndim != 4 or k.shape[2:] != (17, 3):
            raise KeypointError(f"{where}: keypoints must have shape [N, T, 17, 3], got {list(k.shape)}")
        n, t = k.shape[:2]
        checks = [(self.lengths.shape == (n,), f"lengths must have shape [{n}], got {list(self.lengths.shape)}"),
                  (self.person.shape == (n, t), f"person must have shape [{n}, {t}], got {list(self.person.shape)}"),
                  (self.img_shape.shape == (n, 2), f"img_shape must have shape [{n}, 2], got "
                                                   f"{list(self.img_shape.shape)}"),
                  (len(self.ids) == n, f"ids has {len(self.ids)} entries for {n} videos")]
        for ok, msg in checks:
            if not ok:
                raise KeypointError(f"{where}: {msg}")
        if not np.isfinite(k).all():
            raise KeypointError(f"{where}: keypoints contain NaN or infinite values")
        if n and (self.lengths.min() < 1 or self.lengths.max() > t):
            bad = int(np.flatnonzero((self.lengths < 1) | (self.lengths > t))[0])
            raise KeypointError(f"{where}: video {self.ids[bad]!r} has length {int(self.lengths[bad])}, "
                                f"outside [1, {t}]")
        if len(set(self.ids)) != n:
            dup = next(i for i in self.ids if self.ids.count(i) > 1)
            raise KeypointError(f"{where}: video id {dup!r} appears more than once")
        pad = np.arange(t)[None, :] >= self.lengths[:, None]
        if self.person[pad].any():
            raise KeypointError(f"{where}: person is True in frames after a video's length")

    def video(self, i: int) -> np.ndarray:
        """The keypoints ``[T_i, 17, 3]`` of video ``i`` without padding."""
        return self.keypoints[i, : self.lengths[i]]

    def save(self, path: str | Path) -> Path:
        """Write the set atomically to ``path`` (``.npz``)."""
        path = Path(path)
        meta = {"schema": SCHEMA, **self.meta}
        with atomic_write(path, "wb") as f:
            np.savez(f, keypoints=self.keypoints, lengths=self.lengths, person=self.person,
                     img_shape=self.img_shape, ids=np.array(self.ids, dtype=str),
                     meta=np.array(json.dumps(meta, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> KeypointSet:
        """Read a file written by :meth:`save`; errors name the file and the field."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _ARRAYS if k not in z.files]
                if missing:
                    raise KeypointError(f"{path}: not a keypoint file (missing {', '.join(missing)})")
                arrays = {k: z[k] for k in _ARRAYS}
        except (OSError, zipfile.BadZipFile, ValueError) as e:
            if isinstance(e, KeypointError):
                raise
            raise KeypointError(f"{path}: cannot read keypoint file ({e})") from e
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as e:
            raise KeypointError(f"{path}: meta is not JSON ({e})") from e
        if meta.get("schema") != SCHEMA:
            raise KeypointError(f"{path}: schema {meta.get('schema')!r}, expected {SCHEMA!r}")
        try:
            return cls(arrays["keypoints"], arrays["lengths"], arrays["person"], arrays["img_shape"],
                       list(arrays["ids"]), meta)
        except KeypointError as e:
            raise KeypointError(str(e).replace("keypoint set", str(path), 1)) from None
