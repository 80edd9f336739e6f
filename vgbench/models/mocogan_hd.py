"""MoCoGAN-HD (Tian, Ren, Chai, Olszewski, Peng, Metaxas, Tulyakov, "A Good Image Generator Is What You Need for
High-Resolution Video Synthesis", ICLR 2021): adapter ``mocogan_hd``.

An LSTM (:class:`RNNModule`) walks the top PCA directions of a pre-trained StyleGAN2's W space (rosinality layout,
:class:`vgbench.models.rosinality.StyleGAN2Generator`); frame 0 is the content frame ``mapping(z)``. Fixed frame
step (``time_step`` dataset frames); per-video content and motion seeds; spatial noise option ``use_noise``.
``--ckpt`` is a directory holding the official artefacts or a JSON manifest.

docs/models.md (section MoCoGAN-HD) has the details: architecture, checkpoint files, time and noise options, every
difference from the official sampler and how the port was verified against it (bit-exact on CPU).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .base import Adapter, Capabilities, ModelInfo, positive_int, register, to_uint8, video_seed
from .checkpoint import checkpoint_error as _fail
from .checkpoint import PartsCheckpoint, load_float_npy
from .latent_lstm import LatentLSTM
from .rosinality import StyleGAN2Generator, load_generator_state, load_rosinality_checkpoint

__all__ = ["RNNModule", "load_image_generator", "load_pca",
           "frame_codes", "steps_needed", "MoCoGANHDAdapter", "PART_PATTERNS", "MANIFEST_OPTIONAL"]

FRAME_CHUNK = 16  # frames per synthesis call (a fixed shape, so pixels do not depend on how many are asked for)
PART_PATTERNS = {"generator": "*.pt", "lstm": "modelR_*.pth", "pca_comp": "pca_comp.npy",
                 "pca_stdev": "pca_stdev.npy"}
MANIFEST_OPTIONAL = {"w_residual": 0.2, "time_step": 2, "dataset_fps": None}


# ------------------------------------------------------------------------------------------------ motion network

class RNNModule(LatentLSTM):
    """MoCoGAN-HD's motion generator. ``forward(w0 [B, z_dim], noise [B, S, z_dim]) -> codes [B, S + 1, z_dim]``.

    State dict as the official module: ``enc_cell.*``, ``cell.*`` (``nn.LSTMCell(z_dim, h_dim)``), ``w``
    ``[h_dim, n_pca]``, ``b`` ``[n_pca]``, ``fc1`` (``2 h_dim -> z_dim``), ``fc2`` (``z_dim -> z_dim``). The PCA
    basis is held in non-persistent buffers set by :meth:`set_pca` (the official module reads it from the .npy
    files and does not save it).
    """

    basis_arg = "n_pca"
    file_what = "motion-generator"

    def __init__(self, z_dim: int = 512, h_dim: int = 384, n_pca: int = 384, w_residual: float = 0.2):
        super().__init__(z_dim, h_dim, n_pca, w_residual)
        self.n_pca = int(n_pca)
        self.register_buffer("pca_comp", torch.zeros(n_pca, z_dim), persistent=False)
        self.register_buffer("pca_stdev", torch.zeros(n_pca), persistent=False)

    def set_pca(self, comp: torch.Tensor, stdev: torch.Tensor) -> None:
        """The first ``n_pca`` PCA components [n_pca, z_dim] and their standard deviations [n_pca]."""
        if tuple(comp.shape) != (self.n_pca, self.z_dim) or tuple(stdev.shape) != (self.n_pca,):
            raise ValueError(f"PCA basis {tuple(comp.shape)} / stdev {tuple(stdev.shape)}, expected "
                             f"[{self.n_pca}, {self.z_dim}] / [{self.n_pca}]")
        # assigned, not copied: the tensors keep their memory layout (see :func:`load_pca`)
        device = self.pca_comp.device
        self.pca_comp = comp.to(device=device, dtype=torch.float32)
        self.pca_stdev = stdev.to(device=device, dtype=torch.float32)

    def basis(self, step: int) -> torch.Tensor:
        # each component scaled by its std; the std is tiled to a full matrix as upstream does, so the product
        # has the memory layout of ``pca_comp`` and the matmul rounds exactly like the official one
        return self.pca_comp * self.pca_stdev.view(-1, 1).repeat(1, self.z_dim)


def steps_needed(num_frames: int, interpolation: bool = False) -> int:
    """LSTM steps for ``num_frames`` frames (frame 0 is ``w_0``; with interpolation frame ``2k`` is ``w_k``)."""
    return num_frames // 2 if interpolation else num_frames - 1


def frame_codes(codes: torch.Tensor, num_frames: int, interpolation: bool = False) -> torch.Tensor:
    """Codes [S + 1, D] -> the code of each frame [num_frames, D]; with ``interpolation`` odd frames are the
    midpoints ``(w_k + w_{k+1}) / 2`` (the official ``interpolation=True`` arithmetic)."""
    if not interpolation:
        return codes[:num_frames]
    rows = []
    for f in range(num_frames):
        k, odd = divmod(f, 2)
        rows.append((codes[k] + codes[k + 1]) / 2.0 if odd else codes[k])
    return torch.stack(rows)


# ------------------------------------------------------------------------------------------------ loading

def load_image_generator(path: Path) -> tuple[StyleGAN2Generator, dict]:
    """The rosinality StyleGAN2 ``g_ema`` of ``path``: (network, its config)."""
    state, _args = load_rosinality_checkpoint(path, "g_ema")
    if any(k.startswith(("person_embed.", "dyn_sty.", "dynstyle_gen.")) for k in state):
        raise _fail(path, "this is a CTSVG generator (person/dynamic-style embeddings), not a MoCoGAN-HD image "
                          "generator; use --model ctsvg")
    G = load_generator_state(state, str(path))
    if G.mapping_dim != G.style_dim:
        raise _fail(path, f"mapping width {G.mapping_dim} != style width {G.style_dim}: not a plain StyleGAN2")
    cfg = {"size": G.size, "style_dim": G.style_dim, "n_mlp": G.n_mlp, "channels": G.channels}
    return G.eval().requires_grad_(False), cfg


def load_pca(comp_path: Path, stdev_path: Path, n_pca: int, z_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_pca`` rows of ``pca_comp.npy`` [k, z_dim] and entries of ``pca_stdev.npy`` [k], float32."""
    comp, stdev = load_float_npy(comp_path), load_float_npy(stdev_path)
    if comp.ndim != 2 or comp.shape[1] != z_dim:
        raise _fail(comp_path, f"PCA components have shape {comp.shape}, expected [k >= {n_pca}, {z_dim}]")
    if stdev.ndim != 1:
        raise _fail(stdev_path, f"PCA standard deviations have shape {stdev.shape}, expected [k >= {n_pca}]")
    for p, k in ((comp_path, comp.shape[0]), (stdev_path, stdev.shape[0])):
        if k < n_pca:
            raise _fail(p, f"only {k} PCA components, the motion generator uses n_pca={n_pca}")
    # torch.tensor keeps the array's element order: get_stats_pca.py saves scikit-learn's components, which are
    # usually Fortran-ordered, and a column-major basis changes the matmul's float rounding (by ~1 ulp).
    return torch.tensor(comp[:n_pca], dtype=torch.float32), torch.tensor(stdev[:n_pca], dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ adapter

@register
class MoCoGANHDAdapter(Adapter):
    name = "mocogan_hd"
    description = ("MoCoGAN-HD (Tian et al., ICLR 2021): an LSTM walks the PCA directions of a pre-trained "
                   "StyleGAN2's W space")
    capabilities = Capabilities(
        fps_control=False, content_motion_separable=True, conditioning=None, max_frames=None,
        time_step="fixed: time_step (default 2) dataset frames per generated frame (half with interpolation=true)",
        notes="--ckpt: directory or JSON manifest of the rosinality image generator *.pt + modelR_*.pth + "
              "pca_comp.npy + pca_stdev.npy. Trained on 16-frame clips; longer videos unroll the LSTM further. "
              "Options: use_noise=const|true|false (spatial noise: stored maps / one map per video / none), "
              "interpolation=true (W midpoints), time_step.")
    OPTIONS = ("native_fps", "use_noise", "interpolation", "time_step")

    def __init__(self, ckpt, device="cpu", native_fps: float | None = None, use_noise="const",
                 interpolation: bool = False, time_step: int | None = None, **options):
        super().__init__(ckpt, device, **options)
        self.reject_unknown_options(options, self.OPTIONS)
        if ckpt is None:
            raise ValueError(f"{self.name} needs --ckpt (a directory or JSON manifest of the four parts)")
        if isinstance(use_noise, str) and use_noise.lower() in ("true", "false"):
            use_noise = use_noise.lower() == "true"
        if not (use_noise == "const" or isinstance(use_noise, bool)):
            raise ValueError(f"{self.name}: use_noise must be 'const', true or false, got {use_noise!r}")
        if not isinstance(interpolation, bool):
            raise ValueError(f"{self.name}: interpolation must be true or false, got {interpolation!r}")
        self.use_noise, self.interpolation = use_noise, interpolation
        self.checkpoint = ck = PartsCheckpoint(ckpt, PART_PATTERNS, MANIFEST_OPTIONAL, "MoCoGAN-HD")
        parts = ck.parts
        self.time_step = positive_int("time_step", time_step if time_step is not None else ck.extras["time_step"])
        self.w_residual = ck.number("w_residual")
        fps = native_fps if native_fps is not None else ck.extras["dataset_fps"]
        self.dataset_fps = float(fps) if fps is not None else None

        self.G, self.g_config = load_image_generator(parts["generator"])
        self.rnn = RNNModule.load(parts["lstm"], self.w_residual)
        if self.rnn.z_dim != self.G.style_dim:
            raise _fail(parts["lstm"], f"the motion generator works on codes of size {self.rnn.z_dim}, the image "
                                       f"generator's w has {self.G.style_dim}")
        self.rnn.set_pca(*load_pca(parts["pca_comp"], parts["pca_stdev"], self.rnn.n_pca, self.rnn.z_dim))
        self.G.to(self.device)
        self.rnn.to(self.device)

    # ---- description
    @property
    def frame_step(self) -> float:
        """Dataset frames between consecutive generated frames."""
        return self.time_step / 2 if self.interpolation else float(self.time_step)

    @property
    def info(self) -> ModelInfo:
        fps = self.dataset_fps / self.frame_step if self.dataset_fps else None
        return self.model_info((self.G.size, self.G.size), fps)

    def provenance(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.ckpt), **self.checkpoint.provenance(),
                "config": {"generator": {**self.g_config, "channels": {str(k): v for k, v in
                                                                       self.g_config["channels"].items()}},
                           "rnn": {"z_dim": self.rnn.z_dim, "h_dim": self.rnn.h_dim, "n_pca": self.rnn.n_pca,
                                   "w_residual": self.w_residual}},
                "options": {"use_noise": self.use_noise, "interpolation": self.interpolation,
                            "time_step": self.time_step},
                "frame_step_dataset_frames": self.frame_step, "dataset_fps": self.dataset_fps,
                "precision": "fp32"}

    # ---- sampling
    def spatial_noise(self, seed: int, index: int, content_seed: Optional[int]) -> list:
        """The per-layer noise maps of one video for the ``use_noise`` mode."""
        if self.use_noise == "const":
            return self.G.stored_noise()
        if self.use_noise is False:
            return [None] * self.G.num_layers
        g = video_seed(content_seed, 0, 2) if content_seed is not None else video_seed(seed, index, 2)
        return self.G.random_noise(1, g, self.device)

    @torch.inference_mode()
    def video_codes(self, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """z [1, z_dim], LSTM inputs [S, z_dim] -> codes w_0..w_S [S + 1, z_dim] (``w_0 = mapping(z)``)."""
        w0 = self.G.map(z.to(self.device))
        return self.rnn(w0, noise.to(self.device)[None])[0]

    @torch.inference_mode()
    def render(self, ws: torch.Tensor, noise: list) -> np.ndarray:
        """Per-frame codes [T, z_dim] -> uint8 frames [T, H, W, 3], in synthesis calls of FRAME_CHUNK frames."""
        out = []
        for f0 in range(0, len(ws), FRAME_CHUNK):
            chunk = ws[f0:f0 + FRAME_CHUNK]
            real = len(chunk)
            chunk = torch.cat([chunk, chunk[-1:].expand(FRAME_CHUNK - real, -1)])
            img = self.G.synthesize(chunk, noise=noise)[:real]
            out.append(to_uint8(img.permute(0, 2, 3, 1)))
        return np.concatenate(out)

    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        if not np.array_equal(t, np.arange(len(t))):
            raise ValueError(f"{self.name} has a fixed frame step; got times {t[:5].tolist()}...")
        T = len(t)
        steps = steps_needed(T, self.interpolation)
        videos = []
        for i in indices:
            cg = video_seed(content_seed, 0, 0) if content_seed is not None else video_seed(seed, i, 0)
            mg = video_seed(motion_seed, 0, 1) if motion_seed is not None else video_seed(seed, i, 1)
            z = torch.randn(1, self.G.style_dim, generator=cg)
            # one draw per LSTM step, so a longer video extends the same input sequence
            e = (torch.stack([torch.randn(self.rnn.z_dim, generator=mg) for _ in range(steps)]) if steps
                 else torch.zeros(0, self.rnn.z_dim))
            codes = self.video_codes(z, e)
            ws = frame_codes(codes, T, self.interpolation)
            videos.append(self.render(ws, self.spatial_noise(seed, i, content_seed)))
        return np.stack(videos)
