"""Harness features shared by every adapter: capabilities in `models list`, adapter options from the CLI
(`--model-option`, `--condition`), refusal of unknown options, and the conditioning summary in eval records."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from vgbench.cli import main, parse_model_options
from vgbench.evaluate import conditioning_summary
from vgbench.models import base, get_adapter

from conftest import ramp_video, write_frames_dataset

EXPECTED = {"stylegan_v", "mostgan_v", "motionvideogan", "ctsvg", "digan", "mocogan_hd", "folder"}


def test_models_list_shows_every_adapter_with_capabilities():
    r = CliRunner().invoke(main, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert EXPECTED <= set(rows)
    for row in rows.values():
        assert isinstance(row["fps_control"], bool) and isinstance(row["content_motion_separable"], bool)
        assert row["description"] and row["time_step"]
    assert rows["stylegan_v"]["fps_control"] and not rows["folder"]["fps_control"]
    text = CliRunner().invoke(main, ["models", "list"]).output
    for name in EXPECTED:
        assert name in text
    assert "content/motion separable" in text and "max frames" in text


def test_parse_model_options():
    assert parse_model_options(["clip_stride=4", "psi=0.5", "flag=true", "name=abc", "x=a=b"], "actor=1") == {
        "clip_stride": 4, "psi": 0.5, "flag": True, "name": "abc", "x": "a=b", "condition": "actor=1"}
    with pytest.raises(Exception, match="KEY=VALUE"):
        parse_model_options(["novalue"])


def test_unknown_options_are_refused(tmp_path):
    from pathlib import Path

    ckpt = Path(__file__).parent / "fixtures" / "stylegan_v_tiny.pkl"
    with pytest.raises(ValueError, match="unknown option.*truncaton_psi"):
        get_adapter("stylegan_v", str(ckpt), truncaton_psi=0.5)
    write_frames_dataset(tmp_path / "gen", {"v0": ramp_video(4)})
    with pytest.raises(ValueError, match="unknown option.*condition"):
        get_adapter("folder", str(tmp_path / "gen"), condition="actor=1")
    r = CliRunner().invoke(main, ["eval", "--model", "stylegan_v", "--ckpt", str(ckpt), "--dataset", "tiny",
                                  "--model-option", "bogus=1", "--num-fake", "2", "--no-progress"])
    assert r.exit_code != 0 and "unknown option(s) bogus" in r.output


class _Labelled(base.Adapter):
    name = "labelled_test"

    def video_labels(self, index, seed=0):
        rng = np.random.default_rng([seed, index])
        return {"actor": int(rng.integers(3)), "action": int(rng.integers(2))}


def test_conditioning_summary_counts_every_video():
    a = _Labelled(None, condition=None)
    s = conditioning_summary(a, seed=4, num_videos=50)
    assert s["num_videos"] == 50
    assert sum(s["counts"]["actor"].values()) == 50 and set(s["counts"]["actor"]) <= {"0", "1", "2"}
    expected = sum(1 for i in range(50) if a.video_labels(i, 4)["action"] == 1)
    assert s["counts"]["action"].get("1", 0) == expected
    assert conditioning_summary(a, seed=5, num_videos=50)["labels_sha256"] != s["labels_sha256"]
    assert conditioning_summary(base.Adapter(None), seed=0, num_videos=5) is None


def test_models_labels_cli_lists_what_eval_renders():
    from pathlib import Path

    ckpt = str(Path(__file__).parent / "fixtures" / "ctsvg_tiny.pt")
    r = CliRunner().invoke(main, ["models", "labels", "--model", "ctsvg", "--ckpt", ckpt, "--num", "5", "--seed", "3"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    a = get_adapter("ctsvg", ckpt)
    assert [{k: row[k] for k in ("actor", "action")} for row in rows] == [a.video_labels(i, 3) for i in range(5)]
    assert [row["index"] for row in rows] == list(range(5))
    fixed = CliRunner().invoke(main, ["models", "labels", "--model", "ctsvg", "--ckpt", ckpt, "--num", "2",
                                      "--condition", "actor=1,action=2"])
    assert [json.loads(x)["actor"] for x in fixed.output.splitlines()] == [1, 1]
    bad = CliRunner().invoke(main, ["models", "labels", "--model", "ctsvg", "--ckpt", ckpt, "--num", "2",
                                    "--condition", "actor=99"])
    assert bad.exit_code != 0 and "actor" in bad.output and "Traceback" not in bad.output
    unconditional = CliRunner().invoke(main, ["models", "labels", "--model", "stylegan_v", "--ckpt",
                                              str(Path(__file__).parent / "fixtures" / "stylegan_v_tiny.pkl"),
                                              "--num", "2"])
    assert unconditional.exit_code != 0 and "unconditional" in unconditional.output


def test_fixed_step_models_take_protocol_times_as_frame_indices():
    """A fixed-step model's protocol clip indexes its own frames (like pre-generated videos)."""
    from pathlib import Path

    a = get_adapter("mocogan_hd", str(Path(__file__).parent / "fixtures" / "mocogan_hd_tiny"), native_fps=30)
    assert a.info.native_fps == 15.0 and not a.info.fps_control
    full = next(a.sample(1, 9, seed=4))[0]
    assert np.array_equal(next(a.sample(1, 3, seed=4, times=[0, 4, 8]))[0], full[[0, 4, 8]])
    with pytest.raises(ValueError, match="frame indices"):
        next(a.sample(1, 2, seed=4, times=[0, 1.5]))
