"""Golden values: the shipped tiny reference statistics and the demo's FVD16 numbers.

A change that moves these numbers fails here until the golden file is regenerated on purpose with
``python benchmarks/make_reference_stats.py`` (which rewrites reference_stats/ and tests/golden/).
"""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vgbench import reference_stats_path
from vgbench.cli import main
from vgbench.metrics.frechet import frechet_distance
from vgbench.metrics.fvd import VideoStats, compute_stats
from vgbench.protocols import load_protocol

GOLDEN = Path(__file__).parent / "golden" / "tiny_fvd16.json"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


def test_reference_stats_manifest_matches_current_protocol():
    st = VideoStats.load(reference_stats_path("tiny_fvd16"))
    m = st.manifest
    p = load_protocol("fvd16")
    assert m["protocol"] == {"name": "fvd16", "version": p.version, "params_sha256": p.params_sha256}
    assert m["detector"]["sha256"] == p["detector"]["weights_sha256"]
    assert m["role"] == "real" and st.n == 48 and m["counts"]["used"] == 48
    assert m["source"] == {"kind": "builtin", "name": "tiny", "count": 48, "frames": 32, "size": 64}


def test_reference_stats_are_reproducible(i3d_detector, golden):
    shipped = VideoStats.load(reference_stats_path("tiny_fvd16"))
    fresh = compute_stats("builtin:tiny", "fvd16", "real", detector=i3d_detector, progress=False)
    assert fresh.ids == shipped.ids and fresh.offsets == shipped.offsets  # seeded offsets are stable
    assert np.abs(fresh.mu - shipped.mu).max() < golden["mu_atol"]
    d, _ = frechet_distance(fresh.mu, fresh.sigma, shipped.mu, shipped.sigma)
    assert abs(d) < golden["self_fvd_atol"]


def test_demo_golden_values(golden, i3d_state):
    r = CliRunner().invoke(main, ["demo", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    values = {rec["metrics"]["fvd16"]["fake"]["source"]["name"]: rec["fvd"] for rec in records}
    for name, want in golden["demo"].items():
        assert values[name] == pytest.approx(want, rel=golden["fvd_rtol"]), name
    assert values["tiny-heldout"] < values["tiny-static"]  # frozen motion must look worse
