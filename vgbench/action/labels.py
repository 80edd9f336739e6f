"""Action label files: which class each video of a keypoint set belongs to.

Two JSON forms are read: ``{"labels": {"<video id>": class, ...}}`` (vgbench's), and the CTSVG authors'
``dataset.json`` list ``[["<video>", class], ...]`` (a video path or name; its id is the file name without its
extension, as the pose extractor names videos). Classes are integers in ``[0, num_classes)``. Every error names the
file and the video: a video of the keypoint set without a label, a label outside the range, a label for a video
that is not in the keypoint set (refused: usually a mismatched file), duplicate ids.
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import VgbenchError

__all__ = ["LabelError", "read_labels", "labels_for"]


class LabelError(VgbenchError, ValueError):
    """A label file that cannot be used with the keypoint set (the message names the file and the video)."""


def _video_id(name: str) -> str:
    p = PurePosixPath(str(name).replace("\\", "/"))
    return p.stem if p.suffix else p.name


def read_labels(path: str | Path) -> dict[str, int]:
    """``{video id: class}`` from either JSON form."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelError(f"{path}: no such label file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LabelError(f"{path}: not a JSON label file ({e})") from e
    if isinstance(data, dict) and isinstance(data.get("labels"), dict):
        pairs = list(data["labels"].items())
    elif isinstance(data, dict) and isinstance(data.get("labels"), list):
        pairs = data["labels"]
    elif isinstance(data, list):
        pairs = data
    else:
        raise LabelError(f'{path}: expected {{"labels": {{"<video id>": class}}}} or [["<video>", class], ...]')
    out: dict[str, int] = {}
    for item in pairs:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise LabelError(f"{path}: entry {item!r} is not a [video, class] pair")
        name, cls = item
        vid = _video_id(name)
        if isinstance(cls, bool) or not isinstance(cls, (int, float)) or int(cls) != cls:
            raise LabelError(f"{path}: video {vid!r} has label {cls!r}, not an integer class")
        if vid in out:
            raise LabelError(f"{path}: video {vid!r} is labelled more than once")
        out[vid] = int(cls)
    return out


def labels_for(path: str | Path, ids: list[str], num_classes: int) -> np.ndarray:
    """int64 ``[N]`` labels of the videos ``ids`` (a keypoint set's), checked against ``num_classes``."""
    labels = read_labels(path)
    missing = [i for i in ids if i not in labels]
    if missing:
        raise LabelError(f"{path}: no label for video {missing[0]!r}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unknown = sorted(set(labels) - set(ids))
    if unknown:
        raise LabelError(f"{path}: label for video {unknown[0]!r}, which is not in the keypoint file"
                         + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    out = np.array([labels[i] for i in ids], dtype=np.int64)
    bad = [(i, c) for i, c in zip(ids, out) if not 0 <= c < num_classes]
    if bad:
        raise LabelError(f"{path}: video {bad[0][0]!r} has label {int(bad[0][1])}, outside [0, {num_classes - 1}] "
                         f"({num_classes} classes)")
    return out
