"""`vgbench train --model motionvideogan` (stage 3, the motion LSTM) on the tiny config (CPU), on top of the tiny
MotionStyleGAN and directions of tests/fixtures/motionvideogan_tiny: the losses in closed form, the clip pairs, the
fake clips against the eval adapter's renderer, the discriminators' state-dict layout (the authors' keys), a short
run (finite losses, weights move, log and snapshots), resume bit-identity, the final manifest in `vgbench eval`'s
adapter, and config errors. The losses are compared with the authors' train_func.py in docs/training.md (their code
is not vendored)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.training.config import ConfigError, load_config, resolve
from vgbench.training.loop import train
from vgbench.training.motionvideogan import (ConsecutiveClips, first_frame_pair, gradient_penalty, ra_lsgan,
                                             render_clips, reversal_pair)
from vgbench.training.motionvideogan_nets import VideoDiscriminator

FIX = Path(__file__).parent / "fixtures" / "motionvideogan_tiny"
SETS = (f"motion.generator={FIX / 'models/tiny/network-snapshot-000000.pkl'}",
        f"motion.directions={FIX / 'directions/tiny'}")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module


def _frames_folder(root: Path, lengths=(12, 12, 14), size: int = 16) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, n in enumerate(lengths):
        (root / f"v{i}").mkdir(parents=True)
        for k in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"v{i}" / f"{k:03d}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _frames_folder(tmp_path_factory.mktemp("mvg") / "data")


@pytest.fixture(scope="module")
def tiny_run(data, tmp_path_factory):
    """3 steps of the tiny stage 3 (2 LSTM updates per D update; snapshots after steps 2 and 3)."""
    run = tmp_path_factory.mktemp("train") / "run"
    return run, train("motionvideogan", None, str(data), run, config="tiny", progress=False, sets=SETS)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------------------ pieces

def test_ra_lsgan_closed_form():
    a = [torch.tensor([1.0, 3.0]), torch.tensor([[0.0]])]
    b = [torch.tensor([0.0, 2.0]), torch.tensor([[1.0]])]
    # scale 0: mean(b) = 1: real target 1 -> mean((0, 2) - 1)^2... = ((1-1-1)^2 + (3-1-1)^2) / 2 = 1
    # scale 1: (0 - 1 - 1)^2 = 4
    assert ra_lsgan(a, b, True).item() == pytest.approx(5.0)
    assert ra_lsgan(a, b, False).item() == pytest.approx(((0.0) ** 2 + 2.0 ** 2) / 2 + 1.0)


def test_gradient_penalty_of_a_linear_discriminator():
    """D_s(x) = sum(w_s * x): the gradient is w_s everywhere, its norm over channels is known in closed form."""
    w = [torch.randn(1, 6, 2, 3, 3, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]

    def D(x):
        return [(x * ws).sum(dim=(1, 2, 3, 4)) for ws in w]

    real, fake = torch.randn(2, 6, 2, 3, 3), torch.randn(2, 6, 2, 3, 3)
    got = gradient_penalty(D, real, fake, torch.tensor([0.3, 0.9]), 10.0)
    want = sum(((ws[0].norm(dim=0) - 1) ** 2).mean() for ws in w) / 2 * 10
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_clip_pairs():
    clip = torch.arange(2 * 4 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 4, 3, 2, 2)
    f, r = first_frame_pair(clip), reversal_pair(clip)
    assert f.shape == r.shape == (2, 6, 4, 2, 2)
    assert torch.equal(f[:, :3, 3], clip[:, 0]) and torch.equal(f[:, 3:, 3], clip[:, 3])
    assert torch.equal(r[:, :3, 1], clip[:, 1]) and torch.equal(r[:, 3:, 1], clip[:, 2])


def test_discriminator_has_the_authors_state_dict_layout():
    """Golden keys and shapes of ``ModelD_3d`` (num_D = 2, n_layers = 3, ndf = 64, 16 frames) as the authors'
    D_3d.py builds it: instance norms track running statistics, no affine parameters."""
    sd = VideoDiscriminator(16).state_dict()
    want = {}
    for s in (0, 1):
        convs = [(64, 6), (128, 64), (256, 128), (512, 256), (1, 512)]
        for j, (cout, cin) in enumerate(convs):
            want[f"netD.scale{s}_layer{j}.0.weight"] = (cout, cin, 4, 4, 4)
            want[f"netD.scale{s}_layer{j}.0.bias"] = (cout,)
            if j in (1, 2, 3):
                want[f"netD.scale{s}_layer{j}.1.running_mean"] = (cout,)
                want[f"netD.scale{s}_layer{j}.1.running_var"] = (cout,)
                want[f"netD.scale{s}_layer{j}.1.num_batches_tracked"] = ()
    assert {k: tuple(v.shape) for k, v in sd.items()} == want
    out = VideoDiscriminator(16)(torch.zeros(2, 6, 16, 32, 32))
    # 16 frames, 32 px: three stride-2 convolutions (16 -> 9 -> 5 -> 3, 32 -> 17 -> 9 -> 5), two stride-1 (+1 each);
    # the second scale sees the clip pooled in space only (16 frames are not > 16)
    assert [tuple(o.shape) for o in out] == [(2, 1, 5, 7, 7), (2, 1, 5, 5, 5)]


def test_consecutive_clips(data):
    ds = ConsecutiveClips(str(data), resolution=16, num_frames=4, time_step=2, seed=3)
    assert ds.min_length() == 11
    for k in range(6):
        it = ds.item(k)
        video = ds.videos[it["index"]].read(list(range(ds.frame_counts[it["index"]])))
        starts = [s for s in range(len(video) - 8)
                  if np.array_equal(video[s:s + 8:2].transpose(0, 3, 1, 2), it["image"].numpy())]
        assert starts, k  # a window of 4 frames 2 apart, starting in [0, N - 1 - 8]
    with pytest.raises(Exception, match="shorter than"):
        ConsecutiveClips(str(data), resolution=16, num_frames=8, time_step=2)


def test_fake_clips_are_the_adapters_official_frames():
    """Stage 3's fakes (before pooling, constant noise) are the frames the eval adapter renders with
    ``frame_order=official`` from the same codes."""
    from vgbench.models import get_adapter
    from vgbench.models.motionvideogan import frame_plan

    a = get_adapter("motionvideogan", str(FIX), device="cpu")
    g = torch.Generator().manual_seed(0)
    z, noise = torch.randn(1, 32, generator=g), torch.randn(1, 6, 32, generator=g)
    with torch.no_grad():
        clip = render_clips(a.G, a.lstm, z, noise, resolution=64, noise_mode="const")[0]
    want = a.render(a.video_codes(z, noise[0]), frame_plan(6, "official"))
    got = (clip.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    pooled = render_clips(a.G, a.lstm, z, noise, resolution=16, noise_mode="const")[0]
    assert torch.allclose(pooled, torch.nn.functional.avg_pool2d(clip, 4), atol=1e-6)


# ------------------------------------------------------------------------------------------------ runs

def test_tiny_run_trains_and_snapshots(tiny_run):
    run, summary = tiny_run
    assert summary["step"] == 3 and summary["kimg"] == pytest.approx(0.048)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == [1, 2, 3]
    assert all(np.isfinite(e[k]) for e in ticks for k in ("G_loss", "D_loss", "D2_loss", "GP", "GP2"))
    assert [e["checkpoint"] for e in log if e["event"] == "snapshot"] == ["snapshot-000002.json",
                                                                          "snapshot-000003.json"]
    st = _state(run / "snapshot-000003.state.pt")
    assert st["model"] == "motionvideogan" and st["step"] == 3
    manifest = json.loads((run / "snapshot-000003.json").read_text())
    assert manifest["lstm"] == "snapshot-000003-modelR.pth" and manifest["w_residual"] == 0.2
    assert (run / "inputs" / "generator.pkl").read_bytes() == (
        FIX / "models/tiny/network-snapshot-000000.pkl").read_bytes()
    lstm = torch.load(run / "snapshot-000003-modelR.pth", weights_only=True)
    assert set(lstm) == set(st["G"]) and all(torch.equal(lstm[k], st["G"][k]) for k in lstm)


def test_weights_move_from_the_authors_init(tiny_run, data, tmp_path):
    from vgbench.training.motionvideogan import MotionVideoGANTrainer

    run, _ = tiny_run
    init = MotionVideoGANTrainer(resolve(load_config("motionvideogan", "tiny", SETS)), tmp_path / "x", str(data),
                                 progress=False)
    st = _state(run / "snapshot-000003.state.pt")
    for name, module in init.networks().items():
        moved = [k for k, v in module.state_dict().items() if v.is_floating_point() and not torch.equal(v, st[name][k])]
        assert len(moved) >= len([v for v in module.state_dict().values() if v.is_floating_point()]) // 2, name
    # the LSTM's fc1/fc2 take no part in the losses (as upstream): they never move
    assert torch.equal(init.G.fc1.weight, st["G"]["fc1.weight"])
    assert float(init.G.w.std()) == pytest.approx(0.02, rel=0.3)  # official_init: w ~ N(0, 0.02)


def test_resume_continues_bit_for_bit(tiny_run, data, tmp_path):
    run, _ = tiny_run
    part = tmp_path / "part"
    train("motionvideogan", None, str(data), part, config="tiny", kimg=0.032, progress=False, sets=SETS)
    train("motionvideogan", None, None, part, resume=True, kimg=0.048, progress=False)
    full, resumed = _state(run / "snapshot-000003.state.pt"), _state(part / "snapshot-000003.state.pt")
    for net in ("G", "D", "D2", "G_opt", "D_opt", "D2_opt"):
        a, b = full[net], resumed[net]
        if net.endswith("_opt"):
            a, b = a["state"], b["state"]
            assert all(torch.equal(a[i]["exp_avg_sq"], b[i]["exp_avg_sq"]) for i in a), net
        else:
            assert all(torch.equal(v, b[k]) for k, v in a.items()), net
    assert (part / "snapshot-000003.json").read_text() == (run / "snapshot-000003.json").read_text()


def test_final_manifest_loads_in_eval(tiny_run):
    from vgbench.models import get_adapter

    run, _ = tiny_run
    a = get_adapter("motionvideogan", str(run / "snapshot-000003.json"), device="cpu")
    st = _state(run / "snapshot-000003.state.pt")
    assert all(torch.equal(v, st["G"][k]) for k, v in a.lstm.state_dict().items())
    assert a.time_step == 1 and a.w_residual == 0.2
    videos = np.concatenate(list(a.sample(2, frames=5, seed=0)))
    assert videos.shape == (2, 5, 64, 64, 3) and videos.dtype == np.uint8


# ------------------------------------------------------------------------------------------------ errors

def test_config_errors(data, tmp_path):
    with pytest.raises(ConfigError, match="motion.generator is not set"):
        resolve(load_config("motionvideogan", "tiny"))
    with pytest.raises(ConfigError, match="ema_kimg must be 0"):
        resolve(load_config("motionvideogan", "tiny", SETS + ("train.ema_kimg=1.0",)))
    with pytest.raises(ConfigError, match="unknown config key 'motion.n_pca'"):
        load_config("motionvideogan", "tiny", ("motion.n_pca=3",))
    from vgbench.training.loop import TrainingError

    with pytest.raises(TrainingError, match="no such file"):
        train("motionvideogan", None, str(data), tmp_path / "r", config="tiny", progress=False,
              sets=(SETS[0], f"motion.directions={tmp_path}"))
    with pytest.raises(TrainingError, match="only 6 directions"):
        train("motionvideogan", None, str(data), tmp_path / "r2", config="tiny", progress=False,
              sets=SETS + ("motion.n_direction=7",))


def test_stages_are_runs_of_their_own(tiny_run, data, tmp_path):
    """`--stage`: the motion stage is the default and is recorded; a resume keeps the run's stage; models trained
    in one stage refuse it; a stage's config is its table with the run's identity (stage_config)."""
    from vgbench.training.config import stage_config
    from vgbench.training.loop import TrainingError

    run, _ = tiny_run
    saved = json.loads((run / "config.json").read_text())
    assert saved["stage"] == "motion" and saved["input"]["stage"] == "motion"
    assert "pairs" not in saved and "directions" not in saved  # the resolved config is the stage's alone
    with pytest.raises(TrainingError, match="a run of stage 'motion', not 'pairs'"):
        train("motionvideogan", None, None, run, resume=True, stage="pairs", progress=False)
    with pytest.raises(TrainingError, match="ctsvg trains in one stage"):
        train("ctsvg", None, str(data), tmp_path / "c", config="tiny", stage="pairs", progress=False)
    cfg = load_config("motionvideogan", "tiny", SETS)
    cfg["pairs"], cfg["directions"] = {"train": {"kimg": 1.0}}, {"samples": 3}
    one = stage_config(cfg, "directions")
    assert one == {"model": "motionvideogan", "dataset": "", "paper": "none (CI config)", "stage": "directions",
                   "config_source": cfg["config_source"], "samples": 3}
    assert stage_config(one) == one  # already cut
    with pytest.raises(ConfigError, match="stage 'directions', not 'pairs'"):
        stage_config(one, "pairs")
    with pytest.raises(ConfigError, match="unknown stage 'jacobian'"):
        stage_config(cfg, "jacobian")
    motion = stage_config(cfg)
    assert motion["stage"] == "motion" and "pairs" not in motion and motion["motion"] == cfg["motion"]


def test_dataset_configs_resolve_with_the_papers_epochs():
    """ffs / sky / ucf101: the card's resolution, run_train.sh's values, train.kimg = the paper's epochs x
    floor(videos / 16) steps x 16 clips x 16 frames (videos: the paper's Table VII), and a [directions] table that
    resolves as stage 2."""
    from vgbench.data.cards import load_card
    from vgbench.training.config import stage_config

    for name, epochs, videos in (("ffs", 45, 704), ("sky", 20, 2376), ("ucf101", 5, 13320)):
        cfg = resolve(load_config("motionvideogan", name, SETS))
        assert cfg["stage"] == "motion" and "directions" not in cfg and cfg["paper"].startswith("MotionVideoGAN")
        assert load_card(cfg["dataset"])["resolution"] == [cfg["data"]["resolution"]] * 2 == [256, 256]
        assert (cfg["data"]["num_frames"], cfg["data"]["time_step"], cfg["train"]["batch_size"]) == (16, 1, 16)
        assert (cfg["motion"]["n_direction"], cfg["motion"]["w_residual"], cfg["optim"]["lr"]) == (30, 0.2, 1e-4)
        assert cfg["train"]["kimg"] * 1000 == epochs * (videos // 16) * 16 * 16
        assert cfg["schedule"]["snap_kimg"] * 1000 == (videos // 16) * 16 * 16  # a snapshot per epoch
        d = resolve(stage_config(load_config("motionvideogan", name, [f"directions.generator={SETS[0].split('=')[1]}"]),
                                 "directions"))
        assert (d["num_samples"], d["sample"], d["noise_mode"], d["lamb"]) == (10, 0, "random", 1 / 60)


# ------------------------------------------------------------------------------------------------ stage 2 pieces

def test_robust_pca_recovers_low_rank_plus_sparse():
    """Principal component pursuit's exact-recovery regime (rank 2 + 1 % sparse spikes, lambda = 1/sqrt(n))."""
    from vgbench.training.motion_directions import robust_pca

    rng = np.random.default_rng(0)
    n = 100
    v = rng.standard_normal((n, 2))
    low = v @ v.T
    sparse = np.zeros((n, n))
    sparse.flat[rng.choice(n * n, 100, replace=False)] = rng.choice([-10.0, 10.0], 100)
    L, S = robust_pca(low + sparse, lamb=1 / np.sqrt(n))
    assert np.abs(L - low).max() < 1e-5 * np.abs(low).max() and np.abs(S - sparse).max() < 1e-4
    assert np.linalg.matrix_rank(L, tol=1e-6) == 2
    with pytest.raises(ValueError, match="needs a matrix"):
        robust_pca(np.zeros(3))


def test_pair_jacobian_and_directions_on_the_fixture():
    """The forward-mode Jacobian against reverse-mode gradients of single pixels; the directions: unit rows, the
    backward ones in the null space of the latter image's principal subspace (and the forward ones of the
    former's)."""
    from vgbench.models.motionvideogan import load_generator
    from vgbench.training.motion_directions import motion_directions, pair_jacobian, robust_pca

    G, _ = load_generator(FIX / "models/tiny/network-snapshot-000000.pkl")
    G.requires_grad_(False)
    w = G.mapping(torch.randn(1, 32, generator=torch.Generator().manual_seed(0)), torch.zeros(1, 0))[0, 0]
    J = pair_jacobian(G, w)
    assert J.shape == (2, 64, 64, 32)
    x = w.detach().clone().requires_grad_(True)
    img = G.synthesis(x.reshape(1, 1, -1).expand(1, G.num_ws, -1), noise_mode="const", force_fp32=True)[0]
    for k, y, xx in ((0, 0, 0), (0, 31, 40), (1, 63, 5), (1, 20, 20)):
        grad, = torch.autograd.grad(img[3 * k:3 * k + 3, y, xx].mean(), x, retain_graph=True)
        assert torch.allclose(J[k, y, xx], grad, rtol=1e-4, atol=1e-6), (k, y, xx)
    forward, backward = motion_directions(J.numpy())
    for d, keep in ((backward, 1), (forward, 0)):
        assert d.ndim == 2 and d.shape[1] == 32 and d.shape[0] >= 1
        assert np.allclose(np.linalg.norm(d, axis=1), 1)
        Jk = J[keep].numpy().reshape(-1, 32)
        Lk, _ = robust_pca((1 / Jk.shape[0]) * Jk.T.dot(Jk))
        principal = np.linalg.svd(Lk)[2][:max(1, np.linalg.matrix_rank(Lk))]
        assert np.abs(d @ principal.T).max() < 1e-6
    with pytest.raises(ValueError, match="pair Jacobian"):
        motion_directions(np.zeros((3, 4, 4, 8)))


def test_cli_trains_one_step(data, tmp_path):
    from click.testing import CliRunner

    from vgbench.cli import main

    args = ["train", "--model", "motionvideogan", "--config", "tiny", "--data", str(data), "--out",
            str(tmp_path / "cli"), "--kimg", "0.016", "--no-progress"]
    for item in SETS:
        args += ["--set", item]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 1
    assert (tmp_path / "cli" / "snapshot-000001.json").is_file()


def test_directions_stage_feeds_stage_3(data, tmp_path):
    """`vgbench train --stage directions` on the fixture generator (rank 1: the summary warns against the tiny
    config's n_direction = 4), then stage 3 on its folder: refused with n_direction = 4 (the error names the rank),
    trained with n_direction = 1 on exactly those files; a resume of the finished stage-2 run recomputes nothing."""
    from click.testing import CliRunner

    from vgbench.cli import main
    from vgbench.training.loop import TrainingError

    dirs = tmp_path / "dirs"
    args = ["train", "--model", "motionvideogan", "--stage", "directions", "--config", "tiny", "--no-progress"]
    r = CliRunner().invoke(main, args + ["--out", str(dirs), "--set", SETS[0].replace("motion.", "directions."),
                                         "--set", "directions.num_samples=1"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["ranks"] == {"forward": 1, "backward": 1}
    assert summary["warnings"][0].startswith("forward: rank 1 < motion.n_direction=4")
    assert json.loads((dirs / "config.json").read_text())["stage"] == "directions"
    with pytest.raises(TrainingError, match="only 1 directions .* n_direction=4"):
        train("motionvideogan", None, str(data), tmp_path / "r", config="tiny", progress=False,
              sets=(SETS[0], f"motion.directions={dirs}"))
    run = tmp_path / "motion"
    out = train("motionvideogan", None, str(data), run, config="tiny", progress=False, kimg=0.016,
                sets=(SETS[0], f"motion.directions={dirs}", "motion.n_direction=1"))
    assert out["step"] == 1
    for name in ("forward_direction.npy", "backward_direction.npy"):
        assert (run / "inputs" / name).read_bytes() == (dirs / name).read_bytes()
    log = (dirs / "log.jsonl").read_text()
    r = CliRunner().invoke(main, args[:-3] + ["--resume", str(dirs), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (dirs / "log.jsonl").read_text() == log
    r = CliRunner().invoke(main, args + ["--out", str(tmp_path / "d2"), "--data", str(data)])
    assert r.exit_code != 0 and "reads no videos" in r.output


@pytest.mark.slow
def test_two_gloo_processes_train(data, tmp_path):
    """torchrun with 2 CPU processes (gloo), one clip each: both ranks finish, rank 0 logs world size 2 and finite
    losses (averaged over ranks), and the final manifest renders in eval. (1 vs 2 processes are not the same function
    for stage 3: the relativistic means and the gradient-penalty batch are per rank, as upstream per GPU.)"""
    from conftest import torchrun

    from vgbench.models import get_adapter

    out = tmp_path / "ddp"
    torchrun(2, "-m", "vgbench", "train", "--model", "motionvideogan", "--config", "tiny", "--data", str(data),
             "--out", str(out), "--kimg", "0.032", "--no-progress", *[a for item in SETS for a in ("--set", item)])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[0]["world_size"] == 2
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == [1, 2]
    assert all(np.isfinite(e[k]) for e in ticks for k in ("G_loss", "D_loss", "D2_loss", "GP", "GP2"))
    a = get_adapter("motionvideogan", str(out / "snapshot-000002.json"), device="cpu")
    assert np.concatenate(list(a.sample(1, frames=3, seed=0))).shape == (1, 3, 64, 64, 3)


@pytest.mark.slow
def test_periodic_fvd16_evaluates_the_manifest(tmp_path):
    """schedule.fvd_kimg: the snapshot manifest goes through `vgbench eval`'s code (the adapter, the shipped real
    statistics of the `tiny` card) and the value lands in log.jsonl and fvd.jsonl."""
    run = tmp_path / "fvd"
    train("motionvideogan", "tiny", None, run, config="tiny", kimg=0.008, progress=False,
          sets=SETS + ("data.resolution=64", "data.num_frames=4", "schedule.fvd_kimg=0.008",
                       "schedule.fvd_num_fake=16"))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    fvd = [e for e in log if e["event"] == "fvd16"]
    assert len(fvd) == 1 and fvd[0]["step"] == 1 and np.isfinite(fvd[0]["value"]) and fvd[0]["value"] > 0
    assert fvd[0]["checkpoint"] == "snapshot-000001.json"
    record = json.loads((run / "fvd.jsonl").read_text().splitlines()[0])
    assert record["metrics"]["fvd16"]["value"] == fvd[0]["value"]
    assert record["model"]["name"] == "motionvideogan"
