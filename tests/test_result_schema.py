"""The result record's JSON schema (docs/result-record.schema.json): valid, versioned, strict enough to catch a
broken record, and met by real records. conftest.py also checks every record any test makes against it."""
import copy
import json
import math

import pytest

from conftest import RESULT_SCHEMA_FILE, ramp_video, result_record_errors, write_frames_dataset
from vgbench import provenance
from vgbench.metrics.base import IncompleteProtocolWarning
from vgbench.metrics.fvd import fvd


def _record(**kw):
    entry = {"value": 12.5, "counts": {"real_used": 3, "fake_used": 3}, "protocol_complete": False}
    return provenance.make_record({"fvd16": entry}, device="cpu", headline={"fvd": 12.5}, **kw)


def test_schema_names_the_record_version_vgbench_writes():
    schema = json.loads(RESULT_SCHEMA_FILE.read_text())
    assert schema["properties"]["schema"] == {"const": provenance.RESULT_SCHEMA}
    assert provenance.RESULT_SCHEMA in schema["title"]


def test_a_minimal_record_is_valid_and_nan_becomes_null_with_a_note():
    assert result_record_errors(_record()) == []
    rec = provenance.make_record({"x": {"value": float("nan"), "counts": {}}})
    assert rec["metrics"]["x"]["value"] is None and "no value" in rec["metrics"]["x"]["notes"][0]
    assert result_record_errors(rec) == []
    json.dumps(rec, allow_nan=False)  # strict JSON


@pytest.mark.parametrize("damage, where", [
    (lambda r: r.pop("env"), "<record>"),
    (lambda r: r["env"].pop("git_commit"), "env"),
    (lambda r: r.__setitem__("schema", "vgbench.result/2"), "schema"),
    (lambda r: r.__setitem__("fdv", 1.0), "<record>"),  # a misspelt headline key
    (lambda r: r["metrics"]["fvd16"].__setitem__("value", "12.5"), "metrics/fvd16/value"),
    (lambda r: r["metrics"]["fvd16"].pop("counts"), "metrics/fvd16"),
    (lambda r: r["metrics"]["fvd16"].__setitem__("protocol", {"name": "fvd16", "version": "1.0.0",
                                                              "params_sha256": "abc", "params": {}}),
     "metrics/fvd16/protocol/params_sha256"),
    (lambda r: r.__setitem__("metrics", {}), "metrics"),
    (lambda r: r.__setitem__("created", "yesterday"), "created"),
])
def test_the_schema_catches_a_broken_record(damage, where):
    rec = copy.deepcopy(_record())
    damage(rec)
    errors = result_record_errors(rec)
    assert errors and any(e.startswith(where + ":") for e in errors), errors


def test_every_record_made_during_the_tests_is_checked():
    # the conftest hook is live: a record with a key the schema does not know fails where it is made
    with pytest.raises(AssertionError, match="breaks docs/result-record.schema.json"):
        _record(unknown_section={"a": 1})


def test_a_real_fvd_record_is_valid(tmp_path, meancolor):
    write_frames_dataset(tmp_path / "real", {f"r{i}": ramp_video(20, base=i) for i in range(4)})
    write_frames_dataset(tmp_path / "fake", {f"f{i}": ramp_video(16, base=2 * i) for i in range(4)})
    with pytest.warns(IncompleteProtocolWarning):
        r = fvd(tmp_path / "real", tmp_path / "fake", "fvd16", detector=meancolor, progress=False)
    rec = json.loads(json.dumps(r.record, allow_nan=False))
    assert result_record_errors(rec) == []
    m = rec["metrics"]["fvd16"]
    assert m["protocol"]["name"] == "fvd16" and math.isfinite(m["value"]) and rec["fvd"] == m["value"]
