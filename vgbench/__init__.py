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
    "stats": "api", "features": "api", "demo": "api", "reference_stats_path": "api",
    "open_source": "io.sources", "VideoReadError": "io.sources",
    "compute_stats": "metrics.fvd", "load_stats": "metrics.stats", "VideoStats": "metrics.stats",
    "FVDResult": "metrics.fvd", "MetricResult": "metrics.base", "load_protocol": "protocols",
    "list_protocols": "protocols", "VgbenchError": "errors", "compare": "comparison",
    "fvd_lengths": "temporal", "motion_collapse": "temporal", "per_video_report": "report",
}
# The metrics' standalone functions (``fvd``, ``fid``, ``inception_score``, ``identity``, ``lia``) come from the
# metric registry (each metric's MetricSpec names them), so a new metric needs no line here; ``__all__`` too is
# computed on first use (``from vgbench import *``).


def __getattr__(name: str):
    if name == "__all__":
        from .metrics.base import metric_api

        return ["__version__", *_LAZY, *metric_api()]
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        from .metrics.base import metric_api

        api = metric_api()
        if name not in api:
            raise AttributeError(f"module 'vgbench' has no attribute {name!r}")
        value = api[name]
    globals()[name] = value
    return value


def __dir__():
    from .metrics.base import metric_api

    return sorted(set(globals()) | set(_LAZY) | set(metric_api()))
