"""vgbench leaderboards: published results with their sources, vgbench-measured results, rendered tables.

Light to import (no pandas/matplotlib until something is rendered). Main entry points:

* :func:`load_leaderboards` — read and validate a leaderboard folder;
* :func:`add_records` — ingest ``vgbench eval`` JSONL records as "measured with vgbench" rows;
* :func:`render` — Markdown, CSV, LaTeX or HTML;
* :mod:`vgbench.leaderboard.cli` — the ``vgbench leaderboard`` click group.
"""

from __future__ import annotations

from .errors import LeaderboardError, MissingDependencyError
from .ingest import add_records
from .render import FORMATS, render
from .store import default_leaderboard_dir, load_leaderboards
from .table import build_table

__all__ = ["LeaderboardError", "MissingDependencyError", "add_records", "build_table", "default_leaderboard_dir",
           "load_leaderboards", "render", "FORMATS"]
