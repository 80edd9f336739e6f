"""The FVD statistics pipeline: clips/s and the share of time the detector waits for decoded clips.

    python benchmarks/bench_pipeline.py [--videos 64] [--device cpu|cuda] [--keep DIR]

Real I3D, FVD16 real clips (random offsets) of 32-frame 256x256 JPEG videos, for several decoding set-ups:
inline (no workers), worker threads, worker processes. Each run reports clips/s, the seconds spent in the detector
and waiting for the next decoded clip (``runtime.detector_seconds`` and ``runtime.input_wait_seconds`` of every
statistics manifest). The wait share is the fraction of the run the detector sat idle; on a GPU it is the number to
drive to zero. The same set-ups run on a GPU with ``--device cuda``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fvd_e2e import write_set  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--keep", default=None, help="write the data here and keep it (reused if present)")
    a = ap.parse_args()
    from vgbench.detectors import get_detector
    from vgbench.metrics.fvd import compute_stats

    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="vgbench-bench-"))
    real = base / "real"
    if not real.is_dir():
        write_set(real, a.videos, seed=0, frames=32)
    det = get_detector("i3d", a.device)
    compute_stats(real, "fvd16", "real", detector=det, device=a.device, progress=False, num_workers=0)  # warm-up
    rows = []
    for name, workers, processes in (("inline", 0, False), ("1 thread", 1, False), ("2 threads", 2, False),
                                     ("2 processes", 2, True)):
        t0 = time.perf_counter()
        st = compute_stats(real, "fvd16", "real", detector=det, device=a.device, progress=False,
                           num_workers=workers, worker_processes=processes)
        wall = time.perf_counter() - t0
        rt = st.manifest["runtime"]
        rows.append({"decoding": name, "clips": st.n, "clips_per_s": round(st.n / wall, 2),
                     "detector_s": rt["detector_seconds"], "input_wait_s": rt["input_wait_seconds"],
                     "wait_share": round(rt["input_wait_seconds"] / wall, 3), "wall_s": round(wall, 2)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"device": a.device, "videos": a.videos, "batch_size": st.manifest["runtime"]["batch_size"]}))


if __name__ == "__main__":
    main()
