"""FVD over clip length (vgbench.temporal.fvd_lengths, length_svg) and the motion-collapse diagnostic, on synthetic
videos whose answers are known: static videos have zero temporal variance, a ramp has (T^2 - 1) / 12 in closed
form, identical sets give FVD 0 at every length."""
import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import MeanColorDetector
from vgbench.features import NotEnoughVideos
from vgbench.metrics.base import IncompleteProtocolWarning
from vgbench.metrics.fvd import fvd
from vgbench.temporal import fvd_lengths, length_svg, motion_collapse, temporal_variance

SVG = "{http://www.w3.org/2000/svg}"


def _static(n, t, seed=0):
    """n videos of t identical 8x8 frames, one colour per video."""
    rng = np.random.default_rng(seed)
    return np.broadcast_to(rng.integers(0, 256, (n, 1, 8, 8, 3)), (n, t, 8, 8, 3)).astype(np.uint8).copy()


def _ramps(n, t, step=1):
    """Video j, frame k: every pixel (j + step * k) % 256."""
    v = (np.arange(n)[:, None] + step * np.arange(t)[None, :]) % 256
    return np.broadcast_to(v[:, :, None, None, None], (n, t, 8, 8, 3)).astype(np.uint8).copy()


def _noisy(n, t, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(40, 160, (n, 1, 1, 1, 3)) + rng.integers(0, 60, (n, t, 8, 8, 3))).astype(np.uint8)


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        return fn(*a, **k)


# ------------------------------------------------------------------------------------------------ FVD over length


def test_identical_static_sets_give_zero_at_every_length():
    videos = _static(6, 130)
    rec = _quiet(fvd_lengths, videos, videos, detector=MeanColorDetector(), bootstrap=0, progress=False,
                 resume_dir=None)
    curve = rec["length_curve"]
    assert [r["protocol"] for r in curve] == ["fvd16", "fvd32", "fvd64", "fvd128"]
    assert [r["frames"] for r in curve] == [16, 32, 64, 128]
    assert all(abs(r["value"]) < 1e-4 for r in curve)  # features ~100: 0 up to sqrtm rounding
    assert set(rec["metrics"]) == {r["protocol"] for r in curve}
    assert set(rec["timing"]["per_metric"]) == set(rec["metrics"])


def test_each_length_is_the_fvd_of_its_protocol_and_short_sets_are_unavailable():
    real, fake = _noisy(8, 70, 0), _noisy(8, 40, 1)
    det = MeanColorDetector()
    rec = _quiet(fvd_lengths, real, fake, detector=det, bootstrap=30, progress=False, resume_dir=None)
    by = {r["protocol"]: r for r in rec["length_curve"]}
    for name in ("fvd16", "fvd32"):
        direct = _quiet(fvd, real, fake, name, detector=det, bootstrap=30, progress=False, resume_dir=None)
        assert by[name]["value"] == direct.value and by[name]["low"] == direct["ci95"]["low"]
        assert by[name]["low"] < by[name]["value"] < by[name]["high"]
    assert "fvd64" not in rec["metrics"] and "fvd128" not in rec["metrics"]
    assert "unavailable" in by["fvd64"] and "value" not in by["fvd128"]
    with pytest.raises(NotEnoughVideos, match="no clip length could be measured"):
        _quiet(fvd_lengths, real, _noisy(4, 10, 2), detector=det, bootstrap=0, progress=False, resume_dir=None)


def test_svg_draws_points_error_bars_and_counts_the_missing():
    curve = [{"protocol": "fvd16", "frames": 16, "value": 100.0, "low": 90.0, "high": 112.0},
             {"protocol": "fvd32", "frames": 32, "value": 150.0, "low": None, "high": None},
             {"protocol": "fvd128", "frames": 128, "unavailable": "too short"}]
    svg = length_svg({"model <A>": curve, "B": curve[:1]})
    root = ET.fromstring(svg)  # well-formed XML, label escaped
    assert root.tag == SVG + "svg"
    assert len(root.findall(f".//{SVG}circle")) == 3 and len(root.findall(f".//{SVG}polyline")) == 2
    assert len([e for e in root.iter(SVG + "line") if e.get("class") == "errorbar"]) == 2
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "model <A>" in texts and "16" in texts and "32" in texts
    assert any(t and t.startswith("1 length(s) without a value") for t in texts)
    poly = root.find(f".//{SVG}polyline").get("points").split()
    (x16, y16), (x32, y32) = [tuple(map(float, p.split(","))) for p in poly]
    assert x32 > x16 and y32 < y16  # higher FVD is drawn higher up
    with pytest.raises(ValueError, match="nothing to plot"):
        length_svg({"a": curve[2:]})


# ------------------------------------------------------------------------------------------------ motion collapse


def test_temporal_variance_closed_forms():
    assert temporal_variance(np.ones((16, 5))) == (0.0, [])
    t = 16
    f = np.arange(t, dtype=np.float64)[:, None] * np.array([[1.0, 2.0]])  # Var_t = (T^2 - 1) / 12 * (1, 4)
    total, windows = temporal_variance(f, window=4)
    assert total == pytest.approx((t * t - 1) / 12 * 2.5, rel=1e-12)
    assert windows == pytest.approx([(16 - 1) / 12 * 2.5] * 4, rel=1e-12)
    with pytest.raises(ValueError, match="T >= 2"):
        temporal_variance(np.ones((1, 3)))


def test_motion_collapse_on_pixels():
    t = 32
    moving = _ramps(5, t, step=2)
    res = motion_collapse(moving, _static(5, t), features="pixels", num_frames=t, window=16)
    expected = (4 * (t * t - 1) / 12) / 255 ** 2  # frame k = (j + 2k) / 255 in every pixel
    assert res["real"]["mean"] == pytest.approx(expected, rel=1e-9) and res["fake"]["mean"] == 0.0
    assert res["ratio"] == 0.0 and res["window_ratios"] == [0.0, 0.0]
    assert res["real"]["window_means"] == pytest.approx([4 * (16 * 16 - 1) / 12 / 255 ** 2] * 2, rel=1e-9)
    same = motion_collapse(moving, moving.copy(), features="pixels", num_frames=t)
    assert same["ratio"] == 1.0 and same["window_ratios"] == []
    frozen = moving.copy()
    frozen[:, 16:] = frozen[:, 15:16]  # moves for 16 frames, then freezes
    late = motion_collapse(moving, frozen, features="pixels", num_frames=t, window=16)
    assert late["window_ratios"] == pytest.approx([1.0, 0.0]) and 0 < late["ratio"] < 1
    short = motion_collapse(list(moving) + list(_ramps(2, 20)), moving, features="pixels", num_frames=t)
    assert short["real"]["skipped_short"] == 2 and short["real"]["videos"] == 5
    assert [p["id"] for p in short["fake"]["per_video"]] == [p["id"] for p in same["fake"]["per_video"]]
    assert motion_collapse(_static(3, 8), moving, features="pixels", num_frames=8)["ratio"] is None
    with pytest.raises(NotEnoughVideos, match="no video has 64 frames"):
        motion_collapse(moving, moving, features="pixels", num_frames=64)
    with pytest.raises(ValueError, match="unknown frame features"):
        motion_collapse(moving, moving, features="nope")


def test_motion_with_a_frame_detector():
    """The inception path: any frame detector (here the exact mean colour per frame) as the feature function."""
    class FrameMean:
        name, provenance = "framemean", {"name": "framemean"}

        def __call__(self, frames):
            return np.asarray(frames, np.float64).mean(axis=(1, 2))

    res = motion_collapse(_ramps(3, 16), _ramps(3, 16, step=3), num_frames=16, detector=FrameMean())
    assert res["features"]["name"] == "framemean"
    assert res["ratio"] == pytest.approx(9.0, rel=1e-12)  # 3x the speed: 9x the variance


# ------------------------------------------------------------------------------------------------ CLI


def test_cli(tmp_path, monkeypatch):
    import vgbench.detectors as D
    from vgbench.cli import main

    monkeypatch.setattr(D, "get_detector", lambda name="i3d", device=None, auto_fetch=True: MeanColorDetector())
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    np.save(tmp_path / "real.npy", _noisy(6, 40, 0))
    np.save(tmp_path / "fake.npy", _noisy(6, 40, 1))
    svg = tmp_path / "curve.svg"
    args = ["fvd-lengths", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--svg", str(svg),
            "--no-progress", "--out", str(tmp_path / "r.jsonl")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "fvd16      16 frames:" in r.output and "fvd64      64 frames: unavailable" in r.output
    rec = json.loads((tmp_path / "r.jsonl").read_text())
    assert [x["frames"] for x in rec["length_curve"]] == [16, 32, 64, 128]
    assert len(ET.parse(svg).getroot().findall(f".//{SVG}circle")) == 2
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output

    np.save(tmp_path / "static.npy", _static(4, 16))
    np.save(tmp_path / "moving.npy", _ramps(4, 16))
    r = CliRunner().invoke(main, ["motion", str(tmp_path / "moving.npy"), str(tmp_path / "static.npy"),
                                  "--features", "pixels", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "fake: 0 (median 0; 4 videos, 0 too short)" in r.output and "fake / real: 0.0000" in r.output
    r = CliRunner().invoke(main, ["motion", str(tmp_path / "moving.npy"), str(tmp_path / "static.npy"),
                                  "--features", "pixels", "--json", "--window", "8"])
    assert json.loads(r.output)["window_ratios"] == [0.0, 0.0]
