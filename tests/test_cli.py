"""The command line end to end on tiny sets, with the real I3D."""
import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_frames_dataset
from vgbench.cli import main


def _all_commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def tiny_sets(tmp_path):
    rng = np.random.default_rng(0)
    real = {f"real{i}": rng.integers(0, 256, (18, 24, 24, 3), dtype=np.uint8) for i in range(3)}
    fake = {f"fake{i}": rng.integers(0, 200, (16, 24, 24, 3), dtype=np.uint8) for i in range(3)}
    write_frames_dataset(tmp_path / "real", real)
    np.save(tmp_path / "fake.npy", np.stack(list(fake.values())))
    return tmp_path


def test_every_command_has_help(runner):
    cmds = list(_all_commands(main))
    assert {("demo",), ("fvd",), ("stats",), ("features",), ("weights", "fetch"), ("weights", "import"),
            ("weights", "list"), ("protocols", "list"), ("inspect",)} <= set(cmds)
    for c in cmds:
        r = runner.invoke(main, [*c, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, c


def test_protocols_and_weights_listing(runner, i3d_state):
    r = runner.invoke(main, ["protocols", "list"])
    assert r.exit_code == 0 and "fvd16" in r.output and "fvd128_subsample8" in r.output
    r = runner.invoke(main, ["protocols", "show", "fvd128"])
    assert json.loads(r.output)["params"]["real"]["num_frames"] == 128
    r = runner.invoke(main, ["weights", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["i3d_kinetics400"]["present"] is True


def test_inspect(runner, tiny_sets):
    r = runner.invoke(main, ["inspect", str(tiny_sets / "real")])
    assert r.exit_code == 0 and "real0" in r.output and "frames     18" in r.output and "3 videos" in r.output


def test_stats_then_fvd_json(runner, tiny_sets, i3d_state):
    out = tiny_sets / "real_stats.npz"
    r = runner.invoke(main, ["stats", str(tiny_sets / "real"), "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "3 videos (3 seen, 0 too short, 0 unreadable)" in r.output
    manifest = json.loads((tiny_sets / "real_stats.npz.json").read_text())
    assert manifest["detector"]["sha256"].startswith("af5c50f0") and manifest["counts"]["used"] == 3
    # never overwrite silently
    r = runner.invoke(main, ["stats", str(tiny_sets / "real"), "-o", str(out), "--no-progress"])
    assert r.exit_code != 0 and "--overwrite" in r.output
    r = runner.invoke(main, ["fvd", str(out), str(tiny_sets / "fake.npy"), "--json", "--no-progress",
                             "--out", str(tiny_sets / "results.jsonl")])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output[r.output.index("{"):])
    assert rec["fvd"] > 0 and rec["metrics"]["fvd16"]["counts"]["fake_used"] == 3
    assert rec["metrics"]["fvd16"]["protocol_complete"] is False
    assert "not protocol-complete" in r.output  # the warning is shown
    lines = (tiny_sets / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["fvd"] == rec["fvd"]
    # the same FVD from sources directly
    r2 = runner.invoke(main, ["fvd", str(tiny_sets / "real"), str(tiny_sets / "fake.npy"), "--no-progress"])
    assert r2.exit_code == 0 and f"fvd16: {rec['fvd']:.4f}" in r2.output
    # stats made for fvd16 are refused under fvd128
    r3 = runner.invoke(main, ["fvd", str(out), str(tiny_sets / "fake.npy"), "--protocol", "fvd128"])
    assert r3.exit_code == 1 and "computed under protocol fvd16" in r3.output and "Traceback" not in r3.output


def test_features_command(runner, tiny_sets, i3d_detector):
    out = tiny_sets / "f.npy"
    r = runner.invoke(main, ["features", str(tiny_sets / "fake.npy"), str(out), "--frames", "12", "--no-progress"])
    assert r.exit_code == 0, r.output
    feats = np.load(out)
    meta = json.loads((tiny_sets / "f.npy.json").read_text())
    assert feats.shape == (3, 400) and feats.dtype == np.float32 and meta["ids"] == ["000000", "000001", "000002"]
    direct = i3d_detector(np.load(tiny_sets / "fake.npy")[:, :12])
    assert np.abs(feats - direct).max() < 1e-4
    assert not (tiny_sets / "f.npy.partial").exists()


def test_clean_errors(runner, tmp_path):
    r = runner.invoke(main, ["stats", str(tmp_path / "nope"), "-o", str(tmp_path / "s.npz")])
    assert r.exit_code == 1 and "no such file or folder" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["weights", "fetch", "nonexistent"])
    assert r.exit_code == 1 and "unknown weights" in r.output
