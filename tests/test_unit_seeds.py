"""Seeds and quantisation: the per-video streams (content 0, motion 1, other 2 of ``SeedSequence([seed, i, k])``),
``to_uint8`` on every representable step, ``time_grid`` and the rules of ``Adapter.sample``, on a probe adapter
(milliseconds). The seed identities of the real generators are in test_seed_identities.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vgbench.models import base
from vgbench.models.base import Adapter, Capabilities, ModelInfo

def test_video_seed_is_the_documented_seed_sequence():
    for seed, index, stream in [(0, 0, 0), (0, 0, 1), (7, 3, 2), (2**40, 10**6, 1)]:
        state = np.random.SeedSequence([seed, index, stream]).generate_state(1, np.uint64)[0]
        g = base.video_seed(seed, index, stream)
        assert isinstance(g, torch.Generator) and g.device.type == "cpu"
        assert g.initial_seed() == int(state) & (2**63 - 1)
    assert base.video_seed(np.int64(3), np.int32(1), 0).initial_seed() == base.video_seed(3, 1, 0).initial_seed()


def test_streams_indices_and_seeds_are_independent():
    draws = {(s, i, k): torch.randn(4, generator=base.video_seed(s, i, k)) for s in (0, 1) for i in (0, 1)
             for k in (0, 1, 2)}
    values = [tuple(v.tolist()) for v in draws.values()]
    assert len(set(values)) == len(values)
    assert torch.equal(draws[(1, 0, 1)], torch.randn(4, generator=base.video_seed(1, 0, 1)))


def test_to_uint8_rounds_half_up_on_every_step():
    q = torch.arange(-2, 258, dtype=torch.float64)  # the exact inputs (k - 128) / 127.5 map to k, clamped
    x = ((q - 128) / 127.5).float()
    out = base.to_uint8(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.tolist() == np.clip(q.numpy(), 0, 255).astype(int).tolist()
    half = ((torch.arange(0, 255, dtype=torch.float64) + 0.5 - 127.5) / 127.5).float()  # (x+1)*127.5 = k + .5
    assert base.to_uint8(half).tolist() == list(range(1, 256))
    assert base.to_uint8(torch.tensor([-1.0, 1.0, 0.0, -5.0, 5.0], dtype=torch.float16)).tolist() == [0, 255, 128, 0,
                                                                                                       255]
    assert base.to_uint8(torch.zeros(2, 3, 1)).shape == (2, 3, 1)


def test_time_grid():
    assert base.time_grid(3, None, None).tolist() == [0.0, 1.0, 2.0]
    assert base.time_grid(4, 10, 30).tolist() == [0.0, 3.0, 6.0, 9.0]
    assert base.time_grid(3, 60, 30).tolist() == [0.0, 0.5, 1.0]
    assert base.time_grid(3, 0.5, 30).tolist() == [0.0, 60.0, 120.0]  # any positive rate, below 1 fps too
    assert base.time_grid(2, 30, 30).dtype == np.float64
    with pytest.raises(ValueError, match=r"^this model does not know its dataset's fps, so --fps cannot be honoured$"):
        base.time_grid(3, 10, None)
    for bad in (0, -5):
        with pytest.raises(ValueError, match=rf"^fps must be positive, got {bad}$"):
            base.time_grid(3, bad, 30)


# ------------------------------------------------------------------------------------------- Adapter.sample rules


class Probe(Adapter):
    """Frame value = 10 * video index + 100 * seed + time (clipped), and every _sample_batch call recorded."""

    name = "probe"

    def __init__(self, fps_control=True, separable=True, max_frames=None, native_fps=30.0):
        super().__init__(None)
        self.capabilities = Capabilities(fps_control, separable, max_frames=max_frames)
        self.native_fps = native_fps
        self.calls = []

    @property
    def info(self) -> ModelInfo:
        return self.model_info((1, 1), self.native_fps)

    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        assert t.dtype == np.float64  # times reach the model as float64 dataset frames, whatever was asked
        self.calls.append((list(indices), np.asarray(t).tolist(), seed, content_seed, motion_seed))
        v = np.asarray(t)[None, :] + 10 * np.asarray(indices)[:, None] + 100 * seed
        return np.broadcast_to(v[..., None, None, None], (*v.shape, 1, 1, 3)).astype(np.uint8)


def test_sample_batches_indices_and_times():
    p = Probe()
    batches = list(p.sample(5, 3, seed=1, batch_size=2, start=4))
    assert [b.shape for b in batches] == [(2, 3, 1, 1, 3), (2, 3, 1, 1, 3), (1, 3, 1, 1, 3)]
    assert [c[0] for c in p.calls] == [[4, 5], [6, 7], [8]]
    assert all(c[1] == [0.0, 1.0, 2.0] and c[2:] == (1, None, None) for c in p.calls)
    assert batches[2][0, :, 0, 0, 0].tolist() == [180, 181, 182]
    assert list(p.sample(0, 3)) == []
    assert [len(b) for b in p.sample(5, 1)] == [4, 1]  # 4 videos per generator call by default
    assert next(p.sample(1, 1)).shape == (1, 1, 1, 1, 3)  # a single frame is a valid request
    p.calls.clear()
    next(p.sample(1, 4, fps=15, content_seed=3, motion_seed=5))
    assert p.calls == [([0], [0.0, 2.0, 4.0, 6.0], 0, 3, 5)]
    p.calls.clear()
    next(p.sample(1, 3, times=[0, 8, 16]))
    assert p.calls[0][1] == [0.0, 8.0, 16.0]


def test_iter_videos_flattens_batches_and_passes_everything_on():
    p = Probe()
    vids = list(p.iter_videos(3, 2, seed=2, batch_size=2, times=[5, 1]))
    assert len(vids) == 3 and all(v.shape == (2, 1, 1, 3) for v in vids)
    assert [v[:, 0, 0, 0].tolist() for v in vids] == [[205, 201], [215, 211], [225, 221]]
    assert [c[0] for c in p.calls] == [[0, 1], [2]]


def test_fixed_step_models_take_times_as_frame_indices():
    p = Probe(fps_control=False, max_frames=20)
    out = next(p.sample(1, 3, times=[0, 8, 16]))
    assert p.calls[0][1] == list(range(17)) and out[0, :, 0, 0, 0].tolist() == [0, 8, 16]
    out = next(p.sample(1, 2, times=[3, 3]))
    assert out[0, :, 0, 0, 0].tolist() == [3, 3] and p.calls[1][1] == [0.0, 1.0, 2.0, 3.0]
    assert next(p.sample(1, 3, fps=30))[0, :, 0, 0, 0].tolist() == [0, 1, 2]  # the native rate is allowed
    with pytest.raises(ValueError, match=r"^probe generates at most 20 frames, times need 21$"):
        next(p.sample(1, 2, times=[0, 20]))
    assert next(p.sample(1, 2, times=[0, 19]))[0, :, 0, 0, 0].tolist() == [0, 19]
    with pytest.raises(ValueError, match=r"got \[0\.0, 1\.0, 2\.0, 3\.0, 4\.0, 5\.0\]$"):  # the first six
        next(p.sample(1, 7, times=[0, 1, 2, 3, 4, 5, 6.5]))
    for bad in ([0, 1.5], [-1, 2]):
        with pytest.raises(ValueError, match=r"^probe has a fixed frame step: times must be frame indices "
                                             r"\(non-negative integers\), got "):
            next(p.sample(1, 2, times=bad))


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 1, "frames": 0}, r"^need frames >= 1 and n >= 0, got frames=0, n=1$"),
    ({"n": -1, "frames": 2}, r"^need frames >= 1 and n >= 0, got frames=2, n=-1$"),
    ({"n": 1, "frames": 2, "times": [0, 1, 2]}, r"^times must list 2 values$"),
    ({"n": 1, "frames": 2, "times": [[0, 1]]}, r"^times must list 2 values$"),
])
def test_sample_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        next(Probe().sample(**kwargs))


def test_capability_errors():
    with pytest.raises(ValueError, match=r"^probe generates at most 4 frames, asked for 5$"):
        next(Probe(max_frames=4).sample(1, 5))
    assert next(Probe(max_frames=4).sample(1, 4)).shape[1] == 4
    with pytest.raises(ValueError, match=r"^probe cannot change its frame rate \(native 30.0 fps\)$"):
        next(Probe(fps_control=False).sample(1, 2, fps=15))
    for kw in ({"content_seed": 1}, {"motion_seed": 0}):
        with pytest.raises(ValueError, match=r"^probe cannot fix content and motion separately$"):
            next(Probe(separable=False).sample(1, 2, **kw))
    assert next(Probe(separable=False).sample(1, 2)).shape == (1, 2, 1, 1, 3)
