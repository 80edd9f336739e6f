"""Adapters for StyleGAN-V (``stylegan_v``) and MoStGAN-V (``mostgan_v``): checkpoint loading and sampling.

Checkpoints: the authors' ``network-snapshot-*.pkl`` (read by :mod:`vgbench.models.checkpoint` without executing
any code from the file; ``G_ema`` is used, as by the official scripts) or vgbench's own ``.vgb`` format. The
networks themselves are :mod:`vgbench.models.stylegan_v` and :mod:`vgbench.models.mostgan_v`.

Config (:func:`generator_config`): the values the network reads are taken from the configs stored in the snapshot,
with their OmegaConf interpolations resolved over the experiment config stored with them
(:mod:`vgbench.models.stored_config`), exactly what the official forward reads: ``G_ema``'s constructor config
(``_init_kwargs.cfg``) and the config the modules keep (``G_ema.cfg``), both with ``training_set_kwargs.cfg``'s
copy of the experiment config as a fallback for absolute interpolations. Sources that disagree are an error naming
both. A value that no source resolves is refused, except two documented inferences, each cross-checked:
``c_dim`` from the Generator's own ``c_dim`` argument (the weights' shapes check it), and
``time_enc.min_period_len`` (plus ``motion.motion_z_distance`` when the config ties the two by interpolation)
from the ``freqs`` buffer, only if that buffer and ``phase_scales`` are exactly their initial values for that
period. Where every value came from is in ``provenance()['config_sources']``.

Precision (option ``precision``; :mod:`vgbench.models.stylegan2`): ``'auto'`` is the checkpoint's own mixed
precision on CUDA (``'fp16'``: float16 in the blocks its ``num_fp16_res`` puts there, with its ``conv_clamp``), as
the papers' numbers were made, and ``'fp16-emulated'`` elsewhere. The resolved choice is in the provenance.

Sampling: per video ``i``, content ``z`` comes from stream 0 and the motion trajectory ``motion_z`` from stream 1
of ``(seed, i)`` (:func:`~vgbench.models.base.video_seed`); ``content_seed`` / ``motion_seed`` fix one of them
for all videos. A class-conditional generator (``c_dim > 0``, e.g. StyleGAN-V on MEAD) gets a one-hot label per
video: the class is drawn uniformly from stream 2 of ``(seed, i)`` (of ``(content_seed, 0)`` when the content is
fixed: the label is part of the content), or set by option ``condition`` (``"class=5"``; entries separated by
``;`` are cycled by video index); ``video_labels(i, seed)`` reports it and the record counts the classes. (The
authors' metrics draw the labels of random training videos instead: uniform equals that on a class-balanced set.)
Frames are rendered at ``t = k * dataset_fps / fps``, one video at a time in generator calls of a fixed shape
(16 frames sharing the video's motion trajectory; the last call padded), so a video's pixels do not depend on the
batch size, on how many frames were asked for, or on the other videos.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import (Adapter, Capabilities, ModelInfo, ModelOptionError, jsonable, parse_condition, register, to_uint8,
                   video_seed)
from .checkpoint import (CheckpointError, checkpoint_sha256, load_native, load_network_pickle, load_strict,
                         module_state_dict, network_record)
from .snapshot_config import generator_config
from .stored_config import resolve, stored_tree
from .stylegan2 import PRECISIONS, resolve_precision

FRAME_CHUNK = 16


def _network_module(kind: str):
    if kind == "stylegan_v":
        from . import stylegan_v as mod
    else:
        from . import mostgan_v as mod
    return mod


def _detect_kind(state: dict) -> str:
    return "mostgan_v" if any(k.startswith("synthesis.multimotionmap.") for k in state) else "stylegan_v"


def build_generator(kind: str, init_args: tuple, init_kwargs: dict, state: dict, where: str):
    """Construct the native network from the official constructor arguments and load ``state`` strictly."""
    mod = _network_module(kind)
    try:
        G = mod.Generator(*init_args, **init_kwargs)
    except (TypeError, ValueError, KeyError, NotImplementedError) as e:
        raise CheckpointError(f"{where}: constructor arguments do not fit {kind}: {e}") from e
    return load_strict(G, state, where, f"the {kind} network built from its config")


class _StyleGANFamily(Adapter):
    kind = "?"
    capabilities = Capabilities(fps_control=True, content_motion_separable=True,
                                conditioning="class label (only if trained with one)", max_frames=None,
                                time_step="continuous: t = k * dataset_fps / fps dataset frames")

    def __init__(self, ckpt, device="cpu", native_fps: float | None = None, truncation_psi: float = 1.0,
                 precision: str = "auto", condition=None, **options):
        super().__init__(ckpt, device, condition=condition, **options)
        self.reject_unknown_options(options, ("truncation_psi", "native_fps", "precision", "condition"))
        if precision not in PRECISIONS:
            raise ModelOptionError(f"{self.name}: precision must be one of {list(PRECISIONS)}, got {precision!r}")
        if ckpt is None:
            raise ValueError(f"{self.name} needs --ckpt (a network-snapshot .pkl or a vgbench .vgb file)")
        path = Path(ckpt)
        if not path.exists():
            raise CheckpointError(f"{path}: no such checkpoint")
        self.truncation_psi = truncation_psi
        self.precision_option = precision
        self.dataset_fps = None
        self.config_sources = None
        if path.suffix == ".pkl":
            snap = load_network_pickle(path)
            g = network_record(snap, "G_ema", path)
            state = module_state_dict(g, where=path)
            self._check_kind(state, path)
            init_args, init_kwargs = g.init_args, g.init_kwargs
            mod = _network_module(self.kind)
            init_kwargs["cfg"], self.config_sources = generator_config(
                snap, g, state, path, mod.READ_KEYS, mod.DEFAULT_CFG, init_kwargs.get("c_dim", 0))
            self.dataset_fps = _dataset_fps(snap)
            self.format = "official-pickle"
        else:
            config, state = load_native(path)
            init_args, init_kwargs = (), config["init_kwargs"]
            self.dataset_fps = config.get("dataset_fps")
            self.format = "vgbench"
            if config.get("model") not in (None, self.kind):
                raise CheckpointError(f"{path}: a {config.get('model')} checkpoint, not {self.kind}")
            self._check_kind(state, path)
        if native_fps is not None:
            self.dataset_fps = float(native_fps)
        self.init_kwargs = init_kwargs
        self.G = build_generator(self.kind, init_args, init_kwargs, state, str(path)).to(self.device)
        self.precision = resolve_precision(precision, self.device)
        self.sha256 = checkpoint_sha256(path)
        if condition is not None and not self.G.c_dim:
            raise ModelOptionError(f"{self.name}: {path} is unconditional (c_dim 0); it takes no condition")
        self.conditions = parse_condition(condition, {"class": int(self.G.c_dim)}, self.name)

    def _check_kind(self, state: dict, path: Path) -> None:
        found = _detect_kind(state)
        if found != self.kind:
            raise CheckpointError(f"{path}: this is a {found} checkpoint; use --model {found}")

    @property
    def info(self) -> ModelInfo:
        r = int(self.G.img_resolution)
        c_dim = int(self.G.c_dim)
        return self.model_info((r, r), self.dataset_fps,
                               conditioning=f"class label (0..{c_dim - 1}, one-hot)" if c_dim else None)

    def provenance(self) -> dict:
        syn = self.G.synthesis
        fp16 = [b.resolution for b in syn.blocks() if b.use_fp16]
        clamp = getattr(syn.blocks()[-1].conv1, "conv_clamp", None)
        p = {"name": self.name, "checkpoint": str(self.ckpt), "checkpoint_sha256": self.sha256,
             "format": self.format, "truncation_psi": self.truncation_psi,
             "precision": self.precision, "precision_option": self.precision_option,
             "fp16_resolutions": fp16 if self.precision != "fp32" else [],
             "float16_arithmetic": self.precision == "fp16" and bool(fp16), "conv_clamp": clamp,
             "config": jsonable(self.init_kwargs), "dataset_fps": self.dataset_fps,
             "condition": self.options.get("condition")}
        if self.config_sources is not None:
            p["config_sources"] = self.config_sources
        return p

    def video_labels(self, index: int, seed: int = 0, content_seed: int | None = None) -> dict | None:
        """``{"class": id}`` of video ``index`` of ``seed`` for a class-conditional generator (None otherwise)."""
        if not self.G.c_dim:
            return None
        if self.conditions and "class" in self.conditions[index % len(self.conditions)]:
            return {"class": self.conditions[index % len(self.conditions)]["class"]}
        g = video_seed(*((content_seed, 0, 2) if content_seed is not None else (seed, index, 2)))
        return {"class": int(torch.randint(int(self.G.c_dim), (1,), generator=g))}

    @torch.inference_mode()
    def _sample_batch(self, indices, t, seed, content_seed, motion_seed):
        G = self.G
        tt = torch.as_tensor(t, dtype=torch.float32)
        zs, mzs, cs = [], [], []
        for i in indices:
            cg = video_seed(content_seed, 0, 0) if content_seed is not None else video_seed(seed, i, 0)
            mg = video_seed(motion_seed, 0, 1) if motion_seed is not None else video_seed(seed, i, 1)
            zs.append(torch.randn(1, G.z_dim, generator=cg))
            mzs.append(G.sample_motion_z(1, tt[None], generator=mg))
            c = torch.zeros(1, G.c_dim)
            if G.c_dim:
                c[0, self.video_labels(i, seed, content_seed)["class"]] = 1
            cs.append(c)
        videos = []
        for z, motion_z, c in zip(zs, mzs, cs):
            z, motion_z, c = z.to(self.device), motion_z.to(self.device), c.to(self.device)
            frames = []
            for f0 in range(0, len(tt), FRAME_CHUNK):
                chunk = tt[f0:f0 + FRAME_CHUNK]
                real = len(chunk)
                # every generator call has the same shape (1 video x FRAME_CHUNK frames; the last chunk is padded
                # by repeating its last time), so pixels do not depend on batch size, frame count or chunking
                chunk = torch.cat([chunk, chunk[-1:].repeat(FRAME_CHUNK - real)])[None].to(self.device)
                img = G(z, c, chunk, truncation_psi=self.truncation_psi, motion_z=motion_z, noise_mode="const",
                        precision=self.precision)
                frames.append(to_uint8(img[:real].permute(0, 2, 3, 1)))
            videos.append(np.concatenate(frames))
        return np.stack(videos)


def _dataset_fps(snap: dict):
    """``training_set_kwargs.cfg.fps`` of the snapshot (resolved over its stored config), or None."""
    tsk = snap.get("training_set_kwargs")
    tsk = tsk if isinstance(tsk, dict) else getattr(tsk, "items", None) or {}
    if tsk.get("cfg") is None:
        return None
    cfg = resolve(*stored_tree(tsk["cfg"])).value
    fps = cfg.get("fps") if isinstance(cfg, dict) else None
    return float(fps) if isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0 else None


@register
class StyleGANVAdapter(_StyleGANFamily):
    name = kind = "stylegan_v"
    description = "StyleGAN-V (Skorokhodov et al., CVPR 2022): continuous-time video generator"


@register
class MoStGANVAdapter(_StyleGANFamily):
    name = kind = "mostgan_v"
    description = "MoStGAN-V (Shen et al., CVPR 2023): StyleGAN-V with temporal motion styles (MoStAtt)"
