"""`vgbench train --model motionvideogan --stage directions` (MotionVideoGAN stage 2) on the tiny fixture generator
(64 px, w_dim 32, CPU): random-mode noise held fixed in the Jacobian equals the synthesis' own random draw; the run's
files equal `motion_directions(pair_jacobian(...))` called directly on the recorded latent; a killed run resumed
gives the same files as an uninterrupted one; the CLI path into stage 3; errors. The functions themselves are
compared with the authors' scripts in docs/training.md."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.models.motionvideogan import load_generator
from vgbench.training.config import ConfigError, load_config, resolve, stage_config
from vgbench.training.loop import TrainingError
from vgbench.training.motion_directions import DirectionsRun, motion_directions, pair_jacobian

FIX = Path(__file__).parent / "fixtures" / "motionvideogan_tiny"
PKL = FIX / "models/tiny/network-snapshot-000000.pkl"

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module


def _cfg(**over) -> dict:
    """The stage-2 config of the tiny config file (its ``[directions]`` table, flat), with ``over`` set."""
    sets = [f"directions.generator={PKL}"] + [f"directions.{k}={json.dumps(v)}" for k, v in over.items()]
    return stage_config(load_config("motionvideogan", "tiny", sets), "directions")


@pytest.fixture(scope="module")
def G():
    return load_generator(PKL)[0].requires_grad_(False)


def _files(run: Path) -> dict[str, bytes]:
    """Every file of a run except its log (timings) and config.json."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name not in ("log.jsonl", "config.json")}


def test_random_noise_jacobian_is_the_synthesis_random_draw(G):
    """noise_mode='random': the held-fixed noise is what G.synthesis(noise_mode='random', generator=g) draws, so
    the Jacobian's pixels equal reverse-mode gradients of that image (a different seed gives another Jacobian);
    tangent chunks change nothing but rounding."""
    w = G.mapping(torch.randn(1, 32, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 0))[0, 0]
    seeds = (11, 12)
    J = pair_jacobian(G, w, noise_mode="random", generators=[torch.Generator().manual_seed(s) for s in seeds])
    x = w.clone().requires_grad_(True)
    for k in (0, 1):
        img = G.synthesis(x.reshape(1, 1, -1).expand(1, G.num_ws, -1), noise_mode="random", force_fp32=True,
                          generator=torch.Generator().manual_seed(seeds[k]))[0]
        for y, xx in ((0, 0), (40, 17), (63, 63)):
            grad, = torch.autograd.grad(img[3 * k:3 * k + 3, y, xx].mean(), x, retain_graph=True)
            assert torch.allclose(J[k, y, xx], grad, rtol=1e-4, atol=1e-6), (k, y, xx)
    J_const = pair_jacobian(G, w, noise_mode="const")
    assert (J - J_const).abs().max() > 1e-3  # the fixture's noise strengths are not zero: the noise matters
    chunked = pair_jacobian(G, w, noise_mode="random", generators=[torch.Generator().manual_seed(s) for s in seeds],
                            chunk=5)
    assert torch.allclose(chunked, J, rtol=0, atol=1e-5 * J.abs().max().item())
    with pytest.raises(ValueError, match="seeded torch.Generator"):
        pair_jacobian(G, w, noise_mode="random")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """An uninterrupted run: 3 samples, the directions from sample 1."""
    run = tmp_path_factory.mktemp("dirs") / "run"
    return run, DirectionsRun(_cfg(num_samples=3, sample=1, seed=5), run, progress=False).run()


def test_run_files_are_the_functions_on_the_recorded_latent(full_run, G):
    run, summary = full_run
    rec = json.loads((run / "jacobians/jacobian-0001.json").read_text())
    z = torch.randn([3, 32], generator=torch.Generator().manual_seed(5))[1]
    assert rec["z"] == z.tolist() and rec["sample"] == 1 and rec["noise_mode"] == "random"
    w = G.mapping(z[None], torch.zeros(1, 0))[0, 0]
    assert rec["w"] == w.tolist()
    J = pair_jacobian(G, w, noise_mode="random",
                      generators=[torch.Generator().manual_seed(s) for s in rec["noise_seeds"]], chunk=32)
    saved = np.load(run / "jacobians/jacobian-0001.npy")
    assert saved.dtype == np.float32 and np.array_equal(saved, J.numpy())
    forward, backward = motion_directions(J.numpy())
    assert np.array_equal(np.load(run / "forward_direction.npy"), forward)
    assert np.array_equal(np.load(run / "backward_direction.npy"), backward)
    # the manifest and the summary: ranks (1 on this random fixture) and the warning against stage 3's 4 rows
    manifest = json.loads((run / "directions.json").read_text())
    assert manifest["ranks"] == {"forward": 1, "backward": 1} == summary["ranks"]
    assert manifest["sample"] == 1 and manifest["jacobian"] == "jacobians/jacobian-0001.npy"
    assert manifest["generator_sha256"] == rec["generator_sha256"]
    assert manifest["directions"]["forward"]["null_space_dim"] == 31
    assert any("rank 1 < motion.n_direction=4" in w for w in summary["warnings"])
    events = [json.loads(line)["event"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert events == ["start", "jacobian", "jacobian", "jacobian", "directions"]


def test_killed_then_resumed_gives_the_same_files(full_run, tmp_path, monkeypatch):
    """A kill after sample 0, and one between sample 1's array and its record: --resume recomputes sample 1 only
    where needed and ends with the uninterrupted run's bytes."""
    run, _ = full_run
    other = tmp_path / "run"
    cfg = _cfg(num_samples=3, sample=1, seed=5)
    original = DirectionsRun._compute
    calls = []

    def dies_at_sample_1(self, k, z):
        if k == 1:
            original(self, k, z)
            self.jacobian_path(1).with_suffix(".json").unlink()  # killed before the record was written
            raise KeyboardInterrupt
        calls.append(k)
        return original(self, k, z)

    monkeypatch.setattr(DirectionsRun, "_compute", dies_at_sample_1)
    with pytest.raises(KeyboardInterrupt):
        DirectionsRun(cfg, other, progress=False).run()
    assert not (other / "directions.json").exists() and (other / "jacobians/jacobian-0001.npy").exists()
    monkeypatch.setattr(DirectionsRun, "_compute", lambda self, k, z: (calls.append(k), original(self, k, z))[1])
    DirectionsRun(cfg, other, resume=True, progress=False).run()
    assert calls == [0, 1, 2]
    assert _files(other) == _files(run)
    events = [json.loads(line)["event"] for line in (other / "log.jsonl").read_text().splitlines()]
    assert events == ["start", "jacobian", "resume", "jacobian", "jacobian", "directions"]


def test_resume_refuses_changed_files(full_run, tmp_path):
    import shutil

    run, _ = full_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "directions.json").unlink()
    arr = copy / "jacobians/jacobian-0002.npy"
    arr.write_bytes(arr.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(TrainingError, match="jacobian-0002.npy: missing or changed"):
        DirectionsRun(_cfg(num_samples=3, sample=1, seed=5), copy, resume=True, progress=False).run()
    other_G = tmp_path / "G.pkl"
    other_G.write_bytes(PKL.read_bytes() + b"\0")  # same network, another file: its hash differs
    with pytest.raises(TrainingError, match="computed with another generator file"):
        DirectionsRun(_cfg(num_samples=3, sample=1, seed=5, generator=str(other_G)), copy, resume=True,
                      progress=False).run()


def test_errors(tmp_path):
    with pytest.raises(TrainingError, match="nope.pkl: no such file .directions.generator"):
        DirectionsRun(_cfg(generator=str(tmp_path / "nope.pkl")), tmp_path / "r")
    with pytest.raises(TrainingError, match="--stage directions trains no network"):
        DirectionsRun(_cfg(), tmp_path / "r", init=str(PKL))
    with pytest.raises(TrainingError, match="stage 2 needs the stage-1 image-pair generator"):
        DirectionsRun(_cfg(generator=str(FIX / "directions/tiny/forward_direction.npy")), tmp_path / "r")
    for over, match in (({"generator": ""}, "directions.generator is not set"),
                        ({"sample": 10}, r"directions.sample must be in \[0, directions.num_samples=10\)"),
                        ({"noise_mode": "none"}, "noise_mode must be random or const"),
                        ({"lamb": 0.0}, "directions.lamb must be"),
                        ({"num_relax": -1}, "directions.num_relax must be >= 0")):
        with pytest.raises(ConfigError, match=match):
            resolve(_cfg(**over))


def _torchrun_directions(world: int, out: Path) -> tuple[list[dict], dict[str, bytes], dict]:
    """Stage 2 under ``torchrun --nproc_per_node world`` (one BLAS and torch thread per process): its log, then
    :func:`_files_and_manifest` of its run."""
    from conftest import torchrun

    torchrun(world, "-m", "vgbench", "train", "--model", "motionvideogan", "--stage", "directions", "--config",
             "tiny", "--out", str(out), "--no-progress", "--set", f"directions.generator={PKL}",
             "--set", "directions.num_samples=3", "--set", "directions.sample=1", "--set", "directions.seed=5")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return (log, *_files_and_manifest(out))


def _files_and_manifest(run: Path) -> tuple[dict[str, bytes], dict]:
    """:func:`_files` without ``directions.json``, and that manifest without the two entries that name the launch."""
    files = _files(run)
    manifest = json.loads(files.pop("directions.json"))
    manifest["config"].pop("world_size"), manifest["config"].pop("config_source", None)
    return files, manifest


@pytest.mark.slow
def test_two_gloo_processes_split_the_samples(full_run, tmp_path):
    """torchrun with 2 CPU processes: rank r computes samples r, r + 2, ...; rank 0 factorises. With the same thread
    count (torchrun: one per process) every file is byte-identical to the one-process run (each sample is a function
    of (seed, k) alone). Against the in-process run, which factorises with this machine's default BLAS threads, the
    Jacobians and their records are byte-identical and the directions agree to rounding: a multi-threaded BLAS sums
    in another order (seen: 1e-8 relative; the CI run of 916adec failed an exact comparison of them)."""
    log, two, m2 = _torchrun_directions(2, tmp_path / "two")
    assert log[0]["world_size"] == 2
    assert sorted((e["sample"], e["rank"]) for e in log if e["event"] == "jacobian") == [(0, 0), (1, 1), (2, 0)]
    log, one, m1 = _torchrun_directions(1, tmp_path / "one")
    assert log[0]["world_size"] == 1
    assert m1 == m2
    assert one == two  # every Jacobian, record and direction file

    run, _ = full_run
    here, mine = _files_and_manifest(run)
    for name in sorted(two):
        if name.endswith("_direction.npy"):
            a, b = np.load(run / name), np.load(tmp_path / "two" / name)
            assert a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-7), name
        else:
            assert here[name] == two[name], name
    assert set(here) == set(two)
    for side in ("forward", "backward"):
        ours, theirs = mine["directions"].pop(side), m2["directions"].pop(side)
        for key in ("moved_rms", "kept_rms"):
            assert np.allclose(ours.pop(key), theirs.pop(key), rtol=1e-6), (side, key)
        assert ours == theirs  # ranks and null-space dimension
    assert mine == m2
