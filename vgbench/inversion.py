"""Temporal GAN inversion: recover the motion code of a real video (CTSVG, Manandhar & Genovesio, WACV 2024,
Sec. 5.4, Eq. 5), then re-render that motion on other actors (``vgbench invert``).

The optimisation follows the official ``projector.py`` (with ``model_projgen.py``) of
sandman002/One-Style-is-All-You-Need-to-Generate-a-Video; every default below is that script's:

* optimised variable: the motion style ``m`` (the output of the 4-layer motion mapping ``dyn_sty``, i.e. the
  "latent" fed with ``input_is_latent=True``); the person (actor) and class (action) labels are fixed to the known
  ones with ``transition_factor = 1``; the generator is frozen;
* start: the mean of ``m = dyn_sty(z)`` over ``n_mean = 10000`` draws ``z ~ N(0, I)``; ``std`` (used for the latent
  noise) is ``sqrt(sum ||m_i - mean||^2 / n_mean)``, one scalar;
* frames: the first ``frames = 20`` frames of the video at times ``tau = 0, 1, ..., frames - 1`` (dataset frames;
  ``tau_step`` scales them), each resized to the generator's resolution (shorter side to the resolution with PIL
  bilinear, then a centre crop: torchvision ``Resize(size)`` + ``CenterCrop(size)`` as in the script) and mapped to
  [-1, 1] (``x / 127.5 - 1``);
* loss per step: ``sum_frames LPIPS_vgg(G(m, tau), I(tau)) + 100 * mean((G(m, tau) - I(tau))^2)`` (LPIPS v0.1 with
  the VGG backbone; the mean squared error over all pixels of all frames, in [-1, 1] units). The paper's Eq. 5 says
  "the sum of the LPIPS loss and the MSE"; the script weights the MSE by 100 (``--mse 100``), which is used here;
* optimiser: Adam (betas 0.9/0.999, eps 1e-8), ``steps = 250``, learning rate ``0.1`` times the ramp
  ``lr(t) = lr * (0.5 - 0.5 cos(pi * min(1, (1 - t) / 0.25))) * min(1, t / 0.05)`` with ``t = step / steps``
  (so the first step has learning rate 0);
* latent noise: every step renders ``m + std * 0.05 * max(0, 1 - t / 0.75)^2 * n`` with fresh ``n ~ N(0, I)``
  (the gradient flows to ``m``);
* spatial noise: the script calls the generator without noise inputs, so every frame of every step gets fresh
  per-layer noise (``spatial_noise="random"``, the default; drawn here from a seeded generator so that a run is
  reproducible). ``"const"`` uses the generator's stored noise buffers instead (deterministic renders).

Differences from the script, on purpose: the script also creates per-layer noise maps, regularises them (weight
1e5) and re-normalises them every step, but never passes them to the generator, so they have no effect on ``m``;
vgbench leaves them out. The script reads the frame files in ``glob`` order (file-system order); vgbench reads the
first frames of the video in time order. The script keeps ``m`` before the last Adam step (the last step's learning
rate is about 6e-5 of ``lr``); vgbench keeps ``m`` after it. Frames can be rendered and back-propagated in chunks
(``frame_batch``); the loss is a sum over frames, so the gradient is the same as for one big batch.

The optimisation itself (:func:`invert`) is generic: it takes a differentiable ``render(code, times, generator)``
and a ``mapping(z)`` for the start point, so other generators with a per-video code can reuse it.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import VgbenchError
from .utils import exact_float32

__all__ = ["InversionConfig", "InversionResult", "lr_at", "latent_noise_strength", "code_statistics",
           "objective", "invert", "resize_center_crop", "frames_to_tensor", "tensor_to_uint8", "psnr",
           "write_video", "InversionError", "run_inversion", "OUTPUT_SCHEMA"]

OUTPUT_SCHEMA = "vgbench.inversion/1"

# render(code [1, D], times [n] float64 tensor, generator or None) -> images [n, 3, H, W] in [-1, 1]
RenderFn = Callable[[torch.Tensor, torch.Tensor, "torch.Generator | None"], torch.Tensor]


class InversionError(VgbenchError, ValueError):
    """An inversion cannot run as asked (bad labels, too few frames, outputs exist, ...); the message says why."""


@dataclasses.dataclass
class InversionConfig:
    steps: int = 250
    lr: float = 0.1
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    latent_noise: float = 0.05
    noise_ramp: float = 0.75
    lpips_weight: float = 1.0
    mse_weight: float = 100.0
    n_mean: int = 10000
    spatial_noise: str = "random"  # "random": fresh per frame and step (official); "const": stored buffers
    frame_batch: int = 8  # frames per forward/backward chunk (memory only: the gradient is the same)
    cache_target_features: bool | None = None  # None: cache the target's LPIPS taps when they take < 1 GiB

    def __post_init__(self):
        if self.steps < 1:
            raise InversionError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0:
            raise InversionError(f"lr must be positive, got {self.lr}")
        if self.spatial_noise not in ("random", "const"):
            raise InversionError(f"spatial_noise must be 'random' or 'const', got {self.spatial_noise!r}")
        if self.frame_batch < 1 or self.n_mean < 2:
            raise InversionError("frame_batch must be >= 1 and n_mean >= 2")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def lr_at(t: float, cfg: InversionConfig) -> float:
    """Learning rate at progress ``t = step / steps`` (cosine ramp-down over the last ``lr_rampdown``, linear
    ramp-up over the first ``lr_rampup``)."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / cfg.lr_rampup)
    return cfg.lr * ramp


def latent_noise_strength(t: float, std: float, cfg: InversionConfig) -> float:
    return std * cfg.latent_noise * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2


def _generator(seed: int, stream: int) -> torch.Generator:
    ss = np.random.SeedSequence([int(seed), 0x1A7E, int(stream)])
    g = torch.Generator(device="cpu")
    g.manual_seed(int(ss.generate_state(1, np.uint64)[0] & ((1 << 63) - 1)))
    return g


@torch.no_grad()
def code_statistics(mapping: Callable[[torch.Tensor], torch.Tensor], z_dim: int, n: int, generator: torch.Generator,
                    device="cpu", batch: int = 2500) -> tuple[torch.Tensor, float]:
    """Mean ``[1, D]`` of ``mapping(z)`` over ``n`` draws ``z ~ N(0, I)`` and the scalar spread
    ``sqrt(sum_i ||m_i - mean||^2 / n)`` (the start point and the latent-noise scale of the script)."""
    codes = []
    for b0 in range(0, n, batch):
        z = torch.randn(min(batch, n - b0), z_dim, generator=generator).to(device)
        codes.append(mapping(z).float())
    m = torch.cat(codes)
    mean = m.mean(0, keepdim=True)
    std = float(((m - mean).pow(2).sum() / n).sqrt())
    return mean, std


def objective(images: torch.Tensor, target: torch.Tensor, lpips, cfg: InversionConfig,
              target_features=None, total_elements: int | None = None) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
    """(loss, LPIPS summed over frames, squared error summed) for rendered ``images`` against ``target`` (both
    ``[n, 3, H, W]`` in [-1, 1]). ``total_elements`` is the element count of the whole clip when ``images`` is one
    chunk of it (the MSE term is a mean over the whole clip)."""
    total = images.numel() if total_elements is None else total_elements
    feats = target_features if target_features is not None else [f.detach() for f in lpips.features(target)]
    lp = lpips.distance_from_features(lpips.features(images), feats).sum()
    se = (images.float() - target.float()).pow(2).sum()
    loss = cfg.lpips_weight * lp + cfg.mse_weight * se / total
    return loss, lp, se


@dataclasses.dataclass
class InversionResult:
    code: np.ndarray  # [1, D] recovered code
    code_init: np.ndarray  # [1, D] start point
    code_std: float
    history: dict  # per step: loss, lpips (sum over frames), mse, lr, noise_strength
    seconds: float


def _chunks(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(i + size, n))


def _target_features(lpips, target: torch.Tensor, cfg: InversionConfig):
    cache = cfg.cache_target_features
    if cache is None:
        h, w = target.shape[-2:]
        per_frame = sum(c * (h // s) * (w // s) for c, s in ((64, 1), (128, 2), (256, 4), (512, 8), (512, 16))) * 4
        cache = per_frame * target.shape[0] < (1 << 30)
    if not cache:
        return None
    with torch.no_grad():
        feats = [lpips.features(target[sl]) for sl in _chunks(target.shape[0], cfg.frame_batch)]
    return feats


def invert(render: RenderFn, target: torch.Tensor, times: torch.Tensor, lpips, cfg: InversionConfig, *,
           code_init: torch.Tensor, code_std: float, seed: int = 0, progress: bool = True,
           callback: Callable[[int, dict], None] | None = None) -> InversionResult:
    """Optimise a code so that ``render(code, times)`` matches ``target`` ``[N, 3, H, W]`` (in [-1, 1]).

    Random numbers (latent noise: stream 1; spatial noise handed to ``render``: stream 2) come from generators
    seeded by ``seed``, never from the global RNG."""
    t0 = time.time()
    n = target.shape[0]
    if times.shape[0] != n:
        raise InversionError(f"{n} target frames but {times.shape[0]} times")
    code = code_init.detach().clone().float().requires_grad_(True)
    opt = torch.optim.Adam([code], lr=cfg.lr)
    g_latent, g_spatial = _generator(seed, 1), _generator(seed, 2)
    feats = _target_features(lpips, target, cfg)
    chunks = list(_chunks(n, cfg.frame_batch))
    total = target.numel()
    hist = {k: np.zeros(cfg.steps, np.float64) for k in ("loss", "lpips", "mse", "lr", "noise_strength")}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, desc="invert", unit="step")
    for i in range(cfg.steps):
        t = i / cfg.steps
        lr = lr_at(t, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        strength = latent_noise_strength(t, code_std, cfg)
        eps = torch.randn(code.shape, generator=g_latent).to(code.device) * strength
        opt.zero_grad(set_to_none=True)
        loss_sum = lp_sum = se_sum = 0.0
        for ci, sl in enumerate(chunks):
            images = render(code + eps, times[sl], g_spatial if cfg.spatial_noise == "random" else None)
            loss, lp, se = objective(images, target[sl], lpips, cfg, feats[ci] if feats is not None else None, total)
            loss.backward()
            loss_sum += loss.item()
            lp_sum += lp.item()
            se_sum += se.item()
        opt.step()
        row = {"loss": loss_sum, "lpips": lp_sum, "mse": se_sum / total, "lr": lr, "noise_strength": strength}
        for k, v in row.items():
            hist[k][i] = v
        if callback is not None:
            callback(i, row)
        if bar is not None:
            bar.set_postfix_str(f"lpips {lp_sum / n:.4f}/frame mse {se_sum / total:.5f} lr {lr:.4f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return InversionResult(code=code.detach().cpu().numpy(), code_init=code_init.detach().cpu().numpy(),
                           code_std=float(code_std), history=hist, seconds=time.time() - t0)


# --------------------------------------------------------------------------- frames in and out


def resize_center_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> ``[size, size, 3]``: the shorter side to ``size`` (the longer one to
    ``int(size * long / short)``) with PIL bilinear, then the centre crop with offsets ``round((H' - size) / 2)``
    (torchvision ``Resize(size)`` + ``CenterCrop(size)`` on PIL images, as the official projector)."""
    from PIL import Image

    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nh, nw = size, int(size * w / h)
    img = Image.fromarray(frame).resize((nw, nh), Image.BILINEAR) if (nh, nw) != (h, w) else Image.fromarray(frame)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)))


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float ``[T, 3, H, W]`` in [-1, 1] (``x / 127.5 - 1``, = ToTensor + Normalize(0.5))."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def tensor_to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[T, 3, H, W]`` in [-1, 1] -> uint8 ``[T, H, W, 3]`` with vgbench's rounding (:func:`models.base.to_uint8`)."""
    from .models.base import to_uint8

    return to_uint8(images.detach().permute(0, 2, 3, 1))


def psnr(images: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of ``images`` (clamped to [-1, 1]) against ``target``, peak-to-peak 2 (= PSNR on [0, 1])."""
    mse = float((images.clamp(-1, 1).float() - target.float()).pow(2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(4.0 / mse)


def write_video(path: Path, frames: np.ndarray, fps: float, fmt: str = "mp4") -> str:
    """Write uint8 ``[T, H, W, 3]`` as an H.264 mp4 (yuv420p, crf 17, PyAV) or as a folder of PNG frames; returns
    a short description of the format."""
    path = Path(path)
    if fmt == "png":
        from PIL import Image

        path.mkdir(parents=True, exist_ok=False)
        for k, f in enumerate(frames):
            Image.fromarray(f).save(path / f"{k:06d}.png")
        return "folder of lossless PNG frames"
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1001)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv420p"
        s.options = {"crf": "17"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)
    return "H.264 mp4 (yuv420p, crf 17; lossy)"


# --------------------------------------------------------------------------- models: what can be inverted


@dataclasses.dataclass
class Problem:
    """A generator seen by the inversion: a per-video code, how to draw it, how to render it for given labels."""

    z_dim: int
    resolution: int
    mapping: Callable[[torch.Tensor], torch.Tensor]  # z [B, z_dim] -> code [B, D] (start point statistics)
    renderer: Callable[[int, int], RenderFn]  # (actor, action) -> render(code, times, generator)
    labels: dict  # {"actor": count, "action": count}
    transition_factor: float  # weight of the action embedding (1 after CTSVG's training ramp)
    code_name: str  # what the code is, for the record


def _ctsvg_problem(adapter) -> Problem:
    G = adapter.G
    device = next(G.parameters()).device
    tf = float(getattr(adapter, "transition_factor", 1.0))

    def renderer(actor: int, action: int) -> RenderFn:
        person = torch.tensor([actor], device=device)
        label = torch.tensor([action], device=device)

        def render(code, times, generator=None):
            content = G.content_style(person, label, tf)
            n = len(times)
            tau = times.to(device=device, dtype=torch.float32)
            return G.render(content.expand(n, -1), code.to(device).expand(n, -1), tau,
                            randomize_noise=generator is not None, generator=generator)

        return render

    return Problem(z_dim=int(G.dyn_dim), resolution=int(G.size), mapping=G.motion_style, renderer=renderer,
                   labels={"actor": int(G.num_person), "action": int(G.num_classes)}, transition_factor=tf,
                   code_name="m: CTSVG motion style (output of the dyn_sty mapping, before the time2vec product)")


PROBLEMS = {"ctsvg": _ctsvg_problem}


# --------------------------------------------------------------------------- the command


def _outputs(out_dir: Path, video_format: str, render_actors, render_action: int) -> dict:
    ext = ".mp4" if video_format == "mp4" else ""
    outs = {"motion": out_dir / "motion.npz", "record": out_dir / "record.json",
            "reconstruction": out_dir / f"reconstruction{ext}"}
    for k in render_actors:
        outs[f"render_actor{k}"] = out_dir / f"render_actor{k}_action{render_action}{ext}"
    return outs


def _lia_block(real_frames: np.ndarray, videos: dict[str, np.ndarray], min_side: int, polygon: str = "outer",
               normalize: str = "interocular") -> dict:
    from .detectors.face import face_config
    from .metrics.lia import _signals, pearson

    cfg = face_config("landmarks", min_side=min_side)
    names = list(videos)
    sigs = _signals(cfg, [real_frames] + [videos[k] for k in names], 0, polygon, normalize)
    prov = cfg.provenance_dict()

    def stats(s):
        ok = np.isfinite(s)
        return {"frames": int(len(s)), "frames_no_face": int((~ok).sum()),
                "signal": [None if not np.isfinite(x) else round(float(x), 6) for x in s]}

    out = {"metric": "lia", "polygon": polygon, "normalize": normalize, "min_side": min_side,
           "landmarks": prov["landmarks"], "detector": prov["detector"], "real": stats(sigs[0]), "videos": {}}
    for name, s in zip(names, sigs[1:]):
        r, m = pearson(sigs[0], s)
        out["videos"][name] = {"rho": None if not np.isfinite(r) else r, "frames_used": m, **stats(s)}
    return out


def run_inversion(video, *, ckpt: str, actor: int, action: int, out_dir, model: str = "ctsvg",
                  config: InversionConfig | None = None, frames: int = 20, tau_step: float = 1.0,
                  lpips_backbone: str = "vgg", render_actors=(), render_action: int | None = None,
                  video_format: str = "mp4", lia: bool = False, lia_min_side: int = 360, seed: int = 0,
                  device: str | None = None, overwrite: bool = False, progress: bool = True,
                  model_options: dict | None = None, lpips_model=None) -> dict:
    """Invert the motion of ``video`` with ``model`` (actor and action fixed), write the outputs to ``out_dir``
    and return the record (also written as ``record.json``). See the module docstring and docs/inversion.md."""
    import json
    import shutil
    import warnings

    from .detectors import default_device
    from .detectors.lpips import load_lpips
    from .io.sources import open_source
    from .models import get_adapter
    from .provenance import environment, utc_now
    from .utils import atomic_write, sha256_file

    t_start = time.time()
    cfg = config or InversionConfig()
    device = device or default_device()
    if model not in PROBLEMS:
        raise InversionError(f"model {model!r} has no per-video motion code vgbench can invert; supported: "
                             f"{', '.join(PROBLEMS)}")
    if video_format not in ("mp4", "png"):
        raise InversionError(f"video_format must be 'mp4' or 'png', got {video_format!r}")
    if frames < 1:
        raise InversionError(f"frames must be >= 1, got {frames}")
    if tau_step <= 0:
        raise InversionError(f"tau_step must be positive, got {tau_step}")
    render_actors = [int(k) for k in render_actors]
    render_action = action if render_action is None else int(render_action)
    out_dir = Path(out_dir)
    outs = _outputs(out_dir, video_format, render_actors, render_action)
    existing = [p for p in outs.values() if p.exists()]
    if existing and not overwrite:
        raise InversionError(f"{', '.join(str(p) for p in existing)} exist(s); pass --overwrite to replace")
    # refuse early, before any long computation: weights, face extras, model, labels, video
    lp = lpips_model if lpips_model is not None else load_lpips(lpips_backbone, device=device)
    lpips_backbone = getattr(lp, "net", lpips_backbone)
    if lia:
        from .detectors.face import face_config

        face_config("landmarks", min_side=lia_min_side)
    adapter = get_adapter(model, ckpt, device=device, **(model_options or {}))
    problem = PROBLEMS[model](adapter)
    for name, value in (("actor", actor), ("action", action), ("action", render_action),
                        *(("actor", k) for k in render_actors)):
        if not 0 <= int(value) < problem.labels[name]:
            raise InversionError(f"{name} {value} is out of range: the checkpoint has {problem.labels[name]} "
                                 f"{name}s (0..{problem.labels[name] - 1})")
    src = open_source(video)
    handles = list(src)
    if len(handles) != 1:
        raise InversionError(f"{video}: holds {len(handles)} videos; give exactly one video")
    h = handles[0]
    notes = []
    n = frames
    if h.num_frames < frames:
        notes.append(f"the video has {h.num_frames} frames, fewer than the {frames} asked for: all are used "
                     "(as the official projector does)")
        warnings.warn(notes[-1])
        n = h.num_frames
    real = h.read(range(n))
    size = problem.resolution
    target_u8 = np.stack([resize_center_crop(f, size) for f in real])
    target = frames_to_tensor(target_u8).to(device)
    times = torch.arange(n, dtype=torch.float64) * tau_step

    with exact_float32(device):  # full float32 on CUDA (TF32 off), as every generator call in vgbench
        t0 = time.time()
        mean, std = code_statistics(problem.mapping, problem.z_dim, cfg.n_mean, _generator(seed, 0), device=device)
        t_stats = time.time() - t0
        render = problem.renderer(actor, action)

        def final_render(code_np, rend, stream):
            code_t = torch.from_numpy(code_np).to(device)
            g = _generator(seed, stream) if cfg.spatial_noise == "random" else None
            with torch.no_grad():
                return torch.cat([rend(code_t, times[sl], g) for sl in _chunks(n, cfg.frame_batch)])

        def scores(images):
            with torch.no_grad():
                per_frame = torch.cat([lp(images[sl], target[sl]) for sl in _chunks(n, cfg.frame_batch)])
            mse = float((images.float() - target).pow(2).mean())
            p = psnr(images, target)
            return {"lpips_sum": float(per_frame.sum()), "lpips_mean": float(per_frame.mean()), "mse": mse,
                    "psnr": p if math.isfinite(p) else None,
                    "loss": cfg.lpips_weight * float(per_frame.sum()) + cfg.mse_weight * mse,
                    "lpips_per_frame": [round(float(x), 6) for x in per_frame]}

        initial = scores(final_render(mean.cpu().numpy(), render, 3))
        res = invert(render, target, times, lp, cfg, code_init=mean, code_std=std, seed=seed, progress=progress)
        t1 = time.time()
        recon = final_render(res.code, render, 3)
        final = scores(recon)
        renders = {"reconstruction": tensor_to_uint8(recon)}
        for k in render_actors:
            renders[f"render_actor{k}"] = tensor_to_uint8(final_render(res.code, problem.renderer(k, render_action), 3))
    t_render = time.time() - t1

    # output frame k shows input frame k: keep the input's frame rate (else the model's, spaced by tau_step)
    native = adapter.info.native_fps
    fps = float(h.fps) if h.fps else (native / tau_step if native else 30.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, frames_u8 in renders.items():
        p = outs[key]
        if p.is_dir():
            shutil.rmtree(p)
        written[key] = {"path": p.name, "format": write_video(p, frames_u8, fps, video_format), "fps": fps,
                        "frames": int(len(frames_u8))}
        if key.startswith("render_actor"):
            written[key].update({"actor": int(key[len("render_actor"):]), "action": render_action})

    lia_res = None
    t2 = time.time()
    if lia:
        lia_res = _lia_block(real, renders, lia_min_side)
    t_lia = time.time() - t2

    with atomic_write(outs["motion"], "wb") as f:
        np.savez(f, code=res.code.astype(np.float32), code_init=res.code_init.astype(np.float32),
                 code_std=np.float64(res.code_std), times=times.numpy(), actor=np.int64(actor),
                 action=np.int64(action), **{f"history_{k}": v for k, v in res.history.items()})

    try:
        video_sha = sha256_file(h.path) if h.path and Path(h.path).is_file() else None
    except OSError:
        video_sha = None
    record = {
        "schema": OUTPUT_SCHEMA,
        "created": utc_now(),
        "task": "temporal GAN inversion (CTSVG Sec. 5.4, Eq. 5; official projector.py defaults)",
        "model": {**adapter.provenance(), "info": adapter.info.to_dict()},
        "lpips": lp.provenance,
        "input": {"video": str(video), "id": h.id, "path": h.path, "file_sha256": video_sha,
                  "frames_in_video": int(h.num_frames), "fps": h.fps, "frames_used": int(n),
                  "original_size": [int(real.shape[1]), int(real.shape[2])],
                  "resize": f"shorter side to {size} (PIL bilinear), centre crop {size}x{size}, x / 127.5 - 1",
                  "target_uint8_sha256": _sha256_array(target_u8)},
        "parameters": {**cfg.to_dict(), "frames": int(frames), "tau_step": tau_step,
                       "times": [float(x) for x in times], "actor": int(actor), "action": int(action),
                       "transition_factor": problem.transition_factor, "lpips_backbone": lpips_backbone,
                       "seed": int(seed),
                       "render_actors": render_actors, "render_action": render_action,
                       "video_format": video_format, "lia": bool(lia), "lia_min_side": lia_min_side,
                       "device": str(device), "optimised": problem.code_name,
                       "start": f"mean of the code over {cfg.n_mean} draws z ~ N(0, I)",
                       "random_streams": "SeedSequence([seed, 0x1A7E, s]): s=0 start statistics, 1 latent noise, "
                                         "2 spatial noise while optimising, 3 spatial noise of the final renders"},
        "results": {"initial": initial, "final": final, "code_distance_from_start": float(
            np.linalg.norm(res.code - res.code_init)), "steps": cfg.steps,
            "loss_first_step": float(res.history["loss"][0]), "loss_last_step": float(res.history["loss"][-1])},
        "outputs": {"motion": outs["motion"].name, "record": outs["record"].name, "videos": written,
                    "motion_npz_keys": ["code", "code_init", "code_std", "times", "actor", "action",
                                        *[f"history_{k}" for k in res.history]]},
        "timing": {"total_seconds": round(time.time() - t_start, 3), "statistics_seconds": round(t_stats, 3),
                   "optimisation_seconds": round(res.seconds, 3),
                   "seconds_per_step": round(res.seconds / cfg.steps, 4), "render_seconds": round(t_render, 3),
                   "lia_seconds": round(t_lia, 3)},
        "notes": notes,
        "env": environment(device),
    }
    if lia_res is not None:
        record["lia"] = lia_res
    with atomic_write(outs["record"], "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, allow_nan=False)
    return record


def _sha256_array(a: np.ndarray) -> str:
    import hashlib

    hh = hashlib.sha256()
    hh.update(f"{a.dtype}|{a.shape}|".encode())
    hh.update(np.ascontiguousarray(a).tobytes())
    return hh.hexdigest()
