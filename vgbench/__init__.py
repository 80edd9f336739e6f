"""vgbench: reproducible evaluation of video generators.

Quick use::

    import vgbench
    r = vgbench.fvd("path/to/real_frames", "path/to/fake.npz", protocol="fvd16")
    print(r.value, r.record["metrics"]["fvd16"]["protocol"])

Everything the CLI does is here: :func:`fvd`, :func:`stats`, :func:`features`, :func:`demo`,
:func:`open_source`, :func:`load_protocol`, and the weights store in :mod:`vgbench.weights`.
"""
__version__ = "0.1.0"

from .api import demo, features, fvd, reference_stats_path, stats  # noqa: E402
from .io.sources import VideoReadError, open_source  # noqa: E402
from .metrics.fvd import FVDResult, VideoStats, compute_stats, load_stats  # noqa: E402
from .protocols import list_protocols, load_protocol  # noqa: E402

__all__ = ["__version__", "fvd", "stats", "features", "demo", "open_source", "compute_stats", "load_stats",
           "load_protocol", "list_protocols", "VideoStats", "FVDResult", "VideoReadError", "reference_stats_path"]
