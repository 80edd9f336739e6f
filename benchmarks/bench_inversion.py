"""CTSVG temporal GAN inversion speed (`vgbench invert`'s optimisation loop): seconds per optimisation step and per
frame-step, for the shipped tiny CTSVG and for a full-size released configuration with random weights (speed does
not depend on the values). LPIPS uses generated VGG16 weights in torchvision's layout (the real backbone cannot be
downloaded here; the FLOPs are the same).

    python benchmarks/bench_inversion.py [--device cpu] [--frames 4] [--steps 3] [--size 128] [--no-full]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def lpips_model(device: str):
    from vgbench.detectors import lpips as L

    g = torch.Generator().manual_seed(0)
    backbone = {k: torch.randn(s, generator=g) * (0.02 if k.endswith("weight") else 0.01)
                for k, s in L.backbone_shapes("vgg").items()}
    heads = {k: torch.rand(s, generator=g) for k, s in L.head_shapes("vgg").items()}
    return L.LPIPS("vgg", backbone, heads).to(device).eval().requires_grad_(False)


def run(adapter, lpips, frames: int, steps: int, device: str) -> dict:
    from vgbench.inversion import InversionConfig, _ctsvg_problem, invert

    prob = _ctsvg_problem(adapter)
    render = prob.renderer(0, 0)
    times = torch.arange(frames, dtype=torch.float64)
    with torch.no_grad():
        target = render(prob.mapping(torch.randn(1, prob.z_dim, device=device)), times, None).clamp(-1, 1)
    cfg = InversionConfig(steps=steps, n_mean=256, spatial_noise="const")
    init = torch.zeros(1, prob.z_dim, device=device)
    invert(render, target, times, lpips, InversionConfig(steps=1, n_mean=256, spatial_noise="const"),
           code_init=init, code_std=1.0, progress=False)  # warm-up
    t0 = time.perf_counter()
    invert(render, target, times, lpips, cfg, code_init=init, code_std=1.0, progress=False)
    dt = time.perf_counter() - t0
    return {"resolution": prob.resolution, "frames": frames, "steps": steps, "seconds": round(dt, 2),
            "seconds_per_step": round(dt / steps, 3), "seconds_per_frame_step": round(dt / steps / frames, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--size", type=int, default=128, choices=[128, 256], help="full-size configuration")
    ap.add_argument("--no-full", action="store_true")
    a = ap.parse_args()
    from vgbench.models import ctsvg, get_adapter

    lp = lpips_model(a.device)
    out = {"device": a.device, "torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    adapter = get_adapter("ctsvg", str(ROOT / "tests" / "fixtures" / "ctsvg_tiny.pt"), device=a.device)
    out["results"].append({"model": "ctsvg tiny fixture", **run(adapter, lp, 20, a.steps, a.device)})
    if not a.no_full:
        torch.manual_seed(0)
        latent, dyn = (256, 128) if a.size == 256 else (128, 64)
        adapter.G = ctsvg.Generator(**ctsvg.official_config(a.size, latent, dyn)).to(a.device).eval()
        adapter.G.requires_grad_(False)
        out["results"].append({"model": f"ctsvg {a.size}x{a.size} latent {latent} dyn {dyn} (random weights)",
                               **run(adapter, lp, a.frames, a.steps, a.device)})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
