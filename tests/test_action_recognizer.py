"""The PoseC3D action recogniser (vgbench/action/recognizer.py), its metrics (vgbench/metrics/action.py), label
files (vgbench/action/labels.py) and the `vgbench action train/eval` commands, on synthetic skeleton motions."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vgbench.action import recognizer as rec
from vgbench.action.keypoints import KeypointSet
from vgbench.action.labels import LabelError, labels_for
from vgbench.cli import main
from vgbench.errors import VgbenchError
from vgbench.metrics.action import action_record, confusion_matrix, topk_accuracy
from vgbench.models.checkpoint import CheckpointError

# A standing COCO-17 skeleton in a 240x320 frame (x, y), facing the camera.
BASE = np.array([[160, 40], [166, 34], [154, 34], [172, 38], [148, 38], [180, 70], [140, 70], [188, 100],
                 [132, 100], [192, 130], [128, 130], [174, 140], [146, 140], [176, 185], [144, 185], [176, 230],
                 [144, 230]], np.float64)
MOTIONS = ("wave", "squat", "jumping_jack", "lean")


def motion(kind: int, frames: int, rng) -> np.ndarray:
    """One noisy synthetic sequence ``[frames, 17, 3]`` of motion ``kind``."""
    t = np.arange(frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    s = np.sin(2 * np.pi * t / rng.uniform(14, 22) + phase)  # [T, 1]
    kp = np.repeat(BASE[None], frames, axis=0)
    if kind == 0:  # left arm raised high, forearm waving side to side over the head
        kp[:, 7] = BASE[5] + [10, -50]
        kp[:, 9] = kp[:, 7] + np.concatenate([60 * s, np.full_like(s, -40)], axis=1)
    elif kind == 1:  # deep squat: everything above the knees goes down, knees out
        depth = 90 * (0.5 + 0.5 * s)
        kp[:, :13, 1] += depth
        kp[:, [13, 14], 0] += np.concatenate([depth * 0.5, -depth * 0.5], axis=1)
    elif kind == 2:  # jumping jack: both arms up over the head and legs apart together
        a = 0.5 + 0.5 * s
        for wrist, elbow, sign in ((9, 7, 1), (10, 8, -1)):
            kp[:, elbow] = BASE[elbow] + np.concatenate([sign * 20 * a, -70 * a], axis=1)
            kp[:, wrist] = BASE[wrist] + np.concatenate([sign * 10 * a, -150 * a], axis=1)
        kp[:, [13, 14], 0] += np.concatenate([30 * a, -30 * a], axis=1)
        kp[:, [15, 16], 0] += np.concatenate([60 * a, -60 * a], axis=1)
    else:  # lean: the upper body sways far from side to side over still legs
        kp[:, :11, 0] += 80 * s
        kp[:, :5, 0] += 30 * s
    kp = kp * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30, size=2)  # size and position
    kp += rng.normal(0, 1.5, size=kp.shape)  # detector jitter
    score = rng.uniform(0.6, 1.0, size=(frames, 17, 1))
    return np.concatenate([kp, score], axis=-1).astype(np.float32)


def synthetic_set(per_class: int, seed: int, prefix: str, frames=(30, 60)) -> tuple[KeypointSet, np.ndarray]:
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for c in range(len(MOTIONS)):
        for _ in range(per_class):
            videos.append(motion(c, int(rng.integers(*frames)), rng))
            labels.append(c)
    t = max(len(v) for v in videos)
    kp = np.zeros((len(videos), t, 17, 3), np.float32)
    person = np.zeros((len(videos), t), bool)
    for i, v in enumerate(videos):
        kp[i, :len(v)], person[i, :len(v)] = v, True
    ids = [f"{prefix}{i:03d}_{MOTIONS[c]}" for i, c in enumerate(labels)]
    return (KeypointSet(kp, [len(v) for v in videos], person, [[240, 320]] * len(videos), ids, {"backend": "synthetic"}),
            np.array(labels))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module


@pytest.fixture(scope="module")
def trained():
    train_set, train_labels = synthetic_set(10, seed=0, prefix="train")
    return rec.train(train_set, train_labels, num_classes=4, preset="tiny"), train_set, train_labels


def test_learns_distinct_motions_and_generalises(trained):
    clf, _, _ = trained
    test_set, test_labels = synthetic_set(6, seed=1, prefix="test")
    probs, refused = clf.predict(test_set)
    assert not refused.any() and np.allclose(probs.sum(axis=1), 1)
    top1 = topk_accuracy(probs, test_labels, 1)
    assert top1 >= 0.9, (top1, confusion_matrix(probs.argmax(1), test_labels, 4))


def test_training_is_deterministic_for_a_seed(trained):
    clf, train_set, train_labels = trained
    cfg = rec.PRESETS["tiny"]["train"]
    short = rec.TrainConfig(**{**cfg.__dict__, "epochs": 1, "repeat": 1})
    a = rec.train(train_set, train_labels, 4, "tiny", short)
    b = rec.train(train_set, train_labels, 4, "tiny", short)
    c = rec.train(train_set, train_labels, 4, "tiny", rec.TrainConfig(**{**short.__dict__, "seed": 1}))
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_save_load_round_trip_and_tamper_check(trained, tmp_path):
    clf, train_set, _ = trained
    out = clf.save(tmp_path / "clf")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "tiny" and cfg["seed"] == 0 and cfg["num_classes"] == 4
    assert cfg["train"]["weight_decay"] == 3e-4 and cfg["train"]["momentum"] == 0.9
    assert cfg["training_set"]["videos"] == 40 and cfg["training_set"]["class_counts"] == [10] * 4
    assert isinstance(torch.load(out / "weights.pt", weights_only=True), dict)
    back = rec.load(out)
    p1, _ = clf.predict(train_set)
    p2, _ = back.predict(train_set)
    np.testing.assert_array_equal(p1, p2)
    w = (out / "weights.pt").read_bytes()
    (out / "weights.pt").write_bytes(w[:-1] + bytes([w[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="sha256"):
        rec.load(out)
    with pytest.raises(CheckpointError, match="needs config.json"):
        rec.load(tmp_path)


def test_one_frame_videos_are_refused_and_no_person_counted(trained):
    clf, _, _ = trained
    s, labels = synthetic_set(1, seed=2, prefix="odd")
    kp, lengths, person = s.keypoints.copy(), s.lengths.copy(), s.person.copy()
    lengths[0] = 1  # a one-frame video
    kp[0, 1:], person[0, 1:] = 0, False
    kp[1], person[1] = 0, False  # a video without any detected person
    person[2, :5], kp[2, :5] = False, 0  # five frames without a person
    odd = KeypointSet(kp, lengths, person, s.img_shape, s.ids)
    probs, refused = clf.predict(odd)
    assert refused.tolist() == [True, False, False, False] and (probs[0] == 0).all()
    counts = rec.person_counts(odd)
    assert counts["videos_without_person"] == 1 and counts["videos_without_person_ids"] == [odd.ids[1]]
    assert counts["frames_without_person"] == int(odd.lengths[1]) + 5
    record = action_record(odd.ids, labels, probs, refused, counts, {"sha256": "x"})
    assert record["refused"] == 1 and record["refused_ids"] == [odd.ids[0]] and record["classified"] == 3
    assert record["top1"] <= 0.75  # the refused video is a miss
    assert np.array(record["confusion_matrix"]).sum() == 3


def test_metrics_closed_form():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]])
    labels = np.array([1, 1, 0, 1])
    assert topk_accuracy(scores, labels, 1) == 0.25  # only row 0 (row 3 ties go to class 0)
    assert topk_accuracy(scores, labels, 2) == 0.75
    assert topk_accuracy(scores, labels, 3) == 1.0
    assert topk_accuracy(scores, labels, 2, valid=[True, True, False, False]) == 0.5
    np.testing.assert_array_equal(confusion_matrix([1, 0, 2, 0], labels, 3), [[0, 0, 1], [2, 1, 0], [0, 0, 0]])
    with pytest.raises(VgbenchError, match=r"\[0, 2\]"):
        topk_accuracy(scores, np.array([1, 1, 3, 0]), 1)


def test_training_refuses_bad_input():
    s, labels = synthetic_set(1, seed=3, prefix="bad")
    with pytest.raises(VgbenchError, match=r"labels must lie in \[0, 3\]"):
        rec.train(s, labels + 1, num_classes=4, preset="tiny")
    with pytest.raises(VgbenchError, match="4 videos but 3 labels"):
        rec.train(s, labels[:3], num_classes=4, preset="tiny")
    with pytest.raises(VgbenchError, match="unknown recogniser preset 'huge'"):
        rec.train(s, labels, num_classes=4, preset="huge")
    one = KeypointSet(s.keypoints, np.ones(4, int), np.eye(1, s.keypoints.shape[1], dtype=bool).repeat(4, 0),
                      s.img_shape, s.ids)
    with pytest.raises(VgbenchError, match="no video with at least two frames"):
        rec.train(one, labels, num_classes=4, preset="tiny")


def test_confusion_png(tmp_path):
    from PIL import Image

    from vgbench.metrics.action import confusion_png

    path = confusion_png(np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]]), tmp_path / "cm.png", cell=10, title="t")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (28 + 30 + 4, 28 + 30 + 4, 3)
    diag, off, empty = img[28 + 15, 28 + 15], img[28 + 5, 28 + 15], img[28 + 25, 28 + 25]
    assert diag.sum() < off.sum() < empty.sum() == 3 * 255  # darker = larger share of the row


def test_label_files(tmp_path):
    ids = ["a01_s01", "a02_s01"]
    (tmp_path / "l.json").write_text(json.dumps({"labels": {"a01_s01": 0, "a02_s01": 26}}))
    assert labels_for(tmp_path / "l.json", ids, 27).tolist() == [0, 26]
    (tmp_path / "d.json").write_text(json.dumps([["videos/a02_s01.mp4", 1], ["videos/a01_s01.mp4", 0]]))
    assert labels_for(tmp_path / "d.json", ids, 27).tolist() == [0, 1]
    cases = [({"labels": {"a01_s01": 0}}, r"l2.json: no label for video 'a02_s01'"),
             ({"labels": {"a01_s01": 0, "a02_s01": 27}}, r"l2.json: video 'a02_s01' has label 27, outside \[0, 26\]"),
             ({"labels": {"a01_s01": 0, "a02_s01": 1, "zz": 2}}, r"l2.json: label for video 'zz', which is not in"),
             ({"labels": {"a01_s01": 0, "a02_s01": "walk"}}, r"l2.json: video 'a02_s01' has label 'walk'"),
             ([["x/a01_s01.mp4", 0], ["y/a01_s01.avi", 1]], r"'a01_s01' is labelled more than once"),
             ({"videos": []}, "expected")]
    for data, message in cases:
        (tmp_path / "l2.json").write_text(json.dumps(data))
        with pytest.raises(LabelError, match=message):
            labels_for(tmp_path / "l2.json", ids, 27)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LabelError, match="bad.json: not a JSON label file"):
        labels_for(tmp_path / "bad.json", ids, 27)


def test_cli_train_and_eval(tmp_path):
    train_set, train_labels = synthetic_set(10, seed=0, prefix="train")
    test_set, test_labels = synthetic_set(3, seed=5, prefix="test")
    train_set.save(tmp_path / "train.npz")
    test_set.save(tmp_path / "test.npz")
    (tmp_path / "train.json").write_text(json.dumps({"labels": dict(zip(train_set.ids, train_labels.tolist()))}))
    (tmp_path / "test.json").write_text(json.dumps([[f"v/{i}.mp4", int(c)] for i, c in zip(test_set.ids, test_labels)]))
    run = CliRunner().invoke
    r = run(main, ["action", "train", "--keypoints", str(tmp_path / "train.npz"), "--labels",
                   str(tmp_path / "train.json"), "--num-classes", "4", "--preset", "tiny", "--epochs", "1", "--repeat", "1",
                   "--out", str(tmp_path / "clf"), "--real-test-keypoints", str(tmp_path / "test.npz"),
                   "--real-test-labels", str(tmp_path / "test.json")])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert cfg["train"]["epochs"] == 1 and cfg["train"]["repeat"] == 1 and cfg["real_test"]["videos"] == 12 and 0 <= cfg["real_test"]["top1"] <= 1
    r = run(main, ["action", "eval", "--keypoints", str(tmp_path / "test.npz"), "--labels", str(tmp_path / "test.json"),
                   "--classifier", str(tmp_path / "clf"), "--out", str(tmp_path / "result.json")])
    assert r.exit_code == 0, r.output
    rec_ = json.loads((tmp_path / "result.json").read_text())
    assert rec_["videos"] == 12 and rec_["classifier"]["sha256"] == cfg["weights_sha256"]
    assert rec_["classifier"]["real_test"]["top1"] == cfg["real_test"]["top1"]
    assert len(rec_["confusion_matrix"]) == 4 and (tmp_path / "result.png").stat().st_size > 100
    assert "top-1" in r.output
    # bad input: a label out of range names the file and the video; an existing output is not overwritten
    (tmp_path / "bad.json").write_text(json.dumps({"labels": {**dict.fromkeys(test_set.ids, 0), test_set.ids[2]: 9}}))
    r = run(main, ["action", "eval", "--keypoints", str(tmp_path / "test.npz"), "--labels", str(tmp_path / "bad.json"),
                   "--classifier", str(tmp_path / "clf"), "--out", str(tmp_path / "other.json")])
    assert r.exit_code == 1 and f"bad.json: video '{test_set.ids[2]}' has label 9, outside [0, 3]" in r.output
    r = run(main, ["action", "eval", "--keypoints", str(tmp_path / "test.npz"), "--labels", str(tmp_path / "test.json"),
                   "--classifier", str(tmp_path / "clf"), "--out", str(tmp_path / "result.json")])
    assert r.exit_code == 1 and "exists" in r.output
