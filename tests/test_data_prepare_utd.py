"""``vgbench data prepare utd-mhad`` (vgbench/data/recipes_utd.py) on small synthetic AVIs named like the release's
colour videos (``a<action>_s<subject>_t<trial>_color.avi``), one of them damaged and one misnamed.

Pixels are checked byte-exact against the raw file decoded with PyAV and the PIL calls written out with the numbers
worked by hand (64x48 -> short side 16: ``int(16 * 64 / 48) = 21`` wide, crop offset ``round(2.5) = 2``), then JPEG
at PIL's default quality. Also: the held-out actor-action pairs go to ``test/`` and the rest to ``train/``, the
``dataset.json`` labels (action - 1) are read by ``vgbench train``'s loader, the split file, resume after a kill, and
verify catching a changed label file.
"""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from test_data_prepare import decoded, frame_bytes, jpeg, pattern, write_video

from vgbench.cli import main
from vgbench.data import prepare as P
from vgbench.data.recipes import PrepareError
from vgbench.io.sources import open_source

GOOD = ["a1_s1_t1_color", "a2_s1_t1_color", "a1_s2_t1_color", "a2_s2_t2_color", "a27_s8_t4_color"]
# --set test_pairs=a2_s1,s2: action 2 of subject 1, and every action of subject 2
SPLIT = {"a1_s1_t1_color": "train", "a27_s8_t4_color": "train", "a2_s1_t1_color": "test",
         "a1_s2_t1_color": "test", "a2_s2_t2_color": "test"}
# 64x48 -> short side 16: 21x16 (int(16 * 64 / 48) = 21), centre crop 16 at left round(5 / 2) = round(2.5) = 2
RESIZE_CROP = lambda im: im.resize((21, 16), Image.LANCZOS).crop((2, 0, 18, 16))  # noqa: E731
SQUASH = lambda im: im.resize((16, 16), Image.LANCZOS)  # noqa: E731


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "RGB"
    root.mkdir()
    for i, name in enumerate(GOOD):
        write_video(root / f"{name}.avi", pattern(i, 3 + i % 3, 48, 64), fps=30)
    (root / "a3_s1_t1_color.avi").write_bytes(b"RIFF\x00\x01\x00\x00AVI LIST" + os.urandom(200))  # damaged
    write_video(root / "clip_color.avi", pattern(9, 3, 48, 64), fps=30)  # a playable video with no action in its name
    (root / "readme.txt").write_text("not a video")
    return root


def prepare(raw, out, workers=1, **sets):
    return P.prepare("utd-mhad", raw, out, sets={"target_size": "16", **sets}, workers=workers, progress=False)


def test_split_labels_pixels_and_manifest(raw, tmp_path):
    from vgbench.training.data import TrainingClips, load_labels

    out = tmp_path / "utd"
    m = prepare(raw, out, test_pairs="a2_s1, s2")
    assert sorted(os.listdir(out)) == ["manifest.json", "test", "train"]
    for name, subset in SPLIT.items():
        frames = [jpeg(RESIZE_CROP(Image.fromarray(a))) for a in decoded(raw / f"{name}.avi")]
        assert frame_bytes(out / subset, name) == frames, name  # every decoded frame (moviepy quirk off), 16x16
        v = m["videos"][f"{subset}/{name}"]
        action, subject, trial = (int(x[1:]) for x in name.split("_")[:3])
        assert (v["action"], v["subject"], v["trial"], v["class"], v["subset"]) == (
            action, subject, trial, action - 1, subset)
        assert (v["frames"], v["size"]) == (len(frames), [16, 16])
    # the split as recorded, and the labels in the authors' format (class = action - 1)
    assert m["params"]["test_pairs"] == "s2,a2_s1" and m["overrides"]["test_pairs"] == "a2_s1, s2"
    assert m["quirks"] == {"moviepy_timeline_quirk": False, "jpeg_quality_quirk": True}
    assert m["params"]["mode"] == "resize_crop" and m["subsets"] == ["train", "test"]
    labels = {s: json.loads((out / s / "dataset.json").read_text()) for s in ("train", "test")}
    assert labels == {"train": {"labels": [["a1_s1_t1_color", 0], ["a27_s8_t4_color", 26]],
                                "actors": [["a1_s1_t1_color", 0], ["a27_s8_t4_color", 7]]},
                      "test": {"labels": [["a1_s2_t1_color", 0], ["a2_s1_t1_color", 1], ["a2_s2_t2_color", 1]],
                               "actors": [["a1_s2_t1_color", 1], ["a2_s1_t1_color", 0], ["a2_s2_t2_color", 1]]}}
    assert set(m["files"]) == {"train/dataset.json", "test/dataset.json"}
    # vgbench train's loader: one-hot action classes of the train folder (c_dim 27)
    onehot = load_labels(out / "train", ["a27_s8_t4_color", "a1_s1_t1_color"], 27)
    assert onehot.shape == (2, 27) and onehot[0, 26] == 1 and onehot[1, 0] == 1 and onehot.sum() == 2
    clips = TrainingClips(out / "test", num_frames=3, max_dist=2, c_dim=27, mirror=False)
    assert [v.id for v in clips.videos] == ["a1_s2_t1_color", "a2_s1_t1_color", "a2_s2_t2_color"]
    assert [int(np.argmax(clips.label(i))) for i in range(3)] == [0, 1, 1]
    # the damaged and the misnamed file are counted and named; the text file is not a video
    bad = {b["job"]: b["bad"] for b in m["bad_sources"]}
    assert sorted(bad) == ["a3_s1_t1_color", "clip_color"]
    assert "a3_s1_t1_color.avi" in bad["a3_s1_t1_color"]
    assert "clip_color.avi" in bad["clip_color"] and "not named like a UTD-MHAD colour video" in bad["clip_color"]
    # one listing hash per subset folder, as the stats cache computes it; verify passes, then catches changes
    assert m["listing_content_hash"] == {s: open_source(out / s).content_hash() for s in ("train", "test")}
    assert P.verify(out) == {"ok": True, "videos": 5, "problems": []}
    (out / "test" / "dataset.json").write_text(json.dumps({"labels": [["a1_s2_t1_color", 3]]}))
    (out / "train" / "stray").mkdir()
    assert P.verify(out)["problems"] == ["train/stray: a folder the manifest does not list",
                                         "test/dataset.json: its sha256 differs from the manifest's"]


def test_split_file_squash_and_refusals(raw, tmp_path):
    split = tmp_path / "held_out.txt"
    split.write_text("# CTSVG-like: two unseen combinations and one actor\na1_s1\ns8  # all of subject 8\n")
    out = tmp_path / "utd"
    m = prepare(raw, out, split_file=str(split), mode="squash")
    assert (m["params"]["test_pairs"], m["params"]["split_file"]) == ("s8,a1_s1", str(split.resolve()))
    assert sorted(os.listdir(out / "test")) == ["a1_s1_t1_color", "a27_s8_t4_color", "dataset.json"]
    for name in ("a1_s1_t1_color", "a2_s2_t2_color"):
        subset = "test" if name.startswith("a1_s1") else "train"
        assert frame_bytes(out / subset, name) == [jpeg(SQUASH(Image.fromarray(a)))
                                                   for a in decoded(raw / f"{name}.avi")]
    # no test set at all: only train/
    none = prepare(raw, tmp_path / "none", test_pairs="none")
    assert sorted(os.listdir(tmp_path / "none")) == ["manifest.json", "train"]
    assert list(none["listing_content_hash"]) == ["train"] and none["params"]["test_pairs"] == "none"
    with pytest.raises(PrepareError, match="both name the held-out videos"):
        prepare(raw, tmp_path / "x", split_file=str(split), test_pairs="s1")
    split.write_text("a1_s9\n")
    with pytest.raises(PrepareError, match=f"{split}: 'a1_s9': UTD-MHAD has actions 1-27 and subjects 1-8"):
        prepare(raw, tmp_path / "x", split_file=str(split))
    with pytest.raises(PrepareError, match="'t1' is not a<action>_s<subject> or s<subject>"):
        prepare(raw, tmp_path / "x", test_pairs="s8 t1")
    with pytest.raises(PrepareError, match="no held-out actor"):
        prepare(raw, tmp_path / "x", test_pairs=" ")
    with pytest.raises(PrepareError, match="cannot read the split file"):
        prepare(raw, tmp_path / "x", split_file=str(tmp_path / "missing.txt"))
    with pytest.raises(PrepareError, match="--zip writes one StyleGAN-V zip"):
        P.prepare("utd-mhad", raw, tmp_path / "z", zip_output=True, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()
    # a folder prepared with another split is refused
    with pytest.raises(PrepareError, match="another params"):
        prepare(raw, out, test_pairs="s1", mode="squash")


def test_resume_after_kill_and_workers(raw, tmp_path, monkeypatch):
    out = tmp_path / "utd"
    finish, calls = P._finish, []

    def killed_on_third(out_, record):
        calls.append(record["job"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        finish(out_, record)

    monkeypatch.setattr(P, "_finish", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare(raw, out, test_pairs="a2_s1,s2")
    done = [f"{SPLIT[j]}/{j}" for j in calls[:2] if j in SPLIT]
    stamps = {n: [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / n).iterdir()] for n in done}
    assert done and not (out / "manifest.json").exists()
    killed = calls[2]
    assert (out / P.PARTIAL / killed / SPLIT[killed] / killed).is_dir() and not (out / SPLIT[killed] / killed).exists()
    monkeypatch.setattr(P, "_finish", finish)
    m = prepare(raw, out, test_pairs="a2_s1,s2")
    assert {n: [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / n).iterdir()] for n in done} == stamps
    assert sorted(m["videos"]) == sorted(f"{s}/{n}" for n, s in SPLIT.items()) and P.verify(out)["ok"]
    res = CliRunner().invoke(main, ["data", "verify", str(out)])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"ok": True, "videos": 5}
    parallel = prepare(raw, tmp_path / "w2", test_pairs="a2_s1,s2", workers=2)
    assert parallel["videos"] == m["videos"] and parallel["listing_content_hash"] == m["listing_content_hash"]
    assert parallel["files"] == m["files"]


def test_parse_helpers():
    from vgbench.data.recipes_utd import canonical_pairs, parse_test_pairs, parse_video_name

    assert parse_video_name("a27_s8_t4_color") == (27, 8, 4)
    assert [parse_video_name(n) for n in ("a28_s1_t1_color", "a1_s0_t1_color", "a1_s1_t5_color", "a1_s1_t1_depth",
                                          "a1_s1_t1_color_x")] == [None] * 5
    subjects, pairs = parse_test_pairs("a3_s8 s8 a5_s2,a1_s2", "test_pairs")
    assert (subjects, pairs) == ({8}, {(5, 2), (1, 2)})  # a3_s8 lies inside subject 8: not listed twice
    assert canonical_pairs(subjects, pairs) == "s8,a1_s2,a5_s2" and canonical_pairs((), ()) == "none"
