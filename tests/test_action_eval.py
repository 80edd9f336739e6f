"""`vgbench eval --metrics action` (CTSVG's action accuracy of a conditional generator) and `vgbench action train
--data ROOT`, on a folder laid out as `vgbench data prepare utd-mhad` writes it, the tiny CTSVG fixture and a small
PoseC3D: one generated video per real test video with its actor, action and length; unconditional models and bad
inputs are refused before anything is generated."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_frames_dataset
from vgbench import evaluate as E
from vgbench.action.recognizer import PRESETS, ActionRecognizer
from vgbench.detectors.posec3d import PoseC3D
from vgbench.models import get_adapter
from vgbench.protocols import ProtocolError

CTSVG = str(Path(__file__).parent / "fixtures" / "ctsvg_tiny.pt")  # 4 actors, 3 actions
# (subset, action number, subject, trial, frames): the tiny generator has actions 1-3 and subjects 1-4
VIDEOS = [("train", 1, 1, 1, 5), ("train", 2, 2, 1, 4), ("train", 3, 1, 2, 6), ("train", 1, 2, 2, 3),
          ("test", 2, 4, 1, 5), ("test", 3, 4, 1, 3), ("test", 1, 4, 2, 4)]


def prepared(root: Path) -> Path:
    rng = np.random.default_rng(0)
    manifest = {"videos": {}}
    for subset, a, s, t, n in VIDEOS:
        name = f"a{a}_s{s}_t{t}_color"
        write_frames_dataset(root / subset, {name: rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)}, ".jpg")
        manifest["videos"][f"{subset}/{name}"] = {"frames": n, "size": [32, 32], "action": a, "subject": s,
                                                  "trial": t, "class": a - 1, "subset": subset}
    manifest["params"] = {"test_pairs": "s4"}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def classifier(path: Path, num_classes: int = 3) -> Path:
    import torch

    torch.manual_seed(0)
    net = PoseC3D(num_classes=num_classes, **PRESETS["tiny"]["network"])
    ActionRecognizer(net, PRESETS["tiny"]["pipeline"], {"preset": "tiny", "seed": 0,
                                                         "real_test": {"top1": 0.5, "top3": 1.0}}).save(path)
    return path


def test_eval_action_generates_the_test_pairs_and_scores_them(tmp_path, monkeypatch):
    from vgbench.action import extract

    root = prepared(tmp_path / "utd")
    seen = []
    real_extract = extract.extract_keypoints

    def spy(videos, **kw):
        vids = list(videos)
        seen.extend(vids)
        return real_extract(vids, **kw)

    monkeypatch.setattr(extract, "extract_keypoints", spy)
    out = tmp_path / "res.jsonl"
    rec = E.evaluate("ctsvg", CTSVG, "utd-mhad", data=str(root), metrics=["action"], seed=3, device="cpu",
                     progress=False, out=out, action_classifier=classifier(tmp_path / "clf"))
    m = rec["metrics"]["action_utd"]
    # one video per real test video (natural order of the manifest: a1_s4_t2, a2_s4_t1, a3_s4_t1), with its length
    # and the actor/action it shows: video i of seed 3 of the generator conditioned on those ids
    assert [v.shape[0] for v in seen] == [4, 5, 3]
    for i, (a, s) in enumerate([(1, 4), (2, 4), (3, 4)]):
        ref = get_adapter("ctsvg", CTSVG, device="cpu", condition=f"actor={s - 1},action={a - 1}")
        assert np.array_equal(seen[i], next(ref.iter_videos(1, len(seen[i]), seed=3, start=i)))
    a = m["action"]
    assert [(p["id"], p["label"], p["actor"], p["frames"]) for p in a["per_video"]] == [
        ("a1_s4_t2_color", 0, 3, 4), ("a2_s4_t1_color", 1, 3, 5), ("a3_s4_t1_color", 2, 3, 3)]
    hits = [p["label"] in p["top3"] for p in a["per_video"]]
    assert m["top3"] == pytest.approx(np.mean(hits)) and m["value"] == m["top1"] == a["top1"]
    assert sum(map(sum, a["confusion_matrix"])) == 3 and m["counts"]["fake_used"] == 3
    assert m["counts"]["fake"]["frames"] == 12 and m["classifier"]["real_test"] == {"top1": 0.5, "top3": 1.0}
    assert m["protocol"]["name"] == "action_utd" and m["protocol_complete"]
    assert Path(m["confusion_png"]).is_file() and json.loads(out.read_text())["metrics"]["action_utd"]["top3"] == m["top3"]


def test_eval_action_refuses_before_generating(tmp_path, monkeypatch):
    from vgbench.models import base

    root = prepared(tmp_path / "utd")
    clf = classifier(tmp_path / "clf")

    def no_sampling(*a, **k):
        raise AssertionError("generated videos although the metric cannot run")

    monkeypatch.setattr(base.Adapter, "sample", no_sampling)
    kw = dict(data=str(root), metrics=["action"], device="cpu", progress=False)
    with pytest.raises(ProtocolError, match="'stylegan_v' is unconditional .* n/a"):
        E.evaluate("stylegan_v", str(Path(__file__).parent / "fixtures" / "stylegan_v_tiny.pkl"), "utd-mhad",
                   action_classifier=clf, **kw)
    with pytest.raises(ProtocolError, match="needs the action classifier: --action-classifier"):
        E.evaluate("ctsvg", CTSVG, "utd-mhad", **kw)
    with pytest.raises(ProtocolError, match="the classifier has 2 classes"):
        E.evaluate("ctsvg", CTSVG, "utd-mhad", action_classifier=classifier(tmp_path / "clf2", 2), **kw)
    (root / "manifest.json").unlink()
    with pytest.raises(Exception, match="manifest.json of `vgbench data prepare"):
        E.evaluate("ctsvg", CTSVG, "utd-mhad", action_classifier=clf, **kw)


def test_action_train_on_a_prepared_folder_records_the_real_test_accuracy(tmp_path):
    from vgbench.action import recognizer
    from vgbench.cli import main

    root = prepared(tmp_path / "utd")
    (tmp_path / "split.txt").write_text("# held out\ns4\n")
    (tmp_path / "other.txt").write_text("a1_s2, a3_s1\n")
    r = CliRunner().invoke(main, ["action", "train", "--data", str(root), "--split", str(tmp_path / "other.txt"),
                                  "--out", str(tmp_path / "clf")])
    assert r.exit_code == 1 and "prepared with the held-out set 's4'" in r.output and "a1_s2" in r.output
    r = CliRunner().invoke(main, ["action", "train", "--dataset", "utd-mhad", "--data", str(root), "--split",
                                  str(tmp_path / "split.txt"), "--out", str(tmp_path / "clf"),
                                  "--num-classes", "3", "--preset", "tiny", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    clf = recognizer.load(tmp_path / "clf")
    assert clf.info["training_set"]["videos"] == 4 and clf.info["real_test"]["videos"] == 3
    assert clf.info["real_test"]["pairs"] == [[3, 0], [3, 1], [3, 2]]
    assert "real test split: top-1" in r.output
    r = CliRunner().invoke(main, ["action", "train", "--data", str(root), "--keypoints", str(root / "manifest.json"),
                                  "--out", "o"])
    assert r.exit_code == 2 and "--data replaces --keypoints" in r.output
