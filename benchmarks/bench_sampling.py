"""Generator sampling speed: frames/s of a full-size (256x256, official default config) StyleGAN-V and MoStGAN-V
with random weights (speed does not depend on the values), through the adapter path vgbench eval uses
(one video at a time, 16-frame generator calls, uint8 quantisation); plus `vgbench eval` end to end on the
bundled tiny dataset with the shipped tiny checkpoints.

    python benchmarks/bench_sampling.py [--device cpu] [--videos 2] [--frames 16] [--no-eval]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def full_size(kind: str, device: str, videos: int, frames: int) -> dict:
    from vgbench.models import get_adapter, mostgan_v, stylegan_v
    from vgbench.models.checkpoint import save_native

    mod = stylegan_v if kind == "stylegan_v" else mostgan_v
    kwargs = mod.official_config(256)
    torch.manual_seed(0)
    G = mod.Generator(**kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        p = save_native(Path(tmp) / "g.vgb", kind, kwargs, G.state_dict(), {"dataset_fps": 30})
        a = get_adapter(kind, str(p), device=device)
        next(a.sample(1, 16, seed=99))  # warm-up
        t0 = time.perf_counter()
        for _ in a.sample(videos, frames, seed=0, batch_size=1):
            pass
        dt = time.perf_counter() - t0
    params = sum(v.numel() for v in G.state_dict().values() if v.is_floating_point())
    return {"model": kind, "resolution": 256, "params": params, "videos": videos, "frames": frames,
            "seconds": round(dt, 2), "frames_per_s": round(videos * frames / dt, 2)}


def tiny_eval(kind: str, device: str) -> dict:
    from vgbench.evaluate import evaluate

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = evaluate(kind, str(ROOT / "tests" / "fixtures" / f"{kind}_tiny.pkl"), "tiny", num_fake=48,
                       device=device, progress=False)
    return {"model": kind, "eval_tiny_fvd16_48_fake_seconds": round(time.perf_counter() - t0, 2),
            "fvd16": round(rec["metrics"]["fvd16"]["value"], 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--no-eval", action="store_true")
    a = ap.parse_args()
    out = {"device": a.device, "torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    for kind in ("stylegan_v", "mostgan_v"):
        out["results"].append(full_size(kind, a.device, a.videos, a.frames))
        if not a.no_eval:
            out["results"].append(tiny_eval(kind, a.device))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
