"""Datasets bundled with vgbench (procedural, rendered on demand). Importing this registers ``builtin:NAME``."""
from ..io.sources import register_builtin
from .tiny import VARIANTS, TinySource

for _name in VARIANTS:
    register_builtin(_name, lambda _n=_name: TinySource(_n))

__all__ = ["TinySource"]
