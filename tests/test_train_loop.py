"""`vgbench train` on the tiny configs (CPU): configs, a short run, resume bit-identity, the snapshot in `vgbench eval`,
world size 1 vs 2 (gloo), and the errors a user meets before training starts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import torchrun

from vgbench.cli import main
from vgbench.data.cards import load_card
from vgbench.training.config import ConfigError, list_configs, load_config, parse_set, resolve
from vgbench.training.loop import TrainingError, train

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ configs

def test_paper_configs_resolve_to_the_authors_cfg_auto_values():
    cfg = resolve(load_config("stylegan_v", "ffs"), world_size=4)
    assert cfg["loss"]["r1_gamma"] == pytest.approx(0.0002 * 256 ** 2 / 64)  # 0.2048
    assert cfg["train"]["ema_kimg"] == pytest.approx(20.0)
    assert cfg["optim"]["lr"] == 0.0025
    assert cfg["generator"]["fmaps"] == 0.5 and cfg["discriminator"]["fmaps"] == 0.5
    assert cfg["train"]["batch_gpu"] == 16 and cfg["discriminator"]["mbstd_group_size"] == 4
    assert cfg["augment"]["kimg"] == 100 and cfg["train"]["ema_rampup"] is None
    sky = resolve(load_config("stylegan_v", "sky"))
    assert sky["generator"]["motion_z_distance"] == 256
    mead = resolve(load_config("stylegan_v", "mead1024"), world_size=4)  # cfg=auto at 1024 px, mead.yaml's c_dim
    assert mead["loss"]["r1_gamma"] == pytest.approx(0.0002 * 1024 ** 2 / 64) and mead["optim"]["lr"] == 0.002
    assert mead["generator"]["fmaps"] == 1 and mead["data"]["c_dim"] == 77 and mead["data"]["resolution"] == 1024
    m = resolve(load_config("mostgan_v", "rainbowjelly"))
    assert m["loss"]["r1_gamma"] == 10.0 and m["generator"]["motion_z_distance"] == 64


def test_every_bundled_config_loads_and_resolves():
    for model in ("stylegan_v", "mostgan_v"):
        names = list_configs(model)
        assert "tiny" in names and "ffs" in names
        for name in names:
            cfg = resolve(load_config(model, name))
            assert cfg["model"] == model and cfg["paper"]
            card = load_card(cfg["dataset"])  # every config trains on a dataset card that eval knows
            assert card["resolution"] == [cfg["data"]["resolution"]] * 2


def test_config_errors_name_the_key_and_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'loss.r1_gama'"):
        load_config("stylegan_v", "tiny", ["loss.r1_gama=1"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nbatch = 3\n")
    with pytest.raises(ConfigError, match=rf"{bad}.*unknown config key 'train.batch'"):
        load_config("stylegan_v", str(bad))
    with pytest.raises(ConfigError, match="train.batch_size must be int"):
        load_config("stylegan_v", "tiny", ["train.batch_size=2.5"])
    with pytest.raises(ConfigError, match="multiple of the world size"):
        resolve(load_config("stylegan_v", "tiny", ["train.batch_size=6"]), world_size=4)
    with pytest.raises(ConfigError, match="data.c_dim must be >= 0"):
        resolve(load_config("stylegan_v", "tiny", ["data.c_dim=-1"]))
    with pytest.raises(ConfigError, match="no training config 'nope'"):
        load_config("stylegan_v", "nope")
    with pytest.raises(ConfigError, match="unknown config key 'loss.style_mixing_prob'"):
        load_config("stylegan_v", "tiny", ["loss.style_mixing_prob=0.9"])
    with pytest.raises(TrainingError, match="use_noise = true is not supported"):
        train("stylegan_v", "tiny", None, tmp_path / "noise", config="tiny", progress=False,
              sets=("generator.preset=official", "data.resolution=64", "generator.overrides.use_noise=true"))
    assert parse_set("optim.betas=[0, 0.9]") == {"optim": {"betas": [0, 0.9]}}
    assert parse_set("augment.pipe=bgc") == {"augment": {"pipe": "bgc"}}


# ------------------------------------------------------------------------------------------------ runs

def _params(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _latest_state(run: Path) -> Path:
    return sorted(run.glob("snapshot-*.state.pt"))[-1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """6 steps of the tiny StyleGAN-V (snapshots every 3 steps)."""
    run = tmp_path_factory.mktemp("train") / "run"
    summary = train("stylegan_v", "tiny", None, run, config="tiny", kimg=0.072, progress=False)
    return run, summary


def test_tiny_run_writes_log_snapshots_and_grids(tiny_run):
    run, summary = tiny_run
    assert summary["step"] == 6 and summary["kimg"] == pytest.approx(0.072)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == list(range(1, 7))
    for e in ticks:
        assert np.isfinite(e["G_loss"]) and np.isfinite(e["D_loss"]) and 0 <= e["augment_p"] <= 1
    assert log[0]["event"] == "start" and log[0]["world_size"] == 1
    snaps = [e for e in log if e["event"] == "snapshot"]
    assert [e["step"] for e in snaps] == [3, 6]
    for s in (3, 6):
        assert (run / f"snapshot-{s:06d}.vgb").is_file()
        assert (run / f"grid-{s:06d}.png").is_file() and (run / f"grid-{s:06d}.mp4").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["loss"]["r1_gamma"] == 1.0 and cfg["input"]["generator"]["preset"] == "tiny"


def test_tiny_run_d_loss_decreases(tiny_run):
    """D learns to separate real from fake clips: its loss over the last ticks is below the first tick's."""
    run, _ = tiny_run
    ticks = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    d = [e["D_loss"] for e in ticks if e["event"] == "tick"]
    assert np.mean(d[-3:]) < d[0]


def test_each_optimiser_step_lowers_its_own_loss_on_the_same_batch(tmp_path):
    """One Gmain step lowers G's loss against the same (frozen) D on the same latents; one Dmain step lowers D's
    loss on the same real and fake clips. Adam's first step moves every weight by about lr against its gradient."""
    import torch.nn.functional as F

    from vgbench.training.config import load_config
    from vgbench.training.loop import Trainer

    cfg = load_config("stylegan_v", "tiny", ["augment.mode=none"])
    cfg["data_source"] = "builtin:tiny"
    tr = Trainer(cfg, tmp_path, "builtin:tiny", progress=False)
    fake = tr._fake_inputs(0, "G")
    images, t, c = next(iter(tr.loader))
    real = tr._real_inputs(images, t, c, 0, "D")

    def g_loss():
        with torch.no_grad():
            img = tr.loss.run_G(fake["z"], fake["c"], fake["t"], fake["motion_z"])
            return float(F.softplus(-tr.loss.run_D(img, fake["c"], fake["t"])).mean())

    def d_loss():
        with torch.no_grad():
            img = tr.loss.run_G(fake["z"], fake["c"], fake["t"], fake["motion_z"])
            return float(F.softplus(tr.loss.run_D(img, fake["c"], fake["t"])).mean()
                         + F.softplus(-tr.loss.run_D(real["img"], real["c"], real["t"])).mean())

    before = g_loss()
    tr.G.requires_grad_(True)
    st = tr.loss.g_main(fake, share=1.0)
    tr.G.requires_grad_(False)
    assert st.loss == pytest.approx(before, rel=1e-5)
    tr.G_opt.step()
    assert g_loss() < before
    before = d_loss()
    tr.D.requires_grad_(True)
    st = tr.loss.d_main(fake, real, share=1.0)
    tr.D.requires_grad_(False)
    assert st.loss == pytest.approx(before, rel=1e-5)
    tr.D_opt.step()
    assert d_loss() < before


def test_mixed_precision_path_trains_with_float16_blocks(tmp_path):
    """The CUDA path's code (float16 in the blocks the config puts there, conv clamp, gradients cleaned of inf/nan)
    run on CPU: D's fp16 blocks really compute in float16 and two steps give finite losses and weights."""
    from vgbench.training.loop import Trainer

    cfg = load_config("stylegan_v", "tiny", ["augment.mode=none"])
    tr = Trainer(cfg, tmp_path, "builtin:tiny", progress=False, mixed_precision=True)
    dtypes = {}

    def record(name):
        def hook(module, inputs, output):
            dtypes.setdefault(name, output.dtype)
        return hook

    for name in ("b64", "b8"):  # tiny D: num_fp16_res 2 -> b64, b32 in float16; b8 in float32
        getattr(tr.D, name).conv0.register_forward_hook(record(name))
    it = iter(tr.loader)
    for _ in range(2):
        logs = tr.train_step(*next(it))
        assert np.isfinite(logs["G_loss"]) and np.isfinite(logs["D_loss"])
    assert dtypes == {"b64": torch.float16, "b8": torch.float32}
    for net in (tr.G, tr.D):
        assert all(torch.isfinite(p).all() for p in net.parameters())


def test_snapshot_loads_in_vgbench_eval_and_renders_what_g_ema_renders(tiny_run):
    from vgbench.models import get_adapter

    run, _ = tiny_run
    a = get_adapter("stylegan_v", str(run / "snapshot-000006.vgb"), device="cpu")
    videos = np.concatenate(list(a.sample(2, frames=4, fps=30, seed=0)))
    assert videos.shape == (2, 4, 64, 64, 3) and videos.dtype == np.uint8
    state = _params(_latest_state(run))
    for k, v in a.G.state_dict().items():
        assert torch.equal(v, state["G_ema"][k]), k


def test_resume_continues_bit_for_bit(tiny_run, tmp_path):
    run, _ = tiny_run
    part = tmp_path / "part"
    train("stylegan_v", "tiny", None, part, config="tiny", kimg=0.036, progress=False)
    train("stylegan_v", None, None, part, resume=True, kimg=0.072, progress=False)
    full, resumed = _params(_latest_state(run)), _params(_latest_state(part))
    assert full["step"] == resumed["step"] == 6
    for net in ("G", "D", "G_ema"):
        for k, v in full[net].items():
            assert torch.equal(v, resumed[net][k]), (net, k)
    assert full["augment_p"] == resumed["augment_p"]
    events = [json.loads(line)["event"] for line in (part / "log.jsonl").read_text().splitlines()]
    assert events.count("start") == 1 and events.count("resume") == 1
    assert json.dumps(full["G_opt"]["state"][0]["exp_avg"].tolist()) == \
        json.dumps(resumed["G_opt"]["state"][0]["exp_avg"].tolist())


def test_mostgan_v_tiny_trains(tmp_path):
    summary = train("mostgan_v", "tiny", None, tmp_path / "m", config="tiny", kimg=0.036, progress=False)
    assert summary["step"] == 3 and np.isfinite(summary["last"]["G_loss"])


def test_conditional_training_uses_the_labels_of_the_data(tmp_path):
    """``data.c_dim = 3`` on videos of classes 0 and 2 (dataset.json): the columns of the label embeddings of G's and
    D's mapping networks for classes 0 and 2 learn, those of class 1 (no video, never drawn for a fake clip either)
    stay exactly at their initial values; the snapshot is a 3-class generator in `vgbench eval`."""
    from PIL import Image

    from vgbench.models import get_adapter
    from vgbench.training.data import TrainingDataError
    from vgbench.training.loop import build_networks

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(4):
        (root / f"v{i}").mkdir(parents=True)
        for k in range(6):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"v{i}" / f"{k}.png")
    (root / "dataset.json").write_text(json.dumps({"labels": [[f"v{i}", [0, 2, 2, 0][i]] for i in range(4)]}))
    sets = ("data.c_dim=3", "schedule.snap_kimg=0.024")
    train("stylegan_v", "tiny", str(root), tmp_path / "run", config="tiny", kimg=0.024, sets=sets, progress=False)
    state = _params(tmp_path / "run" / "snapshot-000002.state.pt")
    G0, D0, *_ = build_networks(resolve(load_config("stylegan_v", "tiny", sets)), "cpu")
    for net, init in (("G", G0), ("D", D0)):
        before, after = init.state_dict()["mapping.embed.weight"], state[net]["mapping.embed.weight"]
        assert before.shape[1] >= 3 and torch.equal(after[:, 1], before[:, 1]), net          # class 1: untouched
        assert not torch.equal(after[:, 0], before[:, 0]) and not torch.equal(after[:, 2], before[:, 2]), net
    a = get_adapter("stylegan_v", str(tmp_path / "run" / "snapshot-000002.vgb"))
    assert a.G.c_dim == 3 and a.info.conditioning.startswith("class label (0..2")
    (root / "dataset.json").unlink()
    with pytest.raises(TrainingDataError, match="data: no dataset.json"):
        train("stylegan_v", "tiny", str(root), tmp_path / "run2", config="tiny", kimg=0.012, sets=sets,
              progress=False)


# ------------------------------------------------------------------------------------------------ errors

def test_run_dir_and_resume_errors(tiny_run, tmp_path):
    run, _ = tiny_run
    with pytest.raises(TrainingError, match="exists and is not empty"):
        train("stylegan_v", "tiny", None, run, config="tiny", kimg=0.012, progress=False)
    with pytest.raises(TrainingError, match="a stylegan_v run, cannot resume it with --model mostgan_v"):
        train("mostgan_v", None, None, run, resume=True, progress=False)
    with pytest.raises(TrainingError, match="no config.json"):
        train("stylegan_v", None, None, tmp_path, resume=True, progress=False)
    with pytest.raises(TrainingError, match="cannot change it"):
        train("stylegan_v", None, None, run, resume=True, sets=("loss.r1_gamma=2",), progress=False)


def test_data_errors_before_training(tmp_path):
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((2, 2, 64, 64, 3), np.uint8))
    with pytest.raises(Exception, match="short.npy|frames"):
        train("stylegan_v", "tiny", str(short), tmp_path / "r1", config="tiny", kimg=0.012, progress=False)
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((2, 8, 32, 32, 3), np.uint8))
    with pytest.raises(Exception, match="32"):
        train("stylegan_v", "tiny", str(small), tmp_path / "r2", config="tiny", kimg=0.012, progress=False)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()  # nothing written: fix and rerun


def test_cli_train_and_usage_errors(tmp_path):
    r = CliRunner().invoke(main, ["train", "--model", "stylegan_v", "--dataset", "tiny", "--config", "tiny",
                                  "--out", str(tmp_path / "c"), "--kimg", "0.024", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 2
    r = CliRunner().invoke(main, ["train", "--model", "stylegan_v", "--dataset", "tiny"])
    assert r.exit_code == 2 and "--out RUN_DIR" in r.output
    r = CliRunner().invoke(main, ["train", "--model", "stylegan_v", "--config", "tiny", "--out", str(tmp_path / "d"),
                                  "--set", "loss.nope=1"])
    assert r.exit_code == 1 and "unknown config key 'loss.nope'" in r.output


# ------------------------------------------------------------------------------------------------ world size

def test_world_size_1_and_2_give_the_same_parameters(tmp_path):
    """The same global batch and forward-pass batch (``train.batch_gpu``, which fixes the minibatch-stddev groups)
    on 1 process and on 2 gloo processes under torchrun: the same losses at every step and the same weights and
    buffers (``w_avg`` included) after 3 steps, up to float reduction order (differences of 5e-5 seen: 2% of one
    Adam step of lr 0.0025)."""
    one = tmp_path / "one"
    train("stylegan_v", "tiny", None, one, config="tiny", kimg=0.036, progress=False,
          sets=("schedule.snap_kimg=0.036", "train.batch_gpu=2"))
    two = tmp_path / "two"
    torchrun(2, "-m", "vgbench", "train", "--model", "stylegan_v", "--dataset", "tiny", "--config", "tiny",
             "--out", str(two), "--kimg", "0.036", "--set", "schedule.snap_kimg=0.036", "--no-progress")
    logs = [[json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()] for d in (one, two)]
    assert logs[1][0]["world_size"] == 2
    ticks = [[e for e in log if e["event"] == "tick"] for log in logs]
    assert len(ticks[0]) == len(ticks[1]) == 3
    for x, y in zip(*ticks):
        for key in ("G_loss", "D_loss", "R1", "augment_p"):
            if key in x:
                assert y[key] == pytest.approx(x[key], rel=1e-4, abs=1e-7), (x["step"], key)
    a, b = _params(_latest_state(one)), _params(_latest_state(two))
    assert a["step"] == b["step"] == 3
    for net in ("G", "D"):
        for k, v in a[net].items():
            torch.testing.assert_close(b[net][k], v, rtol=1e-4, atol=1e-4, msg=f"{net}.{k}")

@pytest.mark.slow
def test_periodic_fvd16_uses_the_eval_code_and_the_shipped_real_statistics(tmp_path):
    run = tmp_path / "fvd"
    train("stylegan_v", "tiny", None, run, config="tiny", kimg=0.012, progress=False,
          sets=("schedule.fvd_kimg=0.012", "schedule.fvd_num_fake=16"))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    fvd = [e for e in log if e["event"] == "fvd16"]
    assert len(fvd) == 1 and fvd[0]["step"] == 1 and np.isfinite(fvd[0]["value"]) and fvd[0]["value"] > 0
    record = json.loads((run / "fvd.jsonl").read_text().splitlines()[0])
    assert record["metrics"]["fvd16"]["value"] == fvd[0]["value"]
    assert record["model"]["name"] == "stylegan_v" and record["model"]["format"] == "vgbench"


def test_training_runs_in_full_float32_unless_the_config_allows_tf32(tmp_path, monkeypatch):
    """`vgbench train` computes inside exact_float32(device) (TF32 off on CUDA, as StyleGAN-V's allow_tf32=False);
    `train.allow_tf32 = true` leaves PyTorch's TF32 settings alone. The key is a boolean of every trainer's config."""
    import vgbench.training.loop as loop

    seen = []
    real = loop.exact_float32

    def spy(device):
        seen.append(str(device))
        return real(device)

    monkeypatch.setattr(loop, "exact_float32", spy)
    train("stylegan_v", "tiny", None, tmp_path / "a", config="tiny", kimg=0.012, progress=False)
    assert seen == ["cpu"]
    train("stylegan_v", "tiny", None, tmp_path / "b", config="tiny", kimg=0.012, progress=False,
          sets=("train.allow_tf32=true",))
    assert seen == ["cpu"]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["allow_tf32"] is True
    for model in ("stylegan_v", "ctsvg", "motionvideogan"):
        with pytest.raises(ConfigError, match="train.allow_tf32 must be bool"):
            load_config(model, "tiny", ["train.allow_tf32=1"])
