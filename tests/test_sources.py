"""Every reader of vgbench.io.sources, natural ordering, and each bad-input case."""
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ramp_video, write_frames_dataset
from vgbench.io.sources import (FrameFolderSource, NumpySource, VideoFilesSource, VideoReadError, ZipFramesSource,
                                open_source)
from vgbench.utils import natural_sorted


def test_natural_sort():
    assert natural_sorted(["frame10.png", "frame2.png", "frame1.png", "Frame3.png"]) == [
        "frame1.png", "frame2.png", "Frame3.png", "frame10.png"]
    assert natural_sorted(["v10", "v9", "v100", "a"]) == ["a", "v9", "v10", "v100"]


def test_frames_folder_natural_frame_order(tmp_path):
    # unpadded names: lexicographic order would put frame10 before frame2
    write_frames_dataset(tmp_path, {"vid2": ramp_video(12), "vid10": ramp_video(11, base=100)},
                         names=lambda t: f"frame{t}")
    src = open_source(tmp_path)
    assert isinstance(src, FrameFolderSource) and [v.id for v in src] == ["vid2", "vid10"]
    v = next(iter(src))
    assert v.num_frames == 12
    clip = v.read()
    assert clip.shape == (12, 16, 16, 3) and clip.dtype == np.uint8
    assert clip[:, 0, 0, 0].tolist() == list(range(12))
    assert v.read([10, 2, 2])[:, 0, 0, 0].tolist() == [10, 2, 2]


def test_frames_folder_jpg_grayscale_and_rgba_become_rgb(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    Image.fromarray(np.full((8, 8), 77, np.uint8), "L").save(d / "0.png")
    Image.fromarray(np.full((8, 8, 4), 200, np.uint8), "RGBA").save(d / "1.png")
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(d / "2.jpg", quality=100)
    clip = open_source(tmp_path).__iter__().__next__().read()
    assert clip.shape == (3, 8, 8, 3)
    assert clip[0].min() == clip[0].max() == 77 and clip[1].min() == 200
    assert abs(int(clip[2].mean()) - 120) <= 1


def _zip_dir(root: Path, zpath: Path, top: str | None, dir_entries: bool):
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            name = f"{top}/{rel}" if top else rel
            if p.is_dir():
                if dir_entries:
                    z.writestr(name + "/", b"")
            else:
                z.write(p, name)


@pytest.mark.parametrize("top,dir_entries", [("dataset", True), ("dataset", False), (None, False)])
def test_zip_matches_folder(tmp_path, top, dir_entries):
    root = write_frames_dataset(tmp_path / "d", {"a": ramp_video(10), "b10": ramp_video(9, base=50),
                                                 "b9": ramp_video(9, base=20)}, names=lambda t: f"f{t}")
    zpath = tmp_path / "d.zip"
    _zip_dir(root, zpath, top, dir_entries)
    zsrc = open_source(zpath)
    assert isinstance(zsrc, ZipFramesSource)
    folder = list(open_source(root))
    zipped = list(zsrc)
    assert [v.id for v in zipped] == [v.id for v in folder] == ["a", "b9", "b10"]
    for a, b in zip(folder, zipped):
        assert np.array_equal(a.read([0, 5, 8]), b.read([0, 5, 8]))


def _write_video(path: Path, frames: np.ndarray, fps: int = 25, codec: str = "libx264"):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv444p" if codec == "libx264" else "yuv420p"
        if codec == "libx264":
            s.options = {"qp": "0"}  # lossless
        for fr in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _ramp_rgb(t, h=32, w=32):
    rng = np.random.default_rng(5)
    base = rng.integers(40, 200, (h, w, 3))
    return np.stack([np.clip(base + 3 * k, 0, 255) for k in range(t)]).astype(np.uint8)


def test_video_files_folder(tmp_path):
    frames = _ramp_rgb(20)
    _write_video(tmp_path / "clip10.mp4", frames)
    _write_video(tmp_path / "clip9.mp4", frames[:12])
    (tmp_path / "notes.txt").write_text("ignored")
    src = open_source(tmp_path)
    assert isinstance(src, VideoFilesSource)
    vids = list(src)
    assert [v.id for v in vids] == ["clip9", "clip10"]
    assert [v.num_frames for v in vids] == [12, 20]
    assert vids[1].fps == pytest.approx(25)
    got = vids[1].read([0, 7, 19]).astype(int)
    want = frames[[0, 7, 19]].astype(int)
    assert np.abs(got - want).max() <= 3  # lossless yuv444, only colour-conversion rounding
    single = open_source(tmp_path / "clip9.mp4")
    assert len(single) == 1 and next(iter(single)).num_frames == 12


def test_npy_memmap_and_npz_stored_and_compressed(tmp_path):
    arr = np.stack([ramp_video(10, 8, 8, base=i * 10) for i in range(3)])
    np.save(tmp_path / "v.npy", arr)
    np.savez(tmp_path / "stored.npz", videos=arr, other=np.zeros(3))
    np.savez_compressed(tmp_path / "comp.npz", arr)
    for name in ("v.npy", "stored.npz", "comp.npz"):
        src = open_source(tmp_path / name)
        assert isinstance(src, NumpySource) and len(src) == 3
        vids = list(src)
        for i, v in enumerate(vids):
            assert np.array_equal(v.read([1, 9]), arr[i, [1, 9]]), name
    assert open_source(tmp_path / "stored.npz")._streamed is False  # memory-mapped, not loaded
    assert open_source(tmp_path / "comp.npz")._streamed is True


def test_in_memory_arrays_tensors_and_iterables():
    arr = np.stack([ramp_video(9, 8, 8, base=i) for i in range(2)])
    for data in (arr, torch.from_numpy(arr), [arr[0], arr[1]]):
        vids = list(open_source(data))
        assert len(vids) == 2 and np.array_equal(vids[1].read([3]), arr[1, [3]])
    stream = open_source(v for v in arr)
    assert [v.read([0])[0, 0, 0, 0] for v in stream] == [0, 1]
    with pytest.raises(RuntimeError, match="consumed"):
        list(stream)


def test_builtin_tiny_is_deterministic():
    a = next(iter(open_source("builtin:tiny")))
    b = next(iter(open_source("builtin:tiny")))
    assert np.array_equal(a.read([3, 17]), b.read([3, 17]))
    assert np.array_equal(a.read([17]), a.read(range(18))[17:18])  # any subset renders the same pixels
    assert len(open_source("builtin:tiny")) == 48 and a.num_frames == 32
    static = next(iter(open_source("builtin:tiny-static"))).read([0, 20])
    assert np.abs(static[0].astype(int) - static[1].astype(int)).mean() < 4  # only sensor noise differs


# ---------------------------------------------------------------- bad input


def test_corrupt_frame_names_the_file(tmp_path):
    write_frames_dataset(tmp_path, {"v": ramp_video(3)})
    bad = tmp_path / "v" / "000001.png"
    bad.write_bytes(b"\x89PNG garbage")
    v = next(iter(open_source(tmp_path)))
    with pytest.raises(VideoReadError, match=r"000001\.png"):
        v.read()


def test_corrupt_video_names_the_file(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    v = next(iter(open_source(tmp_path)))
    with pytest.raises(VideoReadError, match="broken.mp4"):
        v.read([0])


@pytest.mark.parametrize("case,match", [
    ("missing", "no such file"),
    ("images_at_root", "one sub-folder per"),
    ("mixed", "ambiguous"),
    ("nested", "nested"),
    ("empty", "no videos"),
    ("txt", "unsupported file type"),
    ("float_npy", "uint8"),
    ("bad_shape_npy", r"\[N, T, H, W, 3\]"),
    ("frame_sizes", "different sizes"),
])
def test_bad_inputs(tmp_path, case, match):
    from PIL import Image

    target = tmp_path / "in"
    if case == "images_at_root":
        target.mkdir()
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(target / "a.png")
    elif case == "mixed":
        write_frames_dataset(target, {"v": ramp_video(2)})
        (target / "x.mp4").write_bytes(b"")
    elif case == "nested":
        write_frames_dataset(target / "v", {"clip": ramp_video(2)})
    elif case == "empty":
        target.mkdir()
    elif case == "txt":
        target = tmp_path / "a.txt"
        target.write_text("x")
    elif case == "float_npy":
        target = tmp_path / "a.npy"
        np.save(target, np.zeros((1, 2, 4, 4, 3), np.float32))
    elif case == "bad_shape_npy":
        target = tmp_path / "a.npy"
        np.save(target, np.zeros((2, 4, 4, 3), np.uint8))
    elif case == "frame_sizes":
        d = target / "v"
        d.mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(d / "0.png")
        Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(d / "1.png")
    with pytest.raises(VideoReadError, match=match) as e:
        src = open_source(target)
        for v in src:
            v.read()
    assert str(target) in str(e.value) or case == "missing"


def test_out_of_range_frames(tmp_path):
    write_frames_dataset(tmp_path, {"v": ramp_video(3)})
    with pytest.raises(VideoReadError, match="out of range"):
        next(iter(open_source(tmp_path))).read([3])


def test_content_hash_tracks_listing(tmp_path):
    write_frames_dataset(tmp_path / "a", {"v1": ramp_video(3), "v2": ramp_video(4)})
    h1 = open_source(tmp_path / "a").content_hash()
    assert h1 == open_source(tmp_path / "a").content_hash()
    write_frames_dataset(tmp_path / "a", {"v3": ramp_video(3)})
    assert open_source(tmp_path / "a").content_hash() != h1
