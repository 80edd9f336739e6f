"""PoseC3D action classifier speed on the CPU (inference, mmaction2's full NTU-60 keypoint config: 48x64x64 clips).

    PYTHONPATH=. python benchmarks/bench_action.py               # clips/s at batch 1, 2, 4; heatmaps/s; per video
    PYTHONPATH=. python benchmarks/bench_action.py --threads 2 --batches 2

Measures, with random weights (speed does not depend on them): network clips/s in the default and the
channels-last-3d memory layout (the recogniser uses channels-last), the heatmap pipeline's clips/s (keypoints ->
48x17x64x64 volumes) and the seconds per video of :meth:`ActionRecognizer.predict` at the test setting (10 clips
and their mirrors = 20 clips per video).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from vgbench.action.heatmaps import PipelineConfig, test_volumes
from vgbench.action.recognizer import ActionRecognizer
from vgbench.detectors.posec3d import PoseC3D


def _rate(fn, n_items: int, repeats: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_items * repeats / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model = PoseC3D(num_classes=27).eval()
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "clip": [17, 48, 64, 64],
           "network_clips_per_s": {}, "network_clips_per_s_channels_last": {}}
    for b in [int(x) for x in a.batches.split(",")]:
        x = torch.rand(b, 17, 48, 64, 64)
        with torch.no_grad():
            out["network_clips_per_s"][b] = round(_rate(lambda: model(x), b, a.repeats), 3)
            m, xc = model.to(memory_format=torch.channels_last_3d), x.to(memory_format=torch.channels_last_3d)
            out["network_clips_per_s_channels_last"][b] = round(_rate(lambda: m(xc), b, a.repeats), 3)
            model = model.to(memory_format=torch.contiguous_format)
    rng = np.random.default_rng(0)
    video = np.concatenate([rng.uniform(100, 300, (90, 17, 2)), rng.uniform(0.5, 1, (90, 17, 1))], -1)
    cfg = PipelineConfig()
    out["heatmap_clips_per_s"] = round(_rate(lambda: test_volumes(video, (480, 640), cfg), 2 * cfg.num_clips,
                                             a.repeats), 2)
    clf = ActionRecognizer(model, cfg)
    t = time.perf_counter()
    clf.clip_logits(video, (480, 640))
    out["seconds_per_video"] = round(time.perf_counter() - t, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
