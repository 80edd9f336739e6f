"""Generators behind one interface. ``get_adapter(name, ckpt)`` returns an adapter with
``sample(n, frames, fps=None, seed=0)`` yielding uint8 [b, T, H, W, 3]; see :mod:`vgbench.models.base`.

Built in: ``stylegan_v``, ``mostgan_v`` (:mod:`.stylegan_family`, networks in :mod:`.stylegan_v`,
:mod:`.mostgan_v`, shared blocks in :mod:`.stylegan2`) and ``folder`` (pre-generated videos). Outside packages
add adapters through the entry point group ``vgbench.models``.
"""
from .base import Adapter, ModelInfo, available_models, get_adapter, register

__all__ = ["Adapter", "ModelInfo", "available_models", "get_adapter", "register"]
