"""The PoseC3D action recogniser: train it on a keypoint set with labels, save/load it, classify keypoint sets.

Training follows mmaction2's ``slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint`` schedule (preset ``posec3d``):
SGD with momentum 0.9, weight decay 3e-4, gradient-norm clipping at 40, cross-entropy, cosine annealing from the
base learning rate to 0 per iteration over ``epochs`` (24) passes of the training set repeated ``repeat`` (10)
times. mmaction2 uses lr 0.2 for a total batch of 128 (8 GPUs x 16); vgbench scales it linearly to the batch it
runs (``lr = 0.2 * batch_size / 128`` unless ``lr`` is given). Each sample is one augmented clip
(:func:`vgbench.action.heatmaps.train_volume`). Preset ``tiny`` is a small CPU configuration for tests and smoke
runs (8 base channels, one block per stage, 6-frame 24x24 clips, 12 epochs x 2 repeats).

Everything random (clip sampling and augmentation from ``numpy.random.default_rng(seed)``, weight init and dropout
from ``torch.manual_seed(seed)``, batch order) follows the seed: the same seed, data and torch build give the same
weights on the CPU.

Test time (:meth:`ActionRecognizer.predict`): each video's ``num_clips`` clips and their mirrors
(:func:`~vgbench.action.heatmaps.test_volumes`) go through the network and the softmax probabilities are averaged
(mmaction2's ``average_clips='prob'``). Videos with fewer than two frames are refused (no prediction; counted and
scored as misses by :mod:`vgbench.metrics.action`) -- one frame carries no motion. Videos without any detected
person are still classified (their heatmaps are empty) and counted.

A saved classifier is a folder: ``weights.pt`` (a plain state dict of tensors, ``torch.load(weights_only=True)``)
and ``config.json`` (network, pipeline and training settings, seed, the training set summary, the classes, and the
weights' sha256, checked when loading).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..detectors.posec3d import PoseC3D
from ..errors import VgbenchError
from ..models.checkpoint import CheckpointError, load_native, load_strict
from ..utils import atomic_write, sha256_file
from .heatmaps import PipelineConfig, test_volumes, train_volume
from .keypoints import KeypointSet

__all__ = ["TrainConfig", "PRESETS", "ActionRecognizer", "train", "load", "person_counts", "FORMAT",
           "MIN_FRAMES"]

FORMAT = "vgbench.action-classifier/1"
MIN_FRAMES = 2
# Channels-last 3-D tensors: PyTorch's CPU backward of the (3, 1, 1) convolutions is ~20x slower in the default
# layout (measured 2.7 s vs 0.12 s for one 16-channel layer), and inference is ~1.7x faster. Same values.
_FAST = torch.channels_last_3d


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 24
    repeat: int = 10
    batch_size: int = 16
    lr: float | None = None  # None: 0.2 * batch_size / 128
    momentum: float = 0.9
    weight_decay: float = 3e-4
    clip_grad: float = 40.0
    seed: int = 0

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else 0.2 * self.batch_size / 128


PRESETS = {
    "posec3d": dict(network=dict(base_channels=32, stage_blocks=(4, 6, 3), dropout=0.5),
                    pipeline=PipelineConfig(), train=TrainConfig()),
    "tiny": dict(network=dict(base_channels=8, stage_blocks=(1, 1, 1), dropout=0.0),
                 pipeline=PipelineConfig(clip_len=6, num_clips=2, size=24, train_size=24),
                 train=TrainConfig(epochs=12, repeat=2, batch_size=8, lr=0.1)),
}


def person_counts(kps: KeypointSet) -> dict:
    """Frames and videos without a detected person (padding excluded)."""
    frames = int(kps.lengths.sum())
    with_person = kps.person.sum(axis=1)
    return {"frames": frames, "frames_without_person": int(frames - with_person.sum()),
            "videos_without_person": int((with_person == 0).sum()),
            "videos_without_person_ids": [i for i, n in zip(kps.ids, with_person) if n == 0]}


@dataclass
class ActionRecognizer:
    model: PoseC3D
    pipeline: PipelineConfig
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.model.config["num_classes"]

    def clip_logits(self, video: np.ndarray, img_shape, batch: int = 8) -> torch.Tensor:
        """Logits ``[clips, C]`` of one video ``[n, 17, 3]`` (all test clips, mirrors included)."""
        clips = torch.from_numpy(test_volumes(video, img_shape, self.pipeline)).to(memory_format=_FAST)
        self.model.eval().to(memory_format=_FAST)
        with torch.no_grad():
            return torch.cat([self.model(clips[i:i + batch]) for i in range(0, len(clips), batch)])

    def predict(self, kps: KeypointSet, progress=None) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities ``[N, C]`` averaged over each video's clips, refused ``[N]`` bool). Refused rows are 0."""
        probs = np.zeros((len(kps), self.num_classes), dtype=np.float64)
        refused = kps.lengths < MIN_FRAMES
        for i in range(len(kps)):
            if not refused[i]:
                logits = self.clip_logits(kps.video(i), kps.img_shape[i])
                probs[i] = F.softmax(logits.double(), dim=1).mean(dim=0).numpy()
            if progress:
                progress(i + 1, len(kps))
        return probs, refused

    def identity(self, path: str | Path) -> dict:
        """What a result records of the classifier loaded from ``path``: its weights' sha256, preset, seed and its
        own accuracy on the real test split (when it was measured)."""
        return {"path": str(path), "sha256": self.info.get("weights_sha256"), "preset": self.info.get("preset"),
                "seed": self.info.get("seed"), "real_test": self.info.get("real_test")}

    def save(self, out: str | Path) -> Path:
        """Write ``weights.pt`` and ``config.json`` into the folder ``out`` (created; files replaced atomically)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}, buf)
        blob = buf.getvalue()
        config = {"format": "vgbench.checkpoint/1", "classifier_format": FORMAT, "model": "posec3d",
                  "init_kwargs": self.model.config, "pipeline": dataclasses.asdict(self.pipeline),
                  "weights_sha256": hashlib.sha256(blob).hexdigest(), **self.info}
        with atomic_write(out / "weights.pt", "wb") as f:
            f.write(blob)
        with atomic_write(out / "config.json") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return out


def load(path: str | Path) -> ActionRecognizer:
    """Read a folder written by :meth:`ActionRecognizer.save`; the weights must match the recorded sha256."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "weights.pt").is_file():
        raise CheckpointError(f"{path}: not an action classifier folder (needs config.json and weights.pt)")
    config, state = load_native(path)
    if config.get("classifier_format") != FORMAT:
        raise CheckpointError(f"{path}: config.json is not an action classifier ({FORMAT})")
    sha = sha256_file(path / "weights.pt")
    if sha != config.get("weights_sha256"):
        raise CheckpointError(f"{path}: weights.pt has sha256 {sha}, config.json records "
                              f"{config.get('weights_sha256')} (file changed or damaged)")
    try:
        model = PoseC3D(**config["init_kwargs"])
        pipeline = PipelineConfig(**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in config["pipeline"].items()})
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: config.json has unusable settings ({e})") from e
    load_strict(model, state, str(path), what="the PoseC3D classifier")
    info = {k: v for k, v in config.items() if k not in ("init_kwargs", "pipeline")}
    return ActionRecognizer(model, pipeline, info)


def _cosine(step: int, total: int, base: float) -> float:
    return 0.5 * base * (1 + math.cos(math.pi * step / total))


def train(kps: KeypointSet, labels: np.ndarray, num_classes: int, preset: str = "posec3d",
          train_cfg: TrainConfig | None = None, log=None) -> ActionRecognizer:
    """Train a recogniser on ``kps`` with integer ``labels`` ``[N]``. Videos with fewer than two frames are left
    out and listed in the result's ``info``; at least one usable video per run is required."""
    if preset not in PRESETS:
        raise VgbenchError(f"unknown recogniser preset {preset!r} (known: {', '.join(PRESETS)})")
    p = PRESETS[preset]
    cfg = train_cfg or p["train"]
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(kps),):
        raise VgbenchError(f"{len(kps)} videos but {labels.shape[0] if labels.ndim else 0} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise VgbenchError(f"labels must lie in [0, {num_classes - 1}]")
    usable = np.flatnonzero(kps.lengths >= MIN_FRAMES)
    if not len(usable):
        raise VgbenchError("no video with at least two frames to train on")
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = PoseC3D(num_classes=num_classes, **p["network"]).to(memory_format=_FAST)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.base_lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    per_epoch = math.ceil(len(usable) * cfg.repeat / cfg.batch_size)
    total, step, t0 = cfg.epochs * per_epoch, 0, time.time()
    model.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(np.tile(usable, cfg.repeat))
        losses = []
        for b in range(0, len(order), cfg.batch_size):
            idx = order[b:b + cfg.batch_size]
            x = torch.from_numpy(np.stack([train_volume(kps.video(i), kps.img_shape[i], rng, p["pipeline"])
                                           for i in idx])).to(memory_format=_FAST)
            for g in opt.param_groups:
                g["lr"] = _cosine(step, total, cfg.base_lr)
            loss = F.cross_entropy(model(x), torch.from_numpy(labels[idx]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        if log:
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s)")
    model.eval()
    counts = np.bincount(labels[usable], minlength=num_classes)
    info = {"preset": preset, "train": dataclasses.asdict(cfg), "base_lr": cfg.base_lr, "seed": cfg.seed,
            "num_classes": num_classes, "training_set": {
                "videos": int(len(usable)), "skipped_short": [kps.ids[i] for i in np.flatnonzero(
                    kps.lengths < MIN_FRAMES)], "class_counts": counts.tolist(), **person_counts(kps)},
            "keypoints_meta": kps.meta, "torch": torch.__version__}
    return ActionRecognizer(model, p["pipeline"], info)
