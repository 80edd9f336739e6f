"""Unit checks of every reader in vgbench.io.sources: coloured frames come back exactly (channel order included) from
frame folders, zips, video files, .npy/.npz, arrays, tensors and iterables; ids, order, sizes, hashes and every
bad-input message. Tiny inputs only: the whole file runs in about a second."""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_frames_dataset
from vgbench.io import base as B
from vgbench.io import sources as S
from vgbench.io import npy as N
from vgbench.io.npy import _StreamedNpzVideo
from vgbench.io.sources import VideoReadError, open_source
from vgbench.utils import sha256_json


def colour_video(t: int, h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    """uint8 [t, h, w, 3] noise whose three channels differ everywhere: any channel swap or reorder shows."""
    v = np.random.default_rng(seed).integers(0, 256, (t, h, w, 3))
    v[..., 1] = (v[..., 0] + 1 + v[..., 1] % 127) % 256  # G != R
    v[..., 2] = (v[..., 1] + 1 + v[..., 2] % 127) % 256  # B != G
    v[..., 2] = np.where(v[..., 2] == v[..., 0], (v[..., 2] + 1) % 256, v[..., 2])  # B != R
    return v.astype(np.uint8)


def expected_listing_hash(entries) -> str:
    """The documented content hash: sha256 of the canonical JSON of [[id, frames, bytes], ...], written out."""
    text = json.dumps([list(e) for e in entries], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write_video(path: Path, frames: np.ndarray, codec: str = "png", pix_fmt: str = "rgb24", fps: int = 10) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for fr in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def zip_folder(root: Path, zpath: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(root).as_posix())
    return zpath


def test_colour_video_has_distinct_channels():
    v = colour_video(3)
    assert (v[..., 0] != v[..., 1]).all() and (v[..., 1] != v[..., 2]).all() and (v[..., 0] != v[..., 2]).all()


# ------------------------------------------------------------------------------------------- exact colour, every reader


def test_frame_folder_png_and_bmp_read_back_exactly(tmp_path):
    a, b = colour_video(4, seed=1), colour_video(3, seed=2)
    write_frames_dataset(tmp_path, {"a": a}, ext=".png")
    write_frames_dataset(tmp_path, {"b": b}, ext=".BMP")  # upper-case extensions count too
    src = open_source(tmp_path)
    assert isinstance(src, S.FrameFolderSource)
    va, vb = list(src)
    assert np.array_equal(va.read(), a) and np.array_equal(vb.read(), b)
    assert np.array_equal(va.read([3, 0, 3]), a[[3, 0, 3]])


def test_zip_reads_back_exactly(tmp_path):
    a = colour_video(4, seed=3)
    root = write_frames_dataset(tmp_path / "d", {"a": a, "b": colour_video(2, seed=4)})
    for prefix in ("", "top/"):
        src = open_source(zip_folder(root, tmp_path / f"d{len(prefix)}.zip", prefix))
        assert isinstance(src, S.ZipFramesSource)
        v = next(iter(src))
        assert np.array_equal(v.read(), a) and np.array_equal(v.read([2, 1]), a[[2, 1]])


@pytest.mark.parametrize("name,codec,pix_fmt", [("v.avi", "png", "rgb24"), ("v.mov", "png", "rgb24"),
                                                 ("v.mkv", "ffv1", "bgr0")])
def test_lossless_video_files_read_back_exactly(tmp_path, name, codec, pix_fmt):
    frames = colour_video(6, 8, 10, seed=5)
    p = write_video(tmp_path / name, frames, codec, pix_fmt)
    v = next(iter(open_source(p)))
    assert v.num_frames == 6 and v.fps == pytest.approx(10)
    assert np.array_equal(v.read(), frames)
    assert np.array_equal(v.read([4, 1, 4]), frames[[4, 1, 4]])  # any order, repeats allowed


def test_numpy_files_read_back_exactly(tmp_path):
    arr = np.stack([colour_video(4, seed=s) for s in range(3)])
    np.save(tmp_path / "v.npy", arr)
    with open(tmp_path / "v2.npy", "wb") as f:  # format version 2.0 header
        np.lib.format.write_array(f, arr, version=(2, 0))
    np.savez(tmp_path / "s.npz", videos=arr)
    np.savez_compressed(tmp_path / "c.npz", videos=arr)
    for name in ("v.npy", "v2.npy", "s.npz", "c.npz"):
        vids = list(open_source(tmp_path / name))
        assert [v.id for v in vids] == ["000000", "000001", "000002"], name
        for i, v in enumerate(vids):
            assert np.array_equal(v.read(), arr[i]) and np.array_equal(v.read([3, 1]), arr[i, [3, 1]]), name


def test_arrays_tensors_lists_and_iterables_read_back_exactly():
    arr = np.stack([colour_video(3, seed=s) for s in range(2)])
    for data in (arr, torch.from_numpy(arr), [arr[0], arr[1]], (arr[0], arr[1]), [torch.from_numpy(arr[0])]):
        vids = list(open_source(data))
        for i, v in enumerate(vids):
            got = v.read()
            assert isinstance(got, np.ndarray) and np.array_equal(got, arr[i])
    vids = list(open_source(iter([arr[0], arr[1]])))
    assert np.array_equal(vids[1].read([2]), arr[1, [2]])


def test_jpeg_keeps_channel_order(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    Image.fromarray(np.tile(np.array([200, 40, 120], np.uint8), (16, 16, 1))).save(d / "0.jpg", quality=100)
    got = next(iter(open_source(tmp_path))).read()[0].reshape(-1, 3).mean(0)
    assert np.abs(got - [200, 40, 120]).max() < 3


# ------------------------------------------------------------------------------------------- channel layouts


def test_grey_and_rgba_images_become_rgb(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    rgba = np.dstack([colour_video(1, 4, 5)[0], np.full((4, 5), 9, np.uint8)])
    Image.fromarray(grey, "L").save(d / "0.png")
    Image.fromarray(rgba, "RGBA").save(d / "1.png")
    clip = next(iter(open_source(tmp_path))).read()
    assert clip.shape == (2, 4, 5, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip[0], np.repeat(grey[..., None], 3, axis=2))
    assert np.array_equal(clip[1], rgba[..., :3])  # alpha dropped (it is 9 everywhere: never composited)


def test_array_channel_layouts():
    rgb = colour_video(2, 3, 4)
    grey = rgb[..., 0]
    assert np.array_equal(B._as_rgb_u8(grey, "w"), np.repeat(grey[..., None], 3, axis=-1))
    assert np.array_equal(B._as_rgb_u8(grey[..., None], "w"), np.repeat(grey[..., None], 3, axis=-1))
    rgba = np.concatenate([rgb, np.zeros_like(rgb[..., :1])], axis=-1)
    assert np.array_equal(B._as_rgb_u8(rgba, "w"), rgb)
    assert np.array_equal(B._as_rgb_u8(rgb, "w"), rgb)
    vids = list(open_source(iter([grey])))  # an iterable of [T, H, W] grey videos
    assert np.array_equal(vids[0].read(), np.repeat(grey[..., None], 3, axis=-1))


@pytest.mark.parametrize("arr,match", [
    (np.zeros((2, 3, 4, 3), np.float32), r"^where: expected uint8 pixels, got float32$"),
    (np.zeros((2, 3, 4, 2), np.uint8), r"^where: expected a video shaped \[T, H, W, 3\], got \(2, 3, 4, 2\)$"),
    (np.zeros((2, 3), np.uint8), r"^where: expected a video shaped \[T, H, W, 3\], got \(2, 3\)$"),
    (np.zeros((1, 2, 3, 4, 3), np.uint8), r"^where: expected a video shaped"),
])
def test_as_rgb_refuses_other_arrays(arr, match):
    with pytest.raises(VideoReadError, match=match) as e:
        B._as_rgb_u8(arr, "where")
    assert e.value.path == "where"


def test_npy_with_one_and_four_channels(tmp_path):
    rgb = colour_video(3, seed=7)
    np.save(tmp_path / "g.npy", rgb[None, ..., :1])
    np.save(tmp_path / "a.npy", np.concatenate([rgb, rgb[..., :1]], axis=-1)[None])
    assert np.array_equal(next(iter(open_source(tmp_path / "g.npy"))).read(), np.repeat(rgb[..., :1], 3, -1))
    assert np.array_equal(next(iter(open_source(tmp_path / "a.npy"))).read(), rgb)


# ------------------------------------------------------------------------------------------- frame folders


def test_frame_folder_listing_ids_sizes_and_order(tmp_path):
    write_frames_dataset(tmp_path, {"v10": colour_video(2), "v9": colour_video(12, seed=1), "empty": np.zeros(0)},
                         names=lambda t: f"f{t}")
    (tmp_path / "v9" / "notes.txt").write_text("not a frame")
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.txt").write_text("x")
    (tmp_path / "stray.png").write_bytes(b"")  # a file beside the video folders is not a video
    src = S.FrameFolderSource(tmp_path, fps=12.5)
    vids = list(src)
    assert [v.id for v in vids] == ["v9", "v10"] and len(src) == 2
    v9 = vids[0]
    assert v9.frames == [f"f{t}.png" for t in range(12)]  # natural order: f2 before f10
    assert v9.num_frames == 12 and v9.fps == 12.5 and v9.path == str(tmp_path / "v9")
    assert v9.nbytes_hint() == sum((tmp_path / "v9" / f).stat().st_size for f in v9.frames)
    assert repr(v9) == f"<FrameFolderVideo 'v9' frames=12 path={str(tmp_path / 'v9')!r}>"
    assert src.describe() == {"kind": "frames_folder", "path": str(tmp_path.resolve())}
    assert src.content_hash() == expected_listing_hash([(v.id, v.num_frames, v.nbytes_hint()) for v in vids])
    assert list(src) == vids  # listed once, cached


def test_frame_folder_nested_folder_is_refused(tmp_path):
    write_frames_dataset(tmp_path, {"v": colour_video(1)})
    (tmp_path / "v" / "sub").mkdir()
    with pytest.raises(VideoReadError, match=r"sub: frames must lie directly inside each video folder "
                                             r"\(root/<video>/<frame>\); found a nested folder$") as e:
        list(S.FrameFolderSource(tmp_path))
    assert e.value.path == str(tmp_path / "v" / "sub")


def test_corrupt_image_names_the_frame(tmp_path):
    write_frames_dataset(tmp_path, {"v": colour_video(2)})
    (tmp_path / "v" / "000001.png").write_bytes(b"not a png")
    v = next(iter(open_source(tmp_path)))
    assert np.array_equal(v.read([0]), colour_video(2)[:1])
    with pytest.raises(VideoReadError, match=r"000001\.png: cannot decode image: ") as e:
        v.read([1])
    assert e.value.path == str(tmp_path / "v" / "000001.png")


def test_frames_of_different_sizes_are_refused(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(d / "0.png")
    Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(d / "1.png")
    v = next(iter(open_source(tmp_path)))
    assert v.read([0, 0]).shape == (2, 4, 4, 3)
    with pytest.raises(VideoReadError, match=r"different sizes: \[\(4, 4, 3\), \(5, 4, 3\)\]") as e:
        v.read()
    assert e.value.path == str(d)


# ------------------------------------------------------------------------------------------- zip


def test_zip_listing_ids_sizes_and_paths(tmp_path):
    root = write_frames_dataset(tmp_path / "d", {"b10": colour_video(2), "b9": colour_video(11, seed=3)},
                                names=lambda t: f"f{t}")
    zpath = zip_folder(root, tmp_path / "d.zip", "top/")
    with zipfile.ZipFile(zpath, "a") as z:
        z.writestr("__MACOSX/top/b9/._f0.png", b"resource fork")
        z.writestr("top/b9/readme.txt", b"not a frame")
        z.writestr("top/emptydir/", b"")
    src = S.ZipFramesSource(zpath, fps=7.0)
    vids = list(src)
    assert [v.id for v in vids] == ["b9", "b10"] and len(src) == 2
    v9 = vids[0]
    assert v9.members == [f"top/b9/f{t}.png" for t in range(11)] and v9.num_frames == 11 and v9.fps == 7.0
    assert v9.path == f"{zpath}:top/b9"
    assert v9.nbytes_hint() == sum((root / "b9" / f"f{t}.png").stat().st_size for t in range(11))
    assert src.describe() == {"kind": "frames_zip", "path": str(zpath.resolve())}
    assert src.content_hash() == expected_listing_hash([(v.id, v.num_frames, v.nbytes_hint()) for v in vids])
    assert np.array_equal(v9.read([10]), colour_video(11, seed=3)[[10]])


@pytest.mark.parametrize("members,match", [
    (["a.png"], "frames must be inside one folder per video$"),
    (["v/a.png", "v/w/b.png"], "frames lie at different folder depths; expected \\[top/\\]<video>/<frame> for every frame$"),
    (["a/b/c/d.png"], "folders nested too deep; expected \\[top/\\]<video>/<frame>$"),
])
def test_zip_layout_errors(tmp_path, members, match):
    zpath = tmp_path / "x.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for m in members:
            z.writestr(m, b"")
    with pytest.raises(VideoReadError, match=f"^{zpath}: " + match) as e:
        list(open_source(zpath))
    assert e.value.path == str(zpath)


def test_zip_without_frames_has_no_videos(tmp_path):
    zpath = tmp_path / "x.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("readme.txt", b"")
    assert list(open_source(zpath)) == []


def test_not_a_zip_and_bad_members_name_the_file(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(VideoReadError, match="not a readable zip file") as e:
        list(open_source(bad))
    assert e.value.path == str(bad)
    root = write_frames_dataset(tmp_path / "d", {"v": colour_video(1)})
    zpath = zip_folder(root, tmp_path / "d.zip")
    ghost = S.ZipFrameVideo("v", str(zpath), ["v/missing.png"], 0)
    with pytest.raises(VideoReadError, match="cannot read zip member") as e:
        ghost.read([0])
    assert e.value.path == f"{zpath}:v/missing.png"
    zpath = zip_folder(root, tmp_path / "d2.zip")
    with zipfile.ZipFile(zpath, "a") as z:
        z.writestr("v/000001.png", b"garbage")
    v = next(iter(open_source(zpath)))
    with pytest.raises(VideoReadError, match="cannot decode image") as e:
        v.read([1])
    assert e.value.path == f"{zpath}:v/000001.png"


def test_zip_handle_is_opened_once_per_process(tmp_path):
    root = write_frames_dataset(tmp_path / "d", {"v": colour_video(2)})
    zpath = zip_folder(root, tmp_path / "d.zip")
    v = next(iter(open_source(zpath)))
    z = v._zip()
    assert isinstance(z, zipfile.ZipFile) and v._zip() is z
    assert S.ZipFrameVideo._handles[(os.getpid(), str(zpath))] is z


# ------------------------------------------------------------------------------------------- video files


def test_video_folder_listing(tmp_path):
    frames = colour_video(3, 8, 8)
    write_video(tmp_path / "clip10.avi", frames)
    write_video(tmp_path / "clip9.MOV", frames[:2])
    write_video(tmp_path / "same.avi", frames[:1])
    write_video(tmp_path / "same.mov", frames[:2])
    (tmp_path / "dir.mp4").mkdir()  # a folder named like a video is not a video
    (tmp_path / "notes.txt").write_text("x")
    src = S.VideoFilesSource(tmp_path)
    vids = list(src)
    assert [v.id for v in vids] == ["clip9", "clip10", "same.avi", "same.mov"] and len(src) == 4
    assert [v.num_frames for v in vids] == [2, 3, 1, 2]
    assert vids[1].path == str(tmp_path / "clip10.avi")
    assert vids[1].nbytes_hint() == (tmp_path / "clip10.avi").stat().st_size
    assert src.describe() == {"kind": "video_files", "path": str(tmp_path.resolve())}
    assert src.content_hash() == expected_listing_hash([(v.id, v.num_frames, v.nbytes_hint()) for v in vids])
    one = S.VideoFilesSource(tmp_path / "clip10.avi")
    assert [v.id for v in one] == ["clip10"] and len(one) == 1


def test_video_fps_is_read_from_the_header(tmp_path):
    v = S.FileVideo(str(write_video(tmp_path / "a.avi", colour_video(2, 8, 8), fps=12)))
    assert v.fps == pytest.approx(12) and v.id == "a"  # before counting frames (`vgbench inspect` prints it)
    assert v.num_frames == 2 and v.fps == pytest.approx(12)
    assert S.FileVideo(str(tmp_path / "a.avi"), "other").id == "other"


def test_video_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="cannot open video") as e:
        S.FileVideo(str(broken)).num_frames
    assert e.value.path == str(broken)
    short = S.FileVideo(str(write_video(tmp_path / "short.avi", colour_video(2, 8, 8))))
    with pytest.raises(VideoReadError, match=r"video ended early: frames \[5\] could not be decoded") as e:
        short._read([0, 5])
    with pytest.raises(VideoReadError, match=r"video ended early: frames \[2, 3, 4, 5, 6\] could not be decoded$"):
        short._read(list(range(10)))
    assert e.value.path == str(tmp_path / "short.avi")


def test_audio_only_file_has_no_video_stream(tmp_path):
    import av

    p = tmp_path / "sound.mkv"
    with av.open(str(p), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        fr.sample_rate = 8000
        for pkt in s.encode(fr):
            c.mux(pkt)
    with pytest.raises(VideoReadError, match=r"sound\.mkv: the file has no video stream$") as e:
        S.FileVideo(str(p)).num_frames
    assert e.value.path == str(p)


class _BrokenContainer:
    """A PyAV container whose demuxing and decoding fail half-way (as a truncated file does)."""

    class streams:
        video = [type("Stream", (), {"average_rate": None, "thread_type": None,
                                     "codec_context": type("Ctx", (), {"width": 8, "height": 8})()})()]

    def demux(self, s):
        raise OSError("demux failed")

    def decode(self, s):
        raise OSError("decode failed")

    def close(self):
        self.closed = True


def test_demux_and_decode_failures_name_the_file(tmp_path, monkeypatch):
    p = write_video(tmp_path / "a.avi", colour_video(2, 8, 8))
    v = S.FileVideo(str(p))
    monkeypatch.setattr(v, "_open", lambda: _BrokenContainer())
    with pytest.raises(VideoReadError, match="cannot read video: demux failed") as e:
        v.num_frames
    assert e.value.path == str(p)
    with pytest.raises(VideoReadError, match="cannot decode video: decode failed") as e:
        v._read([0])
    assert e.value.path == str(p)


# ------------------------------------------------------------------------------------------- numpy files


def test_numpy_source_description_ids_and_sizes(tmp_path):
    arr = np.stack([colour_video(4, seed=s) for s in range(2)])
    np.save(tmp_path / "v.npy", arr)
    src = open_source(tmp_path / "v.npy")
    assert src.describe() == {"kind": "numpy", "path": str((tmp_path / "v.npy").resolve()),
                              "shape": [2, 4, 6, 5, 3]}
    assert src.supports_workers is True and len(src) == 2
    v = list(src)[1]
    assert (v.id, v.path, v.num_frames, v.nbytes_hint(), v.fps) == ("000001", f"{tmp_path / 'v.npy'}[1]", 4,
                                                                     4 * 6 * 5 * 3, None)
    assert src.content_hash() == expected_listing_hash([("000000", 4, 360), ("000001", 4, 360)])
    m = v._array()
    assert isinstance(m, np.memmap) and v._array() is m and m.shape == arr.shape
    assert not m.flags.writeable  # opened read-only: a reader never writes to the dataset


def test_npz_member_choice_and_description(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(3)])
    np.savez(tmp_path / "one.npz", clips=arr)
    np.savez(tmp_path / "two.npz", videos=arr, labels=np.zeros(3))
    np.savez(tmp_path / "amb.npz", a=arr, b=arr)
    np.savez_compressed(tmp_path / "c.npz", videos=arr)
    one = open_source(tmp_path / "one.npz")
    assert one.key == "clips" and one._streamed is False and one.supports_workers is True
    assert one.describe() == {"kind": "numpy", "path": str((tmp_path / "one.npz").resolve()),
                              "shape": [3, 2, 6, 5, 3], "key": "clips"}
    assert list(one)[2].path == f"{tmp_path / 'one.npz'}:clips[2]"
    assert open_source(tmp_path / "two.npz").key == "videos"
    named = open_source(tmp_path / "amb.npz", npz_key="b")
    assert named.key == "b" and np.array_equal(list(named)[1].read(), arr[1])
    with pytest.raises(VideoReadError, match=r"several arrays \['a', 'b'\]; name one") as e:
        open_source(tmp_path / "amb.npz")
    assert e.value.path == str(tmp_path / "amb.npz")
    with pytest.raises(VideoReadError, match=r"amb\.npz: no array named 'c'; it has \['a', 'b'\]$") as e:
        open_source(tmp_path / "amb.npz", npz_key="c")
    assert e.value.path == str(tmp_path / "amb.npz")
    comp = open_source(tmp_path / "c.npz")
    assert comp._streamed is True and comp.supports_workers is False and len(comp) == 3
    vids = list(comp)
    assert [v.id for v in vids] == ["000000", "000001", "000002"]
    assert vids[1].path == f"{tmp_path / 'c.npz'}:videos[1]" and vids[1].num_frames == 2
    assert vids[1].nbytes_hint() == arr[1].nbytes


def test_npz_with_the_default_key_among_others_streams_it(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    np.savez_compressed(tmp_path / "c.npz", other=np.zeros(3), videos=arr)
    src = open_source(tmp_path / "c.npz")
    assert [np.array_equal(v.read(), arr[i]) for i, v in enumerate(src)] == [True, True]


def test_truncated_compressed_npz_is_an_error(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": arr.shape})
    buf.write(arr.tobytes()[: arr[0].nbytes + 10])  # video 1 is cut short
    p = tmp_path / "cut.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("videos.npy", buf.getvalue())
    src = open_source(p)
    it = iter(src)
    assert np.array_equal(next(it).read(), arr[0])
    cut = next(it)  # takes its place in the order: --skip-bad counts it, otherwise reading it names it
    with pytest.raises(VideoReadError, match="the file is truncated: the header promises 2 videos .* holds 1 whole") as e:
        cut.read()
    assert e.value.path == f"{p}:videos[1]" and cut.id == "000001"
    assert next(it, None) is None


@pytest.mark.parametrize("arr,match", [
    (np.zeros((1, 2, 3, 3, 3), np.float32), "expected uint8 videos, got dtype float32"),
    (np.zeros((2, 3, 3, 3), np.uint8), r"expected an array shaped \[N, T, H, W, 3\], got \(2, 3, 3, 3\)"),
    (np.zeros((1, 2, 3, 3, 2), np.uint8), r"expected an array shaped \[N, T, H, W, 3\], got \(1, 2, 3, 3, 2\)"),
    (np.asfortranarray(np.zeros((1, 2, 3, 3, 3), np.uint8)),
     r"Fortran-ordered arrays are not supported; save with np\.ascontiguousarray$"),
])
def test_bad_numpy_arrays(tmp_path, arr, match):
    np.save(tmp_path / "a.npy", arr)
    with pytest.raises(VideoReadError, match=match) as e:
        open_source(tmp_path / "a.npy")
    assert e.value.path == str(tmp_path / "a.npy")
    np.savez(tmp_path / "a.npz", videos=arr)
    with pytest.raises(VideoReadError, match=match) as e:
        open_source(tmp_path / "a.npz")
    assert e.value.path == f"{tmp_path / 'a.npz'}:videos"


def test_unreadable_numpy_file(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(VideoReadError, match="not a readable numpy file") as e:
        open_source(tmp_path / "junk.npy")
    assert e.value.path == str(tmp_path / "junk.npy")


# ------------------------------------------------------------------------------------------- in memory


def test_array_source_ids_fps_and_sizes():
    arr = np.stack([colour_video(3, seed=s) for s in range(2)])
    src = S.ArraySource(arr, fps=8.0, ids=["x", "y"])
    vids = list(src)
    assert [v.id for v in vids] == ["x", "y"] and len(src) == 2 and src.supports_workers is False
    assert (vids[1].path, vids[1].fps, vids[1].num_frames, vids[1].nbytes_hint()) == ("<array>[y]", 8.0, 3, 270)
    assert [v.id for v in S.ArraySource(arr)] == ["000000", "000001"]
    assert src.describe() == {"kind": "array"}
    assert src.content_hash() == expected_listing_hash([("x", 3, 270), ("y", 3, 270)])


@pytest.mark.parametrize("data,where,match", [
    (np.zeros((2, 3, 4, 3), np.uint8), "<array>", r"expected \[N, T, H, W, 3\] or a list of \[T, H, W, 3\]; got "
                                                  r"\(2, 3, 4, 3\)"),
    ({"a": 1}, "<array>", "got dict"),
    ([np.zeros((2, 3, 4, 3), np.uint8), np.zeros((2, 3, 4, 3))], "<array>[1]", "expected uint8 pixels, got float64"),
    ([torch.zeros(2, 3, 4, 3)], "<array>[0]", "expected uint8 pixels, got torch.float32"),
    ([np.zeros((3, 4, 3), np.uint8)], "<array>[0]", r"expected \[T, H, W, 3\], got \(3, 4, 3\)"),
    ([[1, 2]], "<array>[0]", "expected uint8 pixels, got list$"),
])
def test_array_source_refusals(data, where, match):
    with pytest.raises(VideoReadError, match=match) as e:
        S.ArraySource(data)
    assert e.value.path == where


def test_iterable_source_is_single_pass_and_keeps_handles():
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    handle = S.ArrayVideo(arr[1], "mine")
    src = S.IterableSource(iter([arr[0], handle]), fps=5.0, length=2, description={"kind": "generator", "n": 2},
                           content_hash="h")
    assert len(src) == 2 and src.describe() == {"kind": "generator", "n": 2} and src.content_hash() == "h"
    assert src.describe() is not src.describe()  # a copy: callers may extend it
    vids = list(src)
    assert vids[1] is handle and vids[0].id == "000000" and vids[0].fps == 5.0
    with pytest.raises(RuntimeError, match="^this video stream was already consumed; streams can be read once$"):
        list(src)
    bare = S.IterableSource([arr[0]])
    assert bare.describe() == {"kind": "iterable"} and bare.supports_workers is False
    with pytest.raises(TypeError, match="^length of a video stream is unknown$"):
        len(bare)
    with pytest.raises(TypeError, match="^a one-pass video stream has no content hash$"):
        bare.content_hash()


# ------------------------------------------------------------------------------------------- Video / VideoSource base


class _Listed(S.VideoSource):
    kind = "listed"

    def __init__(self, videos):
        self.videos = videos

    def __iter__(self):
        return iter(self.videos)


class _Lying(S.Video):
    """Decodes one frame fewer than asked for."""

    id, path = "liar", "liar.bin"

    @property
    def num_frames(self):
        return 5

    def _read(self, indices):
        return np.zeros((len(indices) - 1, 2, 2, 3), np.uint8)


def test_base_video_and_source_defaults():
    arr = colour_video(3)
    src = _Listed([S.ArrayVideo(arr, "a"), S.ArrayVideo(arr[:2], "b")])
    assert len(src) == 2 and src.describe() == {"kind": "listed"} and S.VideoSource.supports_workers is True
    assert src.content_hash() == expected_listing_hash([("a", 3, arr.size), ("b", 2, arr[:2].size)])
    assert _Lying().nbytes_hint() == 0 and _Lying.fps is None
    with pytest.raises(VideoReadError, match=r"^liar\.bin: decoded 1 frames, expected 2$"):
        _Lying().read([0, 1])
    with pytest.raises(VideoReadError, match="decoded 4 frames, expected 5"):
        _Lying().read()


@pytest.mark.parametrize("indices,match", [([3], r"asked for 3\.\.3, the video has 3 frames"),
                                           ([0, -1], r"asked for -1\.\.0, the video has 3 frames"),
                                           ([2, 7, 1], r"asked for 1\.\.7, the video has 3 frames")])
def test_out_of_range_indices(indices, match):
    v = S.ArrayVideo(colour_video(3), "a")
    with pytest.raises(VideoReadError, match="frame index out of range: " + match) as e:
        v.read(indices)
    assert e.value.path == "<array>[a]"
    assert np.array_equal(v.read([0, 2]), colour_video(3)[[0, 2]])
    B._check_indices([0, 10**6], None, "w")  # unknown length: only negatives are refused
    with pytest.raises(VideoReadError):
        B._check_indices([-1], None, "w")
    B._check_indices([], 0, "w")


def test_video_read_error_fields():
    e = VideoReadError("a/b.png", "broken")
    assert str(e) == "a/b.png: broken" and (e.path, e.problem) == ("a/b.png", "broken")
    assert isinstance(e, RuntimeError)


# ------------------------------------------------------------------------------------------- open_source dispatch


def test_open_source_dispatch(tmp_path):
    arr = np.stack([colour_video(2)])
    src = S.ArraySource(arr)
    assert open_source(src) is src
    np.save(tmp_path / "a.npy", arr)
    assert isinstance(open_source(str(tmp_path / "a.npy")), S.NumpySource)
    assert isinstance(open_source(tmp_path / "a.npy"), S.NumpySource)
    np.savez(tmp_path / "a.npz", videos=arr)
    assert isinstance(open_source(tmp_path / "a.npz"), S.NumpySource)
    root = write_frames_dataset(tmp_path / "frames", {"v": arr[0]})
    assert isinstance(open_source(root, fps=9.0), S.FrameFolderSource)
    assert next(iter(open_source(root, fps=9.0))).fps == 9.0
    z = zip_folder(root, tmp_path / "f.ZIP")
    assert isinstance(open_source(z, fps=4.0), S.ZipFramesSource) and open_source(z, fps=4.0).fps == 4.0
    vdir = tmp_path / "videos"
    vdir.mkdir()
    write_video(vdir / "a.avi", colour_video(2, 8, 8))
    assert isinstance(open_source(vdir), S.VideoFilesSource)
    assert isinstance(open_source(vdir / "a.avi"), S.VideoFilesSource)
    assert isinstance(open_source(arr), S.ArraySource) and isinstance(open_source([arr[0]]), S.ArraySource)
    assert isinstance(open_source(torch.from_numpy(arr)), S.ArraySource)
    gen = open_source((v for v in arr), fps=3.0)
    assert isinstance(gen, S.IterableSource) and gen.fps == 3.0
    assert open_source(arr, fps=2.0)._videos[0].fps == 2.0
    with pytest.raises(TypeError, match="cannot read videos from int"):
        open_source(5)


@pytest.mark.parametrize("case,match", [
    ("missing", "no such file or folder$"),
    ("txt", r"unsupported file type '\.txt'; expected a folder, \.zip, \.npy, \.npz or a video file "
            r"\(\.avi, \.mkv, \.mov, \.mp4, \.webm\)"),
    ("mixed", r"the folder holds both sub-folders and video files; it is ambiguous whether it is a frames dataset "
              r"\(root/<video>/<frame>\) or a folder of videos$"),
    ("images", r"the folder holds images directly; a frames dataset needs one sub-folder per video "
               r"\(root/<video>/<frame>\)$"),
    ("empty", "the folder holds no videos$"),
    ("other_files", "the folder holds no videos$"),
])
def test_open_source_refusals(tmp_path, case, match):
    target = tmp_path / "in"
    if case == "txt":
        target = tmp_path / "a.txt"
        target.write_text("x")
    elif case != "missing":
        target.mkdir()
    if case == "mixed":
        (target / "v").mkdir()
        (target / "x.MP4").write_bytes(b"")
    elif case == "images":
        (target / "a.JPG").write_bytes(b"")
    elif case == "other_files":
        (target / "a.txt").write_text("x")
    with pytest.raises(VideoReadError, match=f"^{target}: {match}") as e:
        open_source(target)
    assert e.value.path == str(target)


def test_builtin_datasets_resolve_by_name():
    calls = []
    S.register_builtin("unit:test:set", lambda: calls.append(1) or S.ArraySource(np.stack([colour_video(2)])))
    try:
        src = open_source("builtin:unit:test:set")  # only the first colon separates the prefix
        assert isinstance(src, S.ArraySource) and calls == [1]
        known = ", ".join(sorted(S._BUILTINS))
        assert "tiny, " in known
        with pytest.raises(ValueError, match=rf"^unknown builtin dataset 'nope'; known: {known}$"):
            open_source("builtin:nope")
    finally:
        S._BUILTINS.pop("unit:test:set")


def test_builtin_table_names_every_tiny_variant():
    """The lazy table of built-in sources lists exactly the variants the tiny module renders, each opening its own."""
    from vgbench.data.tiny import VARIANTS, TinySource

    assert {n for n, f in S._BUILTINS.items() if f == "vgbench.data.tiny:TinySource"} == set(VARIANTS)
    for name in VARIANTS:
        src = open_source(f"builtin:{name}")
        assert isinstance(src, TinySource) and src.name == name and src.cfg == VARIANTS[name]


def test_zip_frames_of_different_sizes_name_the_video(tmp_path):
    from PIL import Image

    d = tmp_path / "d" / "v"
    d.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(d / "0.png")
    Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(d / "1.png")
    zpath = zip_folder(tmp_path / "d", tmp_path / "sizes.zip")
    with pytest.raises(VideoReadError, match="different sizes") as e:
        next(iter(open_source(zpath))).read()
    assert e.value.path == f"{zpath}:v"


def test_video_with_an_audio_track_reads_the_video_frames(tmp_path):
    import av

    frames = colour_video(4, 8, 8, seed=9)
    p = tmp_path / "av.mov"
    with av.open(str(p), "w") as c:
        vs = c.add_stream("png", rate=10)
        vs.width, vs.height, vs.pix_fmt = 8, 8, "rgb24"
        aus = c.add_stream("pcm_s16le", rate=8000)
        for k, fr in enumerate(frames):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(pkt)
            audio = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            audio.sample_rate, audio.pts = 8000, 800 * k
            for pkt in aus.encode(audio):
                c.mux(pkt)
        for s in (vs, aus):
            for pkt in s.encode():
                c.mux(pkt)
    v = next(iter(open_source(p)))
    assert v.num_frames == 4 and np.array_equal(v.read(), frames)


def test_bad_arrays_from_an_iterable_name_the_video():
    vids = list(open_source(iter([np.zeros((2, 3, 3, 3), np.float32)])))
    with pytest.raises(VideoReadError, match=r"^<array>\[000000\]: expected uint8 pixels, got float32$") as e:
        vids[0].read()
    assert e.value.path == "<array>[000000]"


def test_upper_case_numpy_suffixes(tmp_path):
    """open_source picks the reader case-insensitively, so NumpySource must too (an .NPZ was parsed as .npy)."""
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    with open(tmp_path / "UP.NPZ", "wb") as f:
        np.savez(f, videos=arr)
    with open(tmp_path / "UP.NPY", "wb") as f:
        np.save(f, arr)
    for name in ("UP.NPZ", "UP.NPY"):
        vids = list(open_source(tmp_path / name))
        assert len(vids) == 2 and np.array_equal(vids[1].read(), arr[1]), name


# ------------------------------------------------------------------ .npy / .npz cut short (memory-mapped paths)


def _npy_bytes(arr: np.ndarray, promise: int | None = None) -> bytes:
    """A .npy stream of ``arr`` whose header promises ``promise`` videos (default: as many as it holds)."""
    buf = io.BytesIO()
    shape = ((promise if promise is not None else arr.shape[0]),) + arr.shape[1:]
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    buf.write(arr.tobytes())
    return buf.getvalue()


def _check_cut(src, arr: np.ndarray, promised: int, complete: int, where: str) -> None:
    vids = list(src)
    assert len(src) == promised and len(vids) == promised
    assert [v.id for v in vids] == [f"{i:06d}" for i in range(promised)]
    assert [v.path for v in vids] == [f"{where}[{i}]" for i in range(promised)]
    for i, v in enumerate(vids[:complete]):
        assert isinstance(v, S.NpyVideo) and np.array_equal(v.read(), arr[i])
        assert v.read([1]).shape == (1,) + arr.shape[2:]
    problem = (f"the file is truncated: the header promises {promised} videos of {tuple(arr.shape[1:])}, the data "
               f"holds {complete} whole videos")
    for v in vids[complete:]:
        assert isinstance(v, B.UnreadableVideo) and v.problem == problem and v.num_frames == arr.shape[1]
        with pytest.raises(VideoReadError) as e:
            v.read()
        assert e.value.path == v.path


@pytest.mark.parametrize("keep_bytes, complete", [(None, 3), ("cut_in_video_3", 3), ("cut_at_video_4", 4),
                                                 ("header_only", 0), ("one_byte", 0)])
def test_cut_npy_keeps_its_whole_videos_and_marks_the_rest(tmp_path, keep_bytes, complete):
    arr = np.stack([colour_video(2, seed=s) for s in range(5)])
    data = _npy_bytes(arr)
    header = len(data) - arr.nbytes
    per = arr[0].nbytes
    cut = {None: header + 3 * per + per - 1, "cut_in_video_3": header + 3 * per + 7,
           "cut_at_video_4": header + 4 * per, "header_only": header, "one_byte": header + 1}[keep_bytes]
    p = tmp_path / "v.npy"
    p.write_bytes(data[:cut])
    _check_cut(open_source(p), arr, 5, complete, str(p))


def test_npy_that_promises_less_than_it_holds_reads_what_it_promises(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(3)])
    p = tmp_path / "v.npy"
    p.write_bytes(_npy_bytes(arr[:2], promise=2) + arr[2].tobytes())  # trailing bytes after the promised data
    vids = list(open_source(p))
    assert len(vids) == 2 and all(np.array_equal(v.read(), arr[i]) for i, v in enumerate(vids))


def test_stored_npz_member_cut_short_ends_where_the_zip_says(tmp_path):
    """The member promises 4 videos and holds 2; the bytes after it belong to the next member, not to the videos."""
    arr = np.stack([colour_video(2, seed=s) for s in range(4)])
    p = tmp_path / "s.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("videos.npy", _npy_bytes(arr[:2], promise=4))
        z.writestr("after.npy", _npy_bytes(arr))  # plenty of bytes that must not be read as videos 2 and 3
    src = open_source(p)
    assert not src._streamed and src.supports_workers
    _check_cut(src, arr, 4, 2, f"{p}:videos")


def test_stored_npz_member_after_another_is_located_exactly(tmp_path):
    arr = np.stack([colour_video(3, seed=s) for s in range(2)])
    p = tmp_path / "s.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("labels.npy", _npy_bytes(np.full((2, 1, 1, 1, 3), 9, np.uint8)))
        z.writestr("videos.npy", _npy_bytes(arr))
    vids = list(open_source(p))
    assert len(vids) == 2 and all(np.array_equal(v.read(), arr[i]) for i, v in enumerate(vids))


def test_streamed_npz_videos_and_their_stamps(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(3)])
    p = tmp_path / "c.npz"
    np.savez_compressed(p, videos=arr)
    src = open_source(p)
    assert src._streamed and not src.supports_workers
    vids = list(src)
    with zipfile.ZipFile(p) as z:
        crc = z.getinfo("videos.npy").CRC
    for i, v in enumerate(vids):
        assert v.supports_random is False and v.num_frames == 2 and v.nbytes_hint() == arr[i].nbytes
        assert v.stamp() == [B._file_stamp(p), crc]
        assert np.array_equal(v.read(), arr[i]) and np.array_equal(v.read([1, 0]), arr[i][[1, 0]])


def test_streamed_npz_with_frames_over_the_size_limit_yields_unreadable_videos(tmp_path, monkeypatch):
    arr = np.zeros((3, 2, 8, 8, 3), np.uint8)
    p = tmp_path / "c.npz"
    np.savez_compressed(p, videos=arr)
    monkeypatch.setenv(B.MAX_FRAME_PIXELS_ENV, "63")
    vids = list(open_source(p))
    assert [v.id for v in vids] == ["000000", "000001", "000002"]
    assert [v.path for v in vids] == [f"{p}:videos[{i}]" for i in range(3)]
    assert all(isinstance(v, B.UnreadableVideo) and v.num_frames == 2 and "8x8" in v.problem for v in vids)


def test_npy_of_zero_frame_videos_lists_them(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((3, 0, 4, 4, 3), np.uint8))
    vids = list(open_source(tmp_path / "z.npy"))
    assert len(vids) == 3 and all(isinstance(v, S.NpyVideo) and v.num_frames == 0 for v in vids)


def test_npy_stamp_is_the_files_size_and_mtime(tmp_path):
    p = tmp_path / "v.npy"
    np.save(p, np.stack([colour_video(2, seed=s) for s in range(2)]))
    v = next(iter(open_source(p)))
    st = os.stat(p)
    assert v.stamp() == [st.st_size, st.st_mtime_ns]


def test_numpy_fingerprint_tells_files_and_members_apart(tmp_path):
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    np.savez(tmp_path / "a.npz", videos=arr, other=arr)
    fa = open_source(tmp_path / "a.npz", npz_key="videos").fingerprint()
    fo = open_source(tmp_path / "a.npz", npz_key="other").fingerprint()
    np.save(tmp_path / "b.npy", arr)
    fb = open_source(tmp_path / "b.npy").fingerprint()
    assert len({fa, fo, fb}) == 3 and all(isinstance(f, str) and len(f) == 64 for f in (fa, fo, fb))
    assert open_source(tmp_path / "a.npz", npz_key="videos").fingerprint() == fa  # stable


@pytest.mark.parametrize("name, where", [("v.npy", "[1]"), ("c.npz", ":videos[1]")])
def test_frame_size_limit_is_checked_again_when_a_video_is_read(tmp_path, monkeypatch, name, where):
    """Memory-mapped (.npy) and streamed (compressed .npz) videos: H = W = 8 with 3 channels, so the limit must see
    8x8 pixels, not 8x3; the error names the video."""
    p = tmp_path / name
    arr = np.zeros((2, 2, 8, 8, 3), np.uint8)
    np.save(p, arr) if name.endswith(".npy") else np.savez_compressed(p, videos=arr)
    v = list(open_source(p))[1]
    monkeypatch.setenv(B.MAX_FRAME_PIXELS_ENV, "63")
    with pytest.raises(VideoReadError, match="frames of 8x8") as e:
        v.read()
    assert e.value.path == f"{p}{where}"


def test_streamed_npz_decode_limit_counts_frames_not_rows(tmp_path, monkeypatch):
    """2 frames of 8x8x3 are 384 bytes; counting 8 (the height) as frames would make it 1536."""
    p = tmp_path / "c.npz"
    arr = np.stack([colour_video(2, h=8, w=8, seed=s) for s in range(2)])
    np.savez_compressed(p, videos=arr)
    monkeypatch.setenv(B.MAX_DECODE_BYTES_ENV, "1000")
    vids = list(open_source(p))
    assert all(isinstance(v, _StreamedNpzVideo) for v in vids)
    assert np.array_equal(vids[1].read(), arr[1])
    monkeypatch.setenv(B.MAX_DECODE_BYTES_ENV, "383")
    vids = list(open_source(p))
    assert all(isinstance(v, B.UnreadableVideo) and v.num_frames == 2 and "reading 2 frames of 8x8" in v.problem
               for v in vids)


def test_compressed_npz_cut_short_marks_every_missing_video(tmp_path):
    """3 videos of 2 frames promised, 1 whole one stored: videos 1 and 2 are truncated (N != T on purpose)."""
    arr = np.stack([colour_video(2, seed=s) for s in range(3)])
    p = tmp_path / "cut.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("videos.npy", _npy_bytes(arr[:1], promise=3) + arr[1].tobytes()[:10])
    vids = list(open_source(p))
    assert len(vids) == 3 and np.array_equal(vids[0].read(), arr[0])
    problem = f"the file is truncated: the header promises 3 videos of {tuple(arr.shape[1:])}, the data holds 1 whole videos"
    assert [(v.id, v.path, v.problem, v.num_frames) for v in vids[1:]] == [
        ("000001", f"{p}:videos[1]", problem, 2), ("000002", f"{p}:videos[2]", problem, 2)]


def _damaged_npz(tmp_path) -> tuple[Path, np.ndarray]:
    arr = np.random.default_rng(3).integers(0, 256, (4, 2, 16, 16, 3), dtype=np.uint8)
    p = tmp_path / "c.npz"
    np.savez_compressed(p, videos=arr)
    data = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("videos.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle:middle + 64] = bytes(64)  # damage the deflate stream in the middle of the member
    p.write_bytes(bytes(data))
    return p, arr


def test_compressed_npz_with_damaged_data_gives_no_video_at_all(tmp_path):
    """Zeroed bytes in a deflate stream may decode to wrong pixels without an error (only the CRC at the end of the
    member shows it), so every video of a damaged member is unreadable, none is used with wrong pixels."""
    p, arr = _damaged_npz(tmp_path)
    vids = list(open_source(p))
    assert [(v.id, v.path, v.num_frames) for v in vids] == [(f"{j:06d}", f"{p}:videos[{j}]", 2) for j in range(4)]
    assert all(isinstance(v, B.UnreadableVideo) for v in vids)
    assert len({v.problem for v in vids}) == 1
    assert vids[0].problem.startswith("the compressed array data is damaged (BadZipFile: Bad CRC-32 for file "
                                      "'videos.npy'), ")
    assert vids[0].problem.endswith("so no video of it can be trusted: a damaged deflate stream can decode to wrong "
                                    "pixels before the damage shows")


def test_the_member_check_is_remembered_per_file_version(tmp_path, monkeypatch):
    arr = np.stack([colour_video(2, seed=s) for s in range(2)])
    p = tmp_path / "c.npz"
    np.savez_compressed(p, videos=arr)
    src = open_source(p)
    calls = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: calls.append(a[0]) or real_open(self, *a, **k))
    list(src)
    first = len(calls)
    list(src)
    assert (first, len(calls) - first) == (2, 1)  # check + read, then the read only
    key = (str(p), tuple(B._file_stamp(p)), "videos")
    assert N.NumpySource._checked[key] is None


def test_the_member_check_reads_in_bounded_chunks(tmp_path, monkeypatch):
    """The check must not hold the decompressed member in memory: it reads at most 16 MiB at a time."""
    arr = np.stack([colour_video(2, seed=s) for s in range(3)])
    p = tmp_path / "c.npz"
    np.savez_compressed(p, videos=arr)
    sizes = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: sizes.append(n) or real_read(self, n))
    src = open_source(p)
    sizes.clear()
    assert src._damaged_member() is None
    assert sizes and all(n is not None and 0 < n <= 1 << 24 for n in sizes), sizes
    assert N.NumpySource._checked[(str(p), tuple(B._file_stamp(p)), "videos")] is None


def test_decompression_error_during_the_read_marks_the_rest(tmp_path, monkeypatch):
    """If the member changes between the check and the read, the videos from the failing one on are unreadable."""
    p, arr = _damaged_npz(tmp_path)
    monkeypatch.setattr(N.NumpySource, "_damaged_member", lambda self: None)
    vids = list(open_source(p))
    assert len(vids) == 4
    bad = [v for v in vids if isinstance(v, B.UnreadableVideo)]
    first = len(vids) - len(bad)
    assert 1 <= len(bad) and all(isinstance(v, _StreamedNpzVideo) for v in vids[:first])
    for j, v in enumerate(bad, start=first):
        assert (v.id, v.path, v.num_frames) == (f"{j:06d}", f"{p}:videos[{j}]", 2)
        assert v.problem.startswith(f"cannot decompress the array data from video {first} on: ")


def test_unreadable_video_stamp_and_errors():
    v = B.UnreadableVideo("x", "/d/x.mp4", "broken header", 5)
    assert v.stamp() == ["unreadable", "broken header"] and v.num_frames == 5
    with pytest.raises(VideoReadError) as e:
        v.read()
    assert (e.value.path, str(e.value)) == ("/d/x.mp4", "/d/x.mp4: broken header")
    with pytest.raises(VideoReadError, match=r"^/d/y: no frames$"):
        B.UnreadableVideo("y", "/d/y", "no frames").num_frames


class _Stamped(B.Video):
    def __init__(self, vid, stamp):
        self.id, self.path, self.fps, self._stamp = vid, vid, None, stamp

    num_frames = 1

    def stamp(self):
        return self._stamp

    def _read(self, indices):
        raise AssertionError("fingerprints never read frames")


def test_source_fingerprint_hashes_ids_and_stamps_and_is_none_when_one_is_unknown():
    src = _Listed([_Stamped("a", [1, 2]), _Stamped("b", [3, 4])])
    assert src.fingerprint() == sha256_json([["a", [1, 2]], ["b", [3, 4]]])
    assert _Listed([_Stamped("a", [1, 2]), _Stamped("b", [3, 5])]).fingerprint() != src.fingerprint()
    assert _Listed([_Stamped("a", [1, 2]), _Stamped("b", None)]).fingerprint() is None
    assert _Listed([_Stamped("a", None)]).fingerprint() is None


def _bmp_zip(path: Path, frames: np.ndarray) -> Path:
    from PIL import Image

    with zipfile.ZipFile(path, "w") as z:
        for t, fr in enumerate(frames):
            buf = io.BytesIO()
            Image.fromarray(fr).save(buf, format="BMP")
            z.writestr(f"v/{t:06d}.bmp", buf.getvalue())
    return path


def test_zip_fingerprint_sees_a_frame_changed_at_the_same_size(tmp_path):
    """BMP frames of one size have one byte size: only the zip's CRCs tell the two archives apart."""
    a = colour_video(3, seed=1)
    b = a.copy()
    b[1, 0, 0, 0] ^= 1
    sa = open_source(_bmp_zip(tmp_path / "a.zip", a))
    sb = open_source(_bmp_zip(tmp_path / "b.zip", b))
    va, vb = next(iter(sa)), next(iter(sb))
    assert va.nbytes_hint() == vb.nbytes_hint() and va.stamp()[0] == vb.stamp()[0]
    assert va.stamp() != vb.stamp() and sa.fingerprint() != sb.fingerprint()
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        members = z.infolist()
    assert va.stamp() == [sum(i.file_size for i in members), sha256_json(sorted([i.filename, i.CRC] for i in members))]


def test_zip_decode_limit_counts_the_frames_of_the_read(tmp_path, monkeypatch):
    a = colour_video(3, h=8, w=8, seed=1)  # 192 bytes a frame
    v = next(iter(open_source(_bmp_zip(tmp_path / "a.zip", a))))
    monkeypatch.setenv(B.MAX_DECODE_BYTES_ENV, "300")
    assert np.array_equal(v.read([2]), a[[2]])
    with pytest.raises(VideoReadError, match="reading 2 frames of 8x8") as e:
        v.read([0, 1])
    assert e.value.path.startswith(f"{tmp_path / 'a.zip'}:v/")


def test_video_file_frame_limit_names_the_file(tmp_path, monkeypatch):
    p = write_video(tmp_path / "v.avi", colour_video(2, h=8, w=8))
    v = next(iter(open_source(tmp_path)))
    monkeypatch.setenv(B.MAX_FRAME_PIXELS_ENV, "63")
    with pytest.raises(VideoReadError, match="frames of 8x8") as e:
        v.read()
    assert e.value.path == str(p)


@pytest.mark.parametrize("env, fn, unit", [(B.MAX_DECODE_BYTES_ENV, B.max_decode_bytes, "bytes"),
                                           (B.MAX_FRAME_PIXELS_ENV, B.max_frame_pixels, "pixels")])
def test_size_limits_from_the_environment(monkeypatch, env, fn, unit):
    monkeypatch.delenv(env, raising=False)
    default = fn()
    assert default == {"bytes": B.DEFAULT_MAX_DECODE_BYTES, "pixels": B.DEFAULT_MAX_FRAME_PIXELS}[unit]
    monkeypatch.setenv(env, "")
    assert fn() == default
    monkeypatch.setenv(env, "1")
    assert fn() == 1
    monkeypatch.setenv(env, "12345")
    assert fn() == 12345
    monkeypatch.setenv(env, "2.5e3")
    with pytest.raises(ValueError) as e:
        fn()
    assert str(e.value) == f"{env}='2.5e3' is not a whole number of {unit}"
    for bad in ("0", "-4"):
        monkeypatch.setenv(env, bad)
        with pytest.raises(ValueError) as e:
            fn()
        assert str(e.value) == f"{env}={bad!r} must be at least 1"


def test_video_file_reads_check_every_decoded_frame_naming_the_file(tmp_path, monkeypatch):
    from vgbench.io import files

    p = write_video(tmp_path / "v.avi", colour_video(3, h=8, w=8))
    v = next(iter(open_source(tmp_path)))
    seen = []
    real = files.check_frame_size
    monkeypatch.setattr(files, "check_frame_size", lambda w, h, n, where: seen.append((w, h, n, where)) or
                        real(w, h, n, where))
    v.read([0, 2])
    assert seen == [(8, 8, 2, str(p))] * 3  # the header, then each wanted frame as decoded


# ------------------------------------------------------------------------- symbolic links, stamps, image modes


def _entry(path: Path) -> os.DirEntry:
    return next(e for e in os.scandir(path.parent) if e.name == path.name)


def test_link_problems_are_named_exactly(tmp_path):
    from vgbench.io.frames import _link_problem

    (tmp_path / "plain.png").write_bytes(b"x")
    (tmp_path / "x").symlink_to("y")
    (tmp_path / "y").symlink_to("x")
    (tmp_path / "gone").symlink_to("nowhere.png")
    (tmp_path / "up").symlink_to(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "root").symlink_to(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "sub" / "sideways").symlink_to(tmp_path / "other")
    (tmp_path / "file_link.png").symlink_to("plain.png")
    assert _link_problem(_entry(tmp_path / "plain.png")) is None
    assert _link_problem(_entry(tmp_path / "x")) == "symbolic link loop"
    assert _link_problem(_entry(tmp_path / "gone")) == "broken symbolic link to 'nowhere.png'"
    assert _link_problem(_entry(tmp_path / "up")) == (f"symbolic link loop: it points to {tmp_path.resolve()}, a "
                                                       f"folder that contains it")
    assert _link_problem(_entry(tmp_path / "sub" / "root")) == (f"symbolic link loop: it points to "
                                                                 f"{tmp_path.resolve()}, a folder that contains it")
    assert _link_problem(_entry(tmp_path / "sub" / "sideways")) is None  # a folder elsewhere is fine
    assert _link_problem(_entry(tmp_path / "file_link.png")) is None


def test_bad_links_take_their_place_in_a_frame_folder_listing(tmp_path):
    write_frames_dataset(tmp_path, {"a": colour_video(2), "c": colour_video(2, seed=3)})
    (tmp_path / "b").symlink_to("missing_folder")
    (tmp_path / "c" / "000002.png").symlink_to("000009.png")
    vids = list(open_source(tmp_path))
    assert [v.id for v in vids] == ["a", "b", "c"]
    b, c = vids[1], vids[2]
    assert isinstance(b, B.UnreadableVideo) and (b.path, b.problem) == (str(tmp_path / "b"),
                                                                       "broken symbolic link to 'missing_folder'")
    assert isinstance(c, B.UnreadableVideo) and (c.path, c.problem) == (
        str(tmp_path / "c"), "000002.png: broken symbolic link to '000009.png'")


def test_frame_folder_stamp_is_total_size_and_newest_mtime(tmp_path):
    write_frames_dataset(tmp_path, {"a": colour_video(3)})
    files = sorted((tmp_path / "a").iterdir())
    for i, f in enumerate(files):
        os.utime(f, ns=(10**18, 10**18 + [5, 90, 40][i]))
    v = next(iter(open_source(tmp_path)))
    assert v.stamp() == [sum(f.stat().st_size for f in files), 10**18 + 90]
    assert v.nbytes_hint() == sum(f.stat().st_size for f in files)
    assert S.FrameFolderVideo("x", str(tmp_path / "a"), ["f"], 7).stamp() == [7, 0]
    for f in files:
        os.utime(f, ns=(0, 0))  # the epoch itself: the newest mtime is 0, not the start value of the maximum
    assert next(iter(open_source(tmp_path))).stamp() == [sum(f.stat().st_size for f in files), 0]


def test_16bit_images_become_uint8_from_their_high_byte(tmp_path):
    from PIL import Image

    from vgbench.io.images import _decode_image

    img = np.array([[0, 255, 256, 65535]], np.uint16)
    Image.fromarray(img).save(tmp_path / "g.png")
    out = _decode_image(str(tmp_path / "g.png"), "W")
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[..., 0].tolist() == [[0, 0, 1, 255]] and (out[..., 0] == out[..., 2]).all()


@pytest.mark.parametrize("mode, text", [("I", "32-bit integer"), ("F", "floating-point")])
def test_32bit_and_float_image_messages(tmp_path, mode, text):
    from PIL import Image

    from vgbench.io.images import _decode_image

    path = tmp_path / "f.tif"
    Image.fromarray(np.zeros((2, 2), np.int32 if mode == "I" else np.float32), mode).save(path)
    with pytest.raises(VideoReadError) as e:
        _decode_image(str(path), "W")
    assert str(e.value) == (f"W: {text} image (mode {mode}): its pixel range is not defined; convert the frames to "
                            f"8-bit RGB")


def test_one_image_is_checked_as_one_frame(tmp_path, monkeypatch):
    from PIL import Image

    from vgbench.io.images import _decode_image

    Image.fromarray(colour_video(1, h=8, w=8)[0]).save(tmp_path / "a.png")
    monkeypatch.setenv(B.MAX_DECODE_BYTES_ENV, str(8 * 8 * 3))
    assert _decode_image(str(tmp_path / "a.png"), "W").shape == (8, 8, 3)
    with pytest.raises(VideoReadError, match="reading 2 frames"):
        _decode_image(str(tmp_path / "a.png"), "W", 2)


@pytest.mark.parametrize("frames", [0, 1])
def test_frame_size_message_numbers(monkeypatch, frames):
    """Every number in the message, on sizes where a wrong unit or rounding shows in the printed digits."""
    monkeypatch.setenv(B.MAX_FRAME_PIXELS_ENV, "60024000000")
    with pytest.raises(VideoReadError) as e:
        B.check_frame_size(245000, 245000, frames, "W")
    assert str(e.value) == (
        f"W: frames of 245000x245000 (60025.0 megapixels) exceed the limit of 60024.0 megapixels per frame ({frames} "
        f"such frames would take 167.7 GiB decoded); raise the limit with --max-frame-pixels N or "
        f"{B.MAX_FRAME_PIXELS_ENV}=N if this is intended")


def test_decode_size_message_numbers(monkeypatch):
    monkeypatch.setenv(B.MAX_DECODE_BYTES_ENV, str(3 * 2 ** 30))
    B.check_frame_size(1000, 1000, 1073, "W")  # 3 * 10^6 * 1073 bytes < 3 GiB
    with pytest.raises(VideoReadError) as e:
        B.check_frame_size(1000, 1000, 1100, "W")
    assert str(e.value) == (
        f"W: reading 1100 frames of 1000x1000 at once would take 3.1 GiB decoded, over the limit of 3.0 GiB; resize or "
        f"cut the videos first, or raise the limit with {B.MAX_DECODE_BYTES_ENV}=BYTES if the machine has the memory")
