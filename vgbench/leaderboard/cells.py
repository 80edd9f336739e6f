"""Parsing one metric cell of a leaderboard row.

Published cells are strings exactly as the paper prints them, so that the file can be checked against the
paper by eye and by test, and the printed precision survives: ``"47.41"``, ``"23.94 ± 0.73"``,
``"0.97±0.018"``, ``"7.5 + 9"`` (two-stage training cost, where allowed) and the missing markers ``"N/A"``,
``"n/a"``, ``"-"``, ``"—"`` and ``"unreadable"`` (the cell could not be read from the source text).
Measured cells are plain TOML numbers or ``{ value = .., std = .., ci95 = [low, high] }`` tables (``ci95``: the
95% bootstrap interval of a Fréchet result, docs/confidence.md): every output format prints it after the value as
``41.50 [39.00, 45.00]`` (:meth:`Cell.interval_text`), CSV as ``_ci95_low``/``_ci95_high`` columns, and the HTML
page also draws it as an error bar.
A missing cell is never a number; a 0 in the data is a real 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MISSING_MARKERS = ("N/A", "n/a", "-", "—", "unreadable")

_NUM = r"-?\d+(?:\.\d+)?"
_VALUE_RE = re.compile(rf"^\s*({_NUM})\s*(?:(?:±|\+/-|\+-)\s*({_NUM}))?\s*$")
_SUM_RE = re.compile(rf"^\s*({_NUM})(?:\s*\+\s*({_NUM}))+\s*$")


@dataclass(frozen=True)
class Cell:
    """A parsed cell: ``value`` is None when missing; ``text`` is how it should be displayed."""

    value: float | None
    std: float | None = None
    text: str = ""              # the printed literal (value part only for ± cells), "" if formatted from numbers
    std_text: str = ""
    missing: str | None = None  # the missing marker as written, when value is None
    decimals: int | None = None
    ci95: tuple[float, float] | None = None  # measured Fréchet cells: the bootstrap interval (low, high)

    @property
    def is_missing(self) -> bool:
        return self.value is None

    def display(self, default_decimals: int = 2) -> str:
        """The value as printed (or formatted), with ``± std`` when present; "" when missing."""
        if self.value is None:
            return ""
        v = self.text or _fmt(self.value, default_decimals)
        if self.std is None:
            return v
        s = self.std_text or _fmt(self.std, default_decimals)
        return f"{v} ± {s}"

    def interval_text(self, default_decimals: int = 2) -> str:
        """The ``ci95`` interval as printed after the value, ``[39.00, 45.00]`` at the metric's decimals; "" when the
        cell has none."""
        if self.ci95 is None:
            return ""
        lo, hi = (f"{x:.{default_decimals}f}" for x in self.ci95)
        return f"[{lo}, {hi}]"


def _fmt(x: float, decimals: int) -> str:
    if float(x).is_integer() and decimals == 0:
        return str(int(x))
    return f"{x:.{decimals}f}"


def _decimals(literal: str) -> int:
    return len(literal.split(".")[1]) if "." in literal else 0


def _interval(raw) -> tuple[float, float] | None:
    if raw is None:
        return None
    if not (isinstance(raw, (list, tuple)) and len(raw) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in raw)):
        raise ValueError(f"'ci95' must be [low, high], two finite numbers, got {raw!r}")
    if raw[0] > raw[1]:
        raise ValueError(f"'ci95' low {raw[0]} is above high {raw[1]}")
    return float(raw[0]), float(raw[1])


def parse_cell(raw, allow_sum: bool = False) -> Cell:
    """Parse a cell; raises ``ValueError`` with a human-readable reason when it is malformed."""
    if isinstance(raw, bool):
        raise ValueError(f"a boolean ({raw!r}) is not a metric value")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise ValueError(f"non-finite value {raw!r}")
        return Cell(float(raw))
    if isinstance(raw, dict):
        extra = set(raw) - {"value", "std", "ci95"}
        if extra or "value" not in raw:
            raise ValueError("a table cell must have 'value' and optionally 'std' and 'ci95', got keys "
                             + ", ".join(sorted(raw)))
        inner = parse_cell(raw["value"])
        std = raw.get("std")
        if std is not None:
            if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std < 0:
                raise ValueError(f"'std' must be a finite non-negative number, got {std!r}")
            std = float(std)
        return Cell(inner.value, std, inner.text, "", inner.missing, inner.decimals, _interval(raw.get("ci95")))
    if not isinstance(raw, str):
        raise ValueError(f"expected a string like \"47.41\" or a number, got {type(raw).__name__}")
    text = raw.strip()
    if text in MISSING_MARKERS:
        return Cell(None, missing=text)
    m = _VALUE_RE.match(text)
    if m:
        v, s = m.group(1), m.group(2)
        return Cell(float(v), float(s) if s is not None else None, v, s or "", None, _decimals(v))
    if allow_sum and _SUM_RE.match(text):
        parts = [p.strip() for p in text.split("+")]
        total = sum(float(p) for p in parts)
        return Cell(total, None, " + ".join(parts), "", None, max(_decimals(p) for p in parts))
    hint = " or 'X + Y'" if allow_sum else ""
    raise ValueError(f"cannot read {raw!r} as a value: expected a number, 'value ± std'{hint}, "
                     f"or one of the missing markers {', '.join(repr(x) for x in MISSING_MARKERS)} "
                     "(a missing value is never written as 0)")
