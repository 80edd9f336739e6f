"""vgbench: reproducible evaluation of video generators.

Quick use::

    import vgbench
    r = vgbench.fvd("path/to/real_frames", "path/to/fake.npz", protocol="fvd16")
    print(r.value, r.record["metrics"]["fvd16"]["protocol"])

Everything the CLI does is here: :func:`fvd`, :func:`stats`, :func:`features`, :func:`demo`,
:func:`open_source`, :func:`load_protocol`, and the weights store in :mod:`vgbench.weights`.
Attributes are imported on first use, so ``import vgbench`` (and the CLI's help) stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "fvd": "api", "stats": "api", "features": "api", "demo": "api", "reference_stats_path": "api",
    "fid": "api", "inception_score": "api",
    "identity": "api", "lia": "api",
    "open_source": "io.sources", "VideoReadError": "io.sources",
    "compute_stats": "metrics.fvd", "load_stats": "metrics.fvd", "VideoStats": "metrics.fvd",
    "FVDResult": "metrics.fvd", "load_protocol": "protocols", "list_protocols": "protocols",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vgbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
