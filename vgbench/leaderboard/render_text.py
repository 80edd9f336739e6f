"""Markdown and CSV output of a leaderboard table (pandas + tabulate, imported lazily).

Markdown is for reading and pasting (README, papers' supplementary pages): best values in bold, missing
values as "—", arrows on the metric headers, footnote marks as <sup> and the footnotes listed below; a measured
value with a 95% bootstrap interval is followed by it: ``41.50 [39.00, 45.00]``.
CSV is for machines: one column per benchmark x metric holding the number (empty when missing, never 0),
a ``_std`` column where any standard deviation exists, ``_ci95_low``/``_ci95_high`` columns where any interval
exists, and plain-text marks/notes columns instead of bold.
"""

from __future__ import annotations

from ._deps import require
from .table import Table

MISSING = "—"
#: appended to the legend when a measured value carries its interval
INTERVAL_LEGEND = "; [low, high] after a measured value = its 95% bootstrap interval (docs/confidence.md)"


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
            if cell is not None and cell.ci95 is not None:
                text += " " + cell.interval_text(col.metric.decimals)
            rec[table.column_title(col)] = text
        rec["Source"] = r.source + _marks_md(r.source_marks)
        data.append(rec)
    df = pd.DataFrame(data, columns=["Method"] + [table.column_title(c) for c in table.columns] + ["Source"])
    body = df.to_markdown(index=False, tablefmt="pipe",
                          colalign=["left"] + ["right"] * len(table.columns) + ["left"])
    lines = [f"**{table.title}** — best value per column in **bold** (↓ lower is better, ↑ higher is better); "
             f"{MISSING} = not reported" + (INTERVAL_LEGEND if table.has_intervals else "") + ".", "", body, ""]
    for mark, text in table.footnotes:
        lines.append(f"- <sup>{mark}</sup> {text}" if mark else f"- {text}")
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table) -> str:
    pd = require("pandas")
    data = []
    has_std, has_ci = ({c.key for c in table.columns if any(c.key in r.cells and getattr(r.cells[c.key], field)
                                                            is not None for r in table.rows)}
                       for field in ("std", "ci95"))
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
            if col.key in has_ci:
                low, high = cell.ci95 if cell is not None and cell.ci95 is not None else (None, None)
                rec[name + "_ci95_low"], rec[name + "_ci95_high"] = low, high
        rec["best"] = " ".join(sorted(c.key if table.multi else c.metric.key
                                      for c in table.columns if c.key in r.best))
        rec["notes"] = " | ".join(notes[m] for m in r.marks + r.source_marks if m in notes)
        data.append(rec)
    return pd.DataFrame(data).to_csv(index=False, lineterminator="\n")
