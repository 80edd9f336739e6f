"""MotionVideoGAN stage 2 (`vgbench train --model motionvideogan --stage directions`): the cost of one sample's
Jacobian and of the directions.

    PYTHONPATH=. python benchmarks/bench_directions.py [--threads 1] [--tangents 8] [--device cuda]

1. The tiny fixture (64 px, w_dim 32): seconds per sample (:func:`pair_jacobian`, both images, all 32 tangents in
   one pass, random-mode noise) and seconds for the directions (four Robust PCAs of 32 x 32 matrices).
2. The full size (256x256, 6 channels, z = w = 512, StyleGAN2 ``--cfg=stylegan2`` channels; random weights: the
   cost does not depend on them): seconds for ``--tangents`` forward-mode tangents of one image, after one warm-up
   pass, extrapolated linearly to the 2 x 512 tangents of one sample (forward mode costs the same per tangent: each
   is one Jacobian-vector product through the synthesis).
3. One Robust-PCA iteration (an SVD of a 512 x 512 matrix) on a ``J^T J / N`` of rank 40 plus noise; the number of
   iterations depends on the matrix (at most ``max_iter`` = 10000), so the run's time is per iteration x that count.

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tangents", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from vgbench.models import stylegan2
    from vgbench.models.motionvideogan import load_generator
    from vgbench.training.motion_directions import motion_directions, pair_jacobian, robust_pca

    out = {"device": args.device, "torch_threads": torch.get_num_threads()}
    dev = torch.device(args.device)

    G = load_generator(ROOT / "tests/fixtures/motionvideogan_tiny/models/tiny/network-snapshot-000000.pkl")[0]
    G = G.eval().requires_grad_(False).to(dev)
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev), None)[0, 0]
    times = []
    for rep in range(3):
        gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
        t0 = time.perf_counter()
        J = pair_jacobian(G, w, noise_mode="random", generators=gens, chunk=32)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    motion_directions(J.cpu().numpy())
    out["tiny"] = {"jacobian_s_per_sample": round(float(np.median(times)), 3),
                   "directions_s": round(time.perf_counter() - t0, 3), "shape": list(J.shape)}

    if not args.skip_full:
        torch.manual_seed(0)
        big = stylegan2.Generator(z_dim=512, w_dim=512, mapping_kwargs={"num_layers": 8}, channel_base=32768,
                                  channel_max=512, fused_modconv_default="inference_only", c_dim=0,
                                  img_resolution=256, img_channels=6).eval().requires_grad_(False).to(dev)
        wb = big.mapping(torch.randn(1, 512, device=dev), None)[0, 0]

        def image(x):
            img = big.synthesis(x.reshape(1, 1, -1).expand(1, big.num_ws, -1), noise_mode="const", force_fp32=True)
            return img[0, :3].mean(dim=0)

        basis = torch.eye(512, device=dev)[:args.tangents]
        col = torch.func.vmap(lambda t: torch.func.jvp(image, (wb,), (t,))[1])
        col(basis[:1])  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        col(basis)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        out["full_256"] = {"tangents_timed": args.tangents, "seconds": round(sec, 2),
                           "estimated_s_per_sample": round(sec / args.tangents * 512 * 2, 1),
                           "jacobian_file_mib": 2 * 256 * 256 * 512 * 4 / 2 ** 20}

    rng = np.random.default_rng(0)
    A = rng.standard_normal((512, 40))
    M = A @ A.T / 40 + 1e-3 * rng.standard_normal((512, 512))
    M = (M + M.T) / 2
    t0 = time.perf_counter()
    L, _ = robust_pca(M, max_iter=20)
    out["robust_pca_512"] = {"s_per_iteration": round((time.perf_counter() - t0) / 20, 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
