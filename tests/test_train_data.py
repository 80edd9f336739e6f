"""The training data (vgbench.training.data): StyleGAN-V's frame sampling, the dataset checks, mirror, purity of
items in (seed, sample index), and the loader's independence of resume step and world size."""
from __future__ import annotations

import math
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vgbench.io.sources import VideoReadError
from vgbench.training.data import (DEFAULT_TOTAL_DISTS, ClipLoader, TrainingClips, TrainingDataError,
                                   allowed_distances, load_labels, min_video_len, random_frame_times)


def _videos(n: int = 4, t: int = 12, size: int = 8) -> np.ndarray:
    """uint8 [n, t, size, size, 3]: red = 20 * video + frame (which frame it is), green rises left to right (so a
    flip shows), blue top to bottom."""
    v = np.zeros((n, t, size, size, 3), np.uint8)
    v[..., 0] = (20 * np.arange(n)[:, None] + np.arange(t)[None, :])[:, :, None, None]
    v[..., 1] = (np.arange(size) * 16)[None, None, None, :]
    v[..., 2] = (np.arange(size) * 8)[None, None, :, None]
    return v


def _write_frames(root: Path, videos) -> Path:
    for i, video in enumerate(videos):
        (root / f"video{i}").mkdir(parents=True)
        for k, frame in enumerate(video):
            Image.fromarray(frame).save(root / f"video{i}" / f"{k:03d}.png")
    return root


def _npy(path: Path, videos: np.ndarray) -> Path:
    np.save(path, videos)
    return path


# --- frame sampling ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("video_len,num_frames,max_dist", [(3, 3, 32), (10, 3, 32), (100, 3, 32), (9, 4, 32),
                                                           (17, 5, 8), (6, 2, 32), (7, 1, 32), (3000, 3, 4096)])
def test_times_follow_the_authors_rules(video_len, num_frames, max_dist):
    rng = np.random.default_rng(0)
    allowed = allowed_distances(video_len, num_frames, max_dist)
    assert allowed == [d for d in DEFAULT_TOTAL_DISTS if num_frames - 1 <= d <= min(video_len - 1, max_dist)]
    seen = set()
    for _ in range(300):
        t = random_frame_times(rng, video_len, num_frames, max_dist)
        assert t.dtype == np.int64 and t.shape == (num_frames,)
        assert 0 <= t[0] and t[-1] < video_len
        assert np.all(np.diff(t) > 0)  # sorted, interior frames distinct and strictly inside
        if num_frames > 1:
            assert t[-1] - t[0] in allowed
            seen.add(int(t[-1] - t[0]))
    if num_frames > 1:
        assert seen == set(allowed)  # every allowed distance is drawn


def test_times_have_the_closed_form_distribution():
    """len 10, 3 frames: d uniform on {2, 4, 8}, offset uniform on [0, 9 - d], the middle frame uniform on the d - 1
    interior ones: P = 1/3 * 1/(10 - d) * 1/(d - 1)."""
    rng = np.random.default_rng(1)
    n = 30000
    counts = Counter(tuple(random_frame_times(rng, 10).tolist()) for _ in range(n))
    expected = {(o, o + j, o + d): 1 / 3 / (10 - d) / (d - 1) for d in (2, 4, 8) for o in range(10 - d)
                for j in range(1, d)}
    assert set(counts) == set(expected) and math.isclose(sum(expected.values()), 1)
    tv = 0.5 * sum(abs(counts[k] / n - p) for k, p in expected.items())
    assert tv < 0.03, tv


def test_edge_cases_of_short_videos():
    rng = np.random.default_rng(0)
    assert random_frame_times(rng, 3, 3).tolist() == [0, 1, 2]  # len == num_frames: the only clip
    assert random_frame_times(rng, 2, 2).tolist() == [0, 1]
    assert min_video_len(3) == 3 and min_video_len(2) == 2 and min_video_len(1) == 2
    assert min_video_len(4) == 5 and min_video_len(6) == 9  # 3 and 5 are no total distance: the next is 4 and 8
    assert min_video_len(3, total_dists=None) == 3 and min_video_len(4, total_dists=None) == 4
    with pytest.raises(TrainingDataError, match="a video of 4 frames is too short for clips of 4 frames with "
                                                "max_dist=32: it needs at least 5 frames"):
        random_frame_times(rng, 4, 4)  # the authors' code raises IndexError here
    with pytest.raises(TrainingDataError, match="a video of 2 frames is too short .* at least 3 frames"):
        random_frame_times(rng, 2, 3)
    with pytest.raises(TrainingDataError, match="no distance between the first and last of 4 frames is allowed"):
        min_video_len(4, max_dist=2)
    assert set(random_frame_times(rng, 50, 3, max_dist=2).tolist()) <= set(range(50))
    assert all(np.ptp(random_frame_times(rng, 50, 3, max_dist=3)) == 2 for _ in range(20))  # only 2 <= 3


def test_fractional_times():
    rng = np.random.default_rng(2)
    offsets = []
    for _ in range(500):
        t = random_frame_times(rng, 10, 3, fractional=True)
        assert t.dtype == np.float64 and np.all(np.diff(t) > 0)
        d = t[-1] - t[0]
        assert round(d) in (2, 4, 8) and abs(d - round(d)) < 1e-9
        assert abs((t[1] - t[0]) - round(t[1] - t[0])) < 1e-9  # the interior frame is an integer step in
        assert 0 <= t[0] <= 10 - round(d) - 1
        offsets.append(t[0])
    assert len({round(o, 6) for o in offsets}) == 500  # real-valued offsets, not integers
    assert random_frame_times(rng, 3, 3, fractional=True).tolist() == [0.0, 1.0, 2.0]


# --- the dataset ---------------------------------------------------------------------------------------------------

def test_items_are_pure_functions_of_seed_and_index(tmp_path):
    path = _npy(tmp_path / "v.npy", _videos())
    a, b = TrainingClips(path, seed=3), TrainingClips(path, seed=3)
    assert len(a) == 8 and a.num_videos == 4 and a.resolution == 8
    order = [5, 1000, 0, 17, 5]
    first = {k: a.item(k) for k in order}
    for k in reversed(order):  # another instance, another order of requests
        other = b.item(k)
        assert torch.equal(first[k]["image"], other["image"]) and torch.equal(first[k]["t"], other["t"])
        assert first[k]["index"] == other["index"]
    for epoch in range(3):  # each epoch shows every (mirrored) item once, in its own order
        assert sorted(a.item_index(k) for k in range(8 * epoch, 8 * epoch + 8)) == list(range(8))
    assert [a.item_index(k) for k in range(8)] != [a.item_index(k) for k in range(8, 16)]
    c = TrainingClips(path, seed=4)
    assert any(a.item_index(k) != c.item_index(k) or not torch.equal(a.item(k)["t"], c.item(k)["t"])
               for k in range(4))


def test_item_reads_the_sampled_frames_and_mirror_flips_them(tmp_path):
    videos = _videos(n=3, t=40)
    clips = TrainingClips(_npy(tmp_path / "v.npy", videos), max_num_frames=16, num_frames=4)
    flags = set()
    for k in range(30):
        it = clips.item(k)
        video, mirrored = it["index"] % 3, it["index"] >= 3
        assert it["mirrored"] == mirrored and it["video_len"] == 16 == clips.video_len(it["index"])
        img, t = it["image"].numpy(), it["t"].numpy()
        assert img.shape == (4, 3, 8, 8) and img.dtype == np.uint8
        absolute = img[:, 0, 0, 0].astype(int) - 20 * video
        offset = absolute - t
        assert np.all(offset == offset[0]) and 0 <= offset[0] <= 40 - 16  # times relative to the window
        assert np.all(t < 16)
        expected = videos[video, absolute].transpose(0, 3, 1, 2)
        assert np.array_equal(img, expected[..., ::-1] if mirrored else expected)  # the whole clip, flipped
        flags.add(mirrored)
    assert flags == {True, False}
    plain = TrainingClips(tmp_path / "v.npy", mirror=False)
    assert len(plain) == 3 and not any(plain.item(k)["mirrored"] for k in range(9))


def test_layouts_give_identical_clips(tmp_path):
    videos = _videos(n=3, t=9)
    folder = _write_frames(tmp_path / "frames", videos)
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as z:
        for f in sorted(folder.rglob("*.png")):
            z.write(f, f.relative_to(tmp_path).as_posix())
    sources = [_npy(tmp_path / "v.npy", videos), folder, tmp_path / "frames.zip"]
    sets = [TrainingClips(s, seed=7, resolution=8) for s in sources]
    for k in range(12):
        items = [c.item(k) for c in sets]
        for other in items[1:]:
            assert torch.equal(items[0]["image"], other["image"]) and torch.equal(items[0]["t"], other["t"])


def test_short_videos_are_refused_by_name_or_skipped(tmp_path):
    videos = [_videos(1, t)[0] for t in (5, 2, 9, 1)]
    root = _write_frames(tmp_path / "data", videos)
    with pytest.raises(TrainingDataError) as e:
        TrainingClips(root)
    msg = str(e.value)
    assert "2 video(s) are shorter than the 3 frames that clips of 3 frames with max_dist=32 need" in msg
    assert f"{root / 'video1'} (2 frames)" in msg and f"{root / 'video3'} (1 frame)" in msg
    assert "video0" not in msg and "video2" not in msg
    clips = TrainingClips(root, skip_short=True)
    assert clips.num_videos == 2 and [n for _, n in clips.skipped] == [2, 1]
    with pytest.raises(TrainingDataError, match=r"3 video\(s\) are shorter than the 9 frames that clips of 6 frames.*/video0 \(5 frames\)"):
        TrainingClips(root, num_frames=6)  # 6 frames span at least 5: the next total distance is 8
    with pytest.raises(TrainingDataError, match="no video to train on"):
        TrainingClips(_npy(tmp_path / "short.npy", _videos(2, 2)), skip_short=True)


def test_resolutions_are_checked_before_training(tmp_path):
    root = tmp_path / "mixed"
    _write_frames(root, _videos(2, 4, size=8))
    (root / "video2").mkdir()
    for k in range(4):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "video2" / f"{k}.png")
    with pytest.raises(TrainingDataError, match=f"videos have different frame sizes: {root / 'video0'} is 8x8, "
                                                f"{root / 'video2'} is 16x16"):
        TrainingClips(root)
    with pytest.raises(TrainingDataError, match="frames are 12x8 .* square frames whose side is a power of two"):
        TrainingClips(_npy(tmp_path / "wide.npy", np.zeros((2, 4, 8, 12, 3), np.uint8)))
    with pytest.raises(TrainingDataError, match="frames are 12x12 .* power of two"):
        TrainingClips(_npy(tmp_path / "twelve.npy", np.zeros((2, 4, 12, 12, 3), np.uint8)))
    with pytest.raises(TrainingDataError, match="frames are 8x8 .* the training resolution is 64"):
        TrainingClips(_npy(tmp_path / "v.npy", _videos()), resolution=64)


def test_unreadable_videos_are_named_before_training(tmp_path):
    root = _write_frames(tmp_path / "data", _videos(n=2, t=4))
    (root / "video2").symlink_to(tmp_path / "gone")
    with pytest.raises(TrainingDataError, match=f"1 unreadable video\\(s\\): {root / 'video2'}: broken symbolic link"):
        TrainingClips(root)
    (root / "video2").unlink()
    (root / "video1" / "000.png").write_bytes(b"")  # the first frame is decoded by the resolution check
    with pytest.raises(VideoReadError, match=f"{root / 'video1' / '000.png'}: cannot decode image"):
        TrainingClips(root)


def test_compressed_npz_is_refused(tmp_path):
    np.savez_compressed(tmp_path / "v.npz", videos=_videos())
    with pytest.raises(TrainingDataError, match="compressed .npz cannot be read at random"):
        TrainingClips(tmp_path / "v.npz")
    np.savez(tmp_path / "u.npz", videos=_videos())  # stored uncompressed: memory-mapped
    assert len(TrainingClips(tmp_path / "u.npz")) == 8


# --- class labels (dataset.json) -----------------------------------------------------------------------------------

def _labels_json(path: Path, pairs) -> None:
    import json

    path.write_text(json.dumps({"labels": pairs}))


def test_labels_in_the_authors_per_frame_format_and_per_video(tmp_path):
    root = _write_frames(tmp_path / "d", _videos(n=3))
    # the authors' format: every frame file with its class; the video is its folder's name
    _labels_json(root / "dataset.json", [[f"video{i}/{k:03d}.png", [2, 0, 1][i]] for i in range(3) for k in range(12)])
    clips = TrainingClips(root, c_dim=3, mirror=True)
    assert clips.labels.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert np.array_equal(clips.label(4), clips.label(1))                  # item 4 is video 1 mirrored
    it = clips.item(0)
    assert it["c"].dtype == torch.float32 and torch.equal(it["c"], torch.from_numpy(clips.label(it["index"])))
    images, t, c = clips.batch(range(6))
    assert c.shape == (6, 3) and torch.all(c.sum(1) == 1)
    # one entry per video, in a zip with one top folder
    _labels_json(root / "dataset.json", [["video0", 1], ["video1", 1], ["video2", 0]])
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f"top/{f.relative_to(root).as_posix()}")
    assert load_labels(z, ["video2", "video0"], 2).tolist() == [[1, 0], [0, 1]]
    assert TrainingClips(root, c_dim=0).labels.shape == (3, 0)              # unconditional: labels ignored


@pytest.mark.parametrize("pairs,match", [
    ([["video0", 0], ["video1", 1]], r"no label for 1 video\(s\): video2"),
    ([["video0", 0], ["video1", 1], ["video2", 3]], r"video2: class 3 is outside \[0, 3\)"),
    ([["video0/000.png", 0], ["video0/001.png", 1]], "video video0 has frames of two classes"),
    ([["video0", [0.5, 0.5, 0]]], "must be an integer class"),
    ([["video0", True]], "must be an integer class"),
])
def test_bad_labels_name_the_file_and_the_video(tmp_path, pairs, match):
    root = _write_frames(tmp_path / "d", _videos(n=3))
    _labels_json(root / "dataset.json", pairs)
    with pytest.raises(TrainingDataError, match=rf"dataset.json.*{match}"):
        TrainingClips(root, c_dim=3)


def test_labels_need_a_dataset_json(tmp_path):
    root = _write_frames(tmp_path / "d", _videos(n=2))
    with pytest.raises(TrainingDataError, match=r"d: no dataset.json with the class labels"):
        TrainingClips(root, c_dim=2)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(TrainingDataError, match="cannot read dataset.json"):
        TrainingClips(root, c_dim=2)
    with pytest.raises(TrainingDataError, match="v.npy: class labels are read from a dataset.json"):
        TrainingClips(_npy(tmp_path / "v.npy", _videos()), c_dim=2)


# --- the loader ----------------------------------------------------------------------------------------------------

def _take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_loader_is_independent_of_resume_step_and_world_size(tmp_path):
    clips = TrainingClips(_npy(tmp_path / "v.npy", _videos(n=5)), seed=1)
    whole = _take(ClipLoader(clips, 4, workers=0), 6)  # 6 steps of 4 = 24 samples: past the first epoch of 10
    for step, (images, t, c) in enumerate(whole):
        assert images.shape == (4, 3, 3, 8, 8) and images.dtype == torch.uint8 and t.shape == (4, 3)
        assert c.shape == (4, 0) and c.dtype == torch.float32  # unconditional: zero-width labels
        expected = clips.batch(range(4 * step, 4 * step + 4))
        assert torch.equal(images, expected[0]) and torch.equal(t, expected[1])
    resumed = _take(ClipLoader(clips, 4, start_step=3, workers=0), 3)
    for a, b in zip(whole[3:], resumed):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ranks = [_take(ClipLoader(clips, 4, rank=r, world_size=2, start_step=2, workers=0), 4) for r in (0, 1)]
    for step in range(4):
        assert ranks[0][step][0].shape[0] == 2
        assert torch.equal(torch.cat([ranks[0][step][0], ranks[1][step][0]]), whole[2 + step][0])
        assert torch.equal(torch.cat([ranks[0][step][1], ranks[1][step][1]]), whole[2 + step][1])
    in_workers = _take(ClipLoader(clips, 4, workers=2, prefetch=1), 3)
    for a, b in zip(whole, in_workers):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_loader_options_are_checked(tmp_path):
    clips = TrainingClips(_npy(tmp_path / "v.npy", _videos()))
    with pytest.raises(TrainingDataError, match=r"the batch size \(6\) must be a positive multiple of the number of "
                                                r"ranks \(4\)"):
        ClipLoader(clips, 6, world_size=4)
    with pytest.raises(TrainingDataError, match=r"rank 2 is outside \[0, 2\)"):
        ClipLoader(clips, 4, rank=2, world_size=2)
    in_memory = TrainingClips(_videos())  # an array in memory cannot be sent to worker processes
    with pytest.raises(TrainingDataError, match="cannot be read in worker processes; use workers=0"):
        ClipLoader(in_memory, 4, workers=1)


@pytest.mark.parametrize("workers", [0, 1])
def test_unreadable_frame_while_training_names_the_file(tmp_path, workers):
    root = _write_frames(tmp_path / "data", _videos(n=2, t=3, size=8))
    clips = TrainingClips(root, mirror=False)  # 3 frames: every clip reads all of them
    (root / "video1" / "001.png").write_bytes(b"not a png")  # damaged after the check (which reads frame 0)
    with pytest.raises(VideoReadError) as e:
        _take(ClipLoader(clips, 2, workers=workers), 1)
    assert e.value.path == str(root / "video1" / "001.png")
    assert "cannot decode image" in e.value.problem and "training step 0, samples 0..1" in e.value.problem
