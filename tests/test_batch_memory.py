"""Batches sized to device memory: the size from free memory, and batches split in halves when the device runs out
of memory, with the same features in the same order (vgbench/features.py)."""
import numpy as np
import pytest
import torch

from conftest import MeanColorDetector, ramp_video
from vgbench.features import ClipSpec, batch_for_memory, extract_features, probe_batch_size, run_in_halves


class RunsOutAbove(MeanColorDetector):
    """MeanColorDetector on a 'device' that holds at most ``limit`` clips per call."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __call__(self, videos):
        if len(videos) > self.limit:
            self.calls.append(-len(videos))
            raise torch.OutOfMemoryError(f"CUDA out of memory: {len(videos)} clips")
        return super().__call__(videos)


def test_batch_for_memory():
    gib = 1 << 30
    assert batch_for_memory(80 * gib, 1 * gib) == 40  # half of the free memory
    assert batch_for_memory(80 * gib, 1) == 256 and batch_for_memory(80 * gib, 1, limit=64) == 64
    assert batch_for_memory(gib, 3 * gib) == 1  # never below one clip
    assert probe_batch_size(MeanColorDetector(), np.zeros((2, 4, 4, 3), np.uint8), "cpu") is None


def test_out_of_memory_batches_are_split_and_the_features_do_not_change():
    videos = [ramp_video(8, base=9 * i) for i in range(11)]
    spec = ClipSpec(4, 1, "zero", 0, None, None)
    want = extract_features(videos, MeanColorDetector(), spec, batch_size=8, num_workers=0, progress=False)
    det = RunsOutAbove(3)
    got = extract_features(videos, det, spec, batch_size=8, num_workers=0, progress=False)
    assert np.array_equal(got.features, want.features) and got.ids == want.ids
    # the first batch of 8 fails, then 4 fails; later batches start at the size that worked (2)
    assert det.calls[:2] == [-8, -4] and max(det.calls) <= 3 and got.timing["oom_splits"] >= 2
    assert got.timing["batch_size"] == 2
    with pytest.raises(torch.OutOfMemoryError):  # one clip that does not fit is a real error
        run_in_halves(RunsOutAbove(0), [videos[0][:4]])


def test_auto_batch_size_off_cuda_is_the_default():
    videos = [ramp_video(6, base=i) for i in range(10)]
    det = MeanColorDetector()
    res = extract_features(videos, det, ClipSpec(4, 1, "zero", 0, None, None), batch_size="auto", device="cpu",
                           num_workers=0, progress=False)
    assert res.timing["batch_size"] == 8 and det.calls == [8, 2]
