"""Reading a compressed ``.npz`` of videos: the cost of checking the member's CRC before any video is used.

    python benchmarks/bench_readers.py [--videos 64] [--frames 16] [--size 128]

A damaged deflate stream can decode to wrong pixels without an error until the CRC at the end of the member, so
:class:`vgbench.io.npy.NumpySource` decompresses a compressed member once, without keeping it, before it streams
the videos. This measures one pass over every video (iterate and read) with the check (first pass over the file),
with the check remembered (later passes over the same file version), and without it (the code before the check),
on smooth videos with noise (compressible like real frames, unlike pure noise).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def make_npz(path: Path, n: int, t: int, size: int) -> int:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    videos = np.empty((n, t, size, size, 3), np.uint8)
    for i in range(n):
        for k in range(t):
            base = (x * (i + 1) + y * 2 + 5 * k) % 256
            videos[i, k] = np.stack([base, (base + 85) % 256, (base + 170) % 256], -1)
    videos = (videos.astype(np.int16) + rng.integers(-3, 4, videos.shape)).clip(0, 255).astype(np.uint8)
    np.savez_compressed(path, videos=videos)
    return videos.nbytes


def one_pass(path: Path) -> float:
    from vgbench.io.sources import open_source

    t0 = time.perf_counter()
    total = 0
    for v in open_source(path):
        total += int(v.read().sum() & 1)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from vgbench.io import npy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "videos.npz"
        raw = make_npz(path, a.videos, a.frames, a.size)
        real_check = npy.NumpySource._damaged_member
        first, remembered, without = [], [], []
        for _ in range(a.repeats):
            npy.NumpySource._checked.clear()
            first.append(one_pass(path))
            remembered.append(one_pass(path))
            npy.NumpySource._damaged_member = lambda self: None
            try:
                without.append(one_pass(path))
            finally:
                npy.NumpySource._damaged_member = real_check
        best = {"first_pass_with_check_s": min(first), "later_pass_check_remembered_s": min(remembered),
                "pass_without_check_s": min(without)}
        print(json.dumps({
            "videos": a.videos, "frames": a.frames, "size": a.size, "decoded_mib": round(raw / 2 ** 20, 1),
            "file_mib": round(path.stat().st_size / 2 ** 20, 1), "repeats": a.repeats,
            **{k: round(v, 3) for k, v in best.items()},
            "decoded_mib_per_s_first_pass": round(raw / 2 ** 20 / best["first_pass_with_check_s"], 1),
            "decoded_mib_per_s_without_check": round(raw / 2 ** 20 / best["pass_without_check_s"], 1),
            "first_pass_overhead": round(best["first_pass_with_check_s"] / best["pass_without_check_s"] - 1, 3),
        }, indent=2))


if __name__ == "__main__":
    main()
