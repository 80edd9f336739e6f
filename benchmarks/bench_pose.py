"""Pose extraction throughput on this machine (BlazePose full, TFLite on CPU through ai-edge-litert): frames/s of
single images (detector + landmark model on every frame) and of videos (detector on the first frame, the region
tracked from the landmarks after that, as ``vgbench action pose`` runs), at 640x480 (UTD-MHAD's frame size) and
512x512, for several TFLite thread counts; and ``extract_keypoints`` on a cold and on a warm keypoint cache.

Frames: scikit-image's ``astronaut`` photo (fetched with pip, sha256-checked) moving across a larger canvas.

    python benchmarks/bench_pose.py                     # 30 frames per measurement, threads 1,2
    python benchmarks/bench_pose.py --frames 60 --threads 1,2,4

Run from a checkout with ``PYTHONPATH=.``; needs ``pip install 'vgbench[pose]'`` (weights fetched on first use).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def _video(img: np.ndarray, frames: int, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    s = min(h / img.shape[0], w / img.shape[1]) * 0.9
    im = np.asarray(Image.fromarray(img).resize((int(img.shape[1] * s), int(img.shape[0] * s)), Image.BILINEAR))
    out = np.zeros((frames, h, w, 3), np.uint8)
    for t in range(frames):  # moves right by up to 10% of the width
        dx = int((w - im.shape[1]) * t / max(frames - 1, 1))
        out[t, h - im.shape[0]:, dx:dx + im.shape[1]] = im
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()

    from PIL import Image

    from vgbench.action import extract
    from vgbench.detectors.face import sample_media
    from vgbench.detectors.pose import load_blazepose

    img = np.asarray(Image.open(sample_media("astronaut.png")).convert("RGB"))
    videos = {"640x480": _video(img, args.frames, (480, 640)), "512x512": _video(img, args.frames, (512, 512))}
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_1min": round(os.getloadavg()[0], 2), "frames_per_measurement": args.frames, "results": []}
    for threads in (int(x) for x in args.threads.split(",")):
        model = load_blazepose(threads=threads)
        model.keypoints(videos["640x480"][0])  # warm up
        for res, video in videos.items():
            t0 = time.perf_counter()
            for f in video:
                model.keypoints(f)
            single = len(video) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, person = model.video(video)
            tracked = len(video) / (time.perf_counter() - t0)
            out["results"].append({"resolution": res, "threads": threads, "single_image_frames_per_s": round(single, 1),
                                   "video_frames_per_s": round(tracked, 1), "frames_with_person": int(person.sum())})
            print(json.dumps(out["results"][-1]), flush=True)
    with tempfile.TemporaryDirectory() as d:
        extract.cache_dir = lambda: __import__("pathlib").Path(d)  # a fresh cache for this measurement
        arr = videos["640x480"][None]
        for kind in ("cold", "warm"):
            t0 = time.perf_counter()
            extract.extract_keypoints(arr, model=model, progress=False)
            out[f"extract_{kind}_cache_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
