"""Training speed of `vgbench train`: seconds per step and kimg/s, set against the papers' reported GPU-days.

    python benchmarks/bench_training.py [--model stylegan_v] [--config tiny] [--steps 4] [--set KEY=VALUE ...]
    python benchmarks/bench_training.py --model ctsvg [--config tiny]
    python benchmarks/bench_training.py --model motionvideogan [--config tiny]
    python benchmarks/bench_training.py --model motionvideogan --stage pairs [--config tiny]

MotionVideoGAN (stage 3) trains on a generated frames folder (8 random-pixel videos of ``num_frames + 2`` frames)
unless ``--data`` is given, on the tiny fixture's MotionStyleGAN and directions unless ``--set motion.generator=...
motion.directions=...``; one step is 5 LSTM updates (tiny: 2) and one update of each discriminator. Neither the
paper nor the authors' scripts state stage 3's training time, so there is no reference.

MotionVideoGAN's stage 1 (``--stage pairs``, MotionStyleGAN) trains on a generated frames folder (8 random-pixel videos
of ``interval + 4`` frames at the stage's resolution); its kimg counts pairs. The paper trains it on 4 RTX 3090 for
up to 25000 kimg of pairs without a stated time, so there is no reference. (Stage 2: ``bench_directions.py``.)

CTSVG needs actor/action ids: without ``--data`` it trains on a generated frames folder (8 random-pixel videos of
12 frames at the config's resolution, with a dataset.json); its reference is the paper's "up to 120k iterations
which took about 2 weeks" on one A100 (batch 16 triplets: 5760 kimg, about 0.0048 kimg/s).

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
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="stylegan_v", choices=["stylegan_v", "mostgan_v", "ctsvg", "motionvideogan"])
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--data", default=None, help="default: builtin:tiny for 64x64 configs, else generated random "
                    "frames at the config's resolution (ctsvg: with actor and action ids)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--allow-tf32", action="store_true", help="CUDA: PyTorch's default TF32 convolutions (vgbench "
                    "train switches them off, as the authors' training does)")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--stage", default=None, choices=["pairs", "motion"], help="motionvideogan: the stage to time")
    args = ap.parse_args()

    from vgbench.training.config import load_config, stage_config
    from vgbench.training.loop import trainer_class
    from vgbench.utils import exact_float32

    sets = list(args.sets)
    pairs = args.stage == "pairs"
    if args.model == "motionvideogan" and not pairs and not any(x.startswith("motion.generator=") for x in sets):
        fix = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "motionvideogan_tiny"
        sets += [f"motion.generator={fix / 'models/tiny/network-snapshot-000000.pkl'}",
                 f"motion.directions={fix / 'directions/tiny'}"]
    cfg = load_config(args.model, args.config, sets)
    cfg["dataset"] = cfg["dataset"] or "tiny"
    if args.stage:
        cfg["stage"] = args.stage
    one = stage_config(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as run:
        if args.data:
            data = args.data
        elif pairs:
            data = _frames_data(Path(run) / "data", one["data"]["resolution"], one["data"]["interval"] + 4)
        elif args.model == "ctsvg":
            data = _ctsvg_data(Path(run) / "data", cfg)
        elif args.model == "motionvideogan":
            data = _frames_data(Path(run) / "data", cfg["data"]["resolution"],
                                (cfg["data"]["num_frames"] + 1) * cfg["data"]["time_step"] + 1)
        elif cfg["data"]["resolution"] != 64:  # a paper config: random frames at its resolution
            data = _frames_data(Path(run) / "data", cfg["data"]["resolution"], cfg["data"]["max_dist"] + 2)
        else:
            data = "builtin:tiny"
        cfg["data_source"] = data
        tr = trainer_class(args.model, args.stage)(cfg, Path(run) / "run", data, device=device, progress=False)
        it = iter(tr.loader)
        times = []
        for i in range(args.steps + 1):
            batch = next(it)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with contextlib.nullcontext() if args.allow_tf32 else exact_float32(device):  # as vgbench train
                tr.train_step(*batch)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
    c = tr.cfg
    sec = statistics.median(times)
    frames = 3 if args.model == "ctsvg" else 1 if pairs else c["data"]["num_frames"]
    kimg_s = c["train"]["batch_size"] * frames / 1000 / sec
    if pairs:
        ref = {"paper_reference": "none stated for stage 1 (25000 kimg of pairs on 4x RTX 3090, time not given)"}
    elif args.model == "motionvideogan":
        ref = {"paper_reference": "none stated for stage 3"}
    elif args.model == "ctsvg":
        ref = {"days_for_120k_iterations": round(120000 * sec / 86400, 1),
               "paper_reference": "CTSVG: up to 120k iterations (batch 16 triplets) in about 2 weeks on one A100"}
    else:
        ref = {"days_for_25000_kimg": round(25000 / kimg_s / 86400, 1),
               "paper_reference": "StyleGAN-V: 25000 kimg in ~2 days on 4x V100 (8 GPU-days) = ~0.036 kimg/s per GPU"}
    print(json.dumps({
        "model": args.model, "stage": args.stage, "config": args.config, "device": device, "threads": torch.get_num_threads(),
        "resolution": c["data"]["resolution"], "batch_size": c["train"]["batch_size"],
        "sec_per_step_median": round(sec, 3), "sec_per_step": [round(x, 3) for x in times],
        "kimg_per_s": round(kimg_s, 5), "tf32": bool(args.allow_tf32 and device == "cuda"), **ref,
    }))


def _frames_data(root: Path, res: int, frames: int) -> str:
    """8 videos of ``frames`` random-pixel frames at ``res``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(8):
        (root / f"v{i}").mkdir(parents=True)
        for k in range(frames):
            Image.fromarray(rng.integers(0, 256, (res, res, 3), dtype=np.uint8)).save(root / f"v{i}" / f"{k:03d}.png")
    return str(root)


def _ctsvg_data(root: Path, cfg: dict) -> str:
    """8 videos of 12 random-pixel frames at the config's resolution, ids cycling over actors and actions."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    res, d = cfg["data"]["resolution"], cfg["data"]
    tree = {"labels": [], "actors": []}
    for i in range(8):
        (root / f"v{i}").mkdir(parents=True)
        for k in range(max(12, d["clip_len"] + 1)):
            Image.fromarray(rng.integers(0, 256, (res, res, 3), dtype=np.uint8)).save(root / f"v{i}" / f"{k:03d}.png")
        tree["labels"].append([f"v{i}", i % d["num_classes"]])
        tree["actors"].append([f"v{i}", i % d["num_person"]])
    (root / "dataset.json").write_text(json.dumps(tree))
    return str(root)


if __name__ == "__main__":
    main()
