"""The Python API; each function is one CLI command (``vgbench fvd`` = :func:`fvd`, and so on).

The metrics' own functions (``fvd``, ``fid``, ``inception_score``, ``identity``, ``lia``) are those their modules
declare in their :class:`~vgbench.metrics.base.MetricSpec` (``api``); they are reached here and as
``vgbench.<name>`` through the metric registry, so a new metric needs no line in this file.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

from .detectors import default_device, get_detector
from .features import ClipSpec, extract_features
from .io.sources import open_source
from .metrics.base import IncompleteProtocolWarning, metric_api
from .metrics.fvd import compute_stats
from .metrics.fvd import fvd as _fvd
from .metrics.stats import VideoStats
from .protocols import bundled_dir
from .provenance import environment, utc_now
from .utils import atomic_write

__all__ = ["stats", "merge_stats", "features", "demo", "reference_stats_path", "invert", "train", "data_prepare",
           "data_verify", "action_pose"]  # and the metrics' functions (__getattr__)


def __getattr__(name: str):
    api = metric_api()
    if name in api:
        return api[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stats(source, protocol: str = "fvd16", role: str = "real", out: str | Path | None = None,
          shard: str | tuple[int, int] | None = None, **kwargs) -> VideoStats:
    """Statistics of ``source`` under ``protocol`` (an FVD protocol: one clip per video; an FID protocol: every
    selected frame); written to ``out`` (.npz + .json manifest) when given. ``shard="i/N"`` (or ``(i, N)``)
    computes part ``i`` of ``N`` for :func:`merge_stats`."""
    from .metrics.shards import parse_shard
    from .protocols import ProtocolError, load_protocol

    if isinstance(shard, str):
        shard = parse_shard(shard)
    from .distributed import is_main

    protocol = load_protocol(protocol)
    if protocol.metric == "fid":
        from .metrics.fid import compute_frame_stats

        st = compute_frame_stats(source, protocol, role, shard=shard, **kwargs)
    elif protocol.metric == "fvd":
        st = compute_stats(source, protocol, role, shard=shard, **kwargs)
    else:
        raise ProtocolError(f"protocol {protocol.name} is a {protocol.metric!r} protocol: `vgbench stats` computes "
                            f"the statistics of FVD and FID protocols only")
    if out is not None and is_main():  # under torchrun every rank holds the merged statistics; rank 0 writes them
        st.save(out)
    return st


def merge_stats(parts, out: str | Path | None = None) -> VideoStats:
    """Join part files (or :class:`VideoStats`) of ``stats(..., shard=...)`` into the statistics one process makes;
    written to ``out`` when given."""
    from .metrics.shards import merge_stats as merge
    from .metrics.stats import load_stats

    names = [str(p) if not isinstance(p, VideoStats) else f"part {k}" for k, p in enumerate(parts)]
    from .distributed import is_main

    st = merge([p if isinstance(p, VideoStats) else load_stats(p) for p in parts], names)
    if out is not None and is_main():
        st.save(out)
    return st


def features(source, out: str | Path | None = None, *, detector: str = "i3d", frames: int | None = None,
             device: str | None = None, batch_size: int = 4, num_workers: int = 1,
             worker_processes: bool | None = None, skip_bad: bool = False,
             resume_dir: str | Path | None = None, progress: bool = True) -> np.ndarray:
    """[N, D] float32 detector features of the first ``frames`` frames (all when None) of every video."""
    device = device or default_device()
    det = get_detector(detector, device)
    src = open_source(source)
    spec = ClipSpec(num_frames=frames, stride=1, offset="zero", short_is_error=True)
    t0 = time.time()
    try:
        content_hash = src.content_hash()
    except TypeError:
        content_hash = None
    key = {"detector": det.provenance, "spec": spec.to_dict(), "source": src.describe(), "hash": content_hash}
    if worker_processes is None:
        worker_processes = str(device).startswith("cuda")
    res = extract_features(src, det, spec, batch_size=batch_size, num_workers=num_workers,
                           worker_processes=worker_processes, skip_bad=skip_bad, shard_dir=resume_dir, shard_key=key, progress=progress,
                           desc=f"{detector} features")
    if out is not None:
        out = Path(out)
        with atomic_write(out, "wb") as f:
            np.save(f, res.features)
        meta = {"created": utc_now(), "detector": det.provenance, "frames": frames, "source": src.describe(),
                "source_content_hash": content_hash, "ids": res.ids, "counts": res.counts, "bad_videos": res.bad,
                "seconds": round(time.time() - t0, 3), "env": environment(device)}
        with atomic_write(out.with_name(out.name + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
    return res.features


def reference_stats_path(name: str) -> Path:
    p = bundled_dir("reference_stats") / f"{name}.npz"
    if not p.is_file():
        raise FileNotFoundError(f"no reference statistics named {name!r} in {p.parent}")
    return p


def demo(device: str | None = None, progress: bool = True, batch_size: int = 8) -> dict:
    """FVD16 of two procedural "generators" against the bundled tiny dataset's reference statistics.

    ``tiny-heldout`` is the same process with new seeds (a good generator); ``tiny-static`` freezes its motion.
    Returns {variant: FVDResult}. The tiny sets hold 48 videos, fewer than the 2048 the protocol asks for, so the
    results are marked not protocol-complete (expected for a demo).
    """
    ref = reference_stats_path("tiny_fvd16")
    results = {}
    for variant in ("tiny-heldout", "tiny-static"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncompleteProtocolWarning)
            results[variant] = _fvd(ref, f"builtin:{variant}", "fvd16", device=device, progress=progress,
                                    batch_size=batch_size)
    return results


def invert(video, *, ckpt: str, actor: int, action: int, out_dir, model: str = "ctsvg", steps: int = 250,
           lr: float = 0.1, frames: int = 20, tau_step: float = 1.0, lpips_backbone: str = "vgg",
           mse_weight: float = 100.0, latent_noise: float = 0.05, spatial_noise: str = "random",
           n_mean: int = 10000, frame_batch: int = 8, render_actors=(), render_action: int | None = None,
           video_format: str = "mp4", lia: bool = False, seed: int = 0, device: str | None = None,
           overwrite: bool = False, progress: bool = True, model_options: dict | None = None) -> dict:
    """Temporal GAN inversion of ``video`` (``vgbench invert``); returns the record written to
    ``out_dir/record.json``. See :mod:`vgbench.inversion` and docs/inversion.md."""
    from .inversion import InversionConfig, run_inversion

    cfg = InversionConfig(steps=steps, lr=lr, mse_weight=mse_weight, latent_noise=latent_noise,
                          spatial_noise=spatial_noise, n_mean=n_mean, frame_batch=frame_batch)
    return run_inversion(video, ckpt=ckpt, actor=actor, action=action, out_dir=out_dir, model=model, config=cfg,
                         frames=frames, tau_step=tau_step, lpips_backbone=lpips_backbone, render_actors=render_actors,
                         render_action=render_action, video_format=video_format, lia=lia, seed=seed, device=device,
                         overwrite=overwrite, progress=progress, model_options=model_options)


def train(model: str, *, out, dataset: str | None = None, data: str | None = None, config: str | None = None,
          sets=(), resume: bool = False, kimg: float | None = None, device: str | None = None,
          progress: bool = True, stage: str | None = None, init=None) -> dict:
    """Train StyleGAN-V, MoStGAN-V, CTSVG or a stage of MotionVideoGAN (``vgbench train``); returns the run's
    summary. With ``resume``, ``out`` is the run to continue; ``init``: a checkpoint to start from (fine-tuning).
    See :mod:`vgbench.training` and docs/training.md."""
    from .training.loop import train as _train

    return _train(model, dataset, data, out, config=config, sets=tuple(sets), resume=resume, kimg=kimg,
                  device=device, progress=progress, stage=stage, init=init)


def data_prepare(card: str, source, out, *, sets: dict | None = None, workers: int = 1, progress: bool = True,
                 zip_output: bool = False) -> dict:
    """Build a dataset card's real set from its raw download with the card's recipe (``vgbench data prepare``);
    returns the manifest written to ``out/manifest.json`` (``zip_output``: also ``out.zip``). See
    :mod:`vgbench.data.prepare` and docs/datasets.md."""
    from .data.prepare import prepare

    return prepare(card, source, out, sets=sets, workers=workers, progress=progress, zip_output=zip_output)


def data_verify(root) -> dict:
    """Re-check a prepared set against its manifest (``vgbench data verify``): ``{"ok", "videos", "problems"}``."""
    from .data.prepare import verify

    return verify(root)


def action_pose(videos, *, out: str | Path | None = None, skip_bad: bool = False, max_videos: int | None = None,
                cache: bool = True, threads: int = 0, progress: bool = True, model=None):
    """COCO-17 keypoints of every video of ``videos`` (``vgbench action pose``), as a
    :class:`~vgbench.action.keypoints.KeypointSet`; written atomically to ``out`` when given. See
    :mod:`vgbench.action.extract` and docs/action.md."""
    from .action.extract import extract_keypoints

    kps = extract_keypoints(videos, model=model, cache=cache, skip_bad=skip_bad, max_videos=max_videos,
                            threads=threads, progress=progress)
    if out is not None:
        kps.save(out)
    return kps
