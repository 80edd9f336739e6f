"""The table model shared by every output format: which rows and columns to show, merged how, best where.

Building a table (pure Python, no pandas) does four things:

* selects rows: by default the main comparisons and reference points, without rows whose numbers merely
  re-quote another paper (``quoted_from``), plus every measured row; ``kinds``/``with_quoted``/``papers``
  change that;
* merges published rows that describe the same method in the same paper under the same protocol (e.g.
  StyleGAN-V Tables 1 and 6) when their shared cells agree, citing all their tables;
* lays them out as in the papers: methods as rows, benchmarks x metrics as columns, measured rows right
  after the published row of the same method ("side by side");
* marks the best value of each column (lower- or higher-is-better) and collects footnotes (row notes,
  groups, protocol statements, measured-row provenance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cells import Cell
from .errors import LeaderboardError
from .metrics import COLUMN_ORDER, COLUMNS, MetricColumn
from .schema import DEFAULT_KINDS, KINDS, Benchmark, Row
from .store import Leaderboards

NO_BEST_KINDS = ("reference", "protocol")


@dataclass(frozen=True)
class Column:
    benchmark: str | None      # None: one column for all benchmarks (per-method metric such as training cost)
    metric: MetricColumn

    @property
    def key(self) -> str:
        return self.metric.key if self.benchmark is None else f"{self.benchmark}.{self.metric.key}"


@dataclass
class DisplayRow:
    method: str
    variant: str | None
    kind: str
    origin: str
    source: str
    cells: dict[str, Cell] = field(default_factory=dict)     # Column.key -> Cell
    marks: list[str] = field(default_factory=list)            # footnote marks on the method label
    source_marks: list[str] = field(default_factory=list)     # footnote marks on the source label
    best: set[str] = field(default_factory=set)
    group: str | None = None
    rows: list[Row] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.method} ({self.variant})" if self.variant else self.method


@dataclass
class Table:
    title: str
    benchmarks: list[Benchmark]
    columns: list[Column]
    rows: list[DisplayRow]
    footnotes: list[tuple[str, str]]          # (mark, text); mark "" for general notes

    @property
    def multi(self) -> bool:
        return len(self.benchmarks) > 1

    @property
    def has_intervals(self) -> bool:
        """Whether any cell carries a ``ci95`` interval (the text formats then explain ``[low, high]``)."""
        return any(c.ci95 is not None for r in self.rows for c in r.cells.values())

    def column_title(self, col: Column, with_benchmark: bool | None = None) -> str:
        with_benchmark = self.multi if with_benchmark is None else with_benchmark
        title = col.metric.label
        if with_benchmark and col.benchmark is not None:
            title = f"{self._bench(col.benchmark).title} {title}"
        return f"{title} {col.metric.arrow}".strip()

    def _bench(self, bid: str) -> Benchmark:
        return next(b for b in self.benchmarks if b.id == bid)

    def column_groups(self) -> list[tuple[str, int]]:
        """Runs of consecutive columns of the same benchmark: (benchmark title or "", number of columns)."""
        groups: list[tuple[str, int]] = []
        for col in self.columns:
            name = self._bench(col.benchmark).title if col.benchmark else ""
            if groups and groups[-1][0] == name:
                groups[-1] = (name, groups[-1][1] + 1)
            else:
                groups.append((name, 1))
        return groups


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _compatible(a: dict[str, Cell], b: dict[str, Cell]) -> bool:
    for k in set(a) & set(b):
        x, y = a[k], b[k]
        if x.value is None or y.value is None:
            continue
        if abs(x.value - y.value) > 1e-9 * max(1.0, abs(x.value)):
            return False
        if x.std is not None and y.std is not None and abs(x.std - y.std) > 1e-12:
            return False
    return True


def _merge_cells(a: dict[str, Cell], b: dict[str, Cell]) -> dict[str, Cell]:
    out = dict(a)
    for k, c in b.items():
        if k not in out or (out[k].value is None and c.value is not None) or \
                (out[k].std is None and c.std is not None and out[k].value == c.value):
            out[k] = c
    return out


def _select(bench: Benchmark, kinds, with_quoted: bool, papers, measured: bool) -> list[Row]:
    rows = [r for r in bench.rows
            if r.kind in kinds and (with_quoted or not r.quoted_from)
            and (not papers or r.source.paper in papers)]
    if measured:
        rows += bench.measured
    return rows


def _measured_source(row: Row) -> str:
    prov = row.provenance or {}
    ver = prov.get("vgbench", "?")
    commit = prov.get("git_commit")
    return f"measured with vgbench {ver}" + (f" @{commit[:7]}" if commit else "")


def _measured_footnote(row: Row) -> str:
    prov = row.provenance or {}
    parts = []
    for key, mp in (prov.get("metrics") or {}).items():
        s = f"{COLUMNS[key].label}: protocol {mp.get('protocol', '?')} v{mp.get('protocol_version')}"
        if mp.get("params_sha256"):
            s += f" (params {mp['params_sha256'][:12]})"
        s += f", detector {mp.get('detector', '?')} sha256 {mp.get('detector_sha256', '')[:12]}"
        if mp.get("real_used") is not None or mp.get("fake_used") is not None:
            s += f", {mp.get('real_used', '?')} real / {mp.get('fake_used', '?')} fake"
        parts.append(s)
    ck = prov.get("checkpoint_sha256")
    head = f"Measured with vgbench {prov.get('vgbench', '?')}"
    if prov.get("git_commit"):
        head += f" (commit {prov['git_commit'][:12]})"
    if ck:
        head += f", checkpoint sha256 {ck[:12]}"
    return head + ": " + "; ".join(parts) + f". Record {row.record_sha256[:12]}."


def build_table(lb: Leaderboards, benchmarks: list[str], kinds=None, with_quoted: bool = False,
                papers=None, measured: bool = True) -> Table:
    """The display table for one or more benchmarks (ids, aliases or dataset names)."""
    if not benchmarks:
        raise LeaderboardError("no benchmark given")
    benches: list[Benchmark] = []
    for name in benchmarks:
        b = lb.resolve(name)
        if b not in benches:
            benches.append(b)
    kinds = tuple(kinds) if kinds else DEFAULT_KINDS
    for k in kinds:
        if k not in KINDS:
            raise LeaderboardError(f"unknown row kind {k!r}; known: {', '.join(KINDS)}")
    papers = tuple(papers or ())
    for p in papers:
        if p not in lb.papers:
            raise LeaderboardError(f"unknown paper {p!r}; known: {', '.join(sorted(lb.papers))}")

    display: dict[tuple, DisplayRow] = {}
    sources: dict[tuple, list[str]] = {}
    for bench in benches:
        entries: list[tuple[tuple, dict[str, Cell], list[Row]]] = []
        for row in _select(bench, kinds, with_quoted, papers, measured):
            if row.origin == "published":
                key = ("published", row.method, row.variant, row.kind, row.group, row.source.paper,
                       row.protocol, row.protocol_detail, row.quoted_from)
                for ekey, ecells, erows in entries:
                    if ekey == key and _compatible(ecells, row.cells):
                        ecells.update(_merge_cells(ecells, row.cells))
                        erows.append(row)
                        break
                else:
                    entries.append((key, dict(row.cells), [row]))
            else:
                prov = row.provenance or {}
                key = ("measured", row.method, row.variant, prov.get("vgbench"), prov.get("git_commit"))
                entries.append((key, dict(row.cells), [row]))
        used: set[tuple] = set()
        for key, cells, rows in entries:
            k, n = key, 1
            while k in used or (k in display and any(c.startswith(bench.id + ".") for c in display[k].cells)):
                n += 1
                k = key + (n,)
            used.add(k)
            first = rows[0]
            if k not in display:
                src = _measured_source(first) if first.origin == "measured" else ""
                display[k] = DisplayRow(first.method, first.variant, first.kind, first.origin, src,
                                        group=first.group)
                sources[k] = []
            d = display[k]
            for mkey, cell in cells.items():
                d.cells[f"{bench.id}.{mkey}"] = cell
            d.rows.extend(rows)
            for r in rows:
                if r.origin == "published":
                    label = r.source.label(lb.papers)
                    if label not in sources[k]:
                        sources[k].append(label)
    for k, d in display.items():
        if d.origin == "published":
            d.source = _join_sources(sources[k])

    ordered = _order(list(display.values()))
    columns = _columns(benches, ordered)
    _collapse_per_method(columns, ordered, benches)
    columns = [c for c in columns if c is not None]
    _mark_best(columns, ordered)
    footnotes = _footnotes(lb, benches, ordered)
    title = " · ".join(b.title for b in benches)
    return Table(title, benches, columns, ordered, footnotes)


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}


def _table_order(label: str):
    """Sort key of a source label: paper, then table number (arabic or roman), text sources last."""
    paper, sep, table = label.partition(" Tab. ")
    if not sep:
        return (label, 1, 0, "")
    if table.isdigit():
        return (paper, 0, int(table), table)
    if table and set(table) <= set(_ROMAN):
        vals = [_ROMAN[c] for c in table]
        n = sum(-v if i + 1 < len(vals) and v < vals[i + 1] else v for i, v in enumerate(vals))
        return (paper, 0, n, table)
    return (paper, 0, 10_000, table)


def _join_sources(labels: list[str]) -> str:
    """'StyleGAN-V Tab. 6', 'StyleGAN-V Tab. 1' -> 'StyleGAN-V Tab. 1, 6' (papers in order of appearance)."""
    first_seen = {}
    for label in labels:
        first_seen.setdefault(label.partition(" Tab. ")[0], len(first_seen))
    labels = sorted(labels, key=lambda l: (first_seen[l.partition(" Tab. ")[0]], _table_order(l)))
    out: list[str] = []
    last_paper = None
    for label in labels:
        paper, sep, rest = label.partition(" Tab. ")
        if sep and paper == last_paper:
            out[-1] += f", {rest}"
        else:
            out.append(label)
            last_paper = paper if sep else None
    return "; ".join(out)


def _order(rows: list[DisplayRow]) -> list[DisplayRow]:
    """Published rows in file order; each measured row right after the last published row of its method."""
    published = [r for r in rows if r.origin == "published"]
    out = list(published)
    for m in (r for r in rows if r.origin == "measured"):
        idx = max((i for i, r in enumerate(out) if _norm(r.method) == _norm(m.method)), default=None)
        if idx is None:
            out.append(m)
        else:
            out.insert(idx + 1, m)
    return out


def _columns(benches: list[Benchmark], rows: list[DisplayRow]) -> list[Column | None]:
    cols: list[Column | None] = []
    for b in benches:
        for mkey in COLUMN_ORDER:
            if any(f"{b.id}.{mkey}" in r.cells for r in rows):
                cols.append(Column(b.id, COLUMNS[mkey]))
    return cols


def _collapse_per_method(cols: list[Column | None], rows: list[DisplayRow], benches: list[Benchmark]):
    """A per-method metric (training cost) gets one column when every row agrees across benchmarks."""
    if len(benches) < 2:
        return
    for metric in (m for m in COLUMNS.values() if m.per_method):
        idxs = [i for i, c in enumerate(cols) if c is not None and c.metric is metric]
        if len(idxs) < 2:
            continue
        keys = [cols[i].key for i in idxs]
        agree = True
        for r in rows:
            vals = {r.cells[k].value for k in keys if k in r.cells and r.cells[k].value is not None}
            if len(vals) > 1:
                agree = False
        if not agree:
            continue
        for r in rows:
            present = [r.cells[k] for k in keys if k in r.cells]
            for k in keys:
                r.cells.pop(k, None)
            if present:
                r.cells[metric.key] = next((c for c in present if c.value is not None), present[0])
        for i in idxs:
            cols[i] = None
        cols.append(Column(None, metric))


def _mark_best(cols: list[Column], rows: list[DisplayRow]):
    for col in cols:
        if col.metric.better is None:
            continue
        cands = [(r, r.cells[col.key].value) for r in rows
                 if r.kind not in NO_BEST_KINDS and col.key in r.cells and r.cells[col.key].value is not None]
        if len(cands) < 2:
            continue
        pick = min if col.metric.better == "lower" else max
        best = pick(v for _, v in cands)
        for r, v in cands:
            if v == best:
                r.best.add(col.key)


def _footnotes(lb: Leaderboards, benches: list[Benchmark], rows: list[DisplayRow]) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    index: dict[str, str] = {}

    def mark(text: str) -> str:
        if text not in index:
            index[text] = _mark_name(len(index))
            notes.append((index[text], text))
        return index[text]

    for r in rows:
        texts: list[str] = []
        for row in r.rows:
            texts.extend(row.notes)
            if row.protocol_detail:
                texts.append(f"Protocol variant: {row.protocol_detail}")
        if r.group:
            papers = {lb.papers[x.source.paper].short for x in r.rows if x.source}
            texts.append(f"Group in {', '.join(sorted(papers))}: \u201c{r.group}\u201d.")
        if r.origin == "measured":
            texts.append(_measured_footnote(r.rows[0]))
        for t in dict.fromkeys(texts):
            m = mark(t)
            if m not in r.marks:
                r.marks.append(m)
        for row in r.rows:
            if row.origin == "published":
                proto = lb.protocols[row.protocol]
                m = mark(f"Protocol as stated by {lb.papers[proto.paper].short}: {proto.summary}")
                if m not in r.source_marks:
                    r.source_marks.append(m)
    general = [("", n) for b in benches for n in b.notes]
    return notes + general


def _mark_name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]
