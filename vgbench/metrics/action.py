"""Skeleton action accuracy (CTSVG Table 2/3): top-k accuracy, the confusion matrix and the JSON record.

Scores are class probabilities ``[N, C]`` (mmaction2's clip-averaged softmax). A video the recogniser refused (see
:mod:`vgbench.action.recognizer`: fewer than two frames) has no scores and counts as a miss for every k, so that
accuracy is always over all labelled videos; the record says how many were refused. The confusion matrix has true
classes as rows and predicted (top-1) classes as columns; refused videos are not in it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VgbenchError
from ..utils import atomic_write

__all__ = ["topk_hits", "topk_accuracy", "confusion_matrix", "action_record", "confusion_png", "SCHEMA"]

SCHEMA = "vgbench.action/1"


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int, valid: np.ndarray | None = None) -> np.ndarray:
    """bool ``[N]``: the label is among the ``k`` highest scores (ties broken by the lower class index); False
    where ``valid`` is False."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise VgbenchError(f"scores must be [N, C] and labels [N]; got {list(scores.shape)} and {list(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise VgbenchError(f"labels must lie in [0, {scores.shape[1] - 1}]")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = (order == labels[:, None]).any(axis=1)
    return hits if valid is None else hits & np.asarray(valid, dtype=bool)


def topk_accuracy(scores, labels, k: int, valid=None) -> float:
    hits = topk_hits(scores, labels, k, valid)
    return float(hits.mean()) if len(hits) else float("nan")


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 ``[C, C]``: ``m[true, predicted]`` counts."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m


def action_record(ids: list[str], labels: np.ndarray, scores: np.ndarray, refused: np.ndarray,
                  counts: dict, classifier: dict, class_names: list[str] | None = None) -> dict:
    """The JSON record of one evaluation: top-1/top-3 over all labelled videos (refused = miss), the confusion
    matrix of the classified ones, per-video predictions, the person/frame counts and the classifier's identity
    (``classifier``: sha256, path, its own real-test accuracy when known)."""
    labels = np.asarray(labels, dtype=np.int64)
    valid = ~np.asarray(refused, dtype=bool)
    num_classes = scores.shape[1]
    pred = np.argmax(scores, axis=1)
    cm = confusion_matrix(pred[valid], labels[valid], num_classes)
    return {
        "schema": SCHEMA,
        "metric": "action_accuracy",
        "top1": topk_accuracy(scores, labels, 1, valid),
        "top3": topk_accuracy(scores, labels, min(3, num_classes), valid),
        "videos": len(ids),
        "classified": int(valid.sum()),
        "refused": int((~valid).sum()),
        "refused_ids": [i for i, v in zip(ids, valid) if not v],
        **counts,
        "num_classes": num_classes,
        "class_names": class_names,
        "confusion_matrix": cm.tolist(),
        "per_video": [{"id": i, "label": int(lab), "pred": int(p) if v else None,
                       "top3": [int(c) for c in np.argsort(-s, kind="stable")[:3]] if v else None}
                      for i, lab, p, s, v in zip(ids, labels, pred, scores, valid)],
        "classifier": classifier,
    }


def confusion_png(matrix: np.ndarray, path: str | Path, cell: int = 16, title: str = "") -> Path:
    """Write the confusion matrix as a PNG (row-normalised, white = 0 to dark blue = 1; true class rows, predicted
    class columns, class indices on the axes), atomically."""
    from PIL import Image, ImageDraw

    m = np.asarray(matrix, dtype=np.float64)
    c = m.shape[0]
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    margin, top = 28, 28 if title else 20
    img = Image.new("RGB", (margin + c * cell + 4, top + c * cell + 4), "white")
    d = ImageDraw.Draw(img)
    if title:
        d.text((margin, 2), title, fill="black")
    for i in range(c):
        d.text((2, top + i * cell + cell // 4), str(i), fill="black")
        d.text((margin + i * cell + 2, top - 12), str(i % 100), fill="black")
        for j in range(c):
            v = frac[i, j]
            color = (int(255 * (1 - 0.9 * v)), int(255 * (1 - 0.75 * v)), int(255 * (1 - 0.3 * v)))
            x0, y0 = margin + j * cell, top + i * cell
            d.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color, outline=(220, 220, 220))
    path = Path(path)
    with atomic_write(path, "wb") as f:
        img.save(f, format="PNG")
    return path
