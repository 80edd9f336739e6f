"""`vgbench eval --repeats K`: K disjoint fake seed sets, their values, mean and seed-to-seed spread."""
import hashlib
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import MeanColorDetector
from vgbench import evaluate as E
from vgbench.models import base
from vgbench.models.base import Adapter


class NoiseAdapter(Adapter):
    """A generator in milliseconds: video i of seed s is uniform noise drawn from video_seed(s, i, 0), like the
    real adapters draw their latents."""

    name = "noise"

    @property
    def info(self):
        return self.model_info(16, 30)

    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        import torch

        return np.stack([torch.randint(0, 256, (len(t), 16, 16, 3), generator=base.video_seed(seed, i, 0),
                                       dtype=torch.uint8).numpy() for i in indices])


@pytest.fixture
def cheap(monkeypatch, tmp_path):
    """The exact mean-colour detector instead of I3D, a private stats cache, and a log of every generated video
    (seed, sha256 of its pixels)."""
    import vgbench.detectors as D

    det = MeanColorDetector()
    det.provenance = {"name": "meancolor", "sha256": "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"}
    monkeypatch.setattr(D, "get_detector", lambda name="i3d", device=None, auto_fetch=True: det)
    base.available_models()
    monkeypatch.setitem(base._REGISTRY, "noise", NoiseAdapter)
    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "home"))
    seen = []
    real_iter = Adapter.iter_videos

    def logged(self, n, frames, **kw):
        for v in real_iter(self, n, frames, **kw):
            seen.append((kw.get("seed"), hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()))
            yield v

    monkeypatch.setattr(Adapter, "iter_videos", logged)
    return seen


def run(**kw):
    return E.evaluate("noise", None, "ffs", data="builtin:tiny", num_fake=6, progress=False, bootstrap=20, **kw)


def test_repeats_are_disjoint_seed_sets_with_their_spread(cheap):
    rec = run(seed=3, repeats=3)
    m = rec["metrics"]["fvd16"]
    r = m["repeats"]
    assert r["K"] == 3 and r["seeds"] == [3, 4, 5] and rec["sampling"]["repeats"] == 3
    assert r["values"][0] == m["value"] and len(set(r["values"])) == 3
    assert r["mean"] == pytest.approx(np.mean(r["values"]), rel=1e-12)
    assert r["std"] == pytest.approx(np.std(r["values"], ddof=1), rel=1e-12) and r["std"] > 0
    by_seed = {}
    for seed, digest in cheap:
        by_seed.setdefault(seed, []).append(digest)
    assert sorted(by_seed) == [3, 4, 5] and all(len(v) == 6 for v in by_seed.values())
    sets = [set(v) for v in by_seed.values()]
    assert all(len(s) == 6 for s in sets)  # six different videos per repeat ...
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])  # ... and none shared between repeats
    assert "low" in m["ci95"]  # repeat 0 keeps its interval

    # deterministic, and repeat k is exactly the run with seed + k
    again = run(seed=3, repeats=3)["metrics"]["fvd16"]["repeats"]
    assert again["values"] == r["values"] and again["std"] == r["std"]
    assert run(seed=5)["metrics"]["fvd16"]["value"] == r["values"][2]


def test_repeats_refused_where_they_cannot_be_disjoint(tmp_path):
    with pytest.raises(E.EvalError, match="needs a generator"):
        E.evaluate("folder", "builtin:tiny", "tiny", repeats=2, progress=False)
    with pytest.raises(E.EvalError, match="positive integer"):
        E.evaluate("noise", None, "tiny", repeats=0, progress=False)


def test_cli_repeats(cheap, tmp_path):
    from vgbench.cli import main

    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["eval", "--model", "noise", "--dataset", "ffs", "--data", "builtin:tiny",
                                  "--num-fake", "6", "--repeats", "2", "--no-progress", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())["metrics"]["fvd16"]["repeats"]
    assert rep["seeds"] == [0, 1] and math.isfinite(rep["std"])
    assert f"2 repeats (seeds 0..1): mean {rep['mean']:.4f}, std {rep['std']:.4f}" in r.output
    r = CliRunner().invoke(main, ["eval", "--model", "folder", "--ckpt", "builtin:tiny", "--dataset", "tiny",
                                  "--repeats", "2", "--no-progress"])
    assert r.exit_code == 1 and "needs a generator" in r.output
