"""`vgbench compare` / vgbench.compare: refusals and warnings name the field that differs; verdicts from the ci95
intervals of real FVD records (MeanColorDetector, in-memory videos)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import MeanColorDetector

from vgbench.cli import main
from vgbench.comparison import CompareError, compare, format_report, load_record
from vgbench.metrics.base import SmallSampleWarning
from vgbench.metrics.fvd import fvd
from vgbench.protocols import load_protocol


def _videos(seed: int, n: int, shift: int = 0) -> np.ndarray:
    """n videos of 16 8x8 frames: a per-video base colour (so features vary between videos) plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 160, (n, 1, 1, 1, 3)) + shift
    return (base + rng.integers(0, 60, (n, 16, 8, 8, 3))).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    text = Path(load_protocol("fvd16").path).read_text()
    proto = tmp / "small.toml"
    proto.write_text(text.replace('name = "fvd16"', 'name = "small"').replace("num_videos = 2048", "num_videos = 60"))
    real = _videos(0, 60)
    out = {}
    for name, fake in (("a", _videos(1, 60, shift=30)), ("a2", _videos(2, 60, shift=30)), ("b", _videos(3, 60)),
                       ("small", _videos(4, 40, shift=30))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = fvd(real, fake, proto, detector=MeanColorDetector(), progress=False, bootstrap=200, resume_dir=None)
        small = [str(w.message) for w in caught if w.category is SmallSampleWarning]
        assert len(small) == (name == "small") and all("computed with 40 fake videos, below the protocol's 60: "
                                                       "Fréchet distances are biased upward" in m for m in small)
        path = tmp / f"{name}.jsonl"
        path.write_text(json.dumps(r.record) + "\n")
        out[name] = path
    return out


def _rec(path):
    return json.loads(path.read_text())


def test_records_carry_intervals_and_the_verdicts_follow_them(records):
    a = _rec(records["a"])["metrics"]["small"]
    assert a["ci95"]["low"] < a["value"] < a["ci95"]["high"] and a["ci95"]["B"] == 200
    assert len(a["real"]["stats_sha256"]) == 64 and "value" in a["extrapolated"]
    far = compare(records["a"], records["b"])["protocols"]["small"]
    assert far["verdict"] == "different" and far["refused"] == [] and far["warnings"] == []
    lo, hi = far["interval"]
    assert lo < far["difference"] < hi and lo > 0  # A's fakes are shifted away from the real colours
    near = compare(records["a"], records["a2"])["protocols"]["small"]  # the same generator, other videos
    assert near["verdict"] == "not distinguishable" and near["interval"][0] < 0 < near["interval"][1]
    text = format_report(compare(records["a"], records["b"]))
    assert "small: A " in text and ": different" in text and "N→∞: A - B = " in text


@pytest.mark.parametrize("field, value", [
    ("protocol.params_sha256", "0" * 64),
    ("detector.sha256", "f" * 64),
    ("real.source_content_hash", "c" * 64),
    ("counts.real_used", 59),
])
def test_refuses_naming_the_differing_field(records, tmp_path, field, value):
    rec = _rec(records["b"])
    entry = rec["metrics"]["small"]
    *parents, key = field.split(".")
    for p in parents:
        entry = entry[p]
    entry[key] = value
    with pytest.raises(CompareError, match=f"small: {field} differs"):
        compare(records["a"], rec)
    forced = compare(records["a"], rec, force=True)["protocols"]["small"]
    assert forced["verdict"] == "not comparable" and any(field in w for w in forced["warnings"])


def test_real_statistics_digest_decides_when_content_hashes_are_missing(records):
    a, b = _rec(records["a"]), _rec(records["b"])
    for r in (a, b):
        r["metrics"]["small"]["real"]["source_content_hash"] = None
    assert compare(a, b)["protocols"]["small"]["verdict"] == "different"
    b["metrics"]["small"]["real"]["stats_sha256"] = "1" * 64
    with pytest.raises(CompareError, match="real.stats_sha256 differs"):
        compare(a, b)
    for r in (a, b):
        r["metrics"]["small"]["real"]["stats_sha256"] = None
    assert "the real set cannot be verified" in compare(a, b)["protocols"]["small"]["warnings"][0]
    c = _rec(records["b"])  # the same videos but other statistics (another device): a warning, not a refusal
    c["metrics"]["small"]["real"]["stats_sha256"] = "1" * 64
    assert "the same real videos gave other statistics" in compare(records["a"], c)["protocols"]["small"]["warnings"][0]


def test_warns_about_different_and_too_small_n(records):
    row = compare(records["a"], records["small"])["protocols"]["small"]
    assert any("counts.fake_used differs: A 60, B 40" in w for w in row["warnings"])
    assert any("B was computed at N = 40 (counts.fake_used), below the protocol's 60" in w for w in row["warnings"])


def test_no_interval_says_why(records):
    b = _rec(records["b"])
    b["metrics"]["small"]["ci95"] = {"unavailable": "the real statistics were written before ..."}
    row = compare(records["a"], b)["protocols"]["small"]
    assert row["verdict"] == "unknown" and "B: the real statistics were written before" in row["reason"]
    del b["metrics"]["small"]["ci95"]  # a record from before intervals existed
    assert "B: no ci95 in the record" in compare(records["a"], b)["protocols"]["small"]["reason"]


def test_bad_files_and_no_shared_protocol(records, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CompareError, match="empty.jsonl: holds no result record"):
        load_record(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(records["a"].read_text() + "{oops\n")
    with pytest.raises(CompareError, match="bad.jsonl, line 2: not JSON"):
        load_record(bad)
    assert load_record(bad, line=1)["metrics"]["small"]
    with pytest.raises(CompareError, match="has 2 records, there is no record 3"):
        load_record(bad, line=3)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"schema": "something/1"}) + "\n")
    with pytest.raises(CompareError, match="other.jsonl, line 1: not a vgbench result record"):
        load_record(other)
    renamed = _rec(records["b"])
    renamed["metrics"] = {"fvd16": renamed["metrics"]["small"]}
    with pytest.raises(CompareError, match=r"no protocol in common: A has \['small'\], B has \['fvd16'\]"):
        compare(records["a"], renamed)


def test_cli(records, tmp_path):
    r = CliRunner().invoke(main, ["compare", str(records["a"]), str(records["b"])])
    assert r.exit_code == 0, r.output
    assert ": different" in r.output
    r = CliRunner().invoke(main, ["compare", str(records["a"]), str(records["b"]), "--json"])
    assert json.loads(r.output)["protocols"]["small"]["verdict"] == "different"
    rec = _rec(records["b"])
    rec["metrics"]["small"]["detector"]["sha256"] = "f" * 64
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(rec) + "\n")
    r = CliRunner().invoke(main, ["compare", str(records["a"]), str(other)])
    assert r.exit_code == 1 and "Error: the results are not comparable: small: detector.sha256 differs" in r.output
    r = CliRunner().invoke(main, ["compare", str(records["a"]), str(other), "--force"])
    assert r.exit_code == 0 and "warning: small: detector.sha256 differs" in r.output
