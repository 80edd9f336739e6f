"""Damaged and unusual inputs as users really have them: 16-bit frames, unreadable video files, truncated arrays,
huge frames, symbolic-link loops, and damaged or edited statistics files. Each case gives a counted skip with
--skip-bad or an error naming the file, never a silent wrong number (issue #11, items 6-10)."""
from __future__ import annotations

import json
import resource
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from test_sources import _ramp_rgb, _write_video
from vgbench.cli import main
from vgbench.features import NotEnoughVideos
from vgbench.io.sources import VideoReadError, open_source
from vgbench.metrics.frechet import FrechetError, frechet_distance
from vgbench.metrics.fvd import VideoStats, compute_stats, fvd
from vgbench.protocols import ProtocolError

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# ------------------------------------------------------------------------------------------------ 16-bit frames


def _write_png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit PNG (grey [H, W] or RGB [H, W, 3]), written with OpenCV (Pillow cannot write 16-bit RGB)."""
    import cv2

    assert cv2.imwrite(str(path), arr if arr.ndim == 2 else arr[..., ::-1])


def test_16bit_png_frames_keep_their_high_byte(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 65536, (3, 12, 10), dtype=np.uint16)
    rgb = rng.integers(0, 65536, (3, 12, 10, 3), dtype=np.uint16)
    for name, frames in (("grey", grey), ("rgb", rgb)):
        (tmp_path / "d" / name).mkdir(parents=True)
        for t, fr in enumerate(frames):
            _write_png16(tmp_path / "d" / name / f"{t}.png", fr)
    got = {v.id: v.read() for v in open_source(tmp_path / "d")}
    want_grey = np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, axis=-1)
    assert np.array_equal(got["grey"], want_grey)  # not clipped to white, as convert('RGB') would do
    assert np.array_equal(got["rgb"], (rgb >> 8).astype(np.uint8))
    assert got["grey"].max() < 255 or (grey >> 8).max() == 255


def test_16bit_grey_is_measured_like_its_8bit_version(tmp_path, meancolor):
    eights = []
    for i in range(3):
        grey16 = (np.arange(20)[:, None, None] * 3000 + np.arange(16 * 16).reshape(1, 16, 16) * (7 + i))
        grey16 = (grey16 % 65536).astype(np.uint16)
        (tmp_path / "d16" / f"v{i}").mkdir(parents=True)
        for t, fr in enumerate(grey16):
            _write_png16(tmp_path / "d16" / f"v{i}" / f"{t}.png", fr)
        eights.append(np.repeat((grey16 >> 8).astype(np.uint8)[..., None], 3, axis=-1))
    a = compute_stats(tmp_path / "d16", "fvd16", "real", detector=meancolor, progress=False)
    b = compute_stats(eights, "fvd16", "real", detector=MeanColorDetector(), progress=False,
                      clip_spec=__import__("vgbench.features", fromlist=["ClipSpec"]).ClipSpec(16, 1, "zero"))
    a2 = compute_stats(tmp_path / "d16", "fvd16", "real", detector=MeanColorDetector(), progress=False,
                       clip_spec=__import__("vgbench.features", fromlist=["ClipSpec"]).ClipSpec(16, 1, "zero"))
    assert a.n == 3 and np.array_equal(a2.mu, b.mu) and np.array_equal(a2.sigma, b.sigma)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32bit_and_float_images_are_refused(tmp_path, mode):
    from PIL import Image

    (tmp_path / "d" / "v").mkdir(parents=True)
    arr = np.full((8, 8), 70000, np.int32) if mode == "I" else np.full((8, 8), 0.5, np.float32)
    Image.fromarray(arr).save(tmp_path / "d" / "v" / "0.tif")
    with pytest.raises(VideoReadError, match=r"0\.tif.*(32-bit integer|floating-point)"):
        next(iter(open_source(tmp_path / "d"))).read()


# ------------------------------------------------------------------------------- unreadable video files, arrays


@pytest.fixture
def videos_with_bad_files(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    good = _ramp_rgb(18)
    _write_video(d / "a_good.mp4", good)
    _write_video(d / "e_good.mp4", good[::-1].copy())
    (d / "b_empty.mp4").write_bytes(b"")
    full = (d / "a_good.mp4").read_bytes()
    (d / "c_truncated.mp4").write_bytes(full[: len(full) // 3])
    (d / "d_text.mp4").write_text("this is not a video\n" * 50)
    return d


def test_skip_bad_skips_video_files_that_cannot_be_opened(videos_with_bad_files, meancolor):
    st = compute_stats(videos_with_bad_files, "fvd16", "real", detector=meancolor, progress=False, skip_bad=True)
    c = st.manifest["counts"]
    assert st.ids == ["a_good", "e_good"]
    assert (c["seen"], c["used"], c["skipped_bad"]) == (5, 2, 3)
    assert sorted(b["id"] for b in st.manifest["bad_videos"]) == ["b_empty", "c_truncated", "d_text"]
    assert st.manifest["protocol_complete"] is False


def test_without_skip_bad_the_error_names_the_video_file(videos_with_bad_files, meancolor):
    with pytest.raises(VideoReadError, match=r"b_empty\.mp4.*--skip-bad"):
        compute_stats(videos_with_bad_files, "fvd16", "real", detector=meancolor, progress=False)
    r = CliRunner().invoke(main, ["inspect", str(videos_with_bad_files)])
    assert r.exit_code == 0, r.output
    assert "3 unreadable" in r.output and "b_empty" in r.output and "Traceback" not in r.output


def test_video_files_report_their_fps_in_inspect(tmp_path):
    _write_video(tmp_path / "clip.mp4", _ramp_rgb(12), fps=30)
    r = CliRunner().invoke(main, ["inspect", str(tmp_path)])
    assert r.exit_code == 0 and "fps  30.000" in r.output, r.output


@pytest.mark.parametrize("suffix", [".npy"])
def test_truncated_array_file_skips_the_missing_videos(tmp_path, suffix, meancolor):
    videos = np.stack([ramp_video(16, 8, 8, base=20 * i) for i in range(5)])
    path = tmp_path / f"v{suffix}"
    np.save(path, videos)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 8 * 8 * 3 * 5])  # cut into the last video (a cut .npz: see below)
    st = compute_stats(path, "fvd16", "real", detector=meancolor, progress=False, skip_bad=True)
    assert st.ids == ["000000", "000001", "000002", "000003"]
    assert st.manifest["counts"]["skipped_bad"] == 1 and "truncated" in st.manifest["bad_videos"][0]["error"]
    ref = compute_stats(videos[:4], "fvd16", "real", detector=MeanColorDetector(), progress=False)
    assert np.array_equal(st.mu, ref.mu)
    with pytest.raises(VideoReadError, match=r"v\.npy\[4\].*truncated"):
        compute_stats(path, "fvd16", "real", detector=MeanColorDetector(), progress=False)


def test_cut_npz_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, videos=np.zeros((3, 16, 8, 8, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(VideoReadError, match=r"v\.npz: not a readable numpy file"):
        open_source(path)


def test_damaged_compressed_npz_counts_the_unreadable_videos(tmp_path, meancolor):
    path = tmp_path / "v.npz"
    rng = np.random.default_rng(1)
    np.savez_compressed(path, videos=rng.integers(0, 256, (6, 16, 8, 8, 3), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # corrupt the deflate stream in the middle
    path.write_bytes(bytes(data))
    # a damaged deflate stream can decode to wrong pixels before the CRC shows the damage: no video is used
    with pytest.raises(NotEnoughVideos, match=r"0 used, .*\(6 seen, 0 shorter than 16 frames, 6 unreadable\)"):
        compute_stats(path, "fvd16", "real", detector=meancolor, progress=False, skip_bad=True)
    with pytest.raises(VideoReadError, match=r"v\.npz:videos\[0\]: the compressed array data is damaged"):
        compute_stats(path, "fvd16", "real", detector=MeanColorDetector(), progress=False)


# ----------------------------------------------------------------------------------------------- huge frames


def test_huge_frames_are_refused_before_decoding(tmp_path):
    """A small PNG of 8000x8000 pixels (a decompression bomb for a video reader) is refused from its header."""
    from PIL import Image

    (tmp_path / "d" / "v").mkdir(parents=True)
    for t in range(2):
        Image.new("RGB", (8000, 8000)).save(tmp_path / "d" / "v" / f"{t}.png", optimize=True)
    assert (tmp_path / "d" / "v" / "0.png").stat().st_size < 500_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    v = next(iter(open_source(tmp_path / "d")))
    with pytest.raises(VideoReadError, match=r"0\.png: frames of 8000x8000 \(64\.0 megapixels\) exceed.*"
                                             r"--max-frame-pixels"):
        v.read([0, 1])
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 150, f"peak memory grew by {grown_mib:.0f} MiB"


def test_frame_size_limit_applies_to_every_reader_and_can_be_raised(tmp_path, monkeypatch, meancolor):
    videos = np.stack([ramp_video(16, 20, 30, base=i) for i in range(3)])
    np.save(tmp_path / "v.npy", videos)
    np.savez_compressed(tmp_path / "c.npz", videos=videos)
    write_frames_dataset(tmp_path / "frames", {f"v{i}": videos[i] for i in range(3)})
    (tmp_path / "files").mkdir()
    for i in range(3):
        _write_video(tmp_path / "files" / f"a{i}.mp4", videos[i])
    monkeypatch.setenv("VGBENCH_MAX_FRAME_PIXELS", str(20 * 30 - 1))
    for src in ("v.npy", "c.npz", "frames", "files"):
        with pytest.raises(VideoReadError, match="frames of 30x20 .* exceed the limit"):
            compute_stats(tmp_path / src, "fvd16", "real", detector=meancolor, progress=False)
        with pytest.raises(NotEnoughVideos, match="0 used.*3 unreadable"):  # --skip-bad: counted, none left
            compute_stats(tmp_path / src, "fvd16", "real", detector=meancolor, progress=False, skip_bad=True)
    monkeypatch.setenv("VGBENCH_MAX_FRAME_PIXELS", str(20 * 30))
    for src in ("v.npy", "c.npz", "frames", "files"):
        assert compute_stats(tmp_path / src, "fvd16", "real", detector=meancolor, progress=False).n == 3


def test_max_frame_pixels_option_reaches_the_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("VGBENCH_MAX_FRAME_PIXELS", str(1 << 24))  # restored (unset) after the test
    write_frames_dataset(tmp_path / "frames", {"v0": ramp_video(16, 20, 30)})
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "frames"), "-o", str(tmp_path / "s.npz"),
                                  "--max-frame-pixels", "100", "--no-progress", "--device", "cpu"])
    assert r.exit_code != 0 and "exceed the limit of 0.0 megapixels" in r.output and "Traceback" not in r.output


def test_batches_stay_within_a_byte_budget(tmp_path):
    from vgbench.features import ClipSpec, extract_features

    clips = [ramp_video(16, 32, 32, base=i) for i in range(7)]  # 49152 bytes each
    det = MeanColorDetector()
    extract_features(clips, det, ClipSpec(16), batch_size=8, progress=False, max_batch_bytes=3 * 49152)
    assert det.calls == [3, 3, 1]


# --------------------------------------------------------------------------------------- symbolic-link loops


def test_symlink_loop_is_named_as_such_and_skippable(tmp_path, meancolor):
    root = tmp_path / "d"
    write_frames_dataset(root, {"a": ramp_video(16), "b": ramp_video(16, base=5), "c": ramp_video(16, base=9),
                                "d": ramp_video(16, base=13)})
    (root / "b" / "loop").symlink_to(root / "b")
    (root / "c" / "x.png").symlink_to("y.png")
    (root / "c" / "y.png").symlink_to("x.png")
    with pytest.raises(VideoReadError, match=r"d/b.*symbolic link loop") as ei:
        compute_stats(root, "fvd16", "real", detector=meancolor, progress=False)
    assert "nested" not in str(ei.value)
    st = compute_stats(root, "fvd16", "real", detector=MeanColorDetector(), progress=False, skip_bad=True)
    assert st.ids == ["a", "d"] and st.manifest["counts"]["skipped_bad"] == 2
    assert all("symbolic link loop" in b["error"] for b in st.manifest["bad_videos"])


# ------------------------------------------------------------------------------------------- statistics files


@pytest.fixture
def stats_file(tmp_path, meancolor):
    videos = np.stack([ramp_video(16, 8, 8, base=7 * i) + np.uint8(i % 3) for i in range(20)])
    st = compute_stats(videos, "fvd16", "real", detector=meancolor, progress=False)
    return st, st.save(tmp_path / "real.npz")


def _rewrite(path: Path, **changes) -> None:
    """Edit arrays of a stats file as a user with numpy would (np.load, change, np.savez), keeping the rest."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_stats_roundtrip_and_checksum(stats_file):
    st, path = stats_file
    back = VideoStats.load(path)
    assert np.array_equal(back.mu, st.mu) and np.array_equal(back.sigma, st.sigma) and back.n == st.n
    assert json.loads(path.with_name(path.name + ".json").read_text())["checksum"] == str(np.load(path)["checksum"])


def test_edited_mu_is_refused(stats_file):
    st, path = stats_file
    _rewrite(path, mu=st.mu + 0.01)
    with pytest.raises(ProtocolError, match=r"real\.npz: checksum mismatch"):
        VideoStats.load(path)


def test_stats_without_their_checksum_are_refused(stats_file):
    _, path = stats_file
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "checksum"}
    np.savez(path, **arrays)
    with pytest.raises(ProtocolError, match="checksum is missing"):
        VideoStats.load(path)


def _saved_with(tmp_path, st, **changes) -> Path:
    """Statistics saved by vgbench's own writer (valid checksum) with broken content."""
    bad = VideoStats(changes.get("mu", st.mu), changes.get("sigma", st.sigma), changes.get("n", st.n),
                     dict(st.manifest, **changes.get("manifest", {})), st.ids, st.offsets)
    return bad.save(tmp_path / "bad.npz")


def test_covariance_that_is_not_psd_is_refused(tmp_path, stats_file):
    st, _ = stats_file
    sigma = st.sigma.copy()
    sigma[0, 0] = -50.0  # gave FVD -39403 with exit 0 before
    with pytest.raises(ProtocolError, match=r"bad\.npz: sigma is not positive semi-definite"):
        VideoStats.load(_saved_with(tmp_path, st, sigma=sigma))
    asym = st.sigma.copy()
    asym[0, 1] += 1.0
    with pytest.raises(ProtocolError, match="not symmetric"):
        VideoStats.load(_saved_with(tmp_path, st, sigma=asym))


def test_empty_or_miscounted_statistics_are_refused(tmp_path, stats_file):
    st, _ = stats_file
    with pytest.raises(ProtocolError, match=r"bad\.npz: n = 0"):
        VideoStats.load(_saved_with(tmp_path, st, n=0, manifest={"counts": {**st.manifest["counts"], "used": 0}}))
    with pytest.raises(ProtocolError, match=r"n = 19 samples, but the manifest counts 20"):
        VideoStats.load(_saved_with(tmp_path, st, n=19))


def test_nan_statistics_error_names_the_file(tmp_path, stats_file):
    st, _ = stats_file
    mu = st.mu.copy()
    mu[3] = np.nan
    with pytest.raises(ProtocolError, match=r"bad\.npz: NaN or inf"):
        VideoStats.load(_saved_with(tmp_path, st, mu=mu))


def test_legacy_stats_without_checksum_load_with_a_warning(tmp_path, stats_file):
    st, _ = stats_file
    path = tmp_path / "old.npz"
    manifest = dict(st.manifest, schema="vgbench.stats/1")
    np.savez(path, mu=st.mu, sigma=st.sigma, n=np.int64(st.n), ids=np.asarray(st.ids), offsets=np.asarray(st.offsets),
             manifest=json.dumps(manifest))
    with pytest.warns(UserWarning, match="carry no checksum"):
        back = VideoStats.load(path)
    assert np.array_equal(back.mu, st.mu)


def test_negative_frechet_distance_is_an_error():
    mu = np.zeros(3)
    good = np.eye(3)
    bad = np.diag([1.0, 1.0, -100.0])
    with pytest.raises(FrechetError, match="negative"):
        frechet_distance(mu, good, mu, bad)
    value, _ = frechet_distance(mu, good, mu, good)
    assert abs(value) < 1e-12


def test_fvd_refuses_a_broken_statistics_file_by_name(tmp_path, stats_file):
    st, path = stats_file
    _rewrite(path, mu=st.mu * 2)
    with pytest.raises(ProtocolError, match="real.npz: checksum mismatch"):
        fvd(path, path, "fvd16", detector=MeanColorDetector(), progress=False)


def test_damaged_cache_entry_is_recomputed(tmp_path, monkeypatch):
    """A damaged entry in vgbench's statistics cache is recomputed (with a warning naming it), not a dead end."""
    from vgbench.data.cards import load_card
    from vgbench.metrics.base import real_stats
    from vgbench.protocols import load_protocol

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    write_frames_dataset(tmp_path / "data", {f"v{i}": ramp_video(16, 8, 8, base=9 * i) for i in range(6)})
    card, proto = load_card("tiny"), load_protocol("fvd16")
    det = MeanColorDetector()
    st, where = real_stats(card, str(tmp_path / "data"), proto, det, "cpu", progress=False)
    cached = Path(where)
    assert cached.is_file() and sum(det.calls) == 6
    st2, _ = real_stats(card, str(tmp_path / "data"), proto, det, "cpu", progress=False)
    assert sum(det.calls) == 6  # served from the cache
    cached.write_bytes(cached.read_bytes()[:300])
    with pytest.warns(UserWarning, match=f"{cached.name}.*recomputed"):
        st3, where3 = real_stats(card, str(tmp_path / "data"), proto, det, "cpu", progress=False)
    assert sum(det.calls) == 12 and where3 == where and np.array_equal(st3.mu, st.mu)
    VideoStats.load(cached)  # the entry is whole again


# ------------------------------------------------------------------------------------------------ weights cache


def test_weights_list_reports_a_corrupt_cached_file(tmp_path, monkeypatch):
    from vgbench import weights
    from vgbench.utils import sha256_file

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    spec = weights.resolve("i3d")
    pt, meta = weights.cached_paths(spec.name)
    pt.parent.mkdir(parents=True)
    pt.write_bytes(b"weights" * 100)
    meta.write_text(json.dumps({"name": spec.name, "converted_sha256": sha256_file(pt)}))
    assert weights.status("i3d") == "present"
    pt.write_bytes(b"weightz" * 100)
    assert weights.status("i3d") == "corrupt" and weights.info("i3d")["present"] is False
    r = CliRunner().invoke(main, ["weights", "list"])
    line = next(x for x in r.output.splitlines() if x.startswith("i3d_kinetics400"))
    assert "corrupt" in line and "present" not in line
    assert "vgbench weights fetch i3d_kinetics400 --force" in r.output
    meta.write_text("{not json")
    assert weights.status("i3d") == "corrupt"


def test_reads_above_the_decoded_size_limit_are_refused(tmp_path, monkeypatch, meancolor):
    """Every frame of a long video at once (FID's real side) is bounded too: refused above
    $VGBENCH_MAX_DECODE_BYTES before decoding, counted with --skip-bad."""
    from vgbench.metrics.fid import compute_frame_stats

    write_frames_dataset(tmp_path / "d", {"long": ramp_video(40, 10, 10), "short": ramp_video(20, 10, 10)})
    monkeypatch.setenv("VGBENCH_MAX_DECODE_BYTES", str(30 * 10 * 10 * 3))
    with pytest.raises(VideoReadError, match=r"long.*reading 40 frames of 10x10 at once .* over the limit"):
        compute_frame_stats(tmp_path / "d", "fid_video", "real", detector=meancolor, progress=False)
    assert next(iter(open_source(tmp_path / "d"))).read(range(30)).shape == (30, 10, 10, 3)


def test_reading_no_frames_is_a_clear_error(tmp_path):
    write_frames_dataset(tmp_path / "d", {"v": ramp_video(3)})
    with pytest.raises(ValueError, match=r"d/v: read\(\) needs at least one frame index"):
        next(iter(open_source(tmp_path / "d"))).read([])


def test_i3d_preprocessing_in_chunks_changes_nothing(monkeypatch, i3d_detector):
    """Large frames are converted and resized a few at a time (bounded memory); the result is bit-identical."""
    import torch

    from vgbench.detectors import i3d as I

    clips = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 10, 40, 56, 3), dtype=np.uint8))
    for det in (i3d_detector, i3d_detector.with_resize("tf1_resize_bilinear")):
        whole = det.preprocess(clips)
        monkeypatch.setattr(I, "PREPROCESS_CHUNK_BYTES", 3 * 40 * 56 * 3 * 4)  # 3 frames per chunk
        chunked = det.preprocess(clips)
        monkeypatch.undo()
        assert torch.equal(whole, chunked) and whole.shape == (2, 3, 10, 224, 224)
