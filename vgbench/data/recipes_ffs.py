"""FaceForensics (``ffs_masks``): StyleGAN-V's ``preprocess_ffs.py`` (itself TGAN2's ``make_face_forensics.py``).

The raw download holds ``<split>/original/<name>`` videos and ``<split>/mask/<name>`` masks (white outside the
face). For each frame the face box is where the mask is not white (:func:`face_box`, threshold 5), made
square (:func:`square_box`), cut without clipping (:func:`crop_box`) and resized to ``img_size``
with OpenCV's ``INTER_LANCZOS4``. The box is per frame by default (the jittery "unstable" crop that the
``ffs_${resolution}_unstable`` config name suggests was used); ``wide_crop=true`` uses the union of all the
video's boxes. Output video = the file name without its extension.

What the script did where it failed, reproduced here: a frame whose square box starts above or left of the frame
gives an empty NumPy slice, OpenCV refuses it and the script skipped that frame (counted as ``dropped_frames``;
the next frame takes its number); a mask frame with no face made the script skip the whole video (here: a bad
source, named in the manifest). A video and mask of different lengths are paired up to the shorter one (the
script's ``zip``; its length assert compares imageio's ``get_length()``, which imageio 2.9 returns as ``inf`` for
every ffmpeg reader, checked; an older imageio may have refused the video); the two lengths are recorded as
``lengths``.

Quirks: ``opencv_lanczos_quirk`` (OpenCV's Lanczos; false: PIL's LANCZOS as the other scripts),
``jpeg_quality_quirk`` (quality 75, see :mod:`.steps`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.base import VideoReadError
from ..io.files import FileVideo
from . import steps
from .recipes import Job, PrepareError, Recipe
from .recipes_video import JPEG

__all__ = ["FaceForensics", "face_box", "union_box", "square_box", "crop_box", "cv2_lanczos"]


def cv2_lanczos(arr: np.ndarray, size: int) -> np.ndarray:
    """OpenCV ``INTER_LANCZOS4`` resize of an ``[H, W, 3]`` uint8 array to ``size`` x ``size``."""
    import cv2

    return cv2.resize(arr, (size, size), interpolation=cv2.INTER_LANCZOS4)


def face_box(mask: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """``(left, right, top, bottom)`` (inclusive) of the non-white part of a FaceForensics mask frame: the columns and
    rows whose mean of ``sum_c (255 - mask)`` exceeds ``threshold``; None when there is none."""
    hist = (255 - mask).astype(np.float64).sum(axis=2)
    cols = np.where(hist.mean(axis=0) > threshold)[0]
    rows = np.where(hist.mean(axis=1) > threshold)[0]
    if not len(cols) or not len(rows):
        return None
    return int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])


def union_box(boxes) -> tuple[int, int, int, int]:
    """The smallest box holding every box (the ``wide_crop`` variant)."""
    lefts, rights, tops, bottoms = zip(*boxes)
    return min(lefts), max(rights), min(tops), max(bottoms)


def square_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Grow the shorter side symmetrically to make ``right - left == bottom - top`` (the extra pixel of an odd
    difference goes right/bottom). No clipping: the box may leave the frame."""
    left, right, top, bottom = box
    cols, rows = right - left, bottom - top
    if cols < rows:
        pad = rows - cols
        left, right = left - pad // 2, right + pad // 2 + pad % 2
    else:
        pad = cols - rows
        top, bottom = top - pad // 2, bottom + pad // 2 + pad % 2
    return left, right, top, bottom


def crop_box(arr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``arr[top:bottom, left:right]`` with NumPy's slicing rules, as the script does: a negative start counts from
    the far edge (usually an empty crop), an end past the border is cut there (a non-square crop)."""
    left, right, top, bottom = box
    return arr[top:bottom, left:right]


class FaceForensics(Recipe):
    name = "ffs_masks"
    version = 1
    description = "FaceForensics videos + face masks -> face crops (StyleGAN-V preprocess_ffs.py)"
    defaults = {"img_size": 256, "threshold": 5.0, "wide_crop": False, "split": "train",
                "opencv_lanczos_quirk": True, "jpeg_quality_quirk": True, "jpeg_quality": 95}
    quirks = {"opencv_lanczos_quirk": "the script resizes with OpenCV INTER_LANCZOS4; false uses PIL's LANCZOS",
              **JPEG}

    def jobs(self, source, params):
        if params["opencv_lanczos_quirk"]:
            try:
                import cv2  # noqa: F401
            except ImportError:
                raise PrepareError("the ffs recipe resizes with OpenCV as the authors' script: pip install "
                                   "opencv-python-headless (in vgbench's face extra), or --set "
                                   "opencv_lanczos_quirk=false for PIL's LANCZOS") from None
        originals, masks = (Path(source) / params["split"] / kind for kind in ("original", "mask"))
        if not originals.is_dir():
            raise PrepareError(f"{source}: expected the FaceForensics layout {params['split']}/original/<video> "
                               f"with {params['split']}/mask/<video>; {originals} is not a folder")
        return [Job(Path(name).stem, {"video": str(originals / name), "mask": str(masks / name)})
                for name in sorted(os.listdir(originals)) if not name.startswith(".")]

    def frames(self, job, params):
        video_path, mask_path = job.files["video"], job.files["mask"]
        if not os.path.isfile(mask_path):
            raise VideoReadError(mask_path, f"no mask for {video_path}")
        size, threshold = params["img_size"], params["threshold"]
        wide = None
        if params["wide_crop"]:  # the union over the frames the script pairs up
            wide = union_box([self._box(m, i, threshold, mask_path) for i, (_, m) in enumerate(self._pairs(job))])
        written = dropped = 0
        lengths = [0, 0]
        for i, (img, mask) in enumerate(self._pairs(job, lengths)):
            box = wide if wide is not None else self._box(mask, i, threshold, mask_path)
            crop = crop_box(img, square_box(box))
            if crop.size == 0:
                dropped += 1
                continue
            if params["opencv_lanczos_quirk"]:
                out = Image.fromarray(cv2_lanczos(crop, size))
            else:
                out = steps.resize_square(Image.fromarray(np.ascontiguousarray(crop)), size)
            yield job.id, out
            written += 1
        if not written:
            raise VideoReadError(video_path, "no frame left: every face box fell outside the frame")
        return {"dropped_frames": dropped, "lengths": lengths}

    @staticmethod
    def _pairs(job, lengths=None):
        """(video frame, mask frame) up to the shorter of the two; ``lengths`` gets both frame counts."""
        video, mask = FileVideo(job.files["video"]).iter_frames(), FileVideo(job.files["mask"]).iter_frames()
        n = 0
        while True:
            img, m = next(video, None), next(mask, None)
            if img is None or m is None:
                break
            yield img, m
            n += 1
        if lengths is not None:  # the rest of the longer one is counted, not used
            lengths[:] = [n + (img is not None) + sum(1 for _ in video), n + (m is not None) + sum(1 for _ in mask)]

    @staticmethod
    def _box(mask, i, threshold, mask_path):
        box = face_box(mask, threshold)
        if box is None:
            raise VideoReadError(mask_path, f"mask frame {i} marks no face (nothing below white by more than "
                                            f"{threshold})")
        return box
