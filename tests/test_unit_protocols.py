"""Protocol files: loading by name or path, identity hash, and every validation rule with its message."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from vgbench import protocols as P
from vgbench.protocols import Protocol, ProtocolError, list_protocols, load_protocol
from vgbench.metrics.base import metric_kinds, metric_spec

REPO = Path(__file__).resolve().parents[1]

FVD_MIN = """name = "mini"
version = "2.1"
metric = "fvd"
description = "text"
reference = "paper"

[real]
num_frames = 4
frame_stride = 2
min_frames = 7
max_videos = 3
offset = "random"
offset_seed = 0

[fake]
num_frames = 4
frame_stride = 2
num_videos = 3
offset = "zero"

[detector]
name = "i3d"
weights = "w"
weights_sha256 = "0"
resize = [224, 224]
resize_mode = "bilinear"
align_corners = false
antialias = false
scale = "x / 127.5 - 1"
features = "logits"

[statistics]
covariance = "population"
min_videos = 2

[distance]
name = "frechet"
nonfinite_retry_eps = 1e-6
"""


def write(tmp_path, text: str, name: str = "p.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def edit(text: str, section: str | None, key: str, value: str | None) -> str:
    """Set (or with value None remove) ``key`` in ``[section]`` (None: top level) of a TOML text."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.split("=")[0].strip() == key:
            if value is None:
                continue
            line = f"{key} = {value}"
        out.append(line)
    return "\n".join(out) + "\n"


def test_minimal_protocol_loads(tmp_path):
    p = load_protocol(write(tmp_path, FVD_MIN))
    assert (p.name, p.version, p.description, p.reference, p.path) == ("mini", "2.1", "text", "paper",
                                                                        str(tmp_path / "p.toml"))
    assert set(p.params) == {"metric", "real", "fake", "detector", "statistics", "distance"}
    assert p.metric == "fvd" and p["real"]["frame_stride"] == 2
    expected = hashlib.sha256(json.dumps(p.params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert p.params_sha256 == expected
    assert p.provenance() == {"name": "mini", "version": "2.1", "params_sha256": expected, "params": p.params}
    assert load_protocol(p) is p


def test_descriptive_text_does_not_change_the_identity(tmp_path):
    a = load_protocol(write(tmp_path, FVD_MIN, "a.toml"))
    text = edit(edit(edit(FVD_MIN, None, "description", '"other"'), None, "reference", '"x"'), None, "name", '"b"')
    b = load_protocol(write(tmp_path, edit(text, None, "version", '"9"'), "b.toml"))
    assert a.params_sha256 == b.params_sha256
    c = load_protocol(write(tmp_path, edit(FVD_MIN, "real", "offset_seed", "1"), "c.toml"))
    assert c.params_sha256 != a.params_sha256


def test_optional_text_and_numeric_version(tmp_path):
    text = edit(edit(edit(FVD_MIN, None, "description", None), None, "reference", None), None, "version", "3")
    p = load_protocol(write(tmp_path, text))
    assert p.version == "3" and p.description == "" and p.reference == ""
    assert Protocol("x", "1", {}).metric == "" and Protocol("x", "1", {}).path == ""


def test_bundled_protocols_by_name():
    names = list_protocols()
    assert names == sorted(p.stem for p in (REPO / "protocols").glob("*.toml"))
    assert {"fvd16", "fvd128", "fvd128_subsample8", "fid_video", "fid50k_full", "is_ucf101"} <= set(names)
    p = load_protocol("fvd16")
    assert p.path == str(REPO / "protocols" / "fvd16.toml") and p.name == "fvd16" and p.version == "1.0.0"
    assert P.protocols_dir() == REPO / "protocols"


def test_bundled_dir_prefers_the_checkout_then_the_wheel_copy():
    assert P.bundled_dir("protocols") == REPO / "protocols"
    assert P.bundled_dir("no-such-folder") == REPO / "vgbench" / "_bundled" / "no-such-folder"


def test_unknown_and_unreadable_protocols(tmp_path):
    with pytest.raises(ProtocolError, match=r"unknown protocol 'fvd17'; known: .*fvd128, fvd128_subsample8, fvd128_tf, fvd16, fvd16_tf"):
        load_protocol("fvd17")
    with pytest.raises(ProtocolError, match=r"missing\.toml: cannot read protocol: "):
        load_protocol(tmp_path / "missing.toml")
    with pytest.raises(ProtocolError, match=r"bad\.toml: cannot read protocol: "):
        load_protocol(write(tmp_path, "name = [", "bad.toml"))


@pytest.mark.parametrize("key", ["name", "version", "metric"])
def test_missing_top_level_keys(tmp_path, key):
    with pytest.raises(ProtocolError, match=rf"p\.toml: missing top-level key '{key}'"):
        load_protocol(write(tmp_path, edit(FVD_MIN, None, key, None)))


@pytest.mark.parametrize("metric", metric_kinds())
def test_every_required_key_of_every_metric(tmp_path, metric):
    required = metric_spec(metric).required
    for section, keys in required.items():
        body = "".join(f"[{s}]\n" + "".join(f"{k} = 1\n" for k in ks) for s, ks in required.items()
                       if s != section)
        with pytest.raises(ProtocolError, match=rf"p\.toml: missing section \[{section}\]"):
            load_protocol(write(tmp_path, f'name = "x"\nversion = "1"\nmetric = "{metric}"\n{body}'))
        for k in keys:
            full = {s: [kk for kk in ks if not (s == section and kk == k)] for s, ks in required.items()}
            body = "".join(f"[{s}]\n" + "".join(f"{kk} = 1\n" for kk in ks) for s, ks in full.items())
            with pytest.raises(ProtocolError, match=rf"p\.toml: missing \[{section}\]\.{k}$"):
                load_protocol(write(tmp_path, f'name = "x"\nversion = "1"\nmetric = "{metric}"\n{body}'))


def test_unknown_metric_kind_needs_only_the_top_level(tmp_path):
    p = load_protocol(write(tmp_path, 'name = "x"\nversion = "1"\nmetric = "custom"\n[a]\nb = 1\n'))
    assert p.metric == "custom" and p["a"] == {"b": 1}


@pytest.mark.parametrize("section,key,value,match", [
    ("real", "num_frames", "0", r"\[real\] num_frames and frame_stride must be >= 1"),
    ("real", "frame_stride", "0", r"\[real\] num_frames and frame_stride must be >= 1"),
    ("fake", "num_frames", "0", r"\[fake\] num_frames and frame_stride must be >= 1"),
    ("fake", "frame_stride", "-1", r"\[fake\] num_frames and frame_stride must be >= 1"),
    ("real", "offset", '"first"', r"\[real\]\.offset must be 'random' or 'zero', got 'first'"),
    ("fake", "offset", '"Zero"', r"\[fake\]\.offset must be 'random' or 'zero', got 'Zero'"),
    ("real", "min_frames", "6", r"\[real\]\.min_frames 6 is shorter than the clip span 7"),
])
def test_fvd_value_rules(tmp_path, section, key, value, match):
    with pytest.raises(ProtocolError, match=r"p\.toml: " + match):
        load_protocol(write(tmp_path, edit(FVD_MIN, section, key, value)))


def test_fvd_boundary_values_are_accepted(tmp_path):
    text = edit(edit(FVD_MIN, "real", "num_frames", "1"), "real", "frame_stride", "1")
    assert load_protocol(write(tmp_path, edit(text, "real", "min_frames", "1")))["real"]["min_frames"] == 1
    assert load_protocol(write(tmp_path, edit(FVD_MIN, "fake", "offset", '"random"')))["fake"]["offset"] == "random"
    assert load_protocol(write(tmp_path, edit(FVD_MIN, "real", "offset", '"zero"')))["real"]["offset"] == "zero"


# ------------------------------------------------------------------------------------ [detector] resize rules


@pytest.mark.parametrize("name, mode", [(n, m) for n, modes in P.DETECTOR_RESIZES.items() for m in modes])
def test_every_implemented_resize_passes_as_declared(name, mode):
    P._validate_resize({"name": name, "resize_mode": mode, **P.DETECTOR_RESIZES[name][mode]}, "W")


def test_resize_rules_apply_only_to_known_detectors_that_name_a_mode():
    P._validate_resize({"name": "other", "resize_mode": "anything"}, "W")
    P._validate_resize({"name": "i3d", "resize": [1, 1]}, "W")  # no resize_mode: nothing to check against
    P._validate_resize({"resize_mode": "bicubic"}, "W")


def test_a_mode_the_detector_does_not_implement_is_named():
    with pytest.raises(ProtocolError) as e:
        P._validate_resize({"name": "i3d", "resize_mode": "bicubic"}, "W")
    assert str(e.value) == ("W: [detector].resize_mode 'bicubic' is not implemented by the i3d detector; known: "
                            "bilinear, tf1_resize_bilinear")


@pytest.mark.parametrize("key, bad", [("resize", [112, 112]), ("align_corners", True), ("antialias", None),
                                      ("align_corners", 0), ("scale", "x / 255")])
def test_each_parameter_of_the_mode_must_match_in_value_and_type(key, bad):
    det = {"name": "i3d", "resize_mode": "bilinear", **P.DETECTOR_RESIZES["i3d"]["bilinear"], key: bad}
    want = P.DETECTOR_RESIZES["i3d"]["bilinear"][key]
    with pytest.raises(ProtocolError) as e:
        P._validate_resize(det, "W")
    assert str(e.value) == (f"W: [detector].{key} must be {want!r} with resize_mode 'bilinear' (what the i3d detector "
                            f"implements), got {bad!r}")


def test_a_missing_parameter_of_the_mode_is_refused():
    det = {"name": "c3d", "resize_mode": "bilinear", "resize": [112, 112]}
    with pytest.raises(ProtocolError, match=r"^W: \[detector\]\.align_corners must be True with resize_mode "
                                            r"'bilinear' \(what the c3d detector implements\), got None$"):
        P._validate_resize(det, "W")


def test_a_resize_rule_error_names_the_protocol_file(tmp_path):
    text = (P.protocols_dir() / "fvd16.toml").read_text()
    assert 'resize_mode = "bilinear"' in text
    p = write(tmp_path, text.replace('resize_mode = "bilinear"', 'resize_mode = "bicubic"'), "mine.toml")
    with pytest.raises(ProtocolError, match=rf"^{p}: \[detector\]\.resize_mode 'bicubic' is not implemented by the "
                                            r"i3d detector"):
        load_protocol(p)
