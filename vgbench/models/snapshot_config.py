"""The generator config of a StyleGAN-V / MoStGAN-V snapshot: every value the network reads, and where it came from.

The official code builds ``G`` from ``cfg.model.generator`` (an OmegaConf node of the experiment config, kept with its
parent chain in the pickle) and resolves interpolations such as ``motion_z_distance: ${dataset.motion_z_distance}``
(MoStGAN-V) or ``${model.generator.time_enc.min_period_len}`` (StyleGAN-V) at run time. :func:`generator_config`
does the same without running code (:mod:`vgbench.models.stored_config`) over every copy of the config the snapshot
stores:

* ``G_ema._init_kwargs.cfg`` -- the constructor's config;
* ``G_ema.cfg`` -- the config the official modules keep and their ``forward`` reads;
* ``training_set_kwargs.cfg`` (``cfg.dataset``) -- its parent chain is another copy of the experiment config, used
  for absolute interpolations that the first two cannot resolve (e.g. nodes pickled without their parents).

Rules, per value the network reads (``READ_KEYS`` of :mod:`~vgbench.models.stylegan_v` /
:mod:`~vgbench.models.mostgan_v`):

* all copies that resolve it must agree, otherwise :class:`~vgbench.models.checkpoint.CheckpointError` naming them;
* a key no copy contains takes the network's default (the composed official config);
* a key present but unresolvable everywhere is refused, except for these inferences:

  - ``c_dim``: the Generator's own ``c_dim`` argument (the motion encoder's weight shapes check it);
  - ``time_enc.min_period_len`` / ``time_enc.max_period_len`` only initialise the ``freqs`` and ``phase_scales``
    buffers, which the checkpoint's own values replace (the official forward reads the buffers), so they matter only
    when ``motion.motion_z_distance`` is tied to ``min_period_len`` by interpolation and cannot be resolved. Then
    ``motion_z_distance = min_period_len`` is inferred only if every source agrees: ``freqs`` and ``phase_scales``
    are exactly the buffers the official constructor makes for that period (``2 pi / freqs[0, -1]``) and
    ``max_period_len``; a buffer changed after initialisation says nothing about the config and is refused.
"""
from __future__ import annotations

import math

import torch

from .checkpoint import CheckpointError, InertObject
from .stored_config import MISSING, Resolved, is_interpolation, lookup, resolve, stored_tree

__all__ = ["generator_config", "config_sources"]

_FREQS = "synthesis.motion_encoder.time_encoder.freqs"
_PHASE_SCALES = "synthesis.motion_encoder.time_encoder.phase_scales"
_DIST, _MIN_P, _MAX_P = "motion.motion_z_distance", "time_enc.min_period_len", "time_enc.max_period_len"


def _items(obj) -> dict:
    """A pickled dict or ``EasyDict`` record as a dict (anything else: empty)."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, InertObject) and obj.items:
        return obj.items
    return {}


def config_sources(snap: dict, g) -> list[tuple[str, Resolved, object]]:
    """The stored copies of the generator config: ``(name, resolved, raw plain tree of the node)``."""
    tsk_cfg = _items(snap.get("training_set_kwargs")).get("cfg")
    fallback = (stored_tree(tsk_cfg)[0],) if tsk_cfg is not None else ()
    out = []
    for name, node in (("G_ema._init_kwargs.cfg", _items(g.state.get("_init_kwargs")).get("cfg")),
                       ("G_ema.cfg", g.state.get("cfg"))):
        if node is None:
            continue
        root, path = stored_tree(node)
        raw = lookup(root, path)
        out.append((name, resolve(root, path, fallback), raw))
    return out


def _status(r: Resolved, key: str):
    """(value, None) if ``key`` resolved, (MISSING, None) if absent, (MISSING, reason) if unresolved."""
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        why = r.unresolved.get(".".join(parts[:i]))
        if why is not None:
            return MISSING, why
    v = lookup(r.value, parts)
    if is_interpolation(v):
        return MISSING, f"{v!r} is unresolved"
    return v, None


def _tied(raw_sources, key: str, target: str) -> bool:
    """Whether some stored copy sets ``key`` to an interpolation of the generator's ``target``: absolute from the
    experiment root (``${model.generator.<target>}``), from the node itself (``${<target>}``) or relative from the
    sub-node holding ``key`` (``${..<target>}``)."""
    forms = {"${model.generator." + target + "}", "${" + target + "}", "${.." + target + "}"}
    return any(isinstance(v, str) and v.replace(" ", "") in forms
               for v in (lookup(raw, key.split(".")) for raw in raw_sources))


def _initial_buffers(state: dict, min_period, max_period) -> bool:
    """Whether ``freqs``/``phase_scales`` are exactly what the official constructor makes for these periods."""
    from .stylegan_v import construct_linspaced_frequencies

    freqs, scales = state.get(_FREQS), state.get(_PHASE_SCALES)
    if freqs is None or scales is None or freqs.ndim != 2:
        return False
    ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0  # noqa: E731
    if not (ok(min_period) and ok(max_period)):
        return False
    init = construct_linspaced_frequencies(freqs.shape[1], min_period, max_period)
    return torch.equal(freqs.float(), init) and torch.equal(scales.float(), max_period / (2 * math.pi / init))


def _period_of(freqs: torch.Tensor) -> float:
    """2 pi / freqs[0, -1], rounded to an integer within 1e-3 (the config's periods are integers)."""
    p = float(2 * math.pi / float(freqs[0, -1]))
    return float(round(p)) if math.isfinite(p) and abs(p - round(p)) < 1e-3 * max(1.0, abs(p)) else p


def generator_config(snap: dict, g, state: dict, where, read_keys, defaults: dict, c_dim: int) -> tuple[dict, dict]:
    """(generator cfg with every value of ``read_keys`` resolved, {key: where its value came from}); see the module
    docstring for the rules."""
    sources = config_sources(snap, g)
    if not sources:
        return {}, {k: "default (the snapshot stores no generator config)" for k in read_keys}
    cfg = _copy_tree(sources[0][1].value)
    raws = {name: raw for name, _, raw in sources}
    origin, pending = {}, {}
    for key in read_keys:
        found, reasons = {}, {}
        for name, r, raw in sources:
            v, why = _status(r, key)
            if why is not None:
                reasons[name] = why
            elif v is not MISSING:
                found[name] = v
        values = list(found.values())
        if any(v != values[0] for v in values[1:]):
            raise CheckpointError(f"{where}: the configs stored in the snapshot disagree on {key}: "
                                  + ", ".join(f"{n} = {v!r}" for n, v in found.items()))
        if found:
            raw = lookup(raws[next(iter(found))], key.split("."))
            via = f" (stored as {raw!r}, resolved over the stored experiment config)" if is_interpolation(raw) else ""
            _set(cfg, key, values[0])
            origin[key] = f"{', '.join(found)}{via}"
        elif reasons:
            pending[key] = "; ".join(f"{n}: {w}" for n, w in reasons.items())
        elif key == "c_dim":
            _set(cfg, key, int(c_dim))
            origin[key] = "the Generator's c_dim argument (not in the stored config)"
        else:
            _set(cfg, key, lookup(defaults, key.split(".")))
            origin[key] = "default (not in the stored config)"
    _infer(cfg, origin, pending, state, where, list(raws.values()), c_dim)
    return cfg, origin


def _infer(cfg, origin, pending, state, where, raws, c_dim):
    """Fill the unresolved values that may be inferred (module docstring); refuse the rest."""
    if "c_dim" in pending:
        _set(cfg, "c_dim", int(c_dim))
        origin["c_dim"] = f"the Generator's c_dim argument ({pending.pop('c_dim')})"
    if _DIST in pending:
        why = pending.pop(_DIST)
        if not (_tied(raws, _DIST, _MIN_P) or _tied(raws, _MIN_P, _DIST)):
            raise CheckpointError(f"{where}: motion.motion_z_distance (the spacing of the motion codes, which the "
                                  f"official forward reads from the config) does not resolve: {why}")
        freqs = state.get(_FREQS)
        min_p = lookup(cfg, _MIN_P.split(".")) if _MIN_P not in pending else (
            _period_of(freqs) if freqs is not None else MISSING)
        max_p = lookup(cfg, _MAX_P.split("."))
        if _MAX_P in pending or not _initial_buffers(state, min_p, max_p):
            raise CheckpointError(
                f"{where}: motion.motion_z_distance does not resolve ({why}) and cannot be inferred: it is tied to "
                f"time_enc.min_period_len, but the time encoder's freqs/phase_scales buffers are not the initial ones "
                f"for min_period_len={min_p} (2 pi / freqs[0, -1] = {_period_of(freqs) if freqs is not None else '?'})"
                f" and max_period_len={max_p}, so the sources disagree or were changed after initialisation")
        value = int(min_p) if float(min_p).is_integer() else min_p
        _set(cfg, _DIST, value)
        _set(cfg, _MIN_P, value)
        origin[_DIST] = (f"inferred: tied to time_enc.min_period_len by interpolation, = 2 pi / freqs[0, -1] = {value} "
                         f"with freqs and phase_scales exactly at their initial values ({why})")
        origin.setdefault(_MIN_P, origin[_DIST])
        pending.pop(_MIN_P, None)
    for key in (_MIN_P, _MAX_P):
        if key in pending:  # only initialise buffers that the checkpoint replaces
            _set(cfg, key, 16 if key == _MIN_P else 1024)
            origin[key] = f"placeholder: only initialises the freqs/phase_scales buffers, which the checkpoint's own " \
                          f"values replace ({pending.pop(key)})"
    if pending:
        raise CheckpointError(f"{where}: config values the network reads do not resolve from the configs stored in "
                              f"the snapshot: " + "; ".join(f"{k}: {w}" for k, w in pending.items()))


def _copy_tree(v):
    if isinstance(v, dict):
        return {k: _copy_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_tree(x) for x in v]
    return v


def _set(cfg: dict, key: str, value) -> None:
    node = cfg
    for part in key.split(".")[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[key.split(".")[-1]] = value
