"""CTSVG (``ctsvg``): "One Style is All You Need to Generate a Video" (Manandhar & Genovesio, WACV 2024).

Architecture (read from the authors' ``model.py``; vgbench's own implementation on top of
:mod:`vgbench.models.rosinality`, the rosinality-layout StyleGAN2 synthesis network)

* Content: an actor id selects a row of ``person_embed`` (``num_person x content_dim``), which goes through the
  mapping network ``style`` (pixel norm + ``n_mlp`` = 8 equalised linear layers, lr multiplier 0.01, leaky ReLU);
  the action id's row of ``class_embed`` (``num_classes x content_dim``), scaled by ``transition_factor`` (1 after
  training's ramp), is added *after* the mapping. There is no random content latent: the identity is the actor.
* Motion ("one style"): a Gaussian ``dynsty`` (``dyn`` values) per video goes through ``dyn_sty`` (pixel norm + 4
  equalised linear layers, lr multiplier 0.01, leaky ReLU), giving the motion style ``m``. The time2vec mixer
  ``dynstyle_gen.sinewavemixer`` turns a scalar time ``tau`` into ``v(tau) = [sin(tau*w + b) (dyn-1 values),
  tau*w0 + b0]`` and the motion code is ``w_m(tau) = m * v(tau)`` (elementwise).
* The style ``[content | w_m(tau)]`` (``content_dim + dyn`` values) drives every one of the ``2*log2(size)-2``
  style slots of a StyleGAN2 synthesis network with CTSVG's own channel map ``{4: 256, 8: 512, 16: 512,
  32: 1024, 64: 256*cm, 128: 128*cm, 256: 64*cm}`` (``cm`` = channel multiplier, 2 in every release) and a
  256-channel learned 4x4 constant. Frames are rendered independently from (actor, action, dynsty, tau).

Checkpoint: the ``torch.save`` dict that ``train.py`` writes (``g``, ``d``, ``d2``, ``g_ema``, optimiser states,
``args`` = argparse Namespace, ``ada_aug_p``), read with ``torch.load(weights_only=True)`` (the Namespace
allow-listed) by :func:`vgbench.models.rosinality.load_rosinality_checkpoint`; ``g_ema`` is used, as by the
official ``generate.py``. Every hyper-parameter is recovered from tensor shapes (size from the number of
``to_rgbs``, ``content_dim`` from ``person_embed``, ``dyn`` from ``sinewavemixer.w`` + 1, actor/action counts from
the embeddings, the channel map from the conv weights) and cross-checked with ``args`` (``size``, ``latent`` =
content + dyn, ``dyn_size``, ``num_person``, ``num_classes``, ``n_mlp``, and ``channel_multiplier`` when the
channel map is the official one); a mismatch is a :class:`~vgbench.models.checkpoint.CheckpointError`.

Time: ``tau`` is measured in frames of the training frame folders and is continuous, so any fps works:
frame ``k`` is rendered at ``tau_k = k * dataset_fps / fps`` (``fps=None``: ``tau_k = k``). The official
``generate.py`` uses exactly ``tau = 0, 1, 2, ...``; training saw integer ``tau`` in ``[o, len - o]`` (offset ``o``
in 1..3) of each training video, so ``tau`` beyond the training videos' lengths extrapolates (the linear time2vec
channel grows without bound).

Seeds: for video ``i`` of ``seed`` (:func:`~vgbench.models.base.video_seed`), stream 1 gives ``dynsty``;
stream 2 gives, in this order, the actor id and the action id (uniform; always drawn, used unless ``condition``
fixes them) and then, with ``noise="random"``, the per-frame spatial noise maps. ``motion_seed=s`` takes
``dynsty`` from stream 1 of ``(s, 0)`` for all videos (same ``m``); ``content_seed=s`` takes the ids from stream
2 of ``(s, 0)``, i.e. the ids video 0 of seed ``s`` gets. ``video_labels(i, seed)`` reports the ids and
``video_codes(i, seed, content_seed, motion_seed)`` the ids and ``dynsty``. Option ``condition``
(``"actor=3,action=5"``; several separated by ``;`` are cycled by video index; a key left out stays drawn)
replaces the drawn ids; ids outside the checkpoint's embeddings are refused.

Differentiable pieces (for temporal GAN inversion; no ``no_grad`` inside): ``G.motion_style(dynsty) -> m``,
``G.content_style(person, action, transition_factor) -> content``, ``G.time_basis(tau) -> v``,
``G.motion_code(m, tau) -> m * v`` and ``G.render(content, m, tau, noise=None) -> frames``.

Spatial noise: ``noise="const"`` (default) uses the stored ``noises.noise_*`` buffers for every frame (the official
``randomize_noise=False`` path). The official ``generate.py`` calls the generator with ``randomize_noise=True``,
drawing fresh global-RNG noise for every frame (visible flicker); ``noise="random"`` reproduces that behaviour
deterministically: frame ``k`` gets maps drawn from the video's stream-2 generator after frames ``0..k-1``
(the maps follow the frame's position in the request, not ``tau``).

Differences from the official sampler, and why: deterministic per-video seeds instead of ``torch.manual_seed(139)``
and global-RNG draws; const noise by default (reproducible pixels); frames are rendered 16 at a time for one
video (fixed-size calls, so pixels do not depend on batch size or on how many frames are asked for) where
``generate.py`` renders one frame per call -- the same function, rounding aside; conversion to uint8 is
``clamp(x * 127.5 + 128)`` then truncation, which equals ``save_image(normalize=True, range=(-1, 1))``'s
``x_01 * 255 + 0.5`` rounding up to float rounding; no truncation trick (``generate.py`` uses none).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .base import Adapter, Capabilities, ModelInfo, ModelOptionError, register, to_uint8, video_seed
from .base import parse_condition as _parse_condition
from .checkpoint import CheckpointError, checkpoint_sha256, is_native, load_native, load_strict
from .rosinality import (StyleGAN2Generator, infer_rosinality_config,
                         load_rosinality_checkpoint, rosinality_channels)
from .stylegan2 import FullyConnectedLayer, normalize_2nd_moment

__all__ = ["Generator", "SineWaveMixer", "TemporalCodeGen", "CTSVGAdapter", "ctsvg_channels", "infer_ctsvg_config",
           "official_channel_multiplier", "build_generator", "parse_condition", "official_config", "load_ctsvg"]

FRAME_CHUNK = 16
LR_MLP = 0.01


def ctsvg_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """CTSVG's channel count per resolution (``Generator.channels`` in the authors' model.py)."""
    cm = channel_multiplier
    return {4: 256, 8: 512, 16: 512, 32: 1024, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
            1024: 16 * cm}


def official_config(size: int = 256, latent: int = 256, dyn: int = 128, num_person: int = 30,
                    num_classes: int = 8) -> dict:
    """Constructor kwargs of a released configuration (``--latent`` is content + motion dims; MEAD: 30 x 8)."""
    return dict(size=size, content_dim=latent - dyn, dyn_dim=dyn, num_person=num_person, num_classes=num_classes,
                n_mlp=8, channels=ctsvg_channels(2))


class PixelNorm(nn.Module):
    """Scale each row to unit mean square (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_2nd_moment(x, dim=1)


def _mlp(dim: int, layers: int) -> nn.Sequential:
    """Pixel norm followed by ``layers`` equalised ``dim -> dim`` layers (lr 0.01, leaky ReLU): keys ``1..layers``."""
    return nn.Sequential(PixelNorm(), *[FullyConnectedLayer(dim, dim, activation="lrelu", lr_multiplier=LR_MLP)
                                        for _ in range(layers)])


class SineWaveMixer(nn.Module):
    """time2vec with ``dim - 1`` learned sinusoids and one linear term, times a per-video style vector."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 2:
            raise ValueError(f"time2vec needs at least 2 components, got {dim}")
        self.dim = dim
        self.w0 = nn.Parameter(torch.randn(1, 1))  # linear term: tau * w0 + b0
        self.b0 = nn.Parameter(torch.randn(1))
        self.w = nn.Parameter(torch.randn(1, dim - 1))  # sinusoids: sin(tau * w + b)
        self.b = nn.Parameter(torch.randn(dim - 1))

    def basis(self, tau: torch.Tensor) -> torch.Tensor:
        """``v(tau)``: ``[B] or [B, 1]`` times -> ``[B, dim]`` = ``[sin(tau w + b), tau w0 + b0]``."""
        tau = tau.reshape(-1, 1).to(self.w.dtype)
        return torch.cat([torch.sin(tau.matmul(self.w) + self.b), tau.matmul(self.w0) + self.b0], dim=1)

    def forward(self, m: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return m * self.basis(tau)


class TemporalCodeGen(nn.Module):
    """Holder of the mixer, so the keys read ``dynstyle_gen.sinewavemixer.*`` as in the official network."""

    def __init__(self, dim: int):
        super().__init__()
        self.sinewavemixer = SineWaveMixer(dim)

    def forward(self, m: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return self.sinewavemixer(m, tau)


class Generator(StyleGAN2Generator):
    """CTSVG's generator: the rosinality StyleGAN2 synthesis network (``style`` maps ``content_dim`` values; the
    synthesis style has ``content_dim + dyn_dim``) plus actor/action embeddings and the motion path."""

    def __init__(self, size: int, content_dim: int, dyn_dim: int, num_person: int, num_classes: int,
                 n_mlp: int = 8, channels: dict | None = None, dyn_mlp: int = 4):
        channels = {int(k): int(v) for k, v in (channels or ctsvg_channels(2)).items()}
        super().__init__(size, content_dim + dyn_dim, n_mlp, channels=channels, mapping_dim=content_dim)
        self.content_dim, self.dyn_dim = int(content_dim), int(dyn_dim)
        self.num_person, self.num_classes = int(num_person), int(num_classes)
        self.class_embed = nn.Embedding(num_classes, content_dim)
        self.person_embed = nn.Embedding(num_person, content_dim)
        self.dyn_sty = _mlp(dyn_dim, dyn_mlp)
        self.dynstyle_gen = TemporalCodeGen(dyn_dim)
        self.init_kwargs = dict(size=int(size), content_dim=self.content_dim, dyn_dim=self.dyn_dim,
                                num_person=self.num_person, num_classes=self.num_classes, n_mlp=int(n_mlp),
                                channels={r: channels[r] for r in sorted(channels) if 4 <= r <= size},
                                dyn_mlp=int(dyn_mlp))

    # -- the pieces, all differentiable (used by temporal GAN inversion)
    def motion_style(self, dynsty: torch.Tensor) -> torch.Tensor:
        """The motion style ``m`` ([B, dyn]) of Gaussian ``dynsty`` ([B, dyn]): the 4-layer MLP ``dyn_sty``."""
        return self.dyn_sty(dynsty)

    def content_style(self, person: torch.Tensor, action: torch.Tensor,
                      transition_factor: float = 1.0) -> torch.Tensor:
        """``style(person_embed[person]) + transition_factor * class_embed[action]``: [B, content_dim]."""
        return self.map(self.person_embed(person)) + transition_factor * self.class_embed(action)

    def time_basis(self, tau: torch.Tensor) -> torch.Tensor:
        """time2vec ``v(tau)`` ([B, dyn]) of times ``tau`` ([B], dataset frames)."""
        return self.dynstyle_gen.sinewavemixer.basis(tau)

    def motion_code(self, m: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """``w_m(tau) = m * v(tau)``: [B, dyn]."""
        return self.dynstyle_gen(m, tau)

    def render(self, content: torch.Tensor, m: torch.Tensor, tau: torch.Tensor, noise=None,
               randomize_noise: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames [B, 3, H, W] (about [-1, 1]) for content styles [B, content_dim], motion styles [B, dyn] and
        times [B] (float, dataset frames). ``noise``: None (stored buffers unless ``randomize_noise``) or one
        tensor per noise layer, [B or 1, 1, r, r]."""
        style = torch.cat([content, self.motion_code(m, tau)], dim=1)
        latent = style.unsqueeze(1).expand(-1, self.n_latent, -1)
        return self.synthesize(latent, noise=noise, randomize_noise=randomize_noise, generator=generator)

    def forward(self, person, dynsty, tau, action, transition_factor: float = 1.0, noise=None,
                randomize_noise: bool = False):
        """The official call ``G(person, dynsty, tau, class_label, transition_factor)``, image only."""
        return self.render(self.content_style(person, action, transition_factor), self.motion_style(dynsty), tau,
                           noise=noise, randomize_noise=randomize_noise)


# ------------------------------------------------------------------------------------------------ checkpoints

def infer_ctsvg_config(state: dict, where: str = "checkpoint") -> dict:
    """Constructor kwargs of :class:`Generator` read from the shapes of a ``g_ema`` state dict."""
    need = ("person_embed.weight", "class_embed.weight", "dynstyle_gen.sinewavemixer.w", "dyn_sty.1.weight")
    missing = [k for k in need if k not in state]
    if missing:
        if "style.1.weight" in state and "to_rgbs.0.conv.weight" in state:
            raise CheckpointError(f"{where}: a rosinality StyleGAN2 image generator without CTSVG's "
                                  f"{', '.join(missing)}; not a CTSVG checkpoint (MoCoGAN-HD's image "
                                  f"generator is --model mocogan_hd)")
        raise CheckpointError(f"{where}: not a CTSVG g_ema state dict: missing {', '.join(missing)}")
    try:
        base = infer_rosinality_config(state)
    except CheckpointError as e:
        raise CheckpointError(f"{where}: {e}") from e
    try:
        num_person, content_dim = state["person_embed.weight"].shape
        num_classes, c2 = state["class_embed.weight"].shape
        dyn = state["dynstyle_gen.sinewavemixer.w"].shape[1] + 1
    except ValueError as e:
        raise CheckpointError(f"{where}: embeddings / time2vec with unexpected shapes ({e})") from e
    channels = base.get("channels") or rosinality_channels(base["size"], base["channel_multiplier"])
    dyn_mlp = sum(1 for k in state if k.startswith("dyn_sty.") and k.endswith(".weight"))
    if c2 != content_dim:
        raise CheckpointError(f"{where}: class_embed has {c2} columns but person_embed {content_dim}")
    if base["style_dim"] != content_dim + dyn or base.get("mapping_dim", base["style_dim"]) != content_dim:
        raise CheckpointError(f"{where}: the modulations take {base['style_dim']} style values and the mapping "
                              f"{base.get('mapping_dim', base['style_dim'])}, but CTSVG needs content "
                              f"{content_dim} + motion {dyn} and a {content_dim}-wide mapping")
    return dict(size=int(base["size"]), content_dim=int(content_dim), dyn_dim=int(dyn), num_person=int(num_person),
                num_classes=int(num_classes), n_mlp=int(base["n_mlp"]), channels=dict(channels),
                dyn_mlp=int(dyn_mlp))


def official_channel_multiplier(channels: dict[int, int]) -> int | None:
    """The channel multiplier whose official CTSVG map equals ``channels``, or None (a custom map)."""
    size = max(channels)
    for cm in (1, 2, 4):
        ref = ctsvg_channels(cm)
        if all(channels[r] == ref[r] for r in channels if r <= size):
            if size < 64:  # the multiplier only shows from 64x64 up: report the default
                return 2
            return cm
    return None


def _check_args(config: dict, args: dict, where: str) -> None:
    expect = {"size": config["size"], "latent": config["content_dim"] + config["dyn_dim"],
              "dyn_size": config["dyn_dim"], "num_person": config["num_person"],
              "num_classes": config["num_classes"], "n_mlp": config["n_mlp"]}
    cm = official_channel_multiplier(config["channels"])
    if cm is not None and config["size"] >= 64:
        expect["channel_multiplier"] = cm
    bad = [f"{k}={args[k]!r} (weights say {v})" for k, v in expect.items()
           if k in args and args[k] is not None and _as_int(args[k]) != v]
    if bad:
        raise CheckpointError(f"{where}: the saved training arguments contradict the g_ema weights: {'; '.join(bad)}")


def _as_int(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        return x


def build_generator(config: dict, state: dict, where: str) -> Generator:
    """Build :class:`Generator` from ``config`` and load ``state`` strictly (clear error on any mismatch)."""
    try:
        G = Generator(**config)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{where}: cannot build a CTSVG generator from {config}: {e}") from e
    return load_strict(G, state, where, "the CTSVG generator built from its shapes")


def load_ctsvg(path: str | Path, key: str = "g_ema") -> tuple[Generator, dict, dict]:
    """Read a CTSVG checkpoint: (generator on CPU, config, training args as a dict). The authors' ``torch.save``
    dict (``g_ema`` and ``args``) or a vgbench ``.vgb`` (``vgbench train --model ctsvg`` snapshots; its config
    is returned as the args, with ``dataset_fps`` when the run's dataset card has one)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if is_native(path):
        meta, state = load_native(path)
        if meta.get("model") != "ctsvg":
            raise CheckpointError(f"{path}: a {meta.get('model')} checkpoint, not ctsvg")
        config = infer_ctsvg_config(state, str(path))
        given = dict(meta.get("init_kwargs") or {})
        given["channels"] = {int(r): int(c) for r, c in (given.get("channels") or {}).items()}
        if given != config:
            raise CheckpointError(f"{path}: config.json's init_kwargs {given} contradict the weights ({config})")
        return build_generator(config, state, str(path)), config, {"dataset_fps": meta.get("dataset_fps")}
    state, args = load_rosinality_checkpoint(path, key=key)
    args = dict(args or {})
    config = infer_ctsvg_config(state, str(path))
    _check_args(config, args, str(path))
    return build_generator(config, state, str(path)), config, args


# ------------------------------------------------------------------------------------------------ conditioning

LABEL_KEYS = ("actor", "action")


def parse_condition(condition, num_person: int, num_classes: int) -> list[dict] | None:
    """``"actor=3,action=5"`` or several separated by ``;`` -> [{"actor": 3, "action": 5}, ...]; a key left out is
    drawn per video. None -> None (both drawn). Ids are checked against the checkpoint's counts."""
    return _parse_condition(condition, dict(zip(LABEL_KEYS, (num_person, num_classes))), "ctsvg")


# ------------------------------------------------------------------------------------------------ adapter

@register
class CTSVGAdapter(Adapter):
    name = "ctsvg"
    description = ("CTSVG (Manandhar & Genovesio, WACV 2024, 'One Style is All You Need to Generate a Video'): "
                   "actor/action-conditional StyleGAN2 with one motion style and time2vec time")
    capabilities = Capabilities(
        fps_control=True, content_motion_separable=True, conditioning="actor id, action id", max_frames=None,
        time_step="continuous: tau = k * dataset_fps / fps dataset frames, from tau = 0",
        notes="content = actor/action ids (drawn per video unless --condition); motion = one Gaussian style; "
              "noise=const|random, transition_factor")
    OPTIONS = ("condition", "noise", "transition_factor", "native_fps")

    def __init__(self, ckpt, device="cpu", native_fps: float | None = None, condition=None, noise: str = "const",
                 transition_factor: float = 1.0, **options):
        super().__init__(ckpt, device, condition=condition, noise=noise, transition_factor=transition_factor,
                         **options)
        self.reject_unknown_options(options, self.OPTIONS)
        if ckpt is None:
            raise ModelOptionError("ctsvg needs --ckpt (the .pt file train.py writes, with g_ema and args)")
        if noise not in ("const", "random"):
            raise ModelOptionError(f"ctsvg: noise must be 'const' or 'random', got {noise!r}")
        if isinstance(transition_factor, bool) or not isinstance(transition_factor, (int, float)) \
                or not math.isfinite(transition_factor):
            raise ModelOptionError(f"ctsvg: transition_factor must be a number, got {transition_factor!r}")
        G, self.config, self.train_args = load_ctsvg(ckpt)
        self.G = G.to(self.device)
        self.num_person, self.num_classes = G.num_person, G.num_classes
        self.conditions = parse_condition(condition, self.num_person, self.num_classes)
        self.noise, self.transition_factor = noise, float(transition_factor)
        fps = native_fps if native_fps is not None else self.train_args.get("dataset_fps")
        self.dataset_fps = float(fps) if fps is not None else None
        self.sha256 = checkpoint_sha256(ckpt)

    @classmethod
    def load(cls, ckpt, device: str = "cpu", native_fps: float | None = None, **options) -> "CTSVGAdapter":
        """Same as the constructor."""
        return cls(ckpt, device=device, native_fps=native_fps, **options)

    @property
    def info(self) -> ModelInfo:
        r = int(self.G.size)
        return self.model_info((r, r), self.dataset_fps,
                               conditioning=f"actor id (0..{self.num_person - 1}), action id (0..{self.num_classes - 1})")

    def provenance(self) -> dict:
        cm = official_channel_multiplier(self.config["channels"])
        config = {**self.config, "channels": {str(k): v for k, v in self.config["channels"].items()},
                  "channel_map": "official" if cm is not None else "custom"}
        return {"name": self.name, "checkpoint": str(self.ckpt), "checkpoint_sha256": self.sha256,
                "format": "official torch.save dict (g_ema)", "config": config,
                "options": {"condition": self.options.get("condition"), "noise": self.noise,
                            "transition_factor": self.transition_factor},
                "precision": "fp32", "dataset_fps": self.dataset_fps}

    # -- per-video randomness
    def _label_draw(self, seed: int, index: int) -> tuple[torch.Generator, dict]:
        g = video_seed(seed, index, 2)
        actor = int(torch.randint(self.num_person, (1,), generator=g))
        action = int(torch.randint(self.num_classes, (1,), generator=g))
        return g, {"actor": actor, "action": action}

    def video_labels(self, index: int, seed: int = 0, content_seed: int | None = None) -> dict:
        """{"actor": id, "action": id} of video ``index`` of ``seed`` (``content_seed``: of video 0 of that seed,
        for every video), with the ``condition`` option applied (entries cycled by video index)."""
        _, labels = self._label_draw(*((content_seed, 0) if content_seed is not None else (seed, index)))
        if self.conditions:
            labels.update(self.conditions[index % len(self.conditions)])
        return labels

    def _noise_for_frames(self, g: torch.Generator, frames: int) -> list[torch.Tensor]:
        """Per layer, [frames, 1, r, r] maps; frame k's maps are drawn after frame k-1's (layer order)."""
        shapes = self.G.noise_shapes()
        per_frame = [[torch.randn(1, 1, r, r, generator=g) for r in shapes] for _ in range(frames)]
        return [torch.cat([f[l] for f in per_frame]) for l in range(len(shapes))]

    def video_codes(self, index: int, seed: int = 0, content_seed: int | None = None,
                    motion_seed: int | None = None) -> dict:
        """What video ``index`` of ``seed`` is rendered from: {"actor", "action", "dynsty" ([1, dyn] CPU tensor)}.
        ``motion_seed`` fixes ``dynsty`` (stream 1 of ``(motion_seed, 0)``), ``content_seed`` the ids."""
        mg = video_seed(motion_seed, 0, 1) if motion_seed is not None else video_seed(seed, index, 1)
        return {**self.video_labels(index, seed, content_seed), "dynsty": torch.randn(1, self.G.dyn_dim, generator=mg)}

    @torch.inference_mode()
    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        G, dev = self.G, self.device
        tt = torch.as_tensor(np.asarray(t), dtype=torch.float32)
        T = len(tt)
        videos = []
        for i in indices:
            codes = self.video_codes(i, seed, content_seed, motion_seed)
            ng, _ = self._label_draw(seed, i)  # stream 2 after the two id draws: the spatial noise
            noise = self._noise_for_frames(ng, T) if self.noise == "random" else None
            content = G.content_style(torch.tensor([codes["actor"]], device=dev),
                                      torch.tensor([codes["action"]], device=dev), self.transition_factor)
            m = G.motion_style(codes["dynsty"].to(dev))
            frames = []
            for f0 in range(0, T, FRAME_CHUNK):
                real = min(FRAME_CHUNK, T - f0)
                # fixed-shape calls (1 video x FRAME_CHUNK frames, the last chunk padded with its last frame), so
                # pixels do not depend on batch size, frame count or chunking
                pick = torch.arange(f0, f0 + FRAME_CHUNK).clamp(max=T - 1)
                chunk_noise = None if noise is None else [n[pick].to(dev) for n in noise]
                img = G.render(content.expand(FRAME_CHUNK, -1), m.expand(FRAME_CHUNK, -1), tt[pick].to(dev),
                               noise=chunk_noise, randomize_noise=False)
                frames.append(to_uint8(img[:real].permute(0, 2, 3, 1)))
            videos.append(np.concatenate(frames))
        return np.stack(videos)
