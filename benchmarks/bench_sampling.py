"""Generator sampling speed: frames/s of every generator at its official full size with random weights (speed does
not depend on the values), through the adapter path vgbench eval uses (one video at a time, fixed-shape generator
calls, uint8 quantisation); plus `vgbench eval` end to end on the bundled tiny dataset with the shipped tiny
checkpoints.

StyleGAN-V / MoStGAN-V go through a full-size `.vgb` checkpoint. The other adapters are loaded from their tiny
official-format fixture and then get full-size random networks of the official configuration (MotionVideoGAN:
256x256 6-channel MotionStyleGAN + 512-d LSTM with 30 directions; CTSVG: the released MEAD 256x256 latent 256 / dyn
128 configuration; DIGAN: 128x128; MoCoGAN-HD: 256x256 rosinality StyleGAN2 + LSTM with 384 PCA components).

    python benchmarks/bench_sampling.py [--device cpu] [--videos 2] [--frames 16] [--no-eval] [--models a,b]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def full_size(kind: str, device: str, videos: int, frames: int) -> dict:
    from vgbench.models import get_adapter, mostgan_v, stylegan_v
    from vgbench.models.checkpoint import save_native

    mod = stylegan_v if kind == "stylegan_v" else mostgan_v
    kwargs = mod.official_config(256)
    torch.manual_seed(0)
    G = mod.Generator(**kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        p = save_native(Path(tmp) / "g.vgb", kind, kwargs, G.state_dict(), {"dataset_fps": 30})
        a = get_adapter(kind, str(p), device=device)
        next(a.sample(1, 16, seed=99))  # warm-up
        t0 = time.perf_counter()
        for _ in a.sample(videos, frames, seed=0, batch_size=1):
            pass
        dt = time.perf_counter() - t0
    params = sum(v.numel() for v in G.state_dict().values() if v.is_floating_point())
    return {"model": kind, "resolution": 256, "params": params, "videos": videos, "frames": frames,
            "seconds": round(dt, 2), "frames_per_s": round(videos * frames / dt, 2)}


FIXTURES = {"stylegan_v": "stylegan_v_tiny.pkl", "mostgan_v": "mostgan_v_tiny.pkl",
            "motionvideogan": "motionvideogan_tiny", "ctsvg": "ctsvg_tiny.pt", "digan": "digan_tiny.pkl",
            "mocogan_hd": "mocogan_hd_tiny"}


def full_size_adapter(kind: str, device: str):
    """A tiny-fixture adapter whose networks are replaced by full-size random ones (official configurations)."""
    from vgbench.models import get_adapter

    a = get_adapter(kind, str(ROOT / "tests" / "fixtures" / FIXTURES[kind]), device=device, native_fps=30)
    torch.manual_seed(0)
    if kind == "motionvideogan":
        from vgbench.models import stylegan2
        from vgbench.models.motionvideogan import LSTMModule

        a.G = stylegan2.Generator(z_dim=512, w_dim=512, mapping_kwargs={"num_layers": 8}, channel_base=32768,
                                  channel_max=512, fused_modconv_default="inference_only", c_dim=0,
                                  img_resolution=256, img_channels=6).eval()
        a.lstm = LSTMModule(512, 30, 512)
        a.lstm.set_directions(torch.randn(30, 512), torch.randn(30, 512))
        nets = [a.G, a.lstm]
    elif kind == "ctsvg":
        from vgbench.models import ctsvg

        a.G = ctsvg.Generator(**ctsvg.official_config(256, 256, 128)).eval()
        nets = [a.G]
    elif kind == "digan":
        from vgbench.models import digan

        a.G = digan.Generator(**digan.official_config(128)).eval()
        nets = [a.G]
    elif kind == "mocogan_hd":
        from vgbench.models.mocogan_hd import RNNModule
        from vgbench.models.rosinality import StyleGAN2Generator

        a.G = StyleGAN2Generator(256, 512, 8, 2).eval()
        a.rnn = RNNModule(512, 384, 384)
        a.rnn.set_pca(torch.linalg.qr(torch.randn(512, 512))[0][:384], torch.rand(384))
        nets = [a.G, a.rnn]
    else:
        raise ValueError(kind)
    for n in nets:
        n.to(device).requires_grad_(False)
    return a, sum(v.numel() for n in nets for v in n.state_dict().values() if v.is_floating_point())


def time_adapter(a, videos: int, frames: int) -> float:
    next(a.sample(1, min(frames, 16), seed=99))  # warm-up
    t0 = time.perf_counter()
    for _ in a.sample(videos, frames, seed=0, batch_size=1):
        pass
    return time.perf_counter() - t0


def full_size_other(kind: str, device: str, videos: int, frames: int) -> dict:
    a, params = full_size_adapter(kind, device)
    dt = time_adapter(a, videos, frames)
    return {"model": kind, "resolution": a.info.resolution[0], "params": params, "videos": videos, "frames": frames,
            "seconds": round(dt, 2), "frames_per_s": round(videos * frames / dt, 2)}


def tiny_eval(kind: str, device: str) -> dict:
    from vgbench.evaluate import evaluate

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = evaluate(kind, str(ROOT / "tests" / "fixtures" / FIXTURES[kind]), "tiny", num_fake=48,
                       device=device, progress=False)
    return {"model": kind, "eval_tiny_fvd16_48_fake_seconds": round(time.perf_counter() - t0, 2),
            "fvd16": round(rec["metrics"]["fvd16"]["value"], 3)}


def protocol_fvd16(device: str, num_fake: int, gen_batch_size: int) -> dict:
    """``vgbench eval --metrics fvd16`` of a full-size StyleGAN-V with ``num_fake`` videos against the tiny
    statistics, after a 16-video warm-up: wall time and the record's ``timing``."""
    from vgbench.evaluate import evaluate
    from vgbench.models import stylegan_v
    from vgbench.models.checkpoint import save_native

    kwargs = stylegan_v.official_config(256)
    torch.manual_seed(0)
    G = stylegan_v.Generator(**kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        p = save_native(Path(tmp) / "g.vgb", "stylegan_v", kwargs, G.state_dict(), {"dataset_fps": 30})
        evaluate("stylegan_v", str(p), "tiny", num_fake=16, device=device, progress=False, bootstrap=0)  # warm-up
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = evaluate("stylegan_v", str(p), "tiny", num_fake=num_fake, device=device, progress=False,
                           gen_batch_size=gen_batch_size, bootstrap=0)
        dt = time.perf_counter() - t0
    m = rec["metrics"]["fvd16"]
    return {"model": "stylegan_v", "resolution": 256, "protocol": "fvd16", "fake_videos": num_fake,
            "gen_batch_size": gen_batch_size, "seconds": round(dt, 1), "protocol_complete": m.get("protocol_complete"),
            "timing": rec.get("timing")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--models", default=",".join(FIXTURES), help="comma-separated adapters")
    ap.add_argument("--protocol-fvd16", type=int, default=0, metavar="N", help="time vgbench eval with N fakes")
    ap.add_argument("--gen-batch-size", type=int, default=16)
    a = ap.parse_args()
    out = {"device": a.device, "torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    if a.protocol_fvd16:
        out["results"].append(protocol_fvd16(a.device, a.protocol_fvd16, a.gen_batch_size))
        print(json.dumps(out["results"][-1]), flush=True)
    for kind in filter(None, a.models.split(",")):
        run = full_size if kind in ("stylegan_v", "mostgan_v") else full_size_other
        out["results"].append(run(kind, a.device, a.videos, a.frames))
        print(json.dumps(out["results"][-1]), flush=True)
        if not a.no_eval:
            out["results"].append(tiny_eval(kind, a.device))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
