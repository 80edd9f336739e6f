"""The CUDA paths, run for real on a GPU (skipped where torch sees none; `scripts/gpu_checks.sh` runs this module and
the GPU benchmarks in one go). Each test compares the CUDA result with the CPU result of the same code on the same
inputs and, when ``VGBENCH_CUDA_REPORT`` names a file, appends what it measured there as one JSON line (the numbers
in docs/testing.md "GPU checks" come from that file)."""
from __future__ import annotations

import contextlib
import json
import os
import time

import numpy as np
import pytest
import torch

from vgbench.utils import exact_float32

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (scripts/gpu_checks.sh runs this module on a GPU machine)")


def report(test: str, **numbers) -> None:
    path = os.environ.get("VGBENCH_CUDA_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"test": test, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                **numbers}) + "\n")


def _clips(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` smooth 16x224x224 uint8 clips (the tiny renderer's moving shapes, upscaled)."""
    from vgbench.data.tiny import render_video

    out = []
    for i in range(n):
        v = torch.from_numpy(render_video(seed, i, range(16))).permute(0, 3, 1, 2).float()
        v = torch.nn.functional.interpolate(v, size=(224, 224), mode="bilinear", align_corners=False)
        out.append(v.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return out


def test_i3d_logits_on_cuda_match_the_cpu():
    """The FVD network on CUDA (float32, TF32 switched off inside the detector) gives the CPU logits: the same
    bound as the conformance test against the independent implementation (1e-3)."""
    from vgbench.detectors import get_detector

    clips = _clips(6)
    cpu = np.asarray(get_detector("i3d", "cpu")(clips))
    gpu_det = get_detector("i3d", "cuda")
    gpu = np.asarray(gpu_det(clips))
    diff = np.abs(cpu - gpu)
    report("i3d_cuda_vs_cpu", clips=len(clips), max_abs_logit_diff=float(diff.max()),
           mean_abs_logit_diff=float(diff.mean()), logit_scale=float(np.abs(cpu).max()))
    assert gpu.shape == (6, 400) and gpu.dtype == np.float32
    assert diff.max() < 1e-3


def test_probe_batch_size_fits_the_free_memory():
    """On CUDA the batch is sized from one clip's measured peak: a number in [1, 256], and a batch of that size
    (at most 64 here, to keep the check short) runs without running out of memory; its peak is reported."""
    from vgbench.detectors import get_detector
    from vgbench.features import MAX_AUTO_BATCH, probe_batch_size

    det = get_detector("i3d", "cuda")
    clip = _clips(1)[0]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    b = probe_batch_size(det, clip, "cuda")
    probe_s = time.perf_counter() - t0
    assert isinstance(b, int) and 1 <= b <= MAX_AUTO_BATCH
    batch = [clip] * min(b, 64)
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = np.asarray(det(batch))
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    assert out.shape == (len(batch), 400) and np.isfinite(out).all()
    free, total = torch.cuda.mem_get_info()
    report("probe_batch_size", batch_size=b, probe_seconds=round(probe_s, 3), ran_batch=len(batch),
           batch_seconds=round(dt, 3), clips_per_s=round(len(batch) / dt, 1),
           peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2), free_gib=round(free / 2**30, 1),
           total_gib=round(total / 2**30, 1))


def test_fvd16_on_cuda_equals_the_cpu_value():
    """FVD16 of 24 generated videos against the shipped tiny statistics: the whole metric path (reader, resize,
    I3D, statistics, Fréchet distance) on CUDA gives the CPU value."""
    import warnings

    import vgbench
    from vgbench.data.tiny import render_video
    from vgbench.io.sources import IterableSource

    def fakes():
        for i in range(24):
            yield render_video(7, i, range(16))

    values, seconds = {}, {}
    for dev in ("cpu", "cuda"):
        src = IterableSource(fakes(), description={"kind": "generator", "name": "tiny-renderer-seed7"})
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = vgbench.fvd(vgbench.reference_stats_path("tiny_fvd16"), src, "fvd16", device=dev, progress=False,
                            bootstrap=0, resume_dir=None)
        seconds[dev] = round(time.perf_counter() - t0, 2)
        values[dev] = r.value
    rel = abs(values["cuda"] - values["cpu"]) / values["cpu"]
    report("fvd16_cuda_vs_cpu", videos=24, fvd_cpu=values["cpu"], fvd_cuda=values["cuda"], relative_diff=rel,
           seconds=seconds)
    assert rel < 1e-4


@pytest.mark.parametrize("kind", ["stylegan_v", "mostgan_v"])
def test_generator_precisions_on_cuda(kind):
    """Full-size 256x256 generator (official config, random weights), 2 videos x 3 frames: real float16 on CUDA
    (``fp16``, the papers' setting) against the same code path in float32 (``fp16-emulated``) on CUDA and on the CPU,
    and ``fp32`` CUDA against CPU, in vgbench's float32 (TF32 off, :func:`vgbench.utils.exact_float32`); reported
    too: ``fp32`` with PyTorch's default TF32 convolutions. The CPU measurements against the authors' float16 path
    (docs/models.md) put float16 rounding at <= 0.016 on [-1, 1] images; float32 alone must agree to 1e-3."""
    from vgbench.models import mostgan_v, stylegan_v

    mod = stylegan_v if kind == "stylegan_v" else mostgan_v
    torch.manual_seed(0)
    G = mod.Generator(**mod.official_config(256)).eval().requires_grad_(False)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([[0, 5, 11], [2, 3, 40]])

    mz = G.sample_motion_z(2, t, generator=torch.Generator().manual_seed(3), device="cpu")

    def render(device, precision, tf32=False):
        g = G.to(device)
        with torch.no_grad(), contextlib.nullcontext() if tf32 else exact_float32(device):  # PyTorch's default
            out = g(z.to(device), None, t.to(device), motion_z=mz.to(device), precision=precision,
                    noise_mode="const")
        return out.float().cpu()

    ref_cpu = render("cpu", "fp16-emulated")
    fp32_cpu = render("cpu", "fp32")
    emu_gpu = render("cuda", "fp16-emulated")
    fp16_gpu = render("cuda", "fp16")
    fp32_gpu = render("cuda", "fp32")
    fp32_gpu_tf32 = render("cuda", "fp32", tf32=True)
    torch.cuda.synchronize()

    def d(a, b):
        x = (a - b).abs()
        return {"max": float(x.max()), "mean": float(x.mean())}

    diffs = {"fp16_cuda_vs_fp16_emulated_cpu": d(fp16_gpu, ref_cpu),
             "fp16_emulated_cuda_vs_cpu": d(emu_gpu, ref_cpu),
             "fp32_cuda_vs_cpu": d(fp32_gpu, fp32_cpu),
             "fp32_cuda_with_tf32_vs_cpu": d(fp32_gpu_tf32, fp32_cpu)}
    report(f"generator_precision_{kind}", resolution=256, frames=int(ref_cpu.shape[0]), **diffs)
    assert ref_cpu.shape == fp16_gpu.shape == (6, 3, 256, 256)
    assert torch.isfinite(fp16_gpu).all()
    assert diffs["fp16_cuda_vs_fp16_emulated_cpu"]["max"] < 0.05
    assert diffs["fp16_cuda_vs_fp16_emulated_cpu"]["mean"] < 0.005
    assert diffs["fp16_emulated_cuda_vs_cpu"]["max"] < 1e-3  # float32 rounding only (TF32 off)
    assert diffs["fp32_cuda_vs_cpu"]["max"] < 1e-3


def _data(model: str, stage: str | None, root) -> tuple[str, tuple]:
    """The data and ``--set``s the CPU tests of each trainer use."""
    if model in ("stylegan_v", "mostgan_v"):
        return "builtin:tiny", ()
    if model == "ctsvg":
        from test_train_ctsvg import _frames_folder
        return str(_frames_folder(root / "data")), ()
    if stage == "pairs":
        from test_train_motionstylegan import _frames_folder
        return str(_frames_folder(root / "data")), ()
    from test_train_motionvideogan import SETS, _frames_folder
    return str(_frames_folder(root / "data")), SETS


@pytest.mark.parametrize("model,stage,kimg", [("stylegan_v", None, 0.024), ("mostgan_v", None, 0.024),
                                              ("ctsvg", None, 0.024), ("motionvideogan", "pairs", 0.02),
                                              ("motionvideogan", "motion", 0.024)])
def test_every_trainer_runs_on_cuda_and_its_snapshot_loads_on_the_cpu(model, stage, kimg, tmp_path):
    """Each tiny config on CUDA (mixed precision where the model has it, R1 through the augmentation, pinned
    memory): the run finishes, every logged loss is finite, and the StyleGAN-V family's first logged losses are the
    CPU run's to float16 rounding (the other trainers are reported: their CUDA runs draw from CUDA generators). The
    last snapshot loads and samples on the CPU."""
    from vgbench.models import get_adapter
    from vgbench.training.loop import train

    data, sets = _data(model, stage, tmp_path)
    logs, seconds = {}, {}
    for dev in ("cpu", "cuda"):
        t0 = time.perf_counter()
        train(model, "tiny" if data == "builtin:tiny" else None, data, tmp_path / dev, config="tiny", kimg=kimg,
              progress=False, device=dev, stage=stage, sets=sets)
        seconds[dev] = round(time.perf_counter() - t0, 2)
        logs[dev] = [e for e in map(json.loads, (tmp_path / dev / "log.jsonl").read_text().splitlines())
                     if "G_loss" in e]
    assert logs["cuda"] and len(logs["cuda"]) == len(logs["cpu"])
    keys = [k for k in logs["cuda"][0] if k.endswith("_loss")]
    for e in logs["cuda"]:
        assert all(np.isfinite(e[k]) for k in keys), e
    first = {dev: [logs[dev][0][k] for k in keys] for dev in logs}
    report(f"train_{model}_{stage or 'default'}_tiny", seconds=seconds, first_logged_losses=first, keys=keys,
           logged=len(logs["cuda"]))
    if model in ("stylegan_v", "mostgan_v"):
        assert np.allclose(first["cuda"], first["cpu"], rtol=0.05, atol=0.02)
    if (model, stage) == ("motionvideogan", "pairs"):
        return  # the stage-1 network is read by --stage directions, not by eval (tests/test_train_motionstylegan.py)
    target = sorted(p for p in (tmp_path / "cuda").glob("snapshot-*") if p.suffix in (".vgb", ".json"))[-1]
    a = get_adapter(model, str(target), device="cpu", **({"native_fps": 30} if model == "motionvideogan" else {}))
    videos = np.concatenate(list(a.sample(2, 4, seed=0)))
    assert videos.shape[:2] == (2, 4) and videos.dtype == np.uint8
