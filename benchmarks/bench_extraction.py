"""Feature extraction bookkeeping: `vgbench features` batching, resume overhead, statistics-file verification.

    python benchmarks/bench_extraction.py [--videos 32] [--device cpu]

1. `vgbench features` without `--frames` (every frame of each video): clips/s with clips batched by shape (now)
   and one clip per detector call (before), on 16-frame 256x256 JPEG videos, with the real I3D;
2. resume overhead: extraction with resume shards every 4 videos vs none, and an interrupted + resumed run vs an
   uninterrupted one (exact stand-in detector, so only vgbench's own bookkeeping is timed);
3. the cost of verifying a statistics file on load (checksum, symmetry, eigenvalues) for FVD (400-d) and FID
   (2048-d) statistics.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fvd_e2e import write_set  # noqa: E402


class MeanColor:
    name, feature_dim, provenance = "meancolor", 6, {"name": "meancolor", "sha256": None}

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, clips):
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        self.calls += 1
        return np.asarray([np.concatenate([c.mean(axis=(0, 1, 2)), c.std(axis=(0, 1, 2))]) for c in clips],
                          np.float32)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    from vgbench.detectors import get_detector
    from vgbench.features import ClipSpec, extract_features
    from vgbench.metrics.fvd import VideoStats
    from vgbench.provenance import STATS_SCHEMA

    base = Path(tempfile.mkdtemp(prefix="vgbench-bench-extract-"))
    write_set(base / "v", a.videos, seed=3, frames=16)
    det = get_detector("i3d", a.device)
    spec = ClipSpec(None)  # every frame, as `vgbench features` without --frames
    out = {"videos": a.videos, "resolution": "256x256", "frames": 16, "device": a.device}
    extract_features(base / "v", det, spec, batch_size=4, progress=False, num_workers=1)  # warm-up
    _, t_batched = timed(lambda: extract_features(base / "v", det, spec, batch_size=4, progress=False,
                                                  num_workers=1))
    _, t_single = timed(lambda: extract_features(base / "v", det, spec, batch_size=1, progress=False,
                                                 num_workers=1))
    out["features_all_frames_clips_per_s"] = {"batched_by_shape_4": round(a.videos / t_batched, 2),
                                              "one_clip_per_call": round(a.videos / t_single, 2)}

    clips = [np.random.default_rng(i).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8) for i in range(512)]
    spec16 = ClipSpec(16)
    _, t_plain = timed(lambda: extract_features(clips, MeanColor(), spec16, batch_size=8, progress=False))
    _, t_shards = timed(lambda: extract_features(clips, MeanColor(), spec16, batch_size=8, progress=False,
                                                 shard_dir=base / "s1", shard_size=4, shard_key={"k": 1}))

    def interrupted_then_resumed():
        try:
            extract_features(clips, MeanColor(fail_at=30), spec16, batch_size=8, progress=False,
                             shard_dir=base / "s2", shard_size=64, shard_key={"k": 1})
        except KeyboardInterrupt:
            pass
        return extract_features(clips, MeanColor(), spec16, batch_size=8, progress=False, shard_dir=base / "s2",
                                shard_size=64, shard_key={"k": 1})

    _, t_resumed = timed(interrupted_then_resumed)
    out["resume_512_clips_16x64x64_s"] = {"no_shards": round(t_plain, 3), "shard_every_4_videos": round(t_shards, 3),
                                          "interrupted_after_240_and_resumed": round(t_resumed, 3)}

    verify = {}
    for dim in (400, 2048):
        x = np.random.default_rng(dim).normal(size=(4096, dim))
        manifest = {"schema": STATS_SCHEMA, "role": "real", "counts": {"used": 4096}}
        path = VideoStats(x.mean(0), np.cov(x.T, bias=True), 4096, manifest).save(base / f"s{dim}.npz")
        VideoStats.load(path)
        _, t = timed(lambda: VideoStats.load(path))
        verify[f"{dim}d_seconds"] = round(t, 3)
    out["stats_load_with_verification"] = verify
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
