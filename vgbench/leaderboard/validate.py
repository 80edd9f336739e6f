"""Validation of parsed leaderboard TOML into the data model, with every problem located at file and line.

``tomllib`` does not report where a value came from, so :class:`LineIndex` finds the line of each
``[[rows]]`` header (and of a key inside a row) in the raw text. Rows must therefore be written as
``[[rows]]`` blocks, which is also what makes the files diff well.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from .cells import parse_cell
from .errors import LeaderboardError
from .metrics import COLUMNS
from .schema import (
    HEADER_KEYS_MEASURED,
    HEADER_KEYS_PUBLISHED,
    KINDS,
    MEASURED_ROW_KEYS,
    PAPER_KEYS,
    PROTOCOL_KEYS,
    PUBLISHED_ROW_KEYS,
    SCHEMA_MEASURED,
    SCHEMA_PUBLISHED,
    SCHEMA_SOURCES,
    SOURCE_KEYS,
    Benchmark,
    Paper,
    Protocol,
    Row,
    Source,
)

_ROWS_HEADER = re.compile(r"^\s*\[\[\s*rows\s*\]\]\s*(#.*)?$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class LineIndex:
    """Line numbers (1-based) of the ``[[rows]]`` blocks and keys of one TOML file."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.row_starts = [i + 1 for i, line in enumerate(self.lines) if _ROWS_HEADER.match(line)]

    def row_line(self, index: int) -> int | None:
        return self.row_starts[index] if index < len(self.row_starts) else None

    def key_line(self, key: str, row: int | None = None) -> int | None:
        """The line of ``key = ...`` inside row ``row`` (or in the header when ``row`` is None)."""
        if row is None:
            lo, hi = 1, (self.row_starts[0] if self.row_starts else len(self.lines) + 1)
        else:
            lo = self.row_line(row)
            if lo is None:
                return None
            hi = self.row_starts[row + 1] if row + 1 < len(self.row_starts) else len(self.lines) + 1
        pat = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for n in range(lo, hi):
            if pat.match(self.lines[n - 1]):
                return n
        return row is not None and lo or None


class Problems:
    """Collects located problems; ``raise_if_any`` raises one error listing them all."""

    def __init__(self):
        self.items: list[LeaderboardError] = []

    def add(self, message: str, path: Path, line: int | None = None):
        self.items.append(LeaderboardError(message, path, line))

    def raise_if_any(self):
        if self.items:
            raise LeaderboardValidationError(self.items)


class LeaderboardValidationError(LeaderboardError):
    """One or more invalid files; ``errors`` lists each problem with its file and line."""

    def __init__(self, errors: list[LeaderboardError]):
        self.errors = errors
        first = errors[0]
        more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more problem(s):\n  " + \
            "\n  ".join(str(e) for e in errors[1:]) + ")"
        super().__init__(first.message + more, first.path, first.line)


def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _str_list(value, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{what} must be a string or a list of strings")


# ----------------------------------------------------------------------------------------------- sources


def parse_sources(data: dict, path: Path, idx: LineIndex, problems: Problems):
    papers: dict[str, Paper] = {}
    protocols: dict[str, Protocol] = {}
    if data.get("schema") != SCHEMA_SOURCES:
        problems.add(f"'schema' must be {SCHEMA_SOURCES!r}, got {data.get('schema')!r}", path,
                     idx.key_line("schema"))
    for key, p in (data.get("papers") or {}).items():
        line = _section_line(idx, f"papers.{key}")
        if not isinstance(p, dict):
            problems.add(f"papers.{key} must be a table", path, line)
            continue
        unknown = set(p) - PAPER_KEYS
        missing = {"short", "title", "file"} - set(p)
        if unknown or missing:
            problems.add(f"papers.{key}: " + "; ".join(
                ([f"unknown key(s) {sorted(unknown)}"] if unknown else [])
                + ([f"missing key(s) {sorted(missing)}"] if missing else [])), path, line)
            continue
        papers[key] = Paper(key, p["short"], p["title"], p["file"], p.get("authors", ""), p.get("venue", ""),
                            tuple(p.get("missing_tables", ())))
    for key, p in (data.get("protocols") or {}).items():
        line = _section_line(idx, f"protocols.{key}")
        if not isinstance(p, dict) or set(p) != PROTOCOL_KEYS:
            problems.add(f"protocols.{key} must have exactly the keys {sorted(PROTOCOL_KEYS)}", path, line)
            continue
        if p["paper"] not in papers:
            problems.add(f"protocols.{key}: unknown paper {p['paper']!r}", path, line)
        protocols[key] = Protocol(key, p["paper"], p["summary"].strip(), p["statement"].strip())
    return papers, protocols


def _section_line(idx: LineIndex, name: str) -> int | None:
    pat = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
    for n, line in enumerate(idx.lines, 1):
        if pat.match(line):
            return n
    return None


# ----------------------------------------------------------------------------------------------- benchmarks


def parse_benchmark(data: dict, path: Path, idx: LineIndex, papers: dict, protocols: dict,
                    problems: Problems) -> Benchmark | None:
    """A published benchmark file -> :class:`Benchmark` (rows validated; problems collected)."""
    n_before = len(problems.items)
    if data.get("schema") != SCHEMA_PUBLISHED:
        problems.add(f"'schema' must be {SCHEMA_PUBLISHED!r}, got {data.get('schema')!r}", path,
                     idx.key_line("schema"))
    for key in sorted(set(data) - HEADER_KEYS_PUBLISHED):
        problems.add(f"unknown top-level key {key!r}{_suggest(key, HEADER_KEYS_PUBLISHED)}", path,
                     idx.key_line(key))
    for key in ("benchmark", "title", "dataset", "resolution", "protocol_family"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.add(f"missing or empty {key!r} (a string)", path, idx.key_line(key))
    if data.get("benchmark") and data.get("benchmark") != path.stem:
        problems.add(f"'benchmark' is {data.get('benchmark')!r} but the file is named {path.name!r}; "
                     "they must match", path, idx.key_line("benchmark"))
    try:
        aliases = _str_list(data.get("aliases", []), "'aliases'") if data.get("aliases", []) != [] else ()
        notes = _str_list(data.get("notes", []), "'notes'") if data.get("notes", []) != [] else ()
    except ValueError as e:
        problems.add(str(e), path)
        aliases, notes = (), ()
    if len(problems.items) > n_before:
        return None
    bench = Benchmark(data["benchmark"], data["title"], data["dataset"], data["resolution"],
                      data["protocol_family"], path, tuple(a.lower() for a in aliases), notes)
    rows = data.get("rows", [])
    if not isinstance(rows, list):
        problems.add("'rows' must be an array of [[rows]] tables", path, idx.key_line("rows"))
        return bench
    _check_row_headers(rows, path, idx, problems)
    seen: dict[tuple, int | None] = {}
    for i, raw in enumerate(rows):
        row = parse_published_row(raw, i, bench.id, path, idx, papers, protocols, problems)
        if row is None:
            continue
        key = (row.method, row.variant, row.group, row.source.paper, row.source.table, row.source.text)
        if key in seen:
            problems.add(f"duplicate row: {row.display_method!r} from {row.source.paper} "
                         f"{'table ' + row.source.table if row.source.table else row.source.text} "
                         f"is already at line {seen[key]}", path, row.line)
            continue
        seen[key] = row.line
        bench.rows.append(row)
    return bench


def _check_row_headers(rows: list, path: Path, idx: LineIndex, problems: Problems):
    if len(idx.row_starts) != len(rows):
        problems.add(f"found {len(rows)} rows but {len(idx.row_starts)} '[[rows]]' header lines: write every "
                     "row as a '[[rows]]' block (no inline arrays of rows)", path)


def parse_published_row(raw, i: int, bench: str, path: Path, idx: LineIndex, papers: dict, protocols: dict,
                        problems: Problems) -> Row | None:
    line = idx.row_line(i)
    where = f"row {i + 1}"
    if not isinstance(raw, dict):
        problems.add(f"{where}: not a table", path, line)
        return None
    n_before = len(problems.items)

    def bad(msg: str, key: str | None = None):
        problems.add(f"{where} ({raw.get('method', '?')}): {msg}", path, idx.key_line(key, i) if key else line)

    if raw.get("origin", "published") != "published":
        bad("measured rows belong in leaderboards/measured/<benchmark>.toml, not in a published file", "origin")
    allowed = PUBLISHED_ROW_KEYS | set(COLUMNS)
    for key in sorted(set(raw) - allowed - {"origin"}):
        bad(f"unknown key {key!r}{_suggest(key, allowed)}", key)
    for key in ("method", "printed"):
        if not isinstance(raw.get(key), str) or not raw.get(key).strip():
            bad(f"missing or empty {key!r} (a string)", key)
    for key in ("variant", "group", "protocol_detail"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            bad(f"{key!r} must be a non-empty string", key)
    kind = raw.get("kind")
    if kind not in KINDS:
        bad(f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}", "kind")
    source = _parse_source(raw.get("source"), papers, bad)
    protocol = raw.get("protocol")
    if protocol not in protocols:
        bad(f"unknown protocol {protocol!r}; known: {', '.join(sorted(protocols))} (declared in _sources.toml)",
            "protocol")
    quoted: tuple[str, ...] = ()
    if "quoted_from" in raw:
        try:
            quoted = _str_list(raw["quoted_from"], "'quoted_from'")
            for q in quoted:
                paper, _, table = q.partition(":")
                if paper not in papers or not table:
                    raise ValueError(f"'quoted_from' entries are 'paper:table' with a known paper, got {q!r}")
        except ValueError as e:
            bad(str(e), "quoted_from")
    notes: tuple[str, ...] = ()
    if "notes" in raw:
        try:
            notes = _str_list(raw["notes"], "'notes'")
        except ValueError as e:
            bad(str(e), "notes")
    cells = _parse_cells(raw, bad)
    if not cells:
        bad("no metric values; a row needs at least one of " + ", ".join(COLUMNS))
    if len(problems.items) > n_before:
        return None
    return Row(bench, raw["method"].strip(), kind, "published", cells, path, line,
               variant=raw.get("variant"), printed=raw["printed"], group=raw.get("group"), source=source,
               protocol=protocol, protocol_detail=raw.get("protocol_detail"), quoted_from=quoted, notes=notes)


def _parse_source(src, papers: dict, bad) -> Source | None:
    if not isinstance(src, dict):
        bad("missing 'source' = { paper = ..., file = ..., table = ... } (or text = ... for a number "
            "quoted from running text)", "source")
        return None
    unknown = set(src) - SOURCE_KEYS
    if unknown:
        bad(f"unknown source key(s) {sorted(unknown)}; allowed: {sorted(SOURCE_KEYS)}", "source")
        return None
    paper = src.get("paper")
    if paper not in papers:
        bad(f"unknown source paper {paper!r}; known: {', '.join(sorted(papers))}", "source")
        return None
    if src.get("file") != papers[paper].file:
        bad(f"source file {src.get('file')!r} does not match paper {paper!r} ({papers[paper].file})", "source")
        return None
    has_table, has_text = bool(src.get("table")), bool(src.get("text"))
    if has_table == has_text:
        bad("source needs exactly one of 'table' (table number as printed) or 'text' (section)", "source")
        return None
    for k in ("table", "text"):
        if k in src and not isinstance(src[k], str):
            bad(f"source {k!r} must be a string", "source")
            return None
    return Source(paper, src["file"], src.get("table"), src.get("text"))


def _parse_cells(raw: dict, bad) -> dict:
    cells = {}
    for key, metric in COLUMNS.items():
        if key not in raw:
            continue
        try:
            cells[key] = parse_cell(raw[key], allow_sum=metric.allow_sum)
        except ValueError as e:
            bad(f"metric {key!r}: {e}", key)
    return cells


# ----------------------------------------------------------------------------------------------- measured


def parse_measured(data: dict, path: Path, idx: LineIndex, bench: Benchmark, problems: Problems) -> list[Row]:
    """A measured file -> rows (each with complete provenance)."""
    rows_out: list[Row] = []
    if data.get("schema") != SCHEMA_MEASURED:
        problems.add(f"'schema' must be {SCHEMA_MEASURED!r}, got {data.get('schema')!r}", path,
                     idx.key_line("schema"))
    for key in sorted(set(data) - HEADER_KEYS_MEASURED):
        problems.add(f"unknown top-level key {key!r}", path, idx.key_line(key))
    if data.get("benchmark") != bench.id:
        problems.add(f"'benchmark' must be {bench.id!r} (the file name), got {data.get('benchmark')!r}", path,
                     idx.key_line("benchmark"))
    rows = data.get("rows", [])
    if not isinstance(rows, list):
        problems.add("'rows' must be an array of [[rows]] tables", path)
        return rows_out
    _check_row_headers(rows, path, idx, problems)
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(rows):
        line = idx.row_line(i)
        n_before = len(problems.items)

        def bad(msg: str, key: str | None = None, _i=i, _raw=raw):
            problems.add(f"row {_i + 1} ({_raw.get('method', '?') if isinstance(_raw, dict) else '?'}): {msg}",
                         path, idx.key_line(key, _i) if key else idx.row_line(_i))

        if not isinstance(raw, dict):
            bad("not a table")
            continue
        allowed = MEASURED_ROW_KEYS | set(COLUMNS)
        for key in sorted(set(raw) - allowed):
            bad(f"unknown key {key!r}{_suggest(key, allowed)}", key)
        if raw.get("origin") != "measured":
            bad("'origin' must be \"measured\" in a measured file", "origin")
        if not isinstance(raw.get("method"), str) or not raw["method"].strip():
            bad("missing or empty 'method'", "method")
        if raw.get("kind", "main") not in KINDS:
            bad(f"'kind' must be one of {', '.join(KINDS)}", "kind")
        sha = raw.get("record_sha256")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            bad("'record_sha256' must be 64 lowercase hex digits", "record_sha256")
        elif sha in seen:
            bad(f"duplicate record_sha256 (same record as the row at line {seen[sha]})", "record_sha256")
        prov = raw.get("provenance")
        cells = _parse_cells(raw, bad)
        if not cells:
            bad("no metric values")
        if not isinstance(prov, dict):
            bad("missing [rows.provenance] table")
        else:
            per_metric = prov.get("metrics") or {}
            for key in cells:
                mp = per_metric.get(key)
                if not isinstance(mp, dict) or not mp.get("protocol_version") or not mp.get("detector_sha256"):
                    bad(f"metric {key!r} lacks provenance (protocol_version and detector_sha256 are required)",
                        key)
        if len(problems.items) > n_before:
            continue
        seen[sha] = line
        rows_out.append(Row(bench.id, raw["method"].strip(), raw.get("kind", "main"), "measured", cells, path,
                            line, variant=raw.get("variant"), record_sha256=sha, created=raw.get("created"),
                            notes=tuple(raw.get("notes", ())) if isinstance(raw.get("notes"), list) else
                            ((raw["notes"],) if isinstance(raw.get("notes"), str) else ()),
                            provenance=prov))
    return rows_out
