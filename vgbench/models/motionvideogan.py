"""MotionVideoGAN (Zhu, Ma, Chen, Yuan, "MotionVideoGAN: A Novel Video Generator Based on the Motion Space Learned
from Image Pairs", IEEE TMM 2023): adapter ``motionvideogan``.

An LSTM (:class:`~vgbench.models.latent_lstm.LatentLSTM`) edits the latent code of MotionStyleGAN, a 6-channel
StyleGAN2 (:class:`vgbench.models.stylegan2.Generator`) that renders image pairs, with learned motion codes,
alternating between the former and the latter image. Fixed time step; per-video content and motion seeds; spatial
noise from the stored constant buffers. ``--ckpt`` is a directory holding the official artefacts or a JSON manifest.

docs/models.md (section MotionVideoGAN) has the details: architecture, frame orders, long videos, checkpoint files,
every difference from the official sampler and how the port was verified against it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Adapter, Capabilities, ModelInfo, jsonable, positive_int, register, to_uint8, video_seed
from .checkpoint import PartsCheckpoint, check_state_dict, checkpoint_error as _fail
from .checkpoint import is_native, load_float_npy, load_native, load_network_pickle, load_strict, module_state_dict, network_record
from .latent_lstm import LatentLSTM
from .stylegan2 import Generator as StyleGAN2Generator

__all__ = ["PAIR_NETWORK", "LSTMModule", "FRAME_ORDERS", "frame_plan", "codes_needed", "load_generator",
           "load_directions", "MotionVideoGANAdapter"]

FRAME_ORDERS = ("paper", "official")
FRAME_CHUNK = 16  # frames per synthesis call (fixed shape, so pixels do not depend on how many are asked for)
PART_PATTERNS = {"generator": "network-snapshot-*.pkl", "lstm": "modelR_*.pth",
                 "forward_direction": "*forward_direction.npy", "backward_direction": "*backward_direction.npy"}
#: the ``network`` entry of the ``config.json`` of a stage-1 ``.vgb`` (vgbench.training.motionstylegan)
PAIR_NETWORK = "MotionStyleGAN"
MANIFEST_OPTIONAL = {"w_residual": 0.2, "time_step": 1, "dataset_fps": None}


# ------------------------------------------------------------------------------------------------ networks

class LSTMModule(LatentLSTM):
    """The latent code generator. ``forward(w0 [B, z_dim], noise [B, S, z_dim]) -> codes [B, S + 1, z_dim]``.

    State dict keys as the official ``LSTMModule``: ``enc_cell.*``, ``cell.*`` (``nn.LSTMCell``), ``w``
    ``[h_dim, n_direction]``, ``b`` ``[n_direction]``, ``fc1`` (``2 h_dim -> z_dim``), ``fc2``
    (``z_dim -> z_dim``). The motion directions are non-persistent buffers set by :meth:`set_directions`.
    """

    basis_arg = "n_direction"
    file_what = "LSTM"

    def __init__(self, h_dim: int = 512, n_direction: int = 30, z_dim: int = 512, w_residual: float = 0.2):
        super().__init__(z_dim, h_dim, n_direction, w_residual)
        self.n_direction = int(n_direction)
        self.register_buffer("forward_direction", torch.zeros(n_direction, z_dim), persistent=False)
        self.register_buffer("backward_direction", torch.zeros(n_direction, z_dim), persistent=False)

    def set_directions(self, forward: torch.Tensor, backward: torch.Tensor) -> None:
        for name, d in (("forward", forward), ("backward", backward)):
            if tuple(d.shape) != (self.n_direction, self.z_dim):
                raise ValueError(f"{name} directions have shape {tuple(d.shape)}, expected "
                                 f"[{self.n_direction}, {self.z_dim}]")
        self.forward_direction.copy_(forward)
        self.backward_direction.copy_(backward)

    def basis(self, step: int) -> torch.Tensor:
        return self.backward_direction if step % 2 == 0 else self.forward_direction  # even steps move frame A


def frame_plan(num_frames: int, order: str = "paper", interpolation: int = 1) -> list[tuple[int, int, int, int]]:
    """How each frame is rendered: ``(lo, hi, j, half)`` = the ``half`` (0: channels 0-2, the former image;
    1: channels 3-5, the latter) of code ``codes[hi] * j / r + codes[lo] * (r - j) / r`` (``r = interpolation``)."""
    if order not in FRAME_ORDERS:
        raise ValueError(f"frame_order must be one of {FRAME_ORDERS}, got {order!r}")
    r = int(interpolation)
    plan = [(0, 0, 0, 1)]  # both orders start with the latter image of w_0
    for f in range(1, num_frames):
        k, j = divmod(f - 1, r)  # segment from code k to code k + 1, edited by step k
        plan.append((k, k + 1, j + 1 if order == "paper" else j, 0 if k % 2 == 0 else 1))
    return plan


def codes_needed(plan) -> int:
    """Index of the last code a plan reads (a zero weight does not read ``hi``) = LSTM steps to run."""
    return max(hi if j > 0 else lo for lo, hi, j, _ in plan)


def _interpolate(codes: torch.Tensor, plan, r: int) -> torch.Tensor:
    """Codes [S + 1, D] -> the code of every planned frame [T, D], with ``model.py``'s interpolation arithmetic."""
    rows = []
    for lo, hi, j, _ in plan:
        if j == 0:
            rows.append(codes[lo])
        elif j == r:
            rows.append(codes[hi])
        else:
            rows.append(codes[hi] * j / r + codes[lo] * (r - j) / r)
    return torch.stack(rows)


# ------------------------------------------------------------------------------------------------ loading

def load_generator(path: Path) -> tuple[StyleGAN2Generator, dict]:
    """MotionStyleGAN ``G_ema``: (network, constructor kwargs), from a StyleGAN3-repository snapshot
    (``network-snapshot-*.pkl``) or a ``.vgb`` snapshot of ``vgbench train --model motionvideogan --stage pairs``
    (told apart by content: a zip holding ``config.json``)."""
    if is_native(path):
        return _load_native_generator(path)
    g = network_record(load_network_pickle(path), "G_ema", path)
    state = module_state_dict(g, where=path)
    init_args, init_kwargs = g.init_args, g.init_kwargs
    if any(k.startswith(("synthesis.motion_encoder.", "synthesis.b4.input.")) for k in state):
        raise _fail(path, "this is a StyleGAN-V/MoStGAN-V snapshot, not a MotionStyleGAN image-pair generator; "
                          "use --model stylegan_v or mostgan_v")
    return _checked_generator(path, init_args, init_kwargs, state), init_kwargs


def _load_native_generator(path: Path) -> tuple[StyleGAN2Generator, dict]:
    config, state = load_native(path)
    if config.get("model") != "motionvideogan" or config.get("network") != PAIR_NETWORK:
        what = config.get("model") or "unknown model"
        if config.get("network"):
            what += f" ({config['network']})"
        raise _fail(path, f"a vgbench checkpoint of {what}, not a {PAIR_NETWORK} image-pair generator (vgbench train "
                          f"--model motionvideogan --stage pairs writes those)")
    init_kwargs = config.get("init_kwargs")
    if not isinstance(init_kwargs, dict):
        raise _fail(path, "config.json has no init_kwargs")
    return _checked_generator(path, (), init_kwargs, state), init_kwargs


def _checked_generator(path: Path, init_args, init_kwargs: dict, state: dict) -> StyleGAN2Generator:
    """The StyleGAN2 generator built from its constructor arguments with ``state`` loaded strictly, after checking
    that it is an unconditional 6-channel pair generator with ``z_dim == w_dim``."""
    try:
        with torch.device("meta"):
            probe = StyleGAN2Generator(*init_args, **init_kwargs)
    except (TypeError, ValueError) as e:
        raise _fail(path, f"G_ema's constructor arguments do not fit a StyleGAN2 generator: {e}") from e
    check_state_dict(probe, state, str(path), what="the StyleGAN2 generator built from its config")
    if probe.img_channels != 6:
        raise _fail(path, f"img_channels={probe.img_channels}: not a MotionStyleGAN image-pair generator (6 channels)")
    if probe.c_dim != 0:
        raise _fail(path, f"c_dim={probe.c_dim}: conditional generators are not part of MotionVideoGAN")
    if probe.z_dim != probe.w_dim:
        raise _fail(path, f"z_dim={probe.z_dim} != w_dim={probe.w_dim}: the official LSTM (sized by z_dim) edits w")
    return load_strict(StyleGAN2Generator(*init_args, **init_kwargs), state, str(path), "the StyleGAN2 generator")


def load_directions(path: Path, n_direction: int, w_dim: int) -> torch.Tensor:
    """The first ``n_direction`` rows of a ``[rank, w_dim]`` direction file, as float32."""
    d = load_float_npy(path)
    if d.ndim != 2 or d.shape[1] != w_dim:
        raise _fail(path, f"directions have shape {d.shape}, expected [rank, {w_dim}] (the generator's w_dim)")
    if d.shape[0] < n_direction:
        raise _fail(path, f"only {d.shape[0]} directions (the factorisation's rank), the LSTM uses n_direction="
                          f"{n_direction}")
    return torch.tensor(d[:n_direction], dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ adapter

@register
class MotionVideoGANAdapter(Adapter):
    name = "motionvideogan"
    description = ("MotionVideoGAN (Zhu et al., IEEE TMM 2023): an LSTM edits MotionStyleGAN image-pair latents "
                   "with learned motion codes")
    capabilities = Capabilities(
        fps_control=False, content_motion_separable=True, conditioning=None, max_frames=None,
        time_step="fixed: 1 dataset frame per generated frame (time_step / interpolation with those options)",
        notes="--ckpt: directory or JSON manifest of network-snapshot-*.pkl + modelR_*.pth + "
              "forward/backward_direction.npy. Trained on 16-frame clips; longer videos run the LSTM further. "
              "Options: frame_order=paper|official, interpolation=r (latent interpolation, r-times slower motion), "
              "time_step. Spatial noise: constant buffers.")
    OPTIONS = ("native_fps", "frame_order", "interpolation", "time_step")

    def __init__(self, ckpt, device="cpu", native_fps: float | None = None, frame_order: str = "paper",
                 interpolation: int = 1, time_step: int | None = None, **options):
        super().__init__(ckpt, device, **options)
        self.reject_unknown_options(options, self.OPTIONS)
        if ckpt is None:
            raise ValueError(f"{self.name} needs --ckpt (a directory or JSON manifest of the three parts)")
        if frame_order not in FRAME_ORDERS:
            raise ValueError(f"frame_order must be one of {FRAME_ORDERS}, got {frame_order!r}")
        self.frame_order = frame_order
        self.interpolation = positive_int("interpolation", interpolation)
        self.checkpoint = ck = PartsCheckpoint(ckpt, PART_PATTERNS, MANIFEST_OPTIONAL, "MotionVideoGAN")
        parts = ck.parts
        self.time_step = positive_int("time_step", time_step if time_step is not None else ck.extras["time_step"])
        self.w_residual = ck.number("w_residual")
        fps = native_fps if native_fps is not None else ck.extras["dataset_fps"]
        self.dataset_fps = float(fps) if fps is not None else None

        self.G, self.init_kwargs = load_generator(parts["generator"])
        self.lstm = LSTMModule.load(parts["lstm"], self.w_residual)
        if self.lstm.z_dim != self.G.w_dim:
            raise _fail(parts["lstm"], f"the LSTM works on codes of size {self.lstm.z_dim}, the generator's w_dim "
                                       f"is {self.G.w_dim}")
        self.lstm.set_directions(load_directions(parts["forward_direction"], self.lstm.n_direction, self.G.w_dim),
                                 load_directions(parts["backward_direction"], self.lstm.n_direction, self.G.w_dim))
        self.G.to(self.device)
        self.lstm.to(self.device)

    # ---- description
    @property
    def frame_step(self) -> float:
        """Dataset frames between consecutive generated frames."""
        return self.time_step / self.interpolation

    @property
    def info(self) -> ModelInfo:
        r = self.G.img_resolution
        fps = self.dataset_fps / self.frame_step if self.dataset_fps else None
        return self.model_info((r, r), fps)

    def provenance(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.ckpt), **self.checkpoint.provenance(),
                "config": {"generator": jsonable(self.init_kwargs),
                           "lstm": {"h_dim": self.lstm.h_dim, "z_dim": self.lstm.z_dim,
                                    "n_direction": self.lstm.n_direction, "w_residual": self.w_residual}},
                "options": {"frame_order": self.frame_order, "interpolation": self.interpolation,
                            "time_step": self.time_step},
                "precision": self.G.synthesis.resolve_precision("auto", self.device), "noise_mode": "const",
                "dataset_fps": self.dataset_fps}

    # ---- sampling
    @torch.inference_mode()
    def video_codes(self, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """z [1, z_dim], LSTM noise [S, z_dim] -> codes w_0..w_S [S + 1, w_dim] (``w_0 = mapping(z)``)."""
        c = torch.zeros(1, 0, device=self.device)
        w0 = self.G.mapping(z.to(self.device), c)[:, 0]
        return self.lstm(w0, noise.to(self.device)[None])[0]

    @torch.inference_mode()
    def render(self, codes: torch.Tensor, plan) -> np.ndarray:
        """Codes [S + 1, w_dim] and a :func:`frame_plan` -> uint8 frames [T, H, W, 3]."""
        ws = _interpolate(codes, plan, self.interpolation)
        halves = torch.tensor([h for *_, h in plan])
        out = []
        for f0 in range(0, len(ws), FRAME_CHUNK):
            chunk = ws[f0:f0 + FRAME_CHUNK]
            real = len(chunk)
            chunk = torch.cat([chunk, chunk[-1:].expand(FRAME_CHUNK - real, -1)])
            img = self.G.synthesis(chunk.unsqueeze(1).repeat(1, self.G.num_ws, 1), noise_mode="const")[:real]
            ch = (halves[f0:f0 + real, None] * 3 + torch.arange(3)).to(img.device)  # [real, 3] channel indices
            img = img[torch.arange(real, device=img.device)[:, None], ch]  # the chosen image of each pair
            out.append(to_uint8(img.permute(0, 2, 3, 1)))
        return np.concatenate(out)

    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        if not np.array_equal(t, np.arange(len(t))):
            raise ValueError(f"{self.name} has a fixed frame step; got times {t[:5].tolist()}...")
        plan = frame_plan(len(t), self.frame_order, self.interpolation)
        steps = codes_needed(plan)
        z_dim = self.G.z_dim
        videos = []
        for i in indices:
            cg = video_seed(content_seed, 0, 0) if content_seed is not None else video_seed(seed, i, 0)
            mg = video_seed(motion_seed, 0, 1) if motion_seed is not None else video_seed(seed, i, 1)
            z = torch.randn(1, z_dim, generator=cg)
            # one draw per LSTM step, so a longer video extends the same noise sequence
            noise = torch.stack([torch.randn(self.lstm.z_dim, generator=mg) for _ in range(steps)]) if steps else \
                torch.zeros(0, self.lstm.z_dim)
            videos.append(self.render(self.video_codes(z, noise), plan))
        return np.stack(videos)
