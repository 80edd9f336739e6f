"""Cost and stability of the FVD confidence interval and N→∞ extrapolation at FVD16's size (N = 2048 videos per
side, D = 400 I3D logits), on synthetic Gaussian features with a closed-form Fréchet distance.

    python benchmarks/bench_bootstrap.py                    # 2000 replicates: time per replicate, stability
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bootstrap.py --pool 1000

Stability: the pool of replicates is cut into disjoint blocks of B (each block is distributed exactly as a run
with another seed); the spread of the interval endpoints over the blocks, relative to the interval's half-width,
says how much the interval moves from one seed to another at that B.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from vgbench.metrics.confidence import (
    bootstrap_replicates,
    extrapolate,
    interval_from_replicates,
)
from vgbench.metrics.frechet import frechet_distance


def gaussian_sets(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    s1, s2 = np.diag(np.linspace(0.1, 3.0, d)), 2 * a @ a.T + 0.05 * np.eye(d)
    m2 = rng.standard_normal(d) * 0.3
    true = frechet_distance(np.zeros(d), s1, m2, s2)[0]
    x = rng.standard_normal((n, d)) @ np.linalg.cholesky(s1).T
    y = m2 + rng.standard_normal((n, d)) @ np.linalg.cholesky(s2).T
    return x.astype(np.float32), y.astype(np.float32), true


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=400)
    ap.add_argument("--pool", type=int, default=2000, help="replicates computed (cut into blocks of each B)")
    ap.add_argument("--blocks", default="100,200,500,1000")
    a = ap.parse_args()
    x, y, true = gaussian_sets(a.n, a.dim)
    mx, my = x.astype(np.float64).mean(0), y.astype(np.float64).mean(0)
    t = time.perf_counter()
    value = frechet_distance(mx, np.cov(x.T, bias=True), my, np.cov(y.T, bias=True))[0]
    t_value = time.perf_counter() - t
    t = time.perf_counter()
    reps = bootstrap_replicates(x, y, a.pool, seed=0)
    t_pool = time.perf_counter() - t
    t = time.perf_counter()
    ext = extrapolate(x, y)
    t_ext = time.perf_counter() - t
    full_low, full_high = interval_from_replicates(reps, value)
    half = (full_high - full_low) / 2
    stability = {}
    for b in (int(s) for s in a.blocks.split(",")):
        blocks = [interval_from_replicates(reps[i:i + b], value) for i in range(0, a.pool - b + 1, b)]
        if len(blocks) < 2:
            continue
        lows, highs = np.array(blocks).T
        stability[b] = {"blocks": len(blocks), "sd_low": float(lows.std(ddof=1)), "sd_high": float(highs.std(ddof=1)),
                        "sd_relative_to_half_width": float(np.mean([lows.std(ddof=1), highs.std(ddof=1)]) / half),
                        "seconds": round(b * t_pool / a.pool, 1)}
    print(json.dumps({
        "n": a.n, "dim": a.dim, "closed_form": true, "value": value, "seconds_value_sqrtm": round(t_value, 2),
        "pool": a.pool, "seconds_per_replicate": round(t_pool / a.pool, 4),
        "interval_all_replicates": [full_low, full_high], "replicate_mean_minus_value": float(reps.mean() - value),
        "stability": stability,
        "extrapolated": ext["value"], "extrapolation_seconds": round(t_ext, 2),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"), "load": os.getloadavg()},
    }, indent=1))


if __name__ == "__main__":
    main()
