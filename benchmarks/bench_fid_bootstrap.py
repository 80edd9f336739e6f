"""Cost of FID's bootstrap interval at a protocol's size (fid_video: 2048 fake videos x 16 frames = 32,768 frames,
D = 2048 Inception features), on synthetic features: frames of a video share a video-level component.

    PYTHONPATH=. python benchmarks/bench_fid_bootstrap.py                  # fid_video size, 3 replicates
    PYTHONPATH=. python benchmarks/bench_fid_bootstrap.py --videos 3125    # fid50k_full size
    PYTHONPATH=. python benchmarks/bench_fid_bootstrap.py --device cuda --replicates 50

Prints the one-off projection of every fake frame (``FixedRealFrames``), the seconds per replicate, and how far a
replicate that draws every video once is from the reported (``sqrtm``) value, i.e. the rounding of the float32 Gram
on CPU (``--no-check`` skips the sqrtm, itself tens of seconds at D = 2048 on a CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from vgbench.metrics.confidence import FixedRealFrames, resample
from vgbench.metrics.frechet import frechet_distance


def synthetic(videos: int, frames: int, dim: int, seed: int = 0):
    """Real (mu, sigma) dense; fake frames = video component (0.7 of the variance) + frame noise, float32."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    sigma_r = a @ a.T + 0.1 * np.eye(dim)
    scale = np.sqrt(np.linspace(0.05, 2.0, dim))
    x = np.empty((videos * frames, dim), np.float32)
    for v in range(videos):
        u = 0.2 + rng.standard_normal(dim) * scale * np.sqrt(0.7)
        x[v * frames:(v + 1) * frames] = u + rng.standard_normal((frames, dim)) * scale * np.sqrt(0.3)
    return np.zeros(dim), sigma_r, x, np.repeat(np.arange(videos), frames)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=2048)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--no-check", dest="check", action="store_false")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    mu_r, sigma_r, x, videos = synthetic(a.videos, a.frames, a.dim)
    out = {"videos": a.videos, "frames": len(x), "dim": a.dim, "device": a.device,
           "torch_threads": torch.get_num_threads()}
    t = time.perf_counter()
    model = FixedRealFrames(mu_r, sigma_r, x, videos, a.device)
    out["seconds_projection"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    once = model(np.ones(a.videos))
    out["seconds_first_call"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    reps = resample(model, (a.videos,), max(a.replicates, 2), seed=0)
    out["seconds_per_replicate"] = round((time.perf_counter() - t) / len(reps), 2)
    out["replicates"] = reps.tolist()
    if a.check:
        xd = x.astype(np.float64)
        t = time.perf_counter()
        value = frechet_distance(mu_r, sigma_r, xd.mean(0), np.cov(xd.T, bias=True))[0]
        out["seconds_value_sqrtm"] = round(time.perf_counter() - t, 2)
        out.update(value=value, every_video_once=once, relative_difference=abs(once - value) / value)
    out["machine"] = {"cpus": os.cpu_count(), "processor": platform.processor(), "load": os.getloadavg()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
