"""MotionVideoGAN (Zhu, Ma, Chen, Yuan, "MotionVideoGAN: A Novel Video Generator Based on the Motion Space Learned
from Image Pairs", IEEE TMM 2023): adapter ``motionvideogan``.

Architecture
------------
* **MotionStyleGAN** -- an unmodified StyleGAN2 (the StyleGAN3 repository's ``networks_stylegan2.py``,
  ``--cfg=stylegan2``) with ``img_channels=6``: one latent ``w`` renders an *image pair*, the former frame in
  channels 0-2 and the latter (k=4 dataset frames later or earlier in training) in channels 3-5. Native port:
  :class:`vgbench.models.stylegan2.Generator` (256x256: 8 mapping layers, ``num_ws=14``, channels
  {4..64: 512, 128: 256, 256: 128}, spatial noise buffers, fp16 in the 4 highest resolutions on CUDA).
* **Motion codes** -- ``backward_direction.npy`` (edits the former frame, keeps the latter) and
  ``forward_direction.npy`` (edits the latter, keeps the former), each ``[rank, w_dim]`` row-normalised
  directions from a low-rank factorisation of the pair generator's Jacobian; the first ``n_direction`` rows are
  used.
* **Latent code generator** (:class:`LSTMModule`, official key names) -- ``enc_cell`` (LSTMCell) encodes the
  content code ``w_0 = mapping(z)``; ``cell`` (LSTMCell) is driven by fresh N(0, I) noise each step; step ``k``
  turns the hidden state into ``n_direction`` coefficients ``tanh(h @ w + b)`` and adds
  ``w_residual * coeffs @ D_k`` to the previous code, where ``D_k`` is the backward directions for even ``k`` and
  the forward directions for odd ``k`` (``w_residual`` 0.2). ``fc1``/``fc2`` are in the state dict but unused.

Video frames (``frame_order``)
------------------------------
Codes ``w_0, w_1, ...`` alternate between editing the former and the latter image. ``'paper'`` (default) renders
the sequence of the paper (Sec. III-C): frame 0 is the latter image of ``w_0``, frame ``k`` the image that step
``k-1`` edited, i.e. the former image of ``w_k`` for odd ``k`` and the latter for even ``k``
(x01, x10, x21, x30, ...). ``'official'`` renders what ``MotionVideoGAN/models/model.py`` does (the order the
released LSTMs were trained with): the latter image of ``w_0``, then code ``k-1`` for frame ``k`` -- its former
image for odd ``k``, its latter for even ``k`` -- so code 0 appears twice (both halves).

Long videos. The LSTM is autoregressive, so ``T`` frames need ``T - 1`` steps (``'paper'``) and nothing bounds
``T``; asking for more frames never changes earlier ones. The released models were trained on 16-frame clips
(``n_frames_G=17``) and the paper warns that many editing steps can drift out of the latent space. The paper's
other route to long videos, latent interpolation (``interpolation=r``, the official ``interpolation_frame_rate``),
renders ``r`` frames per code step: the segment from ``w_k`` to ``w_{k+1}`` shows the image that step ``k`` edits,
at ``w_{k+1} * j / r + w_k * (r - j) / r`` with ``j = 1..r`` (``'paper'``; ``j = r`` is the paper frame) or
``j = 0..r-1`` (``'official'``, exactly ``model.py``). Motion then plays ``r`` times slower.

Time and fps
------------
Fixed time step (``fps_control=False``): one LSTM step is ``time_step`` dataset frames (1 in every official
script; the option or the manifest sets it for an LSTM trained on subsampled clips), so generated frames are
``time_step / interpolation`` dataset frames apart and ``info.native_fps = dataset_fps * interpolation /
time_step``. ``dataset_fps`` is ``vgbench eval``'s dataset-card fps (``native_fps``) or the manifest's
``dataset_fps``. As for every fixed-step model, ``times=`` index the generated frame sequence (the harness
renders up to the last one and picks them; see :meth:`vgbench.models.base.Adapter.sample`).

Seeds and noise
---------------
Video ``i``: ``z`` from stream 0 (content) of ``(seed, i)``; the LSTM's per-step input noise from stream 1
(motion), one ``[z_dim]`` draw per step, so a longer video extends the same sequence. ``content_seed`` /
``motion_seed`` fix either for all videos (content/motion separable): the same motion noise drives the LSTM for
another content; since the LSTM state starts from ``enc_cell(w_0)`` the resulting coefficients still depend on the
content, as in the paper's model. Spatial noise is the stored ``noise_const`` buffers (``noise_mode='const'``).
Each video is computed alone and rendered in synthesis calls of a fixed 16 frames (the last padded), so pixels do
not depend on the batch size or the other videos.

Checkpoint (``--ckpt``)
-----------------------
Three artefacts, never executed: the MotionStyleGAN ``network-snapshot-*.pkl`` (StyleGAN3-repository persistence
pickle; ``G_ema`` is used; read by :func:`vgbench.models.checkpoint.load_network_pickle` and rebuilt from its
pickled constructor kwargs), the LSTM ``modelR_*.pth`` (plain state dict, ``torch.load(weights_only=True)``,
loaded strictly) and ``forward_direction.npy`` / ``backward_direction.npy`` (``np.load(allow_pickle=False)``).
``--ckpt`` is either

* a directory: each part is found below it by its official name (``network-snapshot-*.pkl``, ``modelR_*.pth``,
  ``*forward_direction.npy``, ``*backward_direction.npy``); a missing or ambiguous part is an error listing what
  was found; or
* a JSON manifest (``*.json``) with keys ``generator``, ``lstm``, ``forward_direction``, ``backward_direction``
  (paths relative to the manifest) and optional ``w_residual`` (0.2), ``time_step`` (1), ``dataset_fps``::

      {"generator": "models/ucf101/network-snapshot-007680.pkl",
       "lstm": "checkpoints/ucf101/modelR_epoch_99.pth",
       "forward_direction": "directions/ucf101/forward_direction.npy",
       "backward_direction": "directions/ucf101/backward_direction.npy",
       "dataset_fps": 25}

Differences from the official sampler (``MotionVideoGAN/evaluate.py``) and why
-------------------------------------------------------------------------------
* Frame order: the paper's sequence by default (the official one shows code 0 twice and never renders its last
  two LSTM codes); ``frame_order='official'`` reproduces ``model.py``.
* Spatial noise: constant buffers instead of ``noise_mode='random'`` (fresh noise for every frame, a source of
  flicker, and drawn from the global RNG); per-step LSTM noise comes from the video's motion stream instead of
  ``torch.cuda.FloatTensor(...).normal_()``.
* Quantisation: vgbench's rounding (``x * 127.5 + 128``) instead of ``((x + 1) / 2 * 255).type(torch.uint8)``
  (truncation after clamping).
* Devices: runs on any device (the official code is CUDA-only). Precision follows the StyleGAN3 repository:
  float16 in the fp16 blocks on CUDA, float32 elsewhere (its CPU path); fused modulated convolution as its
  ``fused_modconv_default``.
* Loading: strict (the official evaluation loads the LSTM with ``strict=False``), and the direction files must
  hold at least ``n_direction`` rows of width ``w_dim`` (the official module fails later with a shape error).
* Each code is broadcast to the generator's ``num_ws`` (``model.py`` hard-codes 14, i.e. 256x256 only).
* Shipped-code bugs not reproduced: ``LSTMModule.__init__`` calls ``super(RNNModule, self)`` (a NameError), and
  the LSTM noise is a CUDA tensor.

Verified against the official code (CPU reference path, scratch run outside the repository): the StyleGAN2 port
is bit-identical for a real StyleGAN3-repository pickle (64x64 and 256x256, ``noise_mode`` const/none, fused and
non-fused), the LSTM codes are identical, and whole videos (both frame orders, ``interpolation`` 1 and 3) agree to
1e-5, the size of the official code's own batch-1 vs batch-17 differences.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Adapter, Capabilities, ModelInfo, jsonable, positive_int, register, to_uint8, video_seed
from .checkpoint import PartsCheckpoint, check_state_dict, checkpoint_error as _fail
from .checkpoint import load_float_npy, load_network_pickle, load_strict, module_state_dict, network_record
from .latent_lstm import LatentLSTM
from .stylegan2 import Generator as StyleGAN2Generator

__all__ = ["LSTMModule", "FRAME_ORDERS", "frame_plan", "codes_needed", "load_generator",
           "load_directions", "MotionVideoGANAdapter"]

FRAME_ORDERS = ("paper", "official")
FRAME_CHUNK = 16  # frames per synthesis call (fixed shape, so pixels do not depend on how many are asked for)
PART_PATTERNS = {"generator": "network-snapshot-*.pkl", "lstm": "modelR_*.pth",
                 "forward_direction": "*forward_direction.npy", "backward_direction": "*backward_direction.npy"}
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
    """MotionStyleGAN ``G_ema`` from a StyleGAN3-repository snapshot: (network, constructor kwargs)."""
    g = network_record(load_network_pickle(path), "G_ema", path)
    state = module_state_dict(g, where=path)
    init_args, init_kwargs = g.init_args, g.init_kwargs
    if any(k.startswith(("synthesis.motion_encoder.", "synthesis.b4.input.")) for k in state):
        raise _fail(path, "this is a StyleGAN-V/MoStGAN-V snapshot, not a MotionStyleGAN image-pair generator; "
                          "use --model stylegan_v or mostgan_v")
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
    G = load_strict(StyleGAN2Generator(*init_args, **init_kwargs), state, str(path), "the StyleGAN2 generator")
    return G, init_kwargs


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
