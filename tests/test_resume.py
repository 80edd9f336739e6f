"""Resumable extraction: an interrupted run (exception, Ctrl-C, SIGINT, SIGKILL) resumes without losing or repeating
a video, for any batch size, and the result equals an uninterrupted run's bit for bit."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from vgbench.features import ClipSpec, extract_features
from vgbench.protocols import load_protocol

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def mixed_dataset(root: Path, n: int = 40) -> Path:
    """``n`` videos of 20 frames, with a too-short video every 9th and an unreadable one every 13th."""
    videos = {}
    for i in range(n):
        videos[f"v{i:03d}"] = ramp_video(10 if i % 9 == 4 else 20, 8, 8, base=3 * i)
    write_frames_dataset(root, videos)
    for i in range(6, n, 13):
        for frame in (root / f"v{i:03d}").iterdir():
            frame.write_bytes(b"not a png")
    return root


SPEC = ClipSpec.from_protocol(load_protocol("fvd16"), "real")


def run(root, det, shard_dir=None, batch_size=7, shard_size=16, workers=0):
    return extract_features(root, det, SPEC, batch_size=batch_size, shard_size=shard_size, shard_dir=shard_dir,
                            shard_key={"k": 1} if shard_dir else None, skip_bad=True, progress=False,
                            num_workers=workers)


def same(a, b):
    assert a.ids == b.ids and a.offsets == b.offsets and a.counts == b.counts and a.bad == b.bad
    assert a.features.dtype == b.features.dtype and np.array_equal(a.features, b.features)


class InterruptAt(MeanColorDetector):
    """Raises ``exc`` on detector call number ``at`` (0-based) of this instance."""

    def __init__(self, at, exc=KeyboardInterrupt):
        super().__init__()
        self.at, self.exc = at, exc

    def __call__(self, videos):
        if len(self.calls) == self.at:
            raise self.exc()
        return super().__call__(videos)


@pytest.mark.parametrize("batch_size,shard_size", [(7, 16), (1, 4), (3, 5), (16, 4), (5, 256)])
def test_interrupt_anywhere_resumes_exactly(tmp_path, batch_size, shard_size):
    root = mixed_dataset(tmp_path / "data")
    full_det = MeanColorDetector()
    full = run(root, full_det, batch_size=batch_size, shard_size=shard_size)
    full_calls = full_det.calls
    assert full.counts["skipped_bad"] == 3 and full.counts["skipped_short"] == 4 and len(full.ids) == 33
    rng = random.Random(batch_size * 1000 + shard_size)
    for trial in range(4):
        shard_dir = tmp_path / f"shards{trial}"
        total_calls, interrupted, res = 0, 0, None
        # interrupt at random detector calls (Ctrl-C or an error) until a run gets through
        while res is None:
            det = InterruptAt(rng.randrange(0, 3) if interrupted < 3 else -1,
                              rng.choice([KeyboardInterrupt, RuntimeError]))
            try:
                res = run(root, det, shard_dir, batch_size, shard_size)
            except (KeyboardInterrupt, RuntimeError):
                interrupted += 1
            total_calls += sum(det.calls)
        assert interrupted >= 1
        same(res, full)
        # nothing was computed twice: every used video went through the detector exactly once
        assert total_calls == sum(full_calls)


def test_interrupt_saves_every_finished_video(tmp_path):
    """The issue's case: chunk 16, batch 7. Ctrl-C after 3 batches (21 videos) keeps all 21 of them."""
    root = mixed_dataset(tmp_path / "data")
    shard_dir = tmp_path / "shards"
    with pytest.raises(KeyboardInterrupt) as ei:
        run(root, InterruptAt(3), shard_dir, 7, 16)
    assert any(str(shard_dir) in n for n in getattr(ei.value, "__notes__", []))
    det = MeanColorDetector()
    res = run(root, det, shard_dir, 7, 16)
    assert sum(det.calls) == 33 - 21
    same(res, run(root, MeanColorDetector(), batch_size=7))


def test_interrupt_while_reading_in_a_worker_thread(tmp_path):
    """An interrupt raised while a video is decoded (in the reader thread) also keeps what was finished."""
    root = mixed_dataset(tmp_path / "data")
    from vgbench.io import sources

    original = sources.FrameFolderVideo._read
    hits = {"n": 0}

    def flaky(self, indices):
        hits["n"] += 1
        if hits["n"] == 25:
            raise KeyboardInterrupt
        return original(self, indices)

    shard_dir = tmp_path / "shards"
    sources.FrameFolderVideo._read = flaky
    try:
        with pytest.raises(KeyboardInterrupt):
            run(root, MeanColorDetector(), shard_dir, 4, 4, workers=1)
    finally:
        sources.FrameFolderVideo._read = original
    det = MeanColorDetector()
    res = run(root, det, shard_dir, 4, 4, workers=1)
    same(res, run(root, MeanColorDetector(), batch_size=4))
    assert sum(det.calls) < 33


CHILD = r"""
import json, signal, sys, time
# Ctrl-C as in a foreground terminal: a process started from a background job (CI under `cmd &`) inherits SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path[:0] = [{tests!r}, {repo!r}]
import numpy as np
from vgbench.cli import sigterm_interrupts
sigterm_interrupts()  # as the `vgbench` console script does
from conftest import MeanColorDetector
from test_resume import SPEC
from vgbench.features import extract_features

class Slow(MeanColorDetector):
    def __call__(self, videos):
        out = super().__call__(videos)
        with open({progress!r}, "a") as f:
            f.write("x")
        with open({progress!r}) as f:
            calls = len(f.read())
        with open({gate!r}) as f:
            gate = f.read()
        # at the test's chosen call count, wait for its signal (so it always lands mid-run, whatever the load)
        time.sleep(60 if gate and calls == int(gate) else 0.05)
        return out

res = extract_features({root!r}, Slow(), SPEC, batch_size={batch}, shard_size=5, shard_dir={shards!r},
                       shard_key={{"k": 1}}, skip_bad=True, progress=False, num_workers=1)
np.save({out!r}, res.features)
with open({out!r} + ".json", "w") as f:
    json.dump({{"ids": res.ids, "offsets": res.offsets, "counts": res.counts, "bad": res.bad}}, f)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL, signal.SIGTERM])
def test_killed_process_resumes_bit_identical(tmp_path, sig):
    """A real process, signalled at random points of its run, then restarted until it finishes."""
    root = mixed_dataset(tmp_path / "data")
    batch = 3
    full = run(root, MeanColorDetector(), batch_size=batch)
    progress, out, shards = tmp_path / "progress", tmp_path / "out.npy", tmp_path / "shards"
    gate = tmp_path / "gate"
    code = CHILD.format(tests=str(TESTS), repo=str(REPO), progress=str(progress), root=str(root), batch=batch,
                        shards=str(shards), out=str(out), gate=str(gate))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    rng = random.Random(int(sig))
    interrupted = 0
    for attempt in range(12):
        progress.write_text("")
        wait_for = rng.randint(1, 3) if attempt < 3 else None  # signal it after a random number of detector calls
        gate.write_text(str(wait_for or ""))  # ... at which the child waits for the signal
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        if wait_for:
            deadline = time.time() + 60
            while len(progress.read_text()) < wait_for and proc.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(sig)
                interrupted += 1
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            break
        # SIGINT and SIGTERM end in KeyboardInterrupt after the progress was saved (Python then exits as if by SIGINT)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else -signal.SIGINT), err
        if sig != signal.SIGKILL:
            assert "KeyboardInterrupt" in err and "finished videos are kept" in err
    assert proc.returncode == 0 and interrupted == 3  # every planned signal landed mid-run
    meta = json.loads(Path(str(out) + ".json").read_text())
    assert meta["ids"] == full.ids and meta["offsets"] == full.offsets and meta["bad"] == full.bad
    assert meta["counts"] == full.counts
    assert np.array_equal(np.load(out), full.features)


def test_fvd_resumes_raw_video_input(tmp_path, monkeypatch):
    """`vgbench fvd` on raw videos keeps its progress in $VGBENCH_HOME/partial and removes it when done."""
    from vgbench.metrics.fvd import compute_stats

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    root = mixed_dataset(tmp_path / "data")
    with pytest.raises(KeyboardInterrupt):
        compute_stats(root, "fvd16", "real", detector=InterruptAt(2), batch_size=4, skip_bad=True,
                      progress=False, resume_dir="auto", num_workers=0)
    partial = list((tmp_path / "home" / "partial").iterdir())
    assert len(partial) == 1 and list(partial[0].glob("shard_*.npz"))
    det = MeanColorDetector()
    st = compute_stats(root, "fvd16", "real", detector=det, batch_size=4, skip_bad=True, progress=False,
                       resume_dir="auto", num_workers=0)
    assert sum(det.calls) == 33 - 8
    ref = compute_stats(root, "fvd16", "real", detector=MeanColorDetector(), batch_size=4, skip_bad=True,
                        progress=False, num_workers=0)
    assert np.array_equal(st.mu, ref.mu) and np.array_equal(st.sigma, ref.sigma) and st.ids == ref.ids
    assert not partial[0].exists()


def test_clips_of_one_shape_share_a_batch(tmp_path):
    """Clips are batched by shape: all-frames features (`vgbench features` without --frames) are not sent one
    clip per call any more, and clips of another length start a new batch."""
    videos = {f"a{i}": ramp_video(12, base=i) for i in range(5)}
    videos.update({f"b{i}": ramp_video(14, base=i) for i in range(3)})
    videos["c0"] = ramp_video(12, base=9)
    write_frames_dataset(tmp_path / "d", videos)
    det = MeanColorDetector()
    res = extract_features(tmp_path / "d", det, ClipSpec(None), batch_size=4, progress=False)
    # natural order: a0..a4 (12 frames), b0..b2 (14), c0 (12)
    assert det.calls == [4, 1, 3, 1] and len(res.ids) == 9


def test_real_i3d_interrupted_and_resumed_is_bit_identical(tmp_path, i3d_detector):
    """With the real I3D on CPU: statistics of an interrupted and resumed run equal an uninterrupted run's."""

    class Interrupting:
        name, feature_dim, provenance = i3d_detector.name, i3d_detector.feature_dim, i3d_detector.provenance

        def __init__(self, at):
            self.at, self.calls = at, 0

        def __call__(self, videos):
            if self.calls == self.at:
                raise KeyboardInterrupt
            self.calls += 1
            return i3d_detector(videos)

    src = np.stack([np.asarray(v.read()) for v in __import__("vgbench").open_source("builtin:tiny")][:20])
    kw = dict(batch_size=3, progress=False, num_workers=0)
    full = compute_stats_(src, i3d_detector, **kw)
    with pytest.raises(KeyboardInterrupt):
        compute_stats_(src, Interrupting(2), resume_dir=tmp_path / "r", **kw)
    resumed = compute_stats_(src, Interrupting(-1), resume_dir=tmp_path / "r", **kw)
    assert np.array_equal(resumed.mu, full.mu) and np.array_equal(resumed.sigma, full.sigma)
    assert resumed.ids == full.ids and resumed.offsets == full.offsets


def compute_stats_(src, det, **kw):
    from vgbench.metrics.fvd import compute_stats

    return compute_stats(np.asarray(src), "fvd16", "real", detector=det, **kw)


def test_auto_resume_never_reuses_work_for_a_rewritten_file(tmp_path, monkeypatch):
    """A .npy regenerated with the same shape (same listing hash) between an interrupt and the rerun is computed
    afresh: the resume key holds the files' sizes and modification times. In-memory arrays are never resumed."""
    from vgbench.metrics.fvd import compute_stats

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    a = np.stack([ramp_video(16, 8, 8, base=5 * i) for i in range(8)])
    path = tmp_path / "fake.npy"
    np.save(path, a)
    kw = dict(batch_size=2, progress=False, resume_dir="auto", num_workers=0)
    with pytest.raises(KeyboardInterrupt):
        compute_stats(path, "fvd16", "fake", detector=InterruptAt(2), **kw)
    b = a[::-1].copy()
    np.save(path, b)
    os.utime(path, ns=(time.time_ns() + 10 ** 9, time.time_ns() + 10 ** 9))  # a later write, whatever the clock
    det = MeanColorDetector()
    st = compute_stats(path, "fvd16", "fake", detector=det, **kw)
    assert sum(det.calls) == 8  # nothing resumed from the old file's features
    ref = compute_stats(b, "fvd16", "fake", detector=MeanColorDetector(), progress=False)
    assert np.array_equal(st.mu, ref.mu)
    before = sorted((tmp_path / "home" / "partial").iterdir())
    with pytest.raises(KeyboardInterrupt) as ei:
        compute_stats(a, "fvd16", "fake", detector=InterruptAt(2), **kw)
    assert sorted((tmp_path / "home" / "partial").iterdir()) == before  # in-memory arrays: nothing kept
    assert not getattr(ei.value, "__notes__", None)
