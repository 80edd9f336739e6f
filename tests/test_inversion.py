"""Temporal GAN inversion (vgbench.inversion, `vgbench invert`): the objective and one optimiser step against a
hand computation, schedules, preprocessing, and inversion of videos rendered by a tiny CTSVG generator."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vgbench import inversion as I
from vgbench.detectors import lpips as L

from test_lpips import make_backbone, make_heads


@pytest.fixture(scope="module")
def lpips_vgg():
    return L.LPIPS("vgg", make_backbone("vgg"), make_heads("vgg"))


# --------------------------------------------------------------------------- generic parts, hand computations


def toy_problem(size=32, dim=6, frames=3, seed=0):
    """A smooth differentiable 'generator': images = tanh(A code + tau B), shaped [n, 3, size, size]."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(3 * size * size, dim, generator=g) * 0.5
    B = torch.randn(3 * size * size, generator=g) * 0.1

    def render(code, times, generator=None):
        flat = torch.tanh(code.float() @ A.T + times.float()[:, None] * B[None])
        return flat.view(len(times), 3, size, size)

    times = torch.arange(frames, dtype=torch.float64)
    truth = torch.randn(1, dim, generator=g)
    with torch.no_grad():
        target = render(truth, times)
    return render, times, truth, target


def hand_loss(images, target, lpips):
    lp = sum(lpips(images[f:f + 1], target[f:f + 1])[0] for f in range(images.shape[0]))
    return lp + 100.0 * ((images - target) ** 2).mean(), lp


def test_schedules_are_the_official_ramps():
    cfg = I.InversionConfig()
    assert (cfg.steps, cfg.lr, cfg.mse_weight, cfg.lpips_weight, cfg.n_mean) == (250, 0.1, 100.0, 1.0, 10000)
    assert I.lr_at(0.0, cfg) == 0.0  # linear ramp-up from 0 over the first 5 %
    assert I.lr_at(0.025, cfg) == pytest.approx(0.05)
    assert I.lr_at(0.5, cfg) == pytest.approx(0.1)
    assert I.lr_at(0.9, cfg) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)))
    assert I.lr_at(1.0, cfg) == 0.0
    assert I.latent_noise_strength(0.0, 2.0, cfg) == pytest.approx(0.1)  # std * 0.05
    assert I.latent_noise_strength(0.375, 2.0, cfg) == pytest.approx(0.1 * 0.25)
    assert I.latent_noise_strength(0.8, 2.0, cfg) == 0.0


def test_objective_matches_hand_computation(lpips_vgg):
    render, times, truth, target = toy_problem()
    images = render(truth + 0.3, times)
    cfg = I.InversionConfig()
    loss, lp, se = I.objective(images, target, lpips_vgg, cfg)
    want, want_lp = hand_loss(images, target, lpips_vgg)
    torch.testing.assert_close(lp, want_lp, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-7)
    assert float(se) == pytest.approx(float(((images - target) ** 2).sum()), rel=1e-6)
    assert float(want_lp) > 0.01 and float(loss - want_lp) > 0.01  # both terms really contribute


def test_optimiser_steps_match_hand_adam(lpips_vgg):
    """Three steps (lr 0, 0.1, 0.1 by the ramp), no latent noise, frames in chunks of 2 (gradient accumulation):
    the code equals Adam written out by hand on the hand-computed loss."""
    render, times, truth, target = toy_problem()
    cfg = I.InversionConfig(steps=3, latent_noise=0.0, frame_batch=2, n_mean=100)
    start = torch.zeros(1, truth.shape[1])
    res = I.invert(render, target, times, lpips_vgg, cfg, code_init=start, code_std=1.0, progress=False)

    code = start.clone()
    m = torch.zeros_like(code)
    v = torch.zeros_like(code)
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses = []
    for k in range(1, 4):
        c = code.clone().requires_grad_(True)
        loss, _ = hand_loss(render(c, times), target, lpips_vgg)
        (grad,) = torch.autograd.grad(loss, c)
        losses.append(loss.item())
        lr = I.lr_at((k - 1) / 3, cfg)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        code = code - lr * (m / (1 - b1 ** k)) / ((v / (1 - b2 ** k)).sqrt() + eps)
    assert [I.lr_at(k / 3, cfg) for k in range(3)] == [0.0, pytest.approx(0.1), pytest.approx(0.1)]
    np.testing.assert_allclose(res.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(res.code, code.numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(res.code - start.numpy()).max() > 0.05  # the two non-zero steps really moved it


def test_code_statistics_is_the_mean_and_scalar_spread():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(4, 4, generator=g)
    mean, std = I.code_statistics(lambda z: z @ W, 4, 1000, torch.Generator().manual_seed(3), batch=300)
    z = torch.randn(1000, 4, generator=torch.Generator().manual_seed(3))
    m = z @ W
    torch.testing.assert_close(mean, m.mean(0, keepdim=True), rtol=1e-5, atol=1e-6)
    assert std == pytest.approx(float(((m - m.mean(0)) ** 2).sum(1).mean().sqrt()), rel=1e-5)


def test_resize_is_shorter_side_then_centre_crop():
    from PIL import Image

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    out = I.resize_center_crop(frame, 32)
    # hand: shorter side 48 -> 32, longer 80 -> int(32 * 80 / 48) = 53, crop left round((53 - 32) / 2) = 10
    ref = np.asarray(Image.fromarray(frame).resize((53, 32), Image.BILINEAR))[:, 10:42]
    assert out.shape == (32, 32, 3) and np.array_equal(out, ref)
    same = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert I.resize_center_crop(same, 32) is same
    x = I.frames_to_tensor(np.array([[[[0, 255, 128]]]], np.uint8))
    torch.testing.assert_close(x.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))
    assert I.psnr(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.2)) == pytest.approx(10 * math.log10(4 / 0.04))


# --------------------------------------------------------------------------- CTSVG (tiny official-format fixture)

FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "ctsvg_tiny.pt"


@pytest.fixture(scope="module")
def ctsvg():
    from vgbench.models import get_adapter

    if not FIXTURE.exists():
        pytest.skip("tests/fixtures/ctsvg_tiny.pt missing (python scripts/make_tiny_checkpoints.py --only ctsvg)")
    return get_adapter("ctsvg", str(FIXTURE))


@pytest.fixture(scope="module")
def lpips_alex():
    return L.LPIPS("alex", make_backbone("alex"), make_heads("alex"))


def known_motion(problem, actor=1, action=2, frames=4, seed=5):
    """A target video rendered by the generator itself from a known motion style (stored noise)."""
    z = torch.randn(1, problem.z_dim, generator=torch.Generator().manual_seed(seed))
    m_true = problem.mapping(z)
    times = torch.arange(frames, dtype=torch.float64)
    with torch.no_grad():
        target = problem.renderer(actor, action)(m_true, times, None)
    return m_true, times, target


def test_recovers_a_known_motion_style(ctsvg, lpips_alex):
    problem = I.PROBLEMS["ctsvg"](ctsvg)
    assert (problem.z_dim, problem.resolution, problem.labels) == (16, 64, {"actor": 4, "action": 3})
    m_true, times, target = known_motion(problem)
    mean, std = I.code_statistics(problem.mapping, problem.z_dim, 2000, torch.Generator().manual_seed(0))
    cfg = I.InversionConfig(steps=30, spatial_noise="const")
    res = I.invert(problem.renderer(1, 2), target, times, lpips_alex, cfg, code_init=mean, code_std=std,
                   progress=False)
    loss, mse = res.history["loss"], res.history["mse"]
    # decreases "monotonically-ish": every window of 6 steps has a lower mean than the one before
    windows = loss.reshape(5, 6).mean(1)
    assert np.all(np.diff(windows) < 0), windows
    assert loss[-1] < 0.1 * loss[0]
    with torch.no_grad():
        final = problem.renderer(1, 2)(torch.from_numpy(res.code), times, None)
    final_mse = float(((final - target) ** 2).mean())
    assert mse[0] > 0.01  # the start is visibly wrong ...
    assert final_mse < 0.05 * mse[0], (final_mse, mse[0])  # ... the end is 20x closer
    d0 = float((mean - m_true).norm())
    d1 = float((torch.from_numpy(res.code) - m_true).norm())
    assert d1 < 0.3 * d0, (d0, d1)  # and the code itself moved towards the truth
    # reproducible: same seed, same result
    res2 = I.invert(problem.renderer(1, 2), target, times, lpips_alex, I.InversionConfig(steps=2), code_init=mean,
                    code_std=std, seed=3, progress=False)
    res3 = I.invert(problem.renderer(1, 2), target, times, lpips_alex, I.InversionConfig(steps=2), code_init=mean,
                    code_std=std, seed=3, progress=False)
    np.testing.assert_array_equal(res2.code, res3.code)


def write_npy_video(path, frames_u8):
    np.save(path, frames_u8[None])
    return path


def test_rerender_keeps_the_motion_and_lia(ctsvg, lpips_alex, tmp_path):
    """API run (PNG frames out): the re-render on another actor is G(content(actor K), m*, tau) exactly, the
    re-render on the inverted actor is the reconstruction, and --lia stores a (here undefined: no faces) LiA block."""
    from PIL import Image

    problem = I.PROBLEMS["ctsvg"](ctsvg)
    m_true, times, target = known_motion(problem, frames=4)
    video = write_npy_video(tmp_path / "clip.npy", I.tensor_to_uint8(target))
    try:
        from vgbench.detectors.face import face_config

        face_config("landmarks", auto_fetch=False)
        lia = True
    except Exception:  # noqa: BLE001 - no face extra or weights here: the rest of the test still runs
        lia = False
    cfg = I.InversionConfig(steps=4, spatial_noise="const", n_mean=300)
    rec = I.run_inversion(video, ckpt=str(FIXTURE), actor=1, action=2, out_dir=tmp_path / "out", config=cfg,
                          frames=4, render_actors=(3, 1), render_action=0, video_format="png", lia=lia,
                          device="cpu", progress=False, lpips_model=lpips_alex)
    z = np.load(tmp_path / "out" / "motion.npz")
    m = torch.from_numpy(z["code"])
    assert m.shape == (1, 16) and z["history_loss"].shape == (4,)

    def read(name):
        d = tmp_path / "out" / name
        return np.stack([np.asarray(Image.open(p)) for p in sorted(d.glob("*.png"))])

    for actor in (3, 1):
        with torch.no_grad():
            want = I.tensor_to_uint8(problem.renderer(actor, 0)(m, times, None))
        got = read(f"render_actor{actor}_action0")
        assert got.shape == (4, 64, 64, 3) and np.array_equal(got, want)
    with torch.no_grad():
        recon = I.tensor_to_uint8(problem.renderer(1, 2)(m, times, None))
    assert np.array_equal(read("reconstruction"), recon)
    assert not np.array_equal(read("render_actor3_action0"), recon)  # another actor really looks different
    assert rec["outputs"]["videos"]["render_actor3"] == {"path": "render_actor3_action0", "format":
                                                         "folder of lossless PNG frames", "fps": 30.0, "frames": 4,
                                                         "actor": 3, "action": 0}
    if lia:
        block = rec["lia"]
        assert set(block["videos"]) == {"reconstruction", "render_actor3", "render_actor1"}
        assert block["real"]["frames"] == 4 and block["landmarks"]["sha256"]
        assert block["real"]["frames_no_face"] == 4  # random tiny frames hold no face ...
        for v in block["videos"].values():  # ... so no correlation is defined, and that is counted, not faked
            assert v["frames"] == 4 and v["frames_no_face"] == 4 and v["rho"] is None and v["frames_used"] == 0


def install_lpips(home, net="alex"):
    from test_lpips import install_cached

    install_cached(home, f"lpips_{net}", make_heads(net), "pinned")
    install_cached(home, {"alex": "alexnet_imagenet", "vgg": "vgg16_imagenet"}[net], make_backbone(net), "c" * 64)


def test_cli_writes_outputs_refuses_overwrite_and_names_missing_weights(ctsvg, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from vgbench.cli import main
    from vgbench.io.sources import open_source
    from vgbench.utils import sha256_file

    problem = I.PROBLEMS["ctsvg"](ctsvg)
    _, _, target = known_motion(problem, frames=5)
    video = tmp_path / "real.mp4"
    I.write_video(video, I.tensor_to_uint8(target), 25.0)
    out = tmp_path / "inv"
    args = ["invert", str(video), "--ckpt", str(FIXTURE), "--actor", "1", "--action", "2", "--out", str(out),
            "--steps", "3", "--frames", "4", "--n-mean", "200", "--lpips-backbone", "alex", "--spatial-noise",
            "const", "--render-actor", "0", "--seed", "7", "--device", "cpu", "--no-progress"]
    runner = CliRunner()

    monkeypatch.setenv("VGBENCH_HOME", str(tmp_path / "empty_home"))
    r = runner.invoke(main, args)
    assert r.exit_code != 0
    assert "alexnet_imagenet" in r.output and "vgbench weights import alexnet_imagenet" in r.output
    assert "alexnet-owt-7be5be79.pth" in r.output and not out.exists()

    home = tmp_path / "home"
    install_lpips(home, "alex")
    monkeypatch.setenv("VGBENCH_HOME", str(home))
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "final: LPIPS/frame" in r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["motion.npz", "reconstruction.mp4", "record.json", "render_actor0_action2.mp4"]
    z = np.load(out / "motion.npz")
    assert z["code"].shape == (1, 16) and z["code_init"].shape == (1, 16)
    assert [z[f"history_{k}"].shape for k in ("loss", "lpips", "mse", "lr")] == [(3,)] * 4
    np.testing.assert_allclose(z["times"], [0, 1, 2, 3])
    rec = json.loads((out / "record.json").read_text())
    assert rec["schema"] == "vgbench.inversion/1"
    assert rec["model"]["checkpoint_sha256"] == sha256_file(FIXTURE)
    assert rec["lpips"]["heads"]["sha256"] == "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
    assert rec["lpips"]["backbone"]["sha256"] == "c" * 64
    p = rec["parameters"]
    assert (p["steps"], p["lr"], p["mse_weight"], p["frames"], p["actor"], p["action"], p["seed"]) == \
           (3, 0.1, 100.0, 4, 1, 2, 7)
    assert p["render_actors"] == [0] and p["spatial_noise"] == "const" and p["lpips_backbone"] == "alex"
    assert rec["input"]["frames_in_video"] == 5 and rec["input"]["frames_used"] == 4
    assert rec["input"]["file_sha256"] == sha256_file(video) and rec["input"]["fps"] == pytest.approx(25.0)
    for key in ("initial", "final"):
        assert {"lpips_sum", "lpips_mean", "mse", "psnr", "loss"} <= set(rec["results"][key])
    assert rec["results"]["final"]["mse"] < rec["results"]["initial"]["mse"]
    assert {"total_seconds", "optimisation_seconds", "seconds_per_step"} <= set(rec["timing"])
    assert "git_commit" in rec["env"] and rec["env"]["packages"]["torch"]
    v = next(iter(open_source(out / "render_actor0_action2.mp4")))
    assert v.num_frames == 4 and v.read([0]).shape == (1, 64, 64, 3)

    r = runner.invoke(main, args)  # outputs exist: refused, nothing changed
    assert r.exit_code != 0 and "--overwrite" in r.output and "record.json" in r.output
    assert json.loads((out / "record.json").read_text())["created"] == rec["created"]
    r = runner.invoke(main, args + ["--overwrite", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["parameters"]["seed"] == 7

    r = runner.invoke(main, args[:4] + ["--actor", "9"] + args[6:] + ["--overwrite"])
    assert r.exit_code != 0 and "actor 9 is out of range" in r.output and "4 actors" in r.output
