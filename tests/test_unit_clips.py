"""Clip indices of every shipped protocol, real and fake, pinned to the StyleGAN-V rule (shared/notes/
stylegan_v_protocol.md §1.2-1.4): a real clip is frames ``offset + k*s`` (k = 0..n-1) of a video with at least
``n*s`` frames, the offset uniform in ``[0, L - n*s + s - 1]``; a fake clip is frames ``0, s, ..., (n-1)s``, read
from a folder with stride ``s`` or rendered by a generator at exactly those times."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from vgbench.metrics.base import fake_clips
from vgbench.features import ClipSpec, _read_job, clip_offset
from vgbench.io.sources import ArrayVideo, IterableSource, VideoReadError
from vgbench.models.base import Adapter, Capabilities, ModelInfo
from vgbench.protocols import load_protocol

#: (num_frames n, frame_stride s) of each shipped FVD protocol, as the paper defines them
FVD = {"fvd16": (16, 1), "fvd128": (128, 1), "fvd128_subsample8": (16, 8)}


def paper_offset(video_id: str, length: int, span: int, seed: int) -> int:
    """vgbench's documented offset rule written out: SeedSequence([seed, first 8 bytes of sha256(id), LE])."""
    key = int.from_bytes(hashlib.sha256(video_id.encode()).digest()[:8], "little")
    return int(np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key]))).integers(0, length - span + 1))


def test_clip_offset_is_the_documented_draw():
    for i in range(50):
        vid = f"video{i}é"  # ids are hashed as UTF-8
        assert clip_offset(vid, 300, 121, 7) == paper_offset(vid, 300, 121, 7)
    assert [clip_offset("video0", 40, 16, 0), clip_offset("video1", 40, 16, 0), clip_offset("video0", 40, 16, 1)] == [
        paper_offset("video0", 40, 16, 0), paper_offset("video1", 40, 16, 0), paper_offset("video0", 40, 16, 1)]


def test_clip_offset_covers_exactly_the_valid_range():
    offs = [clip_offset(f"v{i}", 20, 16, 0) for i in range(400)]
    assert set(offs) == {0, 1, 2, 3, 4}  # uniform over [0, L - span], both ends reached
    assert {clip_offset(f"v{i}", 16, 16, 0) for i in range(20)} == {0}


@pytest.mark.parametrize("name", list(FVD))
def test_specs_of_shipped_fvd_protocols(name):
    n, s = FVD[name]
    p = load_protocol(name)
    real, fake = ClipSpec.from_protocol(p, "real"), ClipSpec.from_protocol(p, "fake")
    assert real == ClipSpec(n, s, "random", 0, n * s, 2048, False)  # StyleGAN-V drops videos shorter than n*s
    assert fake == ClipSpec(n, s, "zero", 0, None, 2048, True)
    assert real.span == fake.span == (n - 1) * s + 1
    assert real.required() == n * s and fake.required() == (n - 1) * s + 1


@pytest.mark.parametrize("name", list(FVD))
def test_real_clip_indices_follow_the_paper(name):
    n, s = FVD[name]
    spec = ClipSpec.from_protocol(load_protocol(name), "real")
    for length in (n * s, n * s + 1, n * s + 37, 3 * n * s):
        starts = set()
        for i in range(40):
            vid = f"clip{i:03d}"
            idx, start = spec.indices(vid, length)
            assert start == paper_offset(vid, length, (n - 1) * s + 1, 0)
            assert idx == [start + k * s for k in range(n)]
            assert 0 <= start <= length - n * s + s - 1 and idx[-1] <= length - 1
            starts.add(start)
        assert len(starts) > 1 or length - n * s + s - 1 == 0 or (length == n * s and s == 1)
    assert spec.indices("short", n * s - 1) is None  # shorter than n*s: skipped, never padded


@pytest.mark.parametrize("name", list(FVD))
def test_fake_clip_indices_are_the_first_frames_with_the_stride(name):
    n, s = FVD[name]
    spec = ClipSpec.from_protocol(load_protocol(name), "fake")
    for length in ((n - 1) * s + 1, n * s, 500):
        assert spec.indices("any", length) == ([k * s for k in range(n)], 0)
    assert spec.indices("any", (n - 1) * s) is None


def test_clip_spec_fields_and_edge_cases():
    spec = ClipSpec(4, 3, "random", seed=9, min_frames=2)
    assert spec.span == 10 and spec.required() == 10  # the span wins over a smaller min_frames
    idx, start = spec.indices("x", 25)
    assert start == paper_offset("x", 25, 10, 9) and idx == [start, start + 3, start + 6, start + 9]
    assert ClipSpec(4, 3, min_frames=30).required() == 30
    assert ClipSpec(1).span == 1 and ClipSpec(1).indices("x", 1) == ([0], 0)
    every = ClipSpec(None, 2)
    assert every.span == 0 and every.required() == 0 and every.indices("x", 7) == ([0, 2, 4, 6], 0)
    assert ClipSpec(None).indices("x", 3) == ([0, 1, 2], 0)
    assert ClipSpec(3, 2, "zero", 0, None, 5, True).to_dict() == {
        "num_frames": 3, "stride": 2, "offset": "zero", "seed": 0, "min_frames": None, "max_videos": 5,
        "short_is_error": True}
    assert ClipSpec(16).to_dict()["offset"] == "zero" and ClipSpec(16).max_videos is None


def test_offset_seed_of_the_protocol_is_used(tmp_path):
    text = Path(load_protocol("fvd16").path).read_text()
    p = tmp_path / "seeded.toml"
    p.write_text(text.replace("offset_seed = 0", "offset_seed = 5"))
    spec = ClipSpec.from_protocol(load_protocol(p), "real")
    assert spec.seed == 5 and spec.indices("v", 100)[1] == paper_offset("v", 100, 16, 5)


def test_protocol_without_offset_seed_uses_seed_zero():
    from vgbench.protocols import Protocol

    real = {"num_frames": 4, "frame_stride": 1, "offset": "random", "min_frames": 4, "max_videos": 9}
    spec = ClipSpec.from_protocol(Protocol("p", "1", {"real": real}), "real")
    assert spec == ClipSpec(4, 1, "random", 0, 4, 9) and spec.seed == 0


def test_read_job_outcomes():
    clip = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    spec = ClipSpec(3, 2, "zero")
    status, (frames, start) = _read_job(ArrayVideo(clip, "a"), spec)
    assert status == "ok" and start == 0 and np.array_equal(frames, clip[[0, 2, 4]])
    assert _read_job(ArrayVideo(clip[:4], "b"), spec) == ("short", 4)

    class Broken(ArrayVideo):
        def _read(self, indices):
            raise VideoReadError("broken.mp4", "cannot decode")

    assert _read_job(Broken(clip, "c"), spec) == ("bad", "broken.mp4: cannot decode")


# ------------------------------------------------------------------------------------------- fake clips in eval


class TimeStamp(Adapter):
    """A continuous-time generator whose frame k shows its time t_k (pixel = t_k), recording every call."""

    name = "timestamp"
    capabilities = Capabilities(fps_control=True, content_motion_separable=False)

    def __init__(self):
        super().__init__(None)
        self.calls = []

    @property
    def info(self) -> ModelInfo:
        return self.model_info((2, 2), 30.0)

    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        self.calls.append((list(indices), list(t), seed))
        frames = np.broadcast_to(np.asarray(t)[:, None, None, None], (len(t), 2, 2, 3)).astype(np.uint8)
        return np.stack([frames + i for i in indices])


@pytest.mark.parametrize("name", [*FVD, "fid_video", "is_ucf101"])
def test_generator_renders_exactly_the_protocol_times(name):
    protocol = load_protocol(name)
    n, s = protocol["fake"]["num_frames"], protocol["fake"]["frame_stride"]
    gen = TimeStamp()
    src, spec = fake_clips(gen, protocol, 3, seed=11, gen_batch_size=2)
    assert isinstance(src, IterableSource) and spec == ClipSpec(n, 1, "zero", 0, None, 3, True)
    assert src.describe() == {"kind": "generator", "model": "timestamp", "seed": 11,
                              "times": [k * s for k in range(n)]}
    assert len(src) == 3
    videos = [v.read(spec.indices(v.id, v.num_frames)[0]) for v in src]
    assert [v[:, 0, 0, 0].tolist() for v in videos] == [[k * s + i for k in range(n)] for i in range(3)]
    assert [c[0] for c in gen.calls] == [[0, 1], [2]]  # batches of gen_batch_size videos
    assert all(c[1] == [k * s for k in range(n)] and c[2] == 11 for c in gen.calls)


def test_subsample8_generator_times_are_not_consecutive():
    src, _ = fake_clips(TimeStamp(), load_protocol("fvd128_subsample8"), 1, seed=0, gen_batch_size=1)
    assert src.describe()["times"] == [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120]


@pytest.mark.parametrize("name", list(FVD))
def test_pregenerated_folder_is_read_with_the_protocol_stride(name, tmp_path):
    from vgbench.models import get_adapter

    from conftest import ramp_video, write_frames_dataset

    n, s = FVD[name]
    write_frames_dataset(tmp_path / "gen", {"v0": ramp_video(n * s + 3, 2, 2)})
    folder = get_adapter("folder", str(tmp_path / "gen"))
    src, spec = fake_clips(folder, load_protocol(name), 7, seed=3, gen_batch_size=2)
    assert src is folder.source and spec == ClipSpec(n, s, "zero", 0, None, 7, True)
    v = next(iter(src))
    assert v.read(spec.indices(v.id, v.num_frames)[0])[:, 0, 0, 0].tolist() == [k * s for k in range(n)]
