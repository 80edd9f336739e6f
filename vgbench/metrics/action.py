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


# --------------------------------------------------------------------------- vgbench eval --metrics action_utd


def _prepared_root(path) -> Path:
    """The folder of ``vgbench data prepare`` (with manifest.json): ``path`` itself or its parent (ROOT/train)."""
    from ..action.dataset import ActionDataError

    p = Path(path)
    for cand in (p, p.parent):
        if (cand / "manifest.json").is_file():
            return cand
    raise ActionDataError(f"{p}: neither it nor its parent holds the manifest.json of `vgbench data prepare "
                          f"utd-mhad`; pass --data ROOT (the prepared folder)")


def _plan(ctx):
    """(classifier, test videos, root) after every check that can fail before anything is generated."""
    from ..action import recognizer
    from ..action.dataset import split_videos
    from ..protocols import ProtocolError

    p, adapter = ctx.protocol, ctx.adapter
    if adapter is None:
        raise ProtocolError(f"{p.name}: measured on a conditional generator's videos (`vgbench eval`); for keypoints "
                            "of videos made elsewhere use `vgbench action eval`")
    labels = adapter.video_labels(0, ctx.seed)
    if not labels:
        raise ProtocolError(f"{p.name}: model '{adapter.name}' is unconditional (it takes no actor and action ids), "
                            "so its action accuracy is n/a, as for StyleGAN-V in CTSVG's Table 2")
    if not {"actor", "action"} <= set(labels):
        raise ProtocolError(f"{p.name}: model '{adapter.name}' is conditioned on {', '.join(sorted(labels))}, not on "
                            "an actor and an action, so it cannot render the test set's actor-action pairs")
    path = ctx.inputs.get("action_classifier")
    if not path:
        raise ProtocolError(f"{p.name}: needs the action classifier: --action-classifier DIR (from `vgbench action "
                            "train --data ROOT --out DIR`)")
    clf = recognizer.load(path)
    from ..data.cards import real_source

    root = _prepared_root(ctx.data or real_source(ctx.card, None)[1])
    videos = split_videos(root, p["real"]["subset"])
    num_person, num_classes = getattr(adapter, "num_person", None), getattr(adapter, "num_classes", None)
    for v in videos:
        if v.cls >= clf.num_classes or (num_classes is not None and v.cls >= num_classes):
            raise ProtocolError(f"{root}: test video {v.id} has action class {v.cls}; the classifier has "
                                f"{clf.num_classes} classes and the generator {num_classes}")
        if num_person is not None and v.actor >= num_person:
            raise ProtocolError(f"{root}: test video {v.id} is by actor {v.actor}; the generator has {num_person} "
                                f"actors (ids 0..{num_person - 1})")
    if ctx.num_fake is not None:
        videos = videos[:ctx.num_fake]
    return clf, videos, root


def _preflight(ctx) -> None:
    _plan(ctx)


def _compute(ctx) -> dict:
    """One generated video per real test video (its actor, action and length; video ``i`` of ``--seed``), BlazePose
    keypoints, the recogniser's top-1/top-3 against the actions they were generated with."""
    import time

    from ..action.extract import extract_keypoints
    from ..action.recognizer import person_counts
    from ..models import get_adapter

    t0 = time.time()
    clf, videos, root = _plan(ctx)
    complete = ctx.num_fake is None
    adapter = ctx.adapter
    condition = ";".join(f"actor={v.actor},action={v.cls}" for v in videos)  # entry i conditions video i
    gen = get_adapter(adapter.name, adapter.ckpt, device=str(adapter.device),
                      **{**adapter.options, "condition": condition})

    def rendered():
        for i, v in enumerate(videos):
            yield next(gen.iter_videos(1, v.frames, seed=ctx.seed, start=i, batch_size=1))

    kps = extract_keypoints(rendered(), progress=ctx.progress)
    kps.ids = [v.id for v in videos]
    probs, refused = clf.predict(kps)
    info = clf.identity(ctx.inputs["action_classifier"])
    rec = action_record(kps.ids, np.array([v.cls for v in videos]), probs, refused, person_counts(kps), info)
    rec["per_video"] = [{**pv, "actor": v.actor, "frames": v.frames} for pv, v in zip(rec["per_video"], videos)]
    if not complete:
        from .base import flag_incomplete

        flag_incomplete(f"{ctx.protocol.name}: {len(videos)} generated videos (--num-fake), the protocol takes one per "
                        "real test video; not comparable to published numbers", ctx.strict, stacklevel=4)
    return {"value": rec["top1"], "top1": rec["top1"], "top3": rec["top3"], "protocol": ctx.protocol.provenance(),
            "protocol_complete": complete, "pose": {k: v for k, v in kps.meta.items() if k not in ("counts", "skipped", "source")},
            "counts": {"real_used": 0, "fake_used": len(videos), "fake": {k: rec[k] for k in (
                "videos", "classified", "refused", "frames", "frames_without_person", "videos_without_person")}},
            "real_test_set": {"root": str(root), "subset": ctx.protocol["real"]["subset"], "videos": len(videos)},
            "classifier": info, "action": rec, "seconds": {"fake": round(time.time() - t0, 2)}}


def _register() -> None:
    from .base import MetricSpec, register_metric

    register_metric(MetricSpec(
        kind="action",
        compute=_compute,
        required={"real": ["subset"], "fake": ["videos", "num_frames", "actor", "action"],
                  "pose": ["estimator"], "classifier": ["num_classes", "topk"]},
        aliases={"action": "action_utd"},
        preflight=_preflight,
        columns={"action_utd": "top1"},
    ))


_register()
