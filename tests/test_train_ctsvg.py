"""`vgbench train --model ctsvg` on the tiny config (CPU): the schedule against a transcription of train.py's loop
counters, the triplet data and its actor/action ids, a short run (finite losses, weights move, log and snapshots),
resume bit-identity, the snapshot in `vgbench eval`, and config / label errors. The losses themselves are compared
with the authors' code in docs/training.md (their code is not vendored)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.training.config import ConfigError, list_configs, load_config, resolve
from vgbench.training.ctsvg import TripletClips, frame_order_batch, offset_at, transition_at
from vgbench.training.data import TrainingDataError, load_label_ids
from vgbench.training.loop import TrainingError, train

IDS = [(0, 0), (0, 2), (1, 1), (1, 2)]  # (actor, action) of videos v0..v3; action 1 of actor 0 never appears


def _frames_folder(root: Path, lengths=(12, 12, 13, 15), size: int = 16, ids=IDS, actors: bool = True) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, n in enumerate(lengths):
        (root / f"v{i}").mkdir(parents=True)
        for k in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"v{i}" / f"{k:03d}.png")
    tree = {"labels": [[f"v{i}", c] for i, (_, c) in enumerate(ids)]}
    if actors:
        tree["actors"] = [[f"v{i}", a] for i, (a, _) in enumerate(ids)]
    (root / "dataset.json").write_text(json.dumps(tree))
    return root


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _frames_folder(tmp_path_factory.mktemp("ctsvg") / "data")


@pytest.fixture(scope="module")
def tiny_run(data, tmp_path_factory):
    """4 steps of the tiny CTSVG (R1 and path length at steps 0 and 2; snapshots after steps 2 and 4)."""
    run = tmp_path_factory.mktemp("train") / "run"
    summary = train("ctsvg", None, str(data), run, config="tiny", kimg=0.048, progress=False,
                    sets=("schedule.snap_kimg=0.024",))
    return run, summary


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------------------ schedule

def test_offset_and_transition_follow_train_py_counters():
    """train.py: ``offset[kk]`` with ``kk = (kk + 1) % 3`` after every iteration ``i % 100 == 0``; ``lambda`` set at
    the end of iteration ``i`` from ``(i - start) / (end - start + 1e-7)`` once ``i >= start``."""
    kk, lam = 0, 0
    offsets = [1, 2, 3, 4]
    for i in range(0, 7001):
        assert offset_at(i) == offsets[kk], i
        assert transition_at(i, 4000, 6000) == lam, i
        if i >= 4000:
            lam = float(np.clip((i - 4000) / (6000 - 4000 + 1e-7), 0, 1))
        if i % 100 == 0:
            kk = (kk + 1) % 3
    assert [offset_at(i) for i in (0, 1, 100, 101, 200, 201, 301)] == [1, 2, 2, 3, 3, 1, 2]
    assert transition_at(4001, 4000, 6000) == 0.0 and transition_at(6001, 4000, 6000) == pytest.approx(1.0)


def test_frame_order_batch_is_the_authors_stack_and_view():
    a, b, c = (torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2) + 100 * k for k in range(3))
    x = frame_order_batch(a, b, c)
    assert x.shape == (6, 3, 2, 2)
    # image 3v + ch holds colour channel ch of the three frames of video v
    assert torch.equal(x[3 * 1 + 2], torch.stack([a[1, 2], b[1, 2], c[1, 2]]))


# ------------------------------------------------------------------------------------------------ data

def test_triplets_ids_and_lengths(data):
    clips = TripletClips(str(data), resolution=16, clip_len=9, batch_size=4, offsets=[1, 2, 3], offset_every=2,
                         num_person=2, num_classes=3, seed=0)
    assert clips.labels.tolist() == [list(p) for p in IDS] and clips.labels.dtype == np.int64
    for k in range(16):
        item = clips.item(k)
        o = offset_at(k // 4, (1, 2, 3), 2)
        s, n = int(item["t"][0]), int(item["video_len"])
        assert item["t"].tolist() == [s, s + o, s + 2 * o] and 0 <= s <= n - 10
        assert n == (12, 12, 13, 15)[item["index"]]
        assert torch.equal(item["image"], clips.read_frames(item["index"], [s, s + o, s + 2 * o])[0])
    images, t, ids, lens = clips.batch(range(4))
    assert images.shape == (4, 3, 3, 16, 16) and t.shape == (4, 3) and ids.shape == (4, 2) and lens.shape == (4,)


def test_label_errors_name_the_file_and_the_problem(tmp_path):
    root = _frames_folder(tmp_path / "d", lengths=(10, 10, 10, 10), actors=False)
    kinds = [("actors", 2, "actor", "data.num_person"), ("labels", 3, "action", "data.num_classes")]
    with pytest.raises(TrainingDataError, match=r"d/dataset.json: expected \{\"actors\""):
        load_label_ids(root, ["v0"], kinds)
    tree = json.loads((root / "dataset.json").read_text())
    tree["actors"] = [["v0", 0], ["v1", 5]]
    (root / "dataset.json").write_text(json.dumps(tree))
    with pytest.raises(TrainingDataError, match=r"v1: actor 5 is outside \[0, 2\) \(data.num_person = 2\)"):
        load_label_ids(root, ["v0", "v1"], kinds)
    tree["actors"] = [["v0", 0], ["v1", 1]]
    (root / "dataset.json").write_text(json.dumps(tree))
    with pytest.raises(TrainingDataError, match=r"no actor for 1 video\(s\): v2"):
        load_label_ids(root, ["v0", "v1", "v2"], kinds)
    assert load_label_ids(root, ["v1", "v0"], kinds).tolist() == [[1, 2], [0, 0]]
    with pytest.raises(TrainingDataError, match=r"shorter than the 10 frames"):
        TripletClips(str(_frames_folder(tmp_path / "short", lengths=(9, 10, 10, 10))), resolution=16, clip_len=9,
                     batch_size=4, offsets=[1], offset_every=1, num_person=2, num_classes=3)


# ------------------------------------------------------------------------------------------------ configs

def test_paper_configs_and_errors():
    assert {"tiny", "mead", "ravdess", "utd-mhad"} <= set(list_configs("ctsvg"))
    for name, (persons, classes, latent, dyn) in {"mead": (30, 8, 256, 128), "ravdess": (24, 8, 128, 64),
                                                  "utd-mhad": (8, 27, 256, 128)}.items():
        cfg = resolve(load_config("ctsvg", name))
        assert cfg["paper"] and cfg["data"]["resolution"] == 128 and cfg["train"]["batch_size"] == 16
        assert (cfg["data"]["num_person"], cfg["data"]["num_classes"]) == (persons, classes)
        assert (cfg["generator"]["latent"], cfg["generator"]["dyn"]) == (latent, dyn)
        loss = cfg["loss"]
        assert (loss["r1"], loss["path_regularize"], loss["d_reg_every"], loss["g_reg_every"]) == (10, 2, 16, 4)
        assert (loss["transit_start"], loss["transit_end"], cfg["optim"]["lr"]) == (4000, 6000, 0.002)
        assert cfg["train"]["kimg"] * 1000 / (16 * 3) == 120000                  # 120k iterations
        assert 0.5 ** (16 / (cfg["train"]["ema_kimg"] * 1000)) == pytest.approx(0.5 ** (32 / 10000), abs=0)
    with pytest.raises(ConfigError, match="batch per rank \\(6\\) must be 1 or a multiple of 4"):
        resolve(load_config("ctsvg", "tiny", ["train.batch_size=6"]))
    with pytest.raises(ConfigError, match="augment.mode must be none for ctsvg"):
        resolve(load_config("ctsvg", "tiny", ["augment.mode=ada"]))
    with pytest.raises(ConfigError, match="clip_len=5 must exceed twice the largest offset"):
        resolve(load_config("ctsvg", "tiny", ["data.clip_len=5"]))
    with pytest.raises(ConfigError, match="unknown config key 'loss.r1_gamma'"):
        load_config("ctsvg", "tiny", ["loss.r1_gamma=1"])
    with pytest.raises(TrainingError, match="no real statistics for the periodic FVD16"):
        train("ctsvg", None, "somewhere", "nowhere", config="ravdess", sets=("schedule.fvd_kimg=1",), progress=False)


# ------------------------------------------------------------------------------------------------ runs

def test_tiny_run_trains(tiny_run, data):
    from vgbench.training.ctsvg import build_ctsvg

    run, summary = tiny_run
    assert summary["step"] == 4 and summary["kimg"] == pytest.approx(0.048)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == [1, 2, 3, 4]
    for e in ticks:
        assert all(np.isfinite(e[k]) for k in ("G_loss", "D_loss", "Ds_loss"))
    assert "R1" in ticks[0] and "PL" in ticks[0] and "R1" not in ticks[1] and "PL" in ticks[2]
    assert [e["checkpoint"] for e in log if e["event"] == "snapshot"] == ["snapshot-000002.vgb", "snapshot-000004.vgb"]
    assert (run / "grid-000004.png").is_file()
    st = _state(run / "snapshot-000004.state.pt")
    assert st["model"] == "ctsvg" and st["step"] == 4 and np.isfinite(st["mean_path_length"])
    G0, Dt0, Ds0, _, _ = build_ctsvg(resolve(load_config("ctsvg", "tiny", ("schedule.snap_kimg=0.024",))), "cpu")
    for name, init in (("G", G0), ("D", Dt0), ("D2", Ds0)):
        moved = [k for k, v in init.state_dict().items() if not torch.equal(v, st[name][k])]
        assert len(moved) > len(init.state_dict()) // 2, name
    # D_t's final_conv2 is defined but unused upstream and here: it never moves
    assert torch.equal(st["D"]["final_conv2.0.weight"], Dt0.state_dict()["final_conv2.0.weight"])


def test_resume_continues_bit_for_bit(tiny_run, data, tmp_path):
    run, _ = tiny_run
    part = tmp_path / "part"
    sets = ("schedule.snap_kimg=0.024",)
    train("ctsvg", None, str(data), part, config="tiny", kimg=0.024, progress=False, sets=sets)
    train("ctsvg", None, None, part, resume=True, kimg=0.048, progress=False)
    full, resumed = _state(run / "snapshot-000004.state.pt"), _state(part / "snapshot-000004.state.pt")
    for net in ("G", "D", "D2", "G_ema"):
        for k, v in full[net].items():
            assert torch.equal(v, resumed[net][k]), (net, k)
    assert full["mean_path_length"] == resumed["mean_path_length"]
    assert torch.equal(full["D2_opt"]["state"][0]["exp_avg"], resumed["D2_opt"]["state"][0]["exp_avg"])


def test_snapshot_loads_in_eval_and_renders_g_ema(tiny_run):
    from vgbench.models import get_adapter

    run, _ = tiny_run
    a = get_adapter("ctsvg", str(run / "snapshot-000004.vgb"), device="cpu")
    videos = np.concatenate(list(a.sample(2, frames=4, fps=30, seed=0)))
    assert videos.shape == (2, 4, 16, 16, 3) and videos.dtype == np.uint8
    assert a.dataset_fps == 30 and (a.num_person, a.num_classes) == (2, 3)
    st = _state(run / "snapshot-000004.state.pt")
    for k, v in a.G.state_dict().items():
        assert torch.equal(v, st["G_ema"][k]), k


def test_eval_refuses_another_models_snapshot(tmp_path):
    from vgbench.models import get_adapter
    from vgbench.models.checkpoint import CheckpointError, save_native

    save_native(tmp_path / "other.vgb", "stylegan_v", {}, {})
    with pytest.raises(CheckpointError, match="other.vgb: a stylegan_v checkpoint, not ctsvg"):
        get_adapter("ctsvg", str(tmp_path / "other.vgb"))


def test_snapshot_is_an_inversion_problem(tiny_run):
    """`vgbench invert`'s CTSVG problem builds on a training snapshot and renders what G_ema renders (a full
    inversion of 16x16 frames is not possible: LPIPS's AlexNet needs larger frames)."""
    from vgbench import inversion as inv
    from vgbench.models import get_adapter

    run, _ = tiny_run
    adapter = get_adapter("ctsvg", str(run / "snapshot-000004.vgb"), device="cpu")
    problem = inv.PROBLEMS["ctsvg"](adapter)
    assert (problem.z_dim, problem.resolution, problem.labels) == (8, 16, {"actor": 2, "action": 3})
    times = torch.arange(4, dtype=torch.float64)
    with torch.no_grad():
        m = problem.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(5)))
        frames = problem.renderer(1, 2)(m, times, None)
        G = adapter.G
        ref = G.render(G.content_style(torch.tensor([1]), torch.tensor([2])).expand(4, -1), m.expand(4, -1),
                       times.float())
    assert frames.shape[-2:] == (16, 16) and torch.allclose(frames.reshape(ref.shape), ref, atol=1e-5)


def test_cli_trains_one_step(data, tmp_path):
    from click.testing import CliRunner

    from vgbench.cli import main

    r = CliRunner().invoke(main, ["train", "--model", "ctsvg", "--config", "tiny", "--data", str(data), "--out",
                                  str(tmp_path / "cli"), "--kimg", "0.012", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 1
    assert (tmp_path / "cli" / "snapshot-000001.vgb").is_file()


@pytest.mark.slow
def test_two_gloo_processes_train(data, tmp_path):
    """torchrun with 2 CPU processes (gloo), 4 triplets each: both ranks finish, rank 0 logs world size 2 and finite
    losses (averaged over ranks), and its snapshot loads in eval. (1 vs 2 processes are not the same function for
    CTSVG: D_s divides by sqrt(batch per pass) and D_t's minibatch stddev groups within a pass, as upstream.)"""
    from conftest import torchrun

    from vgbench.models import get_adapter

    out = tmp_path / "ddp"
    torchrun(2, "-m", "vgbench", "train", "--model", "ctsvg", "--config", "tiny", "--data", str(data), "--out", str(out),
             "--kimg", "0.048", "--set", "train.batch_size=8", "--no-progress")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[0]["world_size"] == 2
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == [1, 2] and all(np.isfinite(e["G_loss"]) for e in ticks)
    assert get_adapter("ctsvg", str(out / "snapshot-000002.vgb")).G.num_person == 2


def test_discriminators_have_the_authors_state_dict_layout():
    """Keys and shapes of the authors' DiscriminatorConPerson(16, num_classes=3, num_persons=2, c_dim=128) and
    Discriminator_FRAMES(16), as printed from their model.py (their weights load with strict=True: docs/training.md)."""
    from vgbench.training.ctsvg_nets import FrameOrderDiscriminator, TimeDiscriminator

    trunk = {"convs.0.0.weight": (512, 3, 1, 1), "convs.0.1.bias": (512,)}
    for i in (1, 2):
        trunk.update({f"convs.{i}.conv1.0.weight": (512, 512, 3, 3), f"convs.{i}.conv1.1.bias": (512,),
                      f"convs.{i}.conv2.0.kernel": (4, 4), f"convs.{i}.conv2.1.weight": (512, 512, 3, 3),
                      f"convs.{i}.conv2.2.bias": (512,), f"convs.{i}.skip.0.kernel": (4, 4),
                      f"convs.{i}.skip.1.weight": (512, 512, 1, 1)})
    dt = {"class_embed.weight": (3, 128), "person_embed.weight": (2, 128), **trunk,
          "tauEmbedding.w0": (1, 1), "tauEmbedding.b0": (1,), "tauEmbedding.w": (1, 127), "tauEmbedding.b": (127,),
          "final_conv.0.weight": (128, 513, 3, 3), "final_conv.1.bias": (128,),
          "final_conv2.0.weight": (128, 513, 3, 3), "final_conv2.1.bias": (128,),
          "final_linear.0.weight": (512, 6144), "final_linear.0.bias": (512,),
          "final_linear.1.weight": (384, 512), "final_linear.1.bias": (384,)}
    for head in ("final_linear_con", "final_linear_pcon"):
        dt.update({f"{head}.0.weight": (512, 6144), f"{head}.0.bias": (512,), f"{head}.1.weight": (128, 512),
                   f"{head}.1.bias": (128,)})
    ds = {**trunk, "final_linear.0.weight": (512, 8192), "final_linear.0.bias": (512,),
          "final_linear.1.weight": (1, 512), "final_linear.1.bias": (1,)}
    for net, want in ((TimeDiscriminator(16, 3, 2), dt), (FrameOrderDiscriminator(16), ds)):
        got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert got == want
    kernel = TimeDiscriminator(16, 3, 2).state_dict()["convs.1.conv2.0.kernel"]
    assert torch.allclose(kernel, torch.outer(*[torch.tensor([1., 3, 3, 1])] * 2) / 64)  # [1,3,3,1] blur, sum 1
