"""Video input: one reader for every source (see :mod:`vgbench.io.sources`)."""
from .sources import Video, VideoReadError, VideoSource, open_source

__all__ = ["Video", "VideoSource", "VideoReadError", "open_source"]
