"""Pretrained feature networks. ``get_detector('i3d')`` returns a ready detector with weights from the store.

A detector is a callable ``uint8 [B, T, H, W, 3] -> float32 [B, D]`` with attributes ``name``, ``feature_dim``
and ``provenance`` (weights name and sha256). Outside packages can add detectors through the entry point group
``vgbench.detectors`` (a factory ``f(device) -> detector``).

Metrics get their detector with ``detector_for(protocol)``: the one the protocol names, set to the protocol's
``[detector].resize_mode`` (I3D has two kernels, see :mod:`.resize`). A detector with a ``resize_mode`` attribute
that differs from the protocol's is refused, so statistics never mix resize kernels.
"""
from __future__ import annotations

import functools
from importlib.metadata import entry_points

import torch

from ..utils import import_object

__all__ = ["get_detector", "detector_for", "available_detectors", "default_device"]


def default_device() -> str:
    """``cuda`` when available (under torchrun ``cuda:LOCAL_RANK``: one GPU per process), else ``cpu``."""
    if not torch.cuda.is_available():
        return "cpu"
    from ..distributed import env

    rank, world, local = env()
    return f"cuda:{local}" if world > 1 else "cuda"


#: Built-in detectors: name -> ``"module:factory"`` (imported on first use) or the factory itself; it is called as
#: ``factory(device, auto_fetch=...)`` and returns the detector with its weights from the store. A new detector is
#: its module (network, ``WEIGHTS``, ``load_detector``) and one line here (and one in ``weights.SPEC_MODULES``).
_BUILTIN = {
    "i3d": "vgbench.detectors.i3d:load_detector",
    "inception": "vgbench.detectors.inception:load_detector",
    "c3d": "vgbench.detectors.c3d:load_detector",
}


def available_detectors() -> list[str]:
    names = set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group="vgbench.detectors"))
    return sorted(names)


@functools.lru_cache(maxsize=4)
def get_detector(name: str = "i3d", device: str | None = None, auto_fetch: bool = True):
    device = device or default_device()
    if name in _BUILTIN:
        factory = _BUILTIN[name]
        return (import_object(factory) if isinstance(factory, str) else factory)(device, auto_fetch=auto_fetch)
    for ep in entry_points(group="vgbench.detectors"):
        if ep.name == name:
            return ep.load()(device)
    raise ValueError(f"unknown detector {name!r}; available: {', '.join(available_detectors())}")


def detector_for(protocol, device: str | None = None, detector=None):
    """The detector ``protocol`` (a loaded :class:`~vgbench.protocols.Protocol`) computes with: ``detector`` when
    given, else ``get_detector(name, device)``, with the protocol's resize kernel. Raises ``ProtocolError`` when the
    detector resizes differently and cannot be switched."""
    from ..errors import ProtocolError

    mode = protocol["detector"].get("resize_mode")
    given = detector is not None
    if not given:
        detector = get_detector(protocol["detector"]["name"], device)
    have = getattr(detector, "resize_mode", mode)
    if have != mode:
        if given or not hasattr(detector, "with_resize"):
            name = getattr(detector, "name", "custom")
            raise ProtocolError(f"protocol {protocol.name} resizes with {mode!r} but the {name} detector given "
                                f"resizes with {have!r}; the features would not be comparable")
        detector = detector.with_resize(mode)
    return detector
