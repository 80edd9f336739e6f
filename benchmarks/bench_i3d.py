"""I3D throughput on this machine: clips/s for 16x224x224 clips, the network's FLOPs, and the share of the
machine's measured conv3d FLOP/s that it reaches; and the input preprocessing (uint8 -> [-1, 1] 224x224) of
--resize-from x --resize-from clips with each resize kernel the protocols use (fvd16: torch's half-pixel bilinear,
fvd16_tf: TF1 resize_bilinear), in ms per clip.

    python benchmarks/bench_i3d.py                    # CPU, batch sizes 1, 4, 8
    python benchmarks/bench_i3d.py --device cuda --batch-sizes 8,16,32
    python benchmarks/bench_i3d.py --preprocess-only  # only the resize kernels

Weights: the real ones from the store when present (`vgbench weights fetch i3d`), else random (same speed).
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F


def i3d_flops(net, frames: int = 16) -> float:
    """Multiply-adds x 2 of every conv in one forward pass of one clip (pools and ReLUs ignored)."""
    from vgbench.detectors.i3d import Unit3D

    total = [0.0]

    def hook(mod, inp, out):
        cout, cin, kt, kh, kw = mod.weight.shape
        total[0] += 2.0 * out.numel() * cin * kt * kh * kw

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, Unit3D)]
    with torch.inference_mode():
        net(torch.zeros(1, 3, frames, 224, 224))
    for h in hs:
        h.remove()
    return total[0]


def conv3d_peak(device: str, seconds: float = 3.0) -> float:
    """Best FLOP/s of large fp32 conv3d layers typical of I3D (the machine's practical ceiling)."""
    best = 0.0
    shapes = [(4, 192, 8, 56, 56, 96, 3), (8, 480, 8, 28, 28, 192, 1), (8, 160, 4, 14, 14, 320, 3)]
    for b, cin, t, h, w, cout, k in shapes:
        x = torch.randn(b, cin, t, h, w, device=device)
        wt = torch.randn(cout, cin, k, k, k, device=device)
        with torch.inference_mode():
            F.conv3d(x, wt, padding=k // 2)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / len(shapes):
                F.conv3d(x, wt, padding=k // 2)
                n += 1
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / n
        flops = 2.0 * b * cout * t * h * w * cin * k ** 3
        best = max(best, flops / dt)
    return best


def preprocess_ms(det, frames: int, size: int, batch: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` ms per clip of ``det.preprocess`` on uint8 [batch, frames, size, size, 3], per kernel."""
    from vgbench.detectors.i3d import RESIZE_MODES

    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (batch, frames, size, size, 3), dtype=np.uint8))
    out = {}
    for mode in RESIZE_MODES:
        d = det.with_resize(mode)
        d.preprocess(x)  # warm-up (taps, allocator)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            d.preprocess(x)
            if d.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        out[mode] = round(min(times) / batch * 1000, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resize-from", type=int, default=256, help="frame size of the preprocessing benchmark")
    ap.add_argument("--preprocess-only", action="store_true", help="skip the network benchmark")
    a = ap.parse_args()
    from vgbench import weights
    from vgbench.detectors.i3d import I3DDetector, InceptionI3d

    if weights.is_present("i3d"):
        state, _ = weights.load_state_dict("i3d")
    else:
        state = {k: torch.randn_like(v) * 0.01 for k, v in InceptionI3d().state_dict().items()}
    det = I3DDetector(state, device=a.device)
    batches = [int(b) for b in a.batch_sizes.split(",")]
    pre = [{"batch": bs, "ms_per_clip": preprocess_ms(det, a.frames, a.resize_from, bs, max(a.repeats, 10))}
           for bs in batches]
    info = {"device": a.device, "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "frames": a.frames,
            "preprocess": {"from": [a.resize_from, a.resize_from], "to": [224, 224], "results": pre}}
    if a.preprocess_only:
        print(json.dumps(info, indent=2))
        return
    flops = i3d_flops(InceptionI3d().eval(), a.frames)
    peak = conv3d_peak(a.device)
    rows = []
    for bs in batches:
        x = np.random.default_rng(0).integers(0, 256, (bs, a.frames, 224, 224, 3), dtype=np.uint8)
        det(x)  # warm-up
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            det(x)
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append({"batch": bs, "seconds": round(best, 4), "clips_per_s": round(bs / best, 3),
                     "gflops_per_s": round(flops * bs / best / 1e9, 1),
                     "share_of_conv3d_peak": round(flops * bs / best / peak, 3)})
    print(json.dumps({**info, "i3d_gflops_per_clip": round(flops / 1e9, 2),
                      "conv3d_peak_gflops_per_s": round(peak / 1e9, 1), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
