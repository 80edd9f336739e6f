"""Markdown and CSV output of a leaderboard table (pandas + tabulate, imported lazily).

Markdown is for reading and pasting (README, papers' supplementary pages): best values in bold, missing
values as "—", arrows on the metric headers, footnote marks as <sup> and the footnotes listed below.
CSV is for machines: one column per benchmark x metric holding the number (empty when missing, never 0),
a ``_std`` column where any standard deviation exists, and plain-text marks/notes columns instead of bold.
"""

from __future__ import annotations

from ._deps import require
from .table import Table

MISSING = "—"


def _marks_md(marks: list[str]) -> str:
    return f"<sup>{','.join(marks)}</sup>" if marks else ""


def to_markdown(table: Table) -> str:
    pd = require("pandas")
    require("tabulate")
    data = []
    for r in table.rows:
        rec = {"Method": r.label + _marks_md(r.marks)}
        for col in table.columns:
            cell = r.cells.get(col.key)
            text = cell.display(col.metric.decimals) if cell is not None and not cell.is_missing else MISSING
            if col.key in r.best:
                text = f"**{text}**"
            rec[table.column_title(col)] = text
        rec["Source"] = r.source + _marks_md(r.source_marks)
        data.append(rec)
    df = pd.DataFrame(data, columns=["Method"] + [table.column_title(c) for c in table.columns] + ["Source"])
    body = df.to_markdown(index=False, tablefmt="pipe",
                          colalign=["left"] + ["right"] * len(table.columns) + ["left"])
    lines = [f"**{table.title}** — best value per column in **bold** (↓ lower is better, ↑ higher is better); "
             f"{MISSING} = not reported.", "", body, ""]
    for mark, text in table.footnotes:
        lines.append(f"- <sup>{mark}</sup> {text}" if mark else f"- {text}")
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table) -> str:
    pd = require("pandas")
    data = []
    has_std = {c.key for c in table.columns if any(c.key in r.cells and r.cells[c.key].std is not None
                                                       for r in table.rows)}
    notes = dict(table.footnotes)
    for r in table.rows:
        rec = {"method": r.method, "variant": r.variant or "", "kind": r.kind, "origin": r.origin,
               "group": r.group or "", "source": r.source}
        for col in table.columns:
            cell = r.cells.get(col.key)
            name = col.key if table.multi else col.metric.key
            rec[name] = cell.value if cell is not None else None
            if col.key in has_std:
                rec[name + "_std"] = cell.std if cell is not None else None
        rec["best"] = " ".join(sorted(c.key if table.multi else c.metric.key
                                      for c in table.columns if c.key in r.best))
        rec["notes"] = " | ".join(notes[m] for m in r.marks + r.source_marks if m in notes)
        data.append(rec)
    return pd.DataFrame(data).to_csv(index=False, lineterminator="\n")
