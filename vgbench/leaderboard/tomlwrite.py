"""A small TOML writer for the measured-results files (the standard library only reads TOML).

It writes the subset the measured files use: a header of scalar keys, then ``[[rows]]`` blocks whose
scalars come first, followed by nested tables as ``[rows.x]`` / ``[rows.x.y]`` sections. Lists of scalars
and small tables of scalars inside lists are written inline. Output round-trips through ``tomllib``.
"""

from __future__ import annotations

import math
import re

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    out = []
    for ch in s:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write non-finite number {v!r}")
        r = repr(v)
        return r if any(c in r for c in ".eE") else r + ".0"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _table_body(d: dict, prefix: str, lines: list[str]) -> None:
    subtables = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict) and v and any(isinstance(x, dict) for x in v.values()) or \
                isinstance(v, dict) and len(v) > 4:
            subtables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in subtables:
        name = f"{prefix}.{_key(k)}"
        lines.append("")
        lines.append(f"[{name}]")
        _table_body(v, name, lines)


def dumps_rows_file(header: dict, rows: list[dict], comment: str = "") -> str:
    """A TOML document: ``comment`` lines, ``header`` scalars, then each row as a ``[[rows]]`` block."""
    lines = [f"# {c}" if c else "#" for c in comment.splitlines()]
    for k, v in header.items():
        lines.append(f"{_key(k)} = {_scalar(v)}")
    for row in rows:
        lines.append("")
        lines.append("[[rows]]")
        _table_body(row, "rows", lines)
    return "\n".join(lines) + "\n"
