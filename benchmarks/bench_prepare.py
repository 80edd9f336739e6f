"""`vgbench data prepare` throughput: videos/s and videos/s per worker.

    python benchmarks/bench_prepare.py [--videos 16] [--frames 64] [--size 320x240] [--workers 1,2] [--keep DIR]

Writes ``--videos`` synthetic mp4 videos (mpeg4, 25 fps, moving gradients) of ``--frames`` frames at ``--size``
(UCF101's 320x240 by default) with PyAV, then prepares them with the ``ucf101`` card (video_frames recipe: short
side to 256 with PIL LANCZOS, centre crop, JPEG at PIL's default quality) into a new folder once per worker count.
Each run includes decoding, resizing, encoding, the sha256 of every source file and frame, the manifest and the
listing hash; worker processes are started with ``spawn`` (their start-up is included).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np


def write_sources(folder: Path, videos: int, frames: int, width: int, height: int) -> None:
    folder.mkdir(parents=True)
    y, x = np.mgrid[:height, :width]
    for v in range(videos):
        with av.open(str(folder / f"v_{v:03d}.mp4"), "w") as c:
            s = c.add_stream("mpeg4", rate=25)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                rgb = np.stack([(x * 2 + 7 * i + v) % 256, (y * 3 + 5 * i) % 256, (x + y + 11 * v) % 256], -1)
                for pkt in s.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--keep", default=None, help="keep the sources and outputs in this folder")
    args = ap.parse_args()
    from vgbench.data.prepare import prepare

    width, height = map(int, args.size.split("x"))
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    try:
        write_sources(work / "raw", args.videos, args.frames, width, height)
        result = {"videos": args.videos, "frames": args.frames, "size": args.size, "card": "ucf101", "runs": []}
        for workers in map(int, args.workers.split(",")):
            t0 = time.perf_counter()
            m = prepare("ucf101", work / "raw", work / f"out_w{workers}", workers=workers, progress=False)
            dt = time.perf_counter() - t0
            assert m["num_videos"] == args.videos and not m["bad_sources"]
            result["runs"].append({"workers": workers, "seconds": round(dt, 2),
                                   "videos_per_s": round(args.videos / dt, 3),
                                   "videos_per_s_per_worker": round(args.videos / dt / workers, 3),
                                   "frames_per_s": round(args.videos * args.frames / dt, 1)})
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
