"""The FVD protocol: clip selection, counts, completeness, provenance, stats files, batch invariance, resume."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from vgbench.features import ClipSpec, NotEnoughVideos, clip_offset, extract_features
from vgbench.io.sources import VideoReadError
from vgbench.metrics.fvd import IncompleteProtocolWarning, VideoStats, compute_stats, fvd
from vgbench.protocols import ProtocolError, list_protocols, load_protocol

FIELD_FIRST = 6  # MeanColorDetector: features[6:9] = mean colour of the clip's first frame


def small_protocol(tmp_path, changes: dict) -> Path:
    """fvd16 with smaller counts, written as a new protocol file."""
    text = Path(load_protocol("fvd16").path).read_text()
    for (section, key), value in changes.items():
        lines = text.splitlines()
        sec = lines.index(f"[{section}]")
        for i in range(sec + 1, len(lines)):
            if lines[i].split("=")[0].strip() == key:
                lines[i] = f"{key} = {value}"
                break
        text = "\n".join(lines) + "\n"
    p = tmp_path / "small.toml"
    p.write_text(text.replace('name = "fvd16"', 'name = "small"'))
    return p


def test_bundled_protocols():
    assert {"fvd16", "fvd128", "fvd128_subsample8"} <= set(list_protocols())
    p16, p128, ps8 = (load_protocol(n) for n in ("fvd16", "fvd128", "fvd128_subsample8"))
    assert len({p16.params_sha256, p128.params_sha256, ps8.params_sha256}) == 3
    assert p16["fake"]["num_videos"] == 2048 and p16["real"]["max_videos"] == 2048
    assert p16["detector"]["weights_sha256"].startswith("af5c50f0")
    assert p16["detector"]["resize_mode"] == "bilinear" and p16["detector"]["align_corners"] is False
    assert p128["real"]["num_frames"] == 128 and p128["real"]["min_frames"] == 128
    spec = ClipSpec.from_protocol(ps8, "fake")
    assert spec.indices("x", 128)[0] == list(range(0, 121, 8))
    real = ClipSpec.from_protocol(ps8, "real")
    assert real.indices("x", 127) is None and real.indices("x", 128) is not None  # needs n*s as StyleGAN-V


def test_protocol_errors(tmp_path):
    with pytest.raises(ProtocolError, match="unknown protocol"):
        load_protocol("fvd17")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nversion = "1"\nmetric = "fvd"\n[real]\nnum_frames = 16\n')
    with pytest.raises(ProtocolError, match="missing"):
        load_protocol(bad)


def test_offsets_seeded_reproducible_and_in_range():
    offs = [clip_offset(f"video{i}", 40, 16, seed=0) for i in range(200)]
    assert offs == [clip_offset(f"video{i}", 40, 16, seed=0) for i in range(200)]
    assert min(offs) == 0 and max(offs) == 24 and len(set(offs)) == 25  # uniform over [0, L - span]
    assert offs != [clip_offset(f"video{i}", 40, 16, seed=1) for i in range(200)]
    assert clip_offset("a", 16, 16, 0) == 0


def test_real_clips_skip_short_natural_order_max_videos(tmp_path, meancolor):
    videos = {"v1": ramp_video(20), "v2": ramp_video(10), "v10": ramp_video(30), "v3": ramp_video(16),
              "v4": ramp_video(40)}
    write_frames_dataset(tmp_path / "real", videos, names=lambda t: f"f{t}")
    proto = small_protocol(tmp_path, {("real", "max_videos"): 3})
    st = compute_stats(tmp_path / "real", proto, "real", detector=meancolor, progress=False)
    c = st.manifest["counts"]
    # natural order v1, v2 (short: skipped), v3, v4 -> the first 3 qualifying; v10 is never reached
    assert st.ids == ["v1", "v3", "v4"]
    assert (c["seen"], c["used"], c["skipped_short"], c["skipped_bad"]) == (4, 3, 1, 0)
    for vid, off in zip(st.ids, st.offsets):
        assert off == clip_offset(vid, len(videos[vid]), 16, 0)
    again = compute_stats(tmp_path / "real", proto, "real", detector=MeanColorDetector(), progress=False)
    assert again.offsets == st.offsets and np.array_equal(again.mu, st.mu)


def test_clip_frames_are_the_offset_frames(tmp_path, meancolor):
    videos = {f"v{i}": ramp_video(40, base=0) for i in range(6)}
    write_frames_dataset(tmp_path / "real", videos)
    spec = ClipSpec.from_protocol(load_protocol("fvd16"), "real")
    res = extract_features(tmp_path / "real", meancolor, spec, progress=False)
    assert np.allclose(res.features[:, FIELD_FIRST], res.offsets)  # first frame value == its index
    assert np.allclose(res.features[:, 9], np.array(res.offsets) + 15)  # last frame of a 16-frame clip
    fake = extract_features(tmp_path / "real", meancolor, ClipSpec.from_protocol(load_protocol("fvd16"), "fake"),
                            progress=False)
    assert np.all(fake.features[:, FIELD_FIRST] == 0) and fake.offsets == [0] * 6


def test_short_fake_is_an_error_or_counted(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "fake", {"a": ramp_video(16), "b": ramp_video(12), "c": ramp_video(16)})
    with pytest.raises(NotEnoughVideos, match=r"b: has 12 frames, the protocol needs 16"):
        compute_stats(tmp_path / "fake", "fvd16", "fake", detector=meancolor, progress=False)
    st = compute_stats(tmp_path / "fake", "fvd16", "fake", detector=meancolor, progress=False, skip_bad=True)
    assert st.ids == ["a", "c"] and st.manifest["counts"]["skipped_short"] == 1
    assert st.manifest["protocol_complete"] is False


def test_incomplete_fake_set_is_marked_and_strict_fails(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=i) for i in range(5)})
    write_frames_dataset(tmp_path / "fake", {f"f{i}": ramp_video(16, base=2 * i) for i in range(4)})
    with pytest.warns(IncompleteProtocolWarning, match="4 videos used of 2048 required"):
        r = fvd(tmp_path / "real", tmp_path / "fake", "fvd16", detector=meancolor, progress=False)
    m = r.record["metrics"]["fvd16"]
    assert m["protocol_complete"] is False and m["counts"]["fake_used"] == 4 and m["counts"]["real_used"] == 5
    assert r.value > 0 and np.isfinite(r.value)
    with pytest.raises(NotEnoughVideos, match="strict"):
        fvd(tmp_path / "real", tmp_path / "fake", "fvd16", detector=meancolor, progress=False, strict=True)
    proto = small_protocol(tmp_path, {("fake", "num_videos"): 4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r2 = fvd(tmp_path / "real", tmp_path / "fake", proto, detector=meancolor, progress=False, strict=True)
    assert r2.record["metrics"]["small"]["protocol_complete"] is True


def test_record_provenance(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=i) for i in range(4)})
    proto = small_protocol(tmp_path, {("fake", "num_videos"): 4})
    r = fvd(tmp_path / "real", "builtin:tiny", proto, detector=meancolor, progress=False)
    rec = json.loads(json.dumps(r.record))  # JSON-serialisable
    m = rec["metrics"]["small"]
    assert rec["schema"] == "vgbench.result/1" and rec["fvd"] == r.value
    assert m["protocol"]["version"] == "1.0.0" and len(m["protocol"]["params_sha256"]) == 64
    assert m["protocol"]["params"]["real"]["offset_seed"] == 0
    assert m["counts"]["real"]["seen"] == 4 and m["counts"]["fake_used"] == 4
    assert m["real"]["source"]["kind"] == "frames_folder" and m["fake"]["source"]["name"] == "tiny"
    assert rec["env"]["packages"]["torch"] and "git_commit" in rec["env"]
    assert rec["seeds"]["offset_seed"] == 0


def test_too_few_videos(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {"a": ramp_video(20), "b": ramp_video(5), "c": ramp_video(3)})
    with pytest.raises(NotEnoughVideos, match=r"1 used, need at least 2 \(3 seen, 2 shorter than 16 frames"):
        compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False)


def test_stats_file_roundtrip_and_refusals(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=3 * i) for i in range(5)})
    st = compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False)
    path = st.save(tmp_path / "s.npz")
    assert json.loads((tmp_path / "s.npz.json").read_text())["protocol"]["name"] == "fvd16"
    back = VideoStats.load(path)
    assert np.array_equal(back.mu, st.mu) and back.ids == st.ids and back.offsets == st.offsets
    with pytest.raises(ProtocolError, match=r"computed under protocol fvd16@1.0.0 .* not fvd128@1.0.0"):
        fvd(path, "builtin:tiny", "fvd128", detector=meancolor, progress=False)
    with pytest.raises(ProtocolError, match="real statistics"):
        fvd("builtin:tiny", path, "fvd16", detector=meancolor, progress=False)
    other = VideoStats(st.mu, st.sigma, st.n, {**st.manifest, "detector": {"sha256": "0" * 64}})
    other.save(tmp_path / "o.npz")
    pinned = MeanColorDetector()
    pinned.provenance = {"name": "meancolor", "sha256": "1" * 64}
    with pytest.raises(ProtocolError, match="detector weights 0000.*, not 1111"):
        fvd(tmp_path / "o.npz", "builtin:tiny", "fvd16", detector=pinned, progress=False)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(Exception, match="junk.npz"):
        fvd(tmp_path / "junk.npz", "builtin:tiny", "fvd16", detector=meancolor, progress=False)


def test_batch_size_and_workers_do_not_change_statistics(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(24 + i, base=7 * i) for i in range(9)})
    ref = compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False, batch_size=1,
                        num_workers=0)
    for bs, nw, proc in ((4, 2, False), (9, 1, False), (3, 2, True)):
        st = compute_stats(tmp_path / "real", "fvd16", "real", detector=MeanColorDetector(), progress=False,
                           batch_size=bs, num_workers=nw, worker_processes=proc)
        assert st.ids == ref.ids and st.offsets == ref.offsets
        assert np.allclose(st.mu, ref.mu, rtol=0, atol=1e-9) and np.allclose(st.sigma, ref.sigma, atol=1e-9)


def test_fvd_with_i3d_is_batch_size_invariant(i3d_detector):
    rng = np.random.default_rng(3)
    real = rng.integers(0, 256, (4, 16, 32, 32, 3), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-40, 40, real.shape), 0, 255).astype(np.uint8)
    vals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        for bs in (1, 4):
            vals.append(fvd(real, fake, "fvd16", detector=i3d_detector, batch_size=bs, progress=False).value)
    assert vals[0] > 0 and abs(vals[0] - vals[1]) <= 1e-5 * vals[0]


def test_bad_videos_error_or_skip(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=i) for i in range(4)})
    (tmp_path / "real" / "r2" / "000003.png").write_bytes(b"broken")
    with pytest.raises(VideoReadError, match=r"r2/000003\.png"):
        compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False)
    st = compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False, skip_bad=True)
    assert st.ids == ["r0", "r1", "r3"] and st.manifest["counts"]["skipped_bad"] == 1
    assert st.manifest["bad_videos"][0]["id"] == "r2" and st.manifest["protocol_complete"] is False


def test_nan_features_are_an_error(tmp_path):
    class NaNDetector(MeanColorDetector):
        def __call__(self, videos):
            out = super().__call__(videos)
            out[0, 0] = np.nan
            return out

    with pytest.raises(ValueError, match="NaN or inf features"):
        compute_stats("builtin:tiny", "fvd16", "real", detector=NaNDetector(), progress=False)


def test_mixed_resolutions_are_resized_per_clip_and_counted(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {"a": ramp_video(16, 8, 8), "b": ramp_video(16, 12, 10),
                                             "c": ramp_video(16, 8, 8)})
    st = compute_stats(tmp_path / "real", "fvd16", "real", detector=meancolor, progress=False, batch_size=3)
    assert st.manifest["counts"]["resolutions"] == {"8x8": 2, "12x10": 1}


def test_interrupted_extraction_resumes_from_shards(tmp_path):
    write_frames_dataset(tmp_path / "real", {f"r{i:02d}": ramp_video(20, base=i) for i in range(11)})
    spec = ClipSpec.from_protocol(load_protocol("fvd16"), "real")
    full = extract_features(tmp_path / "real", MeanColorDetector(), spec, batch_size=2, progress=False)

    class Crash(MeanColorDetector):
        def __call__(self, videos):
            if len(self.calls) == 4:
                raise KeyboardInterrupt
            return super().__call__(videos)

    shard_dir = tmp_path / "shards"
    with pytest.raises(KeyboardInterrupt):
        extract_features(tmp_path / "real", Crash(), spec, batch_size=2, progress=False, shard_dir=shard_dir,
                         shard_size=3, shard_key={"k": 1})
    # 8 videos done: shards are cut after a whole batch once 3 videos wait (4 + 4), all kept on Ctrl-C
    assert len(list(shard_dir.glob("shard_*.npz"))) == 2
    det = MeanColorDetector()
    resumed = extract_features(tmp_path / "real", det, spec, batch_size=2, progress=False, shard_dir=shard_dir,
                               shard_size=3, shard_key={"k": 1})
    assert sum(det.calls) == 3  # only the 3 videos after the shards were computed
    assert resumed.ids == full.ids and resumed.offsets == full.offsets
    assert np.array_equal(resumed.features, full.features) and resumed.counts == full.counts
    with pytest.raises(ValueError, match="different computation"):
        extract_features(tmp_path / "real", det, spec, shard_dir=shard_dir, shard_key={"k": 2}, progress=False)
