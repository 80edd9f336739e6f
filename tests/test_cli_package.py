"""The CLI package itself: its one error mapping, help texts read from the registries, and its entry points."""
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from vgbench.cli import main
from vgbench.errors import VgbenchError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner():
    return CliRunner()


def test_errors_the_cli_always_reported_cleanly_are_vgbench_errors():
    """The CLI catches VgbenchError instead of a list of classes: every class the list held must still be caught."""
    from vgbench.detectors.c3d import C3DWeightsError
    from vgbench.detectors.face import FaceDependencyError
    from vgbench.detectors.inception import TorchScriptReadError
    from vgbench.evaluate import DatasetError
    from vgbench.features import NotEnoughVideos
    from vgbench.io.sources import VideoReadError
    from vgbench.metrics.frechet import FrechetError
    from vgbench.metrics.stats import FeatureError
    from vgbench.models.base import ModelOptionError
    from vgbench.models.checkpoint import CheckpointError
    from vgbench.protocols import ProtocolError
    from vgbench.safe_pickle import UnsafePickleError
    from vgbench.weights import WeightsError

    for cls in (NotEnoughVideos, VideoReadError, FrechetError, FeatureError, ProtocolError, UnsafePickleError,
                WeightsError, DatasetError, CheckpointError, C3DWeightsError, TorchScriptReadError, ModelOptionError,
                FaceDependencyError):
        assert issubclass(cls, VgbenchError), cls


def _protocols_show_raises(monkeypatch, exc):
    def load_protocol(name):
        raise exc

    monkeypatch.setattr("vgbench.protocols.load_protocol", load_protocol)


def test_a_vgbench_error_is_one_line_exit_1(runner, monkeypatch):
    class SomeNewError(VgbenchError):
        pass

    _protocols_show_raises(monkeypatch, SomeNewError("bad.toml: [real] num_frames must be >= 1"))
    r = runner.invoke(main, ["protocols", "show", "bad"])
    assert r.exit_code == 1 and r.output == "Error: bad.toml: [real] num_frames must be >= 1\n"


def test_a_missing_file_is_one_line_exit_1(runner, monkeypatch):
    _protocols_show_raises(monkeypatch, FileNotFoundError("no such file: x.toml"))
    r = runner.invoke(main, ["protocols", "show", "x.toml"])
    assert r.exit_code == 1 and r.output == "Error: no such file: x.toml\n"


def test_interrupt_says_what_was_kept_and_exits_130(runner, monkeypatch):
    e = KeyboardInterrupt()
    e.add_note("vgbench: 3 finished videos are kept in /tmp/p; the same command resumes from them")
    _protocols_show_raises(monkeypatch, e)
    r = runner.invoke(main, ["protocols", "show", "fvd16"])
    assert r.exit_code == 130
    assert r.output == "3 finished videos are kept in /tmp/p; the same command resumes from them\ninterrupted\n"


def test_any_other_error_is_a_bug_and_keeps_its_traceback(runner, monkeypatch):
    _protocols_show_raises(monkeypatch, RuntimeError("a bug"))
    r = runner.invoke(main, ["protocols", "show", "fvd16"])
    assert r.exit_code == 1 and isinstance(r.exception, RuntimeError)


def test_help_texts_read_the_registries_when_shown(runner, monkeypatch):
    """--dataset, --model, --protocol list what the registries hold at the time the help is shown."""
    monkeypatch.setattr("vgbench.data.cards.list_cards", lambda: ["card-a", "card-b"])
    monkeypatch.setattr("vgbench.models.available_models", lambda: {"gen-x": None})
    r = runner.invoke(main, ["eval", "--help"], terminal_width=400)
    assert r.exit_code == 0
    assert "dataset card name: card-a, card-b" in r.output and "adapter name: gen-x (vgbench models list)" in r.output

    from vgbench.protocols import list_protocols, load_protocol

    fvd = [n for n in list_protocols() if load_protocol(n).metric == "fvd"]
    assert {"fvd16", "fvd128", "fvd16_tf"} <= set(fvd)
    r = runner.invoke(main, ["fvd", "--help"], terminal_width=400)
    assert f"{', '.join(fvd)} or a .toml path" in r.output and "fid_video" not in r.output


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_top_level_help_does_not_import_torch():
    code = ("import sys\nfrom vgbench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nassert 'torch' not in sys.modules, 'vgbench --help imported torch'\n")
    r = _python("-c", code)
    assert r.returncode == 0, r.stderr
    assert "Usage: " in r.stdout and "fvd" in r.stdout and "leaderboard" in r.stdout


def test_python_m_vgbench_and_vgbench_cli_and_the_console_script_target():
    from vgbench import __version__

    for module in ("vgbench", "vgbench.cli"):
        r = _python("-m", module, "--version")
        assert r.returncode == 0 and r.stdout == f"vgbench, version {__version__}\n", (module, r.stderr)
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["vgbench"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is importlib.import_module("vgbench.cli").entry_point
