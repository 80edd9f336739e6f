"""Lazy imports of the optional rendering dependencies, with an error that says how to install them."""

from __future__ import annotations

import importlib

from .errors import MissingDependencyError

INSTALL_HINT = "pip install vgbench[leaderboard]"


def require(module: str):
    """Import ``module`` (pandas, tabulate, matplotlib) or raise a clear :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"rendering leaderboards needs the optional dependency {module.split('.')[0]!r}: "
            f"{INSTALL_HINT}") from e
