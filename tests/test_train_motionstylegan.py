"""`vgbench train --model motionvideogan --stage pairs` (stage 1, MotionStyleGAN) on the tiny config (CPU): the pair
sampler in closed form (every ordered pair of every video once per epoch), the path-length penalty in closed form,
the 6-channel image discriminator's state-dict layout (the authors' ``networks_stylegan2.Discriminator`` keys), a
short run (finite losses, lazy regularisers on their steps, snapshots, grid), resume bit-identity, the .vgb in
``load_generator``, in a stage-3 run and in the eval adapter, and config refusals. One step of every loss is compared
with the authors' code in docs/training.md (their code is not vendored)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_frames_dataset

from vgbench.models.checkpoint import CheckpointError, load_native, save_native
from vgbench.models.motionvideogan import load_generator
from vgbench.training.config import ConfigError, load_config, resolve
from vgbench.training.data import TrainingDataError
from vgbench.training.discriminator import Discriminator, image_kwargs
from vgbench.training.loop import train
from vgbench.training.loss import path_length_penalty
from vgbench.training.motionstylegan import PairClips

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: one torch thread for this module


def _frames_folder(root: Path, lengths=(6, 9, 12), size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    return write_frames_dataset(root, {f"v{i}": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
                                       for i, n in enumerate(lengths)})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _frames_folder(tmp_path_factory.mktemp("pairs") / "data")


@pytest.fixture(scope="module")
def tiny_run(data, tmp_path_factory):
    """5 steps of the tiny stage 1 (batch 4 in two passes; snapshots after steps 3 and 5)."""
    run = tmp_path_factory.mktemp("train") / "run"
    return run, train("motionvideogan", None, str(data), run, config="tiny", stage="pairs", progress=False)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _pairs_config(*sets):
    cfg = load_config("motionvideogan", "tiny", sets)
    cfg["stage"] = "pairs"
    return cfg


# ------------------------------------------------------------------------------------------------ pieces

def test_every_ordered_pair_once_per_epoch(data):
    """Videos of 6, 9, 12 frames, k = 4: 2, 5, 8 starts, 30 ordered pairs, 60 with the mirrored copies; one epoch
    of the stream shows each exactly once (uniform over pairs, so a video's share is proportional to n - k), with
    the former frame in channels 0-2."""
    ds = PairClips(str(data), resolution=16, interval=4, mirror=True, seed=5)
    assert (ds.num_pairs, len(ds)) == (30, 60)
    want = {(v, t + s * 4, t + (1 - s) * 4, m) for v, n in enumerate((6, 9, 12)) for t in range(n - 4)
            for s in (0, 1) for m in (False, True)}
    seen = [ds.pair(ds.item_index(k)) for k in range(60)]
    assert len(set(seen)) == 60 and set(seen) == want
    assert sorted(ds.pair(ds.item_index(k)) for k in range(60, 120)) == sorted(want)  # the next epoch too
    for k in (0, 1, 7, 33):
        it = ds.item(k)
        v, a, b, mirrored = ds.pair(it["index"])
        frames = ds.videos[v].read([a, b])
        if mirrored:
            frames = frames[:, :, ::-1]
        assert torch.equal(it["image"], torch.from_numpy(np.ascontiguousarray(
            frames.transpose(0, 3, 1, 2))).reshape(6, 16, 16))
    assert len(PairClips(str(data), resolution=16, interval=4, mirror=False)) == 30
    with pytest.raises(TrainingDataError, match="shorter than the 7 frames"):
        PairClips(str(data), resolution=16, interval=6)


def test_path_length_penalty_closed_form():
    """img = ws (.) M for a fixed M: d sum(img * y) / d ws = sum over pixels of M * y, lengths and the running mean
    follow by hand."""
    g = torch.Generator().manual_seed(0)
    M = torch.randn(3, 4, 2, 5, 5, generator=g)  # [layers, dim, C, H, W]
    ws = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    img = torch.einsum("nld,ldchw->nchw", ws, M)
    noise = torch.randn(img.shape, generator=g)
    penalty, mean = path_length_penalty(img, ws, noise, torch.tensor(0.5), 0.01)
    J = torch.einsum("ldchw,nchw->nld", M, noise / 5.0)  # y = noise / sqrt(H W)
    lengths = J.square().sum(2).mean(1).sqrt()
    want_mean = 0.5 + 0.01 * (lengths.mean() - 0.5)
    assert float(mean) == pytest.approx(float(want_mean), rel=1e-6)
    assert torch.allclose(penalty.detach(), (lengths - want_mean) ** 2, rtol=1e-5)


def test_image_discriminator_has_the_authors_keys():
    """``image_kwargs`` (one frame per sample) builds ``networks_stylegan2.Discriminator``'s state dict: keys and
    shapes of the authors' network at 16 px, 6 channels, channel_base 256, channel_max 32 (listed from their code);
    no time encoder, no mapping."""
    D = Discriminator(**image_kwargs(16, 6, 256, 32, 2, 256, 2))
    got = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    want = {"b16.fromrgb.weight": (16, 6, 1, 1), "b16.fromrgb.bias": (16,), "b16.conv0.weight": (16, 16, 3, 3),
            "b16.conv0.bias": (16,), "b16.conv1.weight": (32, 16, 3, 3), "b16.conv1.bias": (32,),
            "b16.skip.weight": (32, 16, 1, 1), "b8.conv0.weight": (32, 32, 3, 3), "b8.conv0.bias": (32,),
            "b8.conv1.weight": (32, 32, 3, 3), "b8.conv1.bias": (32,), "b8.skip.weight": (32, 32, 1, 1),
            "b4.conv.weight": (32, 33, 3, 3), "b4.conv.bias": (32,), "b4.fc.weight": (32, 512), "b4.fc.bias": (32,),
            "b4.out.weight": (1, 32), "b4.out.bias": (1,)}
    want.update({f"{k}.resample_filter": (4, 4) for k in (
        "b16", "b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip", "b8", "b8.conv0", "b8.conv1", "b8.skip", "b4.conv")})
    assert got == want
    out = D(torch.randn(4, 6, 16, 16), None, torch.zeros(4, 1), force_fp32=True)
    assert out.shape == (4,)


# ------------------------------------------------------------------------------------------------ runs

def test_tiny_run_trains_and_snapshots(tiny_run):
    run, summary = tiny_run
    assert summary["step"] == 5 and summary["kimg"] == pytest.approx(0.02)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ticks = [e for e in log if e["event"] == "tick"]
    assert [e["step"] for e in ticks] == [2, 4, 5]
    assert all(np.isfinite(e[k]) for e in ticks for k in ("G_loss", "D_loss"))
    # Greg every 4 steps (steps 0 and 4), Dreg every 16 (step 0): in the ticks of steps 0-1 and 4 only
    assert ["PL" in e for e in ticks] == [True, False, True] and ["R1" in e for e in ticks] == [True, False, False]
    assert [e["checkpoint"] for e in log if e["event"] == "snapshot"] == ["snapshot-000003.vgb",
                                                                          "snapshot-000005.vgb"]
    st = _state(run / "snapshot-000005.state.pt")
    assert st["model"] == "motionvideogan" and st["step"] == 5 and st["cur_nimg"] == 20
    assert float(st["pl_mean"]) > 0  # the running mean moved from 0 in the two Greg phases
    config, weights = load_native(run / "snapshot-000005.vgb")
    assert config["network"] == "MotionStyleGAN" and config["init_kwargs"]["img_channels"] == 6
    assert all(torch.equal(v, st["G_ema"][k]) for k, v in weights.items())
    from PIL import Image

    assert Image.open(run / "grid-000005.png").size == (2 * 32, 16)  # 2 pairs, former | latter, in one row


def test_resume_continues_bit_for_bit(tiny_run, data, tmp_path):
    run, _ = tiny_run
    part = tmp_path / "part"
    train("motionvideogan", None, str(data), part, config="tiny", stage="pairs", kimg=0.012, progress=False)
    train("motionvideogan", None, None, part, resume=True, kimg=0.02, progress=False)
    full, resumed = _state(run / "snapshot-000005.state.pt"), _state(part / "snapshot-000005.state.pt")
    for net in ("G", "D", "G_ema"):
        assert all(torch.equal(v, resumed[net][k]) for k, v in full[net].items()), net
    for opt in ("G_opt", "D_opt"):
        a, b = full[opt]["state"], resumed[opt]["state"]
        assert all(torch.equal(a[i]["exp_avg_sq"], b[i]["exp_avg_sq"]) for i in a), opt
    assert torch.equal(full["pl_mean"], resumed["pl_mean"]) and full["augment_p"] == resumed["augment_p"]
    assert (part / "snapshot-000005.vgb").read_bytes() != b""
    assert load_native(part / "snapshot-000005.vgb")[1].keys() == load_native(run / "snapshot-000005.vgb")[1].keys()


def test_snapshot_drives_stage_3_and_eval(tiny_run, data, tmp_path):
    """The .vgb is ``load_generator``'s G_ema, trains a stage-3 step as motion.generator (copied as
    inputs/generator.vgb) and the stage-3 manifest renders in ``vgbench eval``'s adapter."""
    from vgbench.models import get_adapter
    from vgbench.models.motionvideogan import frame_plan

    run, _ = tiny_run
    vgb = run / "snapshot-000005.vgb"
    G, kwargs = load_generator(vgb)
    assert kwargs["img_channels"] == 6 and G.img_resolution == 16
    assert all(torch.equal(v, load_native(vgb)[1][k]) for k, v in G.state_dict().items())
    dirs = tmp_path / "dirs"
    dirs.mkdir()
    rng = np.random.default_rng(1)
    for name in ("forward_direction.npy", "backward_direction.npy"):
        np.save(dirs / name, rng.standard_normal((6, G.w_dim)).astype(np.float32))
    motion, clips = tmp_path / "motion", _frames_folder(tmp_path / "clips", lengths=(12, 12))
    train("motionvideogan", None, str(clips), motion, config="tiny", kimg=0.016, progress=False,
          sets=(f"motion.generator={vgb}", f"motion.directions={dirs}"))
    assert (motion / "inputs" / "generator.vgb").read_bytes() == vgb.read_bytes()
    manifest = motion / "snapshot-000001.json"
    assert json.loads(manifest.read_text())["generator"] == "inputs/generator.vgb"
    a = get_adapter("motionvideogan", str(manifest), device="cpu")
    video = a.render(a.video_codes(torch.randn(1, G.z_dim), torch.randn(3, G.z_dim)), frame_plan(4))
    assert video.shape == (4, 16, 16, 3) and video.dtype == np.uint8


def test_load_generator_refuses_other_vgb(tmp_path):
    other = save_native(tmp_path / "other.vgb", "stylegan_v", {}, {"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="stylegan_v, not a MotionStyleGAN"):
        load_generator(other)


# ------------------------------------------------------------------------------------------------ config

@pytest.mark.parametrize("sets, match", [
    (("pairs.schedule.fvd_kimg=10",), "fvd_kimg must be 0"),
    (("pairs.train.batch_gpu=4", "pairs.discriminator.mbstd_group_size=3"), "multiple of pairs.discriminator"),
    (("pairs.train.batch_gpu=3",), "must divide the batch per rank"),
    (("pairs.generator.w_dim=16",), "z_dim \\(32\\) must equal w_dim"),
    (("pairs.data.resolution=8",), "power of two >= 16"),
    (("pairs.loss.style_mixing_prob=1.5",), "style_mixing_prob must be in"),
    (("pairs.data.interval=0",), "interval must be >= 1"),
])
def test_config_refusals(sets, match):
    with pytest.raises(ConfigError, match=match):
        resolve(_pairs_config(*sets))


def test_recipe_defaults():
    """The bundled defaults are the README's recipe: batch 32, gamma 1, mirror, 25000 kimg, EMA 10 kimg with
    ramp-up 0.05, ADA kimg 500, lazy intervals 4 / 16, lr 0.002."""
    from vgbench.training.config import PAIRS_DEFAULTS

    cfg = resolve({"model": "motionvideogan", "stage": "pairs", "dataset": "", "paper": "", **PAIRS_DEFAULTS})
    assert cfg["train"]["ema_kimg"] == 10 and cfg["train"]["batch_gpu"] == 32
    assert (cfg["loss"]["r1_gamma"], cfg["loss"]["pl_weight"], cfg["loss"]["style_mixing_prob"]) == (1, 2, 0.9)
    assert (cfg["augment"]["kimg"], cfg["train"]["ema_rampup"], cfg["optim"]["lr"]) == (500, 0.05, 0.002)
    assert cfg["data"]["interval"] == 4 and cfg["data"]["mirror"] is True and cfg["train"]["kimg"] == 25000


def test_bundled_configs_resolve_for_stage_1():
    from vgbench.data.cards import load_card
    from vgbench.training.config import list_configs

    assert {"tiny", "ffs", "sky", "ucf101"} <= set(list_configs("motionvideogan"))
    for name, batch in (("ffs", 16), ("sky", 32), ("ucf101", 32)):  # appendix VII-A's batches
        cfg = load_config("motionvideogan", name)
        cfg["stage"] = "pairs"
        r = resolve(cfg, world_size=4)  # the paper's 4 GPUs, minibatch-stddev groups of 4
        assert r["train"]["batch_size"] == batch and r["train"]["batch_gpu"] == batch // 4
        assert r["train"]["ema_kimg"] == batch * 10 / 32
        assert r["paper"].startswith("MotionVideoGAN (IEEE TMM 2023) Table I,")  # the stage's own entry
        assert resolve(load_config("motionvideogan", name, (f"motion.generator={name}.pkl", "motion.directions=d")),
                       world_size=4)["paper"].startswith("MotionVideoGAN (IEEE TMM 2023) Table II")  # stage 3: II or III
        assert load_card(r["dataset"])["resolution"] == [r["data"]["resolution"]] * 2


def test_three_stages_chain_through_the_cli(tiny_run, tmp_path):
    """Stage 1's snapshot -> `--stage directions` on it -> `--stage motion` on both -> `vgbench eval`'s adapter: the
    run folders are each other's inputs, with no file moved by hand."""
    from click.testing import CliRunner

    from vgbench.cli import main
    from vgbench.models import get_adapter

    run, _ = tiny_run
    vgb = run / "snapshot-000005.vgb"

    def cli(*args):
        r = CliRunner().invoke(main, ["train", "--model", "motionvideogan", "--config", "tiny", "--no-progress", *args])
        assert r.exit_code == 0, r.output
        return json.loads(r.output.strip().splitlines()[-1])

    dirs = tmp_path / "dirs"
    cli("--stage", "directions", "--out", str(dirs), "--set", f"directions.generator={vgb}",
        "--set", "directions.num_samples=1")
    forward, backward = np.load(dirs / "forward_direction.npy"), np.load(dirs / "backward_direction.npy")
    rank = min(len(forward), len(backward))
    assert rank >= 1 and forward.shape[1] == backward.shape[1] == 32
    np.testing.assert_allclose(np.linalg.norm(forward, axis=1), 1, atol=1e-6)
    motion = tmp_path / "motion"
    clips = _frames_folder(tmp_path / "clips", lengths=(12, 12))
    summary = cli("--out", str(motion), "--data", str(clips), "--kimg", "0.016", "--set", f"motion.generator={vgb}",
                  "--set", f"motion.directions={dirs}", "--set", f"motion.n_direction={rank}")
    assert summary["step"] == 1
    a = get_adapter("motionvideogan", str(motion / "snapshot-000001.json"), device="cpu")
    videos = np.concatenate(list(a.sample(2, frames=5, seed=0)))
    assert videos.shape == (2, 5, 16, 16, 3) and videos.dtype == np.uint8
    assert np.array_equal(np.load(motion / "inputs" / "forward_direction.npy"), forward)


def test_world_size_1_and_2_give_the_same_step(tiny_run, data, tmp_path):
    """The tiny stage 1 (batch 4 in forward passes of 2) on 2 gloo processes under torchrun, one pass each, against
    the 1-process run: the same losses at every step (Gmain, Dmain, the path length at steps 0 and 4, R1 at step 0)
    and the same G, D, G_ema and ``pl_mean`` after 5 steps, up to float reduction order."""
    from conftest import torchrun

    run, _ = tiny_run
    two = tmp_path / "two"
    torchrun(2, "-m", "vgbench", "train", "--model", "motionvideogan", "--stage", "pairs", "--config", "tiny",
             "--data", str(data), "--out", str(two), "--no-progress")
    logs = [[json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()] for d in (run, two)]
    assert logs[1][0]["world_size"] == 2
    ticks = [[e for e in log if e["event"] == "tick"] for log in logs]
    assert len(ticks[0]) == len(ticks[1]) == 3
    for x, y in zip(*ticks):
        for key in ("G_loss", "D_loss", "PL", "R1", "augment_p"):
            assert (key in x) == (key in y), (x["step"], key)
            if key in x:
                assert y[key] == pytest.approx(x[key], rel=1e-4, abs=1e-7), (x["step"], key)
    a, b = _state(run / "snapshot-000005.state.pt"), _state(two / "snapshot-000005.state.pt")
    assert float(b["pl_mean"]) == pytest.approx(float(a["pl_mean"]), rel=1e-5)
    for net in ("G", "D", "G_ema"):
        for k, v in a[net].items():
            torch.testing.assert_close(b[net][k], v, rtol=1e-4, atol=1e-4, msg=f"{net}.{k}")
