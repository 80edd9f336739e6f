"""The training data of `vgbench train`: the checks before training, and clips/s of the loader.

    python benchmarks/bench_training_data.py [--videos 64] [--frames 64] [--scan-videos 1000] [--keep DIR]

1. the dataset checks (:class:`vgbench.training.data.TrainingClips`: list every video, count its frames, decode its
   first frame for the resolution check) on ``builtin:tiny`` (48 videos, 64x64, rendered), on a frames folder of
   ``--videos`` 256x256 JPEG videos, and on one of ``--scan-videos`` videos of 16 frames (copies of the first
   one's files), with a warm page cache;
2. loader throughput in clips/s (3 frames per clip, StyleGAN-V's sampling, mirror on) with ``workers`` 0 (decoding
   in the training process) and 2 (background processes), on ``builtin:tiny`` and on the JPEG folder, after one
   warm-up step.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fvd_e2e import write_set  # noqa: E402


def timed_scan(source, **kw):
    from vgbench.training.data import TrainingClips

    t0 = time.perf_counter()
    clips = TrainingClips(source, **kw)
    return clips, time.perf_counter() - t0


def clips_per_s(clips, batch: int, steps: int, workers: int) -> float:
    from vgbench.training.data import ClipLoader

    it = iter(ClipLoader(clips, batch, workers=workers, prefetch=2))
    next(it)  # warm-up: worker start, first decode
    t0 = time.perf_counter()
    for _ in range(steps):
        next(it)
    elapsed = time.perf_counter() - t0
    del it
    return batch * steps / elapsed


def copies(root: Path, src: Path, n: int, frames: int) -> None:
    """``n`` video folders of the first ``frames`` files of ``src`` (same bytes: a listing and decoding cost only)."""
    files = sorted(src.iterdir())[:frames]
    for i in range(n):
        d = root / f"video_{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            if not (d / f.name).exists():
                shutil.copyfile(f, d / f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--scan-videos", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--keep", default=None, help="write the data here and keep it (reused if present)")
    a = ap.parse_args()

    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="vgbench-bench-"))
    jpeg, many = base / f"jpeg{a.videos}x{a.frames}", base / f"scan{a.scan_videos}"
    try:
        if not jpeg.exists():
            write_set(jpeg, a.videos, 3, a.frames)  # tiny's renderer, 4x upscaled to 256x256, JPEG quality 95
        copies(many, next(iter(sorted(jpeg.iterdir()))), a.scan_videos, 16)
        out: dict = {"batch": a.batch, "steps": a.steps, "frames_per_clip": 3}
        for name, source, load in [("tiny", "builtin:tiny", True), (f"jpeg_{a.videos}x{a.frames}x256", jpeg, True),
                                   (f"jpeg_{a.scan_videos}x16x256", many, False)]:  # the copies: checks only
            clips, seconds = timed_scan(source)
            out[f"check_s_{name}"] = round(seconds, 3)
            out[f"check_ms_per_video_{name}"] = round(1000 * seconds / clips.num_videos, 2)
            for workers in ((0, 2) if load else ()):
                out[f"clips_per_s_{name}_workers{workers}"] = round(clips_per_s(clips, a.batch, a.steps, workers), 1)
        print(json.dumps(out, indent=2))
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
