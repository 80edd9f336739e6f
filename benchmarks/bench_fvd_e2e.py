"""End-to-end FVD16 time: 256 real + 256 fake 256x256 videos read from disk (StyleGAN-V frames layout, JPEG).

    python benchmarks/bench_fvd_e2e.py [--videos 256] [--device cpu] [--workers 1] [--keep DIR]

The videos are rendered once by the tiny procedural renderer (upscaled to 256x256) into a temporary folder;
the timed part is `vgbench.fvd(real_dir, fake_dir, "fvd16")`: decoding, resizing, I3D, statistics, distance.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image


def write_set(root: Path, n: int, seed: int, frames: int) -> None:
    from vgbench.data.tiny import render_video

    for i in range(n):
        d = root / f"video_{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        clip = render_video(seed, i, range(frames), length=frames)
        for t, fr in enumerate(clip):
            big = np.repeat(np.repeat(fr, 4, axis=0), 4, axis=1)
            Image.fromarray(big).save(d / f"{t:06d}.jpg", quality=95)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--keep", default=None, help="write the data here and keep it (reused if present)")
    a = ap.parse_args()
    import vgbench
    from vgbench.metrics.fvd import IncompleteProtocolWarning

    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="vgbench-bench-"))
    real, fake = base / "real", base / "fake"
    t0 = time.perf_counter()
    if not real.exists():
        write_set(real, a.videos, seed=10, frames=24)
        write_set(fake, a.videos, seed=11, frames=16)
    prep = time.perf_counter() - t0
    from vgbench.detectors import get_detector

    get_detector("i3d", a.device)  # load weights outside the timed part
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        r = vgbench.fvd(real, fake, "fvd16", device=a.device, num_workers=a.workers, batch_size=a.batch_size,
                        progress=False)
    dt = time.perf_counter() - t0
    print(json.dumps({"videos_per_side": a.videos, "resolution": "256x256", "device": a.device,
                      "data_prep_s": round(prep, 1), "fvd16_seconds": round(dt, 1),
                      "clips_per_s": round(2 * a.videos / dt, 2), "fvd16": round(r.value, 4)}))


if __name__ == "__main__":
    main()
