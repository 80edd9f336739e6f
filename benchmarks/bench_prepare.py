"""`vgbench data prepare` throughput: videos/s and videos/s per worker.

    python benchmarks/bench_prepare.py [--card ucf101|utd-mhad] [--videos 16] [--frames 64] [--size WxH]
                                       [--workers 1,2] [--keep DIR]

Writes ``--videos`` synthetic videos (mpeg4, 25 fps, moving gradients) of ``--frames`` frames at ``--size`` with
PyAV, then prepares them with the card's recipe into a new folder once per worker count:

- ``ucf101`` (default; 320x240 mp4 files): video_frames, short side to 256 with PIL LANCZOS, centre crop, JPEG at
  PIL's default quality;
- ``utd-mhad`` (640x480 AVIs named ``a<action>_s<subject>_t<trial>_color.avi``, actions and subjects in turn):
  utd_mhad, the same steps to 128, the card's split (subject 8 held out) and the two ``dataset.json`` files.

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


CARDS = {"ucf101": "320x240", "utd-mhad": "640x480"}


def source_name(card: str, v: int) -> str:
    if card == "utd-mhad":  # a1_s1_t1, a2_s2_t1, ..., a8_s8_t1, a9_s1_t1, ...: every subject, held-out s8 included
        return f"a{v % 27 + 1}_s{v % 8 + 1}_t{v // 216 % 4 + 1}_color.avi"
    return f"v_{v:03d}.mp4"


def write_sources(folder: Path, card: str, videos: int, frames: int, width: int, height: int) -> None:
    folder.mkdir(parents=True)
    y, x = np.mgrid[:height, :width]
    for v in range(videos):
        with av.open(str(folder / source_name(card, v)), "w") as c:
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
    ap.add_argument("--card", choices=sorted(CARDS), default="ucf101")
    ap.add_argument("--size", default=None, help="WxH of the sources (default: 320x240 ucf101, 640x480 utd-mhad)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--keep", default=None, help="keep the sources and outputs in this folder")
    args = ap.parse_args()
    from vgbench.data.prepare import prepare

    if args.card == "utd-mhad" and args.videos > 864:
        ap.error("utd-mhad has 864 names (27 actions x 8 subjects x 4 trials)")
    size = args.size or CARDS[args.card]
    width, height = map(int, size.split("x"))
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    try:
        write_sources(work / "raw", args.card, args.videos, args.frames, width, height)
        result = {"videos": args.videos, "frames": args.frames, "size": size, "card": args.card, "runs": []}
        for workers in map(int, args.workers.split(",")):
            t0 = time.perf_counter()
            m = prepare(args.card, work / "raw", work / f"out_w{workers}", workers=workers, progress=False)
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
