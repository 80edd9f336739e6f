"""Restricted unpickling: load pickles of plain data without executing code from the file.

A pickle can name any importable callable and have it called on load (``os.system`` included). Every
pickle vgbench reads comes through :func:`load_restricted`, which resolves only the globals in an
explicit allow-list and refuses everything else with :class:`UnsafePickleError` naming the global.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import IO, Mapping

import numpy as np

from .errors import VgbenchError

__all__ = ["UnsafePickleError", "NUMPY_ARRAYS", "load_restricted"]


class UnsafePickleError(VgbenchError, pickle.UnpicklingError):
    """The pickle asked for a global that is not on the allow-list."""


def _numpy_core_multiarray():
    try:  # numpy >= 2 keeps the real module under numpy._core
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


# What a pickle of numpy arrays (and dicts/lists/str/float of them) may reference.
NUMPY_ARRAYS: Mapping[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_core_multiarray()._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_core_multiarray()._reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_core_multiarray().scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_core_multiarray().scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], object], source: str):
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refusing to load global '{module}.{name}'. This file asks to import or call "
                f"code that is not plain data, so it was not loaded (a pickle can run arbitrary commands). "
                f"If the file is genuine, convert it to a plain format first."
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed in this pickle (got {pid!r})")


def load_restricted(
    src: str | Path | bytes | IO[bytes], allowed: Mapping[tuple[str, str], object] = NUMPY_ARRAYS
) -> object:
    """Unpickle ``src`` (a path, bytes or a binary file) resolving only the ``allowed`` globals."""
    if isinstance(src, (str, Path)):
        with open(src, "rb") as f:
            return _RestrictedUnpickler(f, allowed, str(src)).load()
    if isinstance(src, (bytes, bytearray)):
        return _RestrictedUnpickler(io.BytesIO(src), allowed, "<bytes>").load()
    return _RestrictedUnpickler(src, allowed, getattr(src, "name", "<stream>")).load()
