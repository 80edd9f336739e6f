"""Datasets bundled with vgbench (procedural, rendered on demand). ``builtin:NAME`` finds them through the table of
built-in sources in :mod:`vgbench.io.sources`, which imports them on first use."""
from .tiny import VARIANTS, TinySource

__all__ = ["TinySource", "VARIANTS"]
