"""The generator interface every model adapter implements, and the registry that finds adapters by name.

An adapter wraps one generator family behind ``sample(n, frames, fps=None, seed=0, batch_size=...)``, which
yields uint8 ``[b, T, H, W, 3]`` batches. Rules every adapter follows:

* Determinism: video ``i`` depends only on (seed, i) (or on ``content_seed``/``motion_seed``), never on the batch
  size, the device count or what else was sampled.
* Time: a model's time unit is frames of its training dataset; ``fps`` asks for frames spaced
  ``dataset_fps / fps`` apart, starting at t=0 (``fps=None``: consecutive dataset frames).
* Quantisation: ``uint8(clamp(x * 127.5 + 128, 0, 255))`` of the generator's [-1, 1] output (StyleGAN-V's
  metric code; rounding, not truncation).

Outside packages register adapters through the entry point group ``vgbench.models`` (name -> adapter class).
"""
from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points
from typing import Iterator

import numpy as np
import torch

from ..errors import VgbenchError
from ..utils import exact_float32

__all__ = ["ModelInfo", "Capabilities", "ModelOptionError", "Adapter", "register", "get_adapter", "available_models",
           "video_seed", "to_uint8", "time_grid", "jsonable", "positive_int", "parse_condition"]


@dataclasses.dataclass
class ModelInfo:
    name: str
    description: str
    resolution: tuple[int, int] | None = None  # (H, W)
    native_fps: float | None = None  # fps of the training dataset (the time unit)
    time_unit: str = "dataset frames"
    fps_control: bool = True  # can sample at any fps (continuous time)
    content_motion_separable: bool = False  # content_seed and motion_seed can be fixed independently
    conditioning: str | None = None
    max_frames: int | None = None  # None: unbounded

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ModelOptionError(VgbenchError, ValueError):
    """An adapter option (``--model-option``, ``--condition``, sampling argument) that the model cannot honour."""


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What an adapter class supports, known without loading a checkpoint (``vgbench models list``)."""

    fps_control: bool  # any fps / arbitrary times (continuous time); False: fixed frame step only
    content_motion_separable: bool  # content_seed / motion_seed can be fixed independently
    conditioning: str | None = None  # e.g. "actor id, action id"; None: unconditional
    max_frames: int | None = None  # None: unbounded
    time_step: str = "continuous (dataset frames)"  # how generated frames map to dataset time
    notes: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def jsonable(x):
    """A config (nested dicts/lists of plain values and anything else) as JSON-safe data for provenance records."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def positive_int(name: str, v) -> int:
    """An adapter option that must be a positive integer (``--model-option time_step=2``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
        raise ModelOptionError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def video_seed(seed: int, index: int, stream: int) -> torch.Generator:
    """A torch CPU generator for video ``index``'s stream (0: content, 1: motion, 2: other) of ``seed``."""
    ss = np.random.SeedSequence([int(seed), int(index), int(stream)])
    g = torch.Generator(device="cpu")
    g.manual_seed(int(ss.generate_state(1, np.uint64)[0] & ((1 << 63) - 1)))
    return g


def parse_condition(condition, limits: dict[str, int], model: str) -> list[dict] | None:
    """The ``condition`` option of a conditional model: ``"actor=3,action=5"``, several entries separated by ``;``
    (cycled by video index) -> ``[{"actor": 3, "action": 5}, ...]``. ``limits`` maps each label key the model has
    to its count; ids must be in ``[0, count)``. A key left out of an entry stays drawn per video. None -> None."""
    if condition is None:
        return None
    example = ",".join(f"{k}=ID" for k in limits)
    if not isinstance(condition, str):
        raise ModelOptionError(f"{model}: condition must be text like {example!r}, got {condition!r}")
    out = []
    for entry in condition.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        labels = {}
        for part in entry.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in limits:
                raise ModelOptionError(f"{model}: cannot read condition {entry!r}: expected {example!r} "
                                       f"(keys {', '.join(limits)})")
            if key in labels:
                raise ModelOptionError(f"{model}: condition {entry!r} gives {key} twice")
            try:
                ident = int(value.strip())
            except ValueError:
                raise ModelOptionError(f"{model}: condition {entry!r}: {key} must be an integer id, "
                                       f"got {value.strip()!r}") from None
            if not 0 <= ident < limits[key]:
                raise ModelOptionError(f"{model}: condition {entry!r}: {key} id {ident} out of range; this checkpoint "
                                       f"has {limits[key]} {key} ids (ids 0..{limits[key] - 1})")
            labels[key] = ident
        out.append(labels)
    if not out:
        raise ModelOptionError(f"{model}: empty condition {condition!r}")
    return out


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float frames -> uint8 by ``clamp(x * 127.5 + 128)`` then truncation (= round half up)."""
    return (x.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def time_grid(frames: int, fps: float | None, native_fps: float | None) -> np.ndarray:
    """Times (in dataset frames) of ``frames`` frames sampled at ``fps``: ``k * native_fps / fps``."""
    if fps is None:
        step = 1.0
    else:
        if not native_fps:
            raise ValueError("this model does not know its dataset's fps, so --fps cannot be honoured")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        step = native_fps / fps
    return np.arange(frames, dtype=np.float64) * step


class Adapter:
    """Base class of generator adapters. Subclasses set ``name`` and implement ``info`` and ``_sample_batch``."""

    name: str = "?"
    description: str = ""
    capabilities: Capabilities = Capabilities(fps_control=False, content_motion_separable=False)

    def __init__(self, ckpt: str | None, device: str = "cpu", **options):
        self.ckpt, self.device, self.options = ckpt, torch.device(device), options

    def reject_unknown_options(self, options: dict, known) -> None:
        """Raise a clear error for adapter options this model does not understand (typos must not pass silently)."""
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ModelOptionError(f"{self.name}: unknown option(s) {', '.join(unknown)}; this model accepts: "
                                   f"{', '.join(sorted(known)) or 'none'}")

    @property
    def info(self) -> ModelInfo:  # pragma: no cover - abstract
        raise NotImplementedError

    def model_info(self, resolution, native_fps, **overrides) -> ModelInfo:
        """:class:`ModelInfo` of the loaded model: the class's :attr:`capabilities` plus what the checkpoint decides
        (``resolution``, ``native_fps`` and any ``overrides``, e.g. a conditioning text naming the label ranges)."""
        cap = self.capabilities
        fields = dict(fps_control=cap.fps_control, content_motion_separable=cap.content_motion_separable,
                      conditioning=cap.conditioning, max_frames=cap.max_frames)
        return ModelInfo(self.name, self.description, resolution, native_fps=native_fps, **{**fields, **overrides})

    def provenance(self) -> dict:
        """What identifies the loaded model (checkpoint path and sha256, config)."""
        return {"name": self.name, "checkpoint": self.ckpt}

    def video_labels(self, index: int, seed: int = 0) -> dict | None:
        """Conditioning labels of video ``index`` of ``seed`` (e.g. ``{"actor": 3, "action": 5}``); None when the
        model is unconditional. Deterministic, like the pixels."""
        return None

    def _sample_batch(self, indices: list[int], t: np.ndarray, seed: int, content_seed: int | None,
                      motion_seed: int | None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, n: int, frames: int, fps: float | None = None, seed: int = 0, batch_size: int = 4,
               content_seed: int | None = None, motion_seed: int | None = None,
               start: int = 0, times=None) -> Iterator[np.ndarray]:
        """Yield uint8 [b, frames, H, W, 3] batches for videos ``start .. start+n-1``.

        ``content_seed`` / ``motion_seed`` fix content or motion for every video (when the model separates them):
        "same motion, different content" is ``motion_seed=k`` with varying ``seed``. ``times`` replaces the
        ``frames``/``fps`` grid, e.g. ``[0, 8, ..., 120]`` for a subsampled protocol: dataset frames for
        continuous-time models, and indices into the generated frame sequence for fixed-step models (as for
        pre-generated videos: a protocol's fake clip is taken from the frames the model produces).
        """
        if frames < 1 or n < 0:
            raise ValueError(f"need frames >= 1 and n >= 0, got frames={frames}, n={n}")
        info = self.info
        if info.max_frames is not None and frames > info.max_frames:
            raise ValueError(f"{self.name} generates at most {info.max_frames} frames, asked for {frames}")
        if fps is not None and not info.fps_control and fps != info.native_fps:
            raise ValueError(f"{self.name} cannot change its frame rate (native {info.native_fps} fps)")
        if (content_seed is not None or motion_seed is not None) and not info.content_motion_separable:
            raise ValueError(f"{self.name} cannot fix content and motion separately")
        pick = None
        if times is not None:
            t = np.asarray(times, dtype=np.float64)
            if t.ndim != 1 or len(t) != frames:
                raise ValueError(f"times must list {frames} values")
            if not info.fps_control:
                # a fixed-step model's time axis is its own frame sequence (like pre-generated videos): ``times``
                # index those frames; render up to the last one and pick
                if (t < 0).any() or (t != np.round(t)).any():
                    raise ValueError(f"{self.name} has a fixed frame step: times must be frame indices "
                                     f"(non-negative integers), got {t[:6].tolist()}")
                pick = t.astype(np.int64)
                if info.max_frames is not None and pick.max() + 1 > info.max_frames:
                    raise ValueError(f"{self.name} generates at most {info.max_frames} frames, times need "
                                     f"{pick.max() + 1}")
                t = np.arange(pick.max() + 1, dtype=np.float64)
        else:
            t = time_grid(frames, fps, info.native_fps)
        for b0 in range(start, start + n, batch_size):
            idx = list(range(b0, min(b0 + batch_size, start + n)))
            with exact_float32(self.device):  # the papers' float32 (TF32 off on CUDA)
                batch = self._sample_batch(idx, t, seed, content_seed, motion_seed)
            yield batch if pick is None else batch[:, pick]

    def iter_videos(self, n: int, frames: int, **kwargs) -> Iterator[np.ndarray]:
        """One uint8 [frames, H, W, 3] video at a time (flattens :meth:`sample`)."""
        for batch in self.sample(n, frames, **kwargs):
            yield from batch


_REGISTRY: dict[str, type[Adapter]] = {}
_BUILTIN_MODULES = ("folder", "stylegan_family", "motionvideogan", "ctsvg", "digan", "mocogan_hd")


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: make ``cls`` available as ``--model cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    for ep in entry_points(group="vgbench.models"):
        if ep.name not in _REGISTRY:
            try:
                cls = ep.load()
            except Exception as e:  # a broken plugin must not break vgbench
                import warnings

                warnings.warn(f"could not load model plugin {ep.name!r} ({ep.value}): {e}")
                continue
            _REGISTRY[ep.name] = cls


def available_models() -> dict[str, type[Adapter]]:
    import importlib

    for module in _BUILTIN_MODULES:  # register the built-in adapters
        importlib.import_module(f"{__package__}.{module}")

    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get_adapter(name: str, ckpt: str | None = None, device: str = "cpu", **options) -> Adapter:
    models = available_models()
    if name not in models:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(models)}")
    try:
        return models[name](ckpt, device=device, **options)
    except ValueError as e:
        from .checkpoint import CheckpointError

        if isinstance(e, (CheckpointError, ModelOptionError)):
            raise
        raise ModelOptionError(f"{name}: {e}") from e  # a bad option value: a clean CLI error, same message
