"""Training speed of `vgbench train`: seconds per step and kimg/s, set against the papers' reported GPU-days.

    python benchmarks/bench_training.py [--model stylegan_v] [--config tiny] [--steps 4] [--set KEY=VALUE ...]

Runs ``--steps`` training steps (after one warm-up step that is not timed) of the given config on the bundled tiny
videos (or ``--data``), on CUDA when available, else on the CPU, and prints one JSON line: seconds per step
(median), kimg/s in the authors' unit (thousands of frames shown to D), and how many days 25000 kimg would take at
that speed on this device. The papers report about 2 days on 4 V100 GPUs (8 GPU-days) for 25000 kimg at 256x256
(StyleGAN-V Table 1; MoStGAN-V: under 2 days on 4 GPUs), i.e. about 0.036 kimg/s per V100.

For the 256x256 paper configs on a CPU, pass a small batch and fp32, e.g.
``--config ffs --data builtin:tiny --set train.batch_size=4 --set data.resolution=64`` is NOT a 256x256 number;
use ``--data`` with 256x256 videos (``bench_training_data.py --keep DIR`` writes some).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="stylegan_v", choices=["stylegan_v", "mostgan_v"])
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--data", default="builtin:tiny")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()

    from vgbench.training.config import load_config
    from vgbench.training.loop import Trainer

    cfg = load_config(args.model, args.config, args.sets)
    cfg["dataset"] = cfg["dataset"] or "tiny"
    cfg["data_source"] = args.data
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as run:
        tr = Trainer(cfg, run, args.data, device=device, progress=False)
        it = iter(tr.loader)
        times = []
        for i in range(args.steps + 1):
            images, t, c_real = next(it)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            tr.train_step(images, t, c_real)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
    c = tr.cfg
    sec = statistics.median(times)
    kimg_per_step = c["train"]["batch_size"] * c["data"]["num_frames"] / 1000
    kimg_s = kimg_per_step / sec
    print(json.dumps({
        "model": args.model, "config": args.config, "device": device, "threads": torch.get_num_threads(),
        "resolution": c["data"]["resolution"], "batch_size": c["train"]["batch_size"],
        "sec_per_step_median": round(sec, 3), "sec_per_step": [round(x, 3) for x in times],
        "kimg_per_s": round(kimg_s, 5), "days_for_25000_kimg": round(25000 / kimg_s / 86400, 1),
        "paper_reference": "StyleGAN-V: 25000 kimg in ~2 days on 4x V100 (8 GPU-days) = ~0.036 kimg/s per GPU",
    }))


if __name__ == "__main__":
    main()
