"""Errors of the leaderboard package: one exception type that can name the file and line at fault."""

from __future__ import annotations

from pathlib import Path

from ..errors import VgbenchError


class LeaderboardError(VgbenchError):
    """A problem with leaderboard data or input, optionally located at ``path:line``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class MissingDependencyError(LeaderboardError):
    """An optional rendering dependency (pandas, tabulate, matplotlib) is not installed."""
