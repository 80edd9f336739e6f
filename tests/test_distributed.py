"""torchrun (gloo, CPU): statistics split over 1, 2 and 4 processes equal those of one process without torchrun,
bit for bit, for a frames folder (split by its plan) and for a generator (split by video index)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from test_shards import _proto
from vgbench.metrics.base import EvalContext
from vgbench.metrics.fvd import _fake_video_stats, compute_stats
from vgbench.models import get_adapter
from vgbench.protocols import load_protocol

TESTS = Path(__file__).resolve().parent


def _torchrun(world: int, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(world), *args]
    p = subprocess.run(cmd, cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_statistics_split_over_torchrun_ranks_equal_one_process(tmp_path):
    rng = np.random.default_rng(1)
    videos = {f"v{i}": np.clip(ramp_video(10 if i == 3 else 20 + i, base=9 * i).astype(int)
                               + rng.integers(0, 30, (10 if i == 3 else 20 + i, 16, 16, 3)), 0, 255).astype(np.uint8)
              for i in range(9)}
    data = write_frames_dataset(tmp_path / "real", videos)
    proto = _proto(tmp_path, 6)  # the first 6 usable of 8 (v3 is too short)
    one_real = compute_stats(data, proto, "real", detector=MeanColorDetector(), progress=False)
    ctx = EvalContext(load_protocol(proto), "cpu", progress=False, num_fake=6, seed=3,
                      adapter=get_adapter("stylegan_v", str(TESTS / "fixtures" / "stylegan_v_tiny.pkl")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks (OMP_NUM_THREADS=1): the generator's float rounding depends on it
    try:
        one_fake = _fake_video_stats(ctx, MeanColorDetector(), 6)
    finally:
        torch.set_num_threads(threads)
    for world in (1, 2, 4):
        out = tmp_path / f"w{world}.npz"
        _torchrun(world, str(TESTS / "jobs" / "torchrun_stats.py"), str(data), str(proto), str(out))
        z = np.load(out)
        assert int(z["world"]) == world
        for side, st in (("real", one_real), ("fake", one_fake)):
            assert np.array_equal(z[f"{side}_mu"], st.mu) and np.array_equal(z[f"{side}_sigma"], st.sigma), (side,
                                                                                                            world)
            assert np.array_equal(z[f"{side}_features"], st.features)
            assert str(z[f"{side}_counts"]) == str(sorted(st.manifest["counts"].items()))
        assert z["real_ids"].tolist() == one_real.ids and z["real_offsets"].tolist() == one_real.offsets
        assert bool(z["fake_complete"]) == one_fake.manifest["protocol_complete"]


@pytest.mark.slow
def test_cli_stats_under_torchrun_writes_the_one_process_file(tmp_path):
    """`torchrun -m vgbench stats` with the real I3D: rank 0 writes the file, equal to the single-process one (both
    with one thread per process)."""
    from vgbench.metrics.stats import load_stats

    one = tmp_path / "one.npz"
    p = subprocess.run([sys.executable, "-m", "vgbench", "stats", "builtin:tiny", "-o", str(one), "--no-progress"],
                       cwd=TESTS.parent, capture_output=True, text=True, timeout=1200,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))  # as the ranks: I3D's rounding depends on it
    assert p.returncode == 0, p.stderr[-3000:]
    two = tmp_path / "two.npz"
    r = _torchrun(2, "-m", "vgbench", "stats", "builtin:tiny", "-o", str(two), "--no-progress", timeout=1200)
    assert r.stdout.count(str(two)) == 1  # only rank 0 prints
    a, b = load_stats(one), load_stats(two)
    assert np.array_equal(a.mu, b.mu) and np.array_equal(a.sigma, b.sigma) and a.ids == b.ids
    assert b.manifest["env"]["world_size"] == 2 and b.manifest["merged"]["shards"] == 2
