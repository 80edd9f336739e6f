"""Metrics. One module per metric; the Fréchet distance and streaming statistics are shared."""
from .frechet import frechet_distance
from .fvd import FVDResult, VideoStats, compute_stats, fvd, load_stats

__all__ = ["frechet_distance", "fvd", "compute_stats", "load_stats", "VideoStats", "FVDResult"]
