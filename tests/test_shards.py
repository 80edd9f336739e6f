"""FVD statistics in shards (`vgbench stats --shard I/N`, `vgbench stats merge`): the merged file equals the one a
single process writes, bit for bit, for any number of shards; parts that do not belong together are refused."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import MeanColorDetector, ramp_video, write_frames_dataset
from test_fvd_protocol import small_protocol
from vgbench import api
from vgbench.cli import main
from vgbench.metrics.fvd import compute_stats
from vgbench.metrics.shards import ShardError, merge_stats, parse_shard
from vgbench.metrics.stats import load_stats


@pytest.fixture
def data(tmp_path):
    """11 videos in natural order v0..v10; v2 and v7 are too short for 16-frame clips; random-offset real clips."""
    rng = np.random.default_rng(0)
    videos = {}
    for i in range(11):
        t = 10 if i in (2, 7) else int(rng.integers(16, 40))
        v = ramp_video(t, base=17 * i)
        videos[f"v{i}"] = np.clip(v.astype(int) + rng.integers(0, 40, v.shape), 0, 255).astype(np.uint8)
    return write_frames_dataset(tmp_path / "real", videos)


def _proto(tmp_path, max_videos: int):
    """fvd16 with ``max_videos``, in a folder of its own (the file is always named small.toml)."""
    folder = tmp_path / f"proto{max_videos}"
    folder.mkdir(exist_ok=True)
    return small_protocol(folder, {("real", "max_videos"): max_videos})


def _stats(root, proto, **kw):
    return compute_stats(root, proto, "real", detector=MeanColorDetector(), progress=False, **kw)


def _same(a, b):
    assert np.array_equal(a.mu, b.mu) and np.array_equal(a.sigma, b.sigma) and a.n == b.n
    assert a.ids == b.ids and a.offsets == b.offsets and np.array_equal(a.features, b.features)
    assert a.manifest["counts"] == b.manifest["counts"]
    assert a.manifest["bad_videos"] == b.manifest["bad_videos"]
    assert a.manifest["protocol_complete"] == b.manifest["protocol_complete"]


@pytest.mark.parametrize("max_videos", [6, 100])
def test_merged_shards_equal_one_process_for_any_shard_count(tmp_path, data, max_videos):
    """With the cap (6 of the 9 usable videos: v0..v7 walked, v8..v10 never reached) and without it."""
    proto = _proto(tmp_path, max_videos)
    one = _stats(data, proto)
    assert one.ids == (["v0", "v1", "v3", "v4", "v5", "v6"] if max_videos == 6 else
                       ["v0", "v1", "v3", "v4", "v5", "v6", "v8", "v9", "v10"])
    for count in (1, 2, 3, one.n):
        parts = [_stats(data, proto, shard=(i, count)) for i in range(count)]
        assert sum(p.n for p in parts) == one.n and all(p.n >= 1 for p in parts)
        _same(merge_stats(parts[::-1]), one)  # any order
    # through files and the CLI
    paths = [tmp_path / f"part{i}.npz" for i in range(2)]
    for i, path in enumerate(paths):
        api.stats(data, str(proto), "real", out=path, shard=f"{i}/2", detector=MeanColorDetector(), progress=False)
    r = CliRunner().invoke(main, ["stats", "merge", str(paths[1]), str(paths[0]), "-o", str(tmp_path / "all.npz")])
    assert r.exit_code == 0, r.output
    merged = load_stats(tmp_path / "all.npz")
    _same(merged, one)
    assert merged.manifest["merged"]["shards"] == 2 and "shard" not in merged.manifest
    assert json.loads((tmp_path / "all.npz.json").read_text())["merged"]["shards"] == 2


def test_merge_refuses_parts_that_do_not_belong_together(tmp_path, data):
    proto = _proto(tmp_path, 6)
    parts = [_stats(data, proto, shard=(i, 3)) for i in range(3)]
    with pytest.raises(ShardError, match="shard\\(s\\) 1/3 missing: 2 of 3 parts given"):
        merge_stats([parts[0], parts[2]])
    with pytest.raises(ShardError, match="b and a are both shard 0"):
        merge_stats([parts[0], parts[0], parts[1]], ["a", "b", "c"])
    other = _stats(data, _proto(tmp_path, 5), shard=(1, 3))
    with pytest.raises(ShardError, match="differ in 'protocol'"):
        merge_stats([parts[0], other, parts[2]])
    two = _stats(data, proto, shard=(1, 2))
    with pytest.raises(ShardError, match="differ in shard count"):
        merge_stats([parts[0], two, parts[2]])
    whole = _stats(data, proto)
    with pytest.raises(ShardError, match="not a shard"):
        merge_stats([whole])
    # the source changed between shards: another listing
    write_frames_dataset(data, {"v11": ramp_video(30)})
    later = _stats(data, proto, shard=(1, 3))
    with pytest.raises(ShardError, match="source_content_hash"):
        merge_stats([parts[0], later, parts[2]])
    with pytest.raises(ShardError, match="3 shards for 2 usable videos"):
        _stats(data, _proto(tmp_path, 2), shard=(0, 3))
    for text in ("2/2", "x", "1/0", "-1/3"):
        with pytest.raises(ShardError, match="expected I/N|need N >= 1"):
            parse_shard(text)


def test_unreadable_videos_are_counted_as_one_process_counts_them_or_refused(tmp_path, data):
    for frame in (data / "v4").iterdir():                            # found only when decoding
        frame.write_bytes(b"broken")
    uncapped = _proto(tmp_path, 100)
    one = _stats(data, uncapped, skip_bad=True)
    assert one.manifest["counts"]["skipped_bad"] == 1
    _same(merge_stats([_stats(data, uncapped, shard=(i, 2), skip_bad=True) for i in range(2)]), one)
    capped = _proto(tmp_path, 6)
    parts = [_stats(data, capped, shard=(i, 2), skip_bad=True) for i in range(2)]
    with pytest.raises(ShardError, match=r"1 planned video\(s\) could not be decoded .*v4.*one process would have "
                                         r"used the next usable videos"):
        merge_stats(parts)


def test_cli_shard_option_errors_before_any_work(tmp_path, data):
    r = CliRunner().invoke(main, ["stats", str(data), "-o", str(tmp_path / "p.npz"), "--shard", "4/4"])
    assert r.exit_code != 0 and "0 <= I < N" in r.output
    assert not (tmp_path / "p.npz").exists()
    r = CliRunner().invoke(main, ["stats", "--help"])
    assert r.exit_code == 0 and "merge" in r.output


# ------------------------------------------------------------------------------------------ FID's frame statistics


def _fid_proto(tmp_path, real_lines: str):
    """fid_video with extra [real] settings (a frame budget, a video cap), as a protocol file of its own."""
    from pathlib import Path

    from vgbench.protocols import load_protocol

    text = Path(load_protocol("fid_video").path).read_text().replace('name = "fid_video"', 'name = "fidsmall"')
    text = text.replace("[real]\n", f"[real]\n{real_lines}\n").replace("max_videos = 0 ", "# max_videos = 0 ")
    folder = tmp_path / f"fid{abs(hash(real_lines))}"
    folder.mkdir(exist_ok=True)
    (folder / "fidsmall.toml").write_text(text)
    return folder / "fidsmall.toml"


def _close(a, b):
    """Frame statistics merged by moment sums equal one process to float64 rounding."""
    assert a.n == b.n and a.ids == b.ids
    np.testing.assert_allclose(a.mu, b.mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=1e-10, atol=1e-9)
    assert a.manifest["counts"] == b.manifest["counts"]
    assert a.manifest["bad_videos"] == b.manifest["bad_videos"]
    assert a.manifest["protocol_complete"] == b.manifest["protocol_complete"]


@pytest.mark.parametrize("real_lines", ["max_videos = 0", "max_videos = 9\nmax_frames = 150"])
def test_fid_frame_statistics_in_shards_equal_one_process(tmp_path, data, real_lines):
    from test_fid import FrameStats

    from vgbench.metrics.fid import compute_frame_stats
    from vgbench.metrics.frechet import frechet_distance

    proto = _fid_proto(tmp_path, real_lines)

    def run(**kw):
        return compute_frame_stats(data, proto, "real", detector=FrameStats(), progress=False, frame_batch=7, **kw)

    one = run()
    if "max_frames" in real_lines:  # the budget ends inside a video: the plan gives that video only part of it
        assert one.n == 150 and one.manifest["counts"]["used"] < 9
    fake = run(max_frames=60)
    for count in (1, 2, 3, 5):
        parts = [run(shard=(i, count)) for i in range(count)]
        assert all(p.manifest["shard"]["unit"] == "frame" for p in parts)
        assert sum(p.n for p in parts) == one.n
        merged = merge_stats(parts[::-1])
        _close(merged, one)
        d1 = frechet_distance(one.mu, one.sigma, fake.mu, fake.sigma)[0]
        d2 = frechet_distance(merged.mu, merged.sigma, fake.mu, fake.sigma)[0]
        assert d2 == pytest.approx(d1, rel=1e-9)
    # the merged file loads and passes the statistics checks; parts of the FVD protocol are refused beside it
    merged.save(tmp_path / "m.npz")
    assert load_stats(tmp_path / "m.npz").n == one.n
    with pytest.raises(ShardError, match="differ in 'protocol'"):
        merge_stats([run(shard=(0, 2)), _stats(data, _proto(tmp_path, 100), shard=(1, 2))])


def test_fid_shards_refuse_what_one_process_would_not_do(tmp_path, data):
    from test_fid import FrameStats

    from vgbench.metrics.fid import compute_frame_stats

    proto = _fid_proto(tmp_path, "max_videos = 0")
    parts = [compute_frame_stats(data, proto, "real", detector=FrameStats(), progress=False, shard=(i, 3))
             for i in range(3)]
    with pytest.raises(ShardError, match="shard\\(s\\) 2/3 missing"):
        merge_stats(parts[:2])
    with pytest.raises(ShardError, match="12 shards for 11 usable videos"):
        compute_frame_stats(data, proto, "real", detector=FrameStats(), progress=False, shard=(0, 12))
