"""Matplotlib figures for the HTML page, returned as PNG bytes (no pyplot, no global backend change).

* FVD16 vs FVD128 per benchmark: does a method that is good on short clips stay good on long ones?
* Training cost (GPU-days) vs FVD16: the idea of the StyleGAN-V paper's Fig. 3 (quality against price).

Measured points whose cells carry a ``ci95`` interval get it as (asymmetric) error bars.
"""

from __future__ import annotations

import io

from ._deps import require
from .table import Table


def _points(table: Table, bench: str, x: str, y: str):
    pts = []
    for r in table.rows:
        if r.kind in ("reference", "protocol"):
            continue
        cx = r.cells.get(f"{bench}.{x}") or r.cells.get(x)
        cy = r.cells.get(f"{bench}.{y}") or r.cells.get(y)
        if cx is not None and cy is not None and cx.value is not None and cy.value is not None:
            pts.append((cx.value, cy.value, r.label, r.origin, cx.ci95, cy.ci95))
    return pts


def _errors(sel, axis: int):
    """Asymmetric error bars [[below], [above]] of the points ``sel`` on ``axis`` (0: x, 1: y) from their ci95, or
    None when no point has one (a point without an interval gets a zero-length bar)."""
    if not any(p[4 + axis] for p in sel):
        return None
    return [[p[axis] - p[4 + axis][0] if p[4 + axis] else 0.0 for p in sel],
            [p[4 + axis][1] - p[axis] if p[4 + axis] else 0.0 for p in sel]]


def figure(pts, xlabel: str, ylabel: str, title: str, log: bool):
    """The matplotlib Figure of a scatter: published and measured points, measured ones with their ci95 as error
    bars."""
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for origin, marker, color, name in (("published", "o", "#1f77b4", "as published"),
                                        ("measured", "*", "#d62728", "measured with vgbench")):
        sel = [p for p in pts if p[3] == origin]
        if sel:
            ax.scatter([p[0] for p in sel], [p[1] for p in sel], marker=marker, s=60 if marker == "*" else 36,
                       color=color, label=name, zorder=3)
            xerr, yerr = _errors(sel, 0), _errors(sel, 1)
            if xerr is not None or yerr is not None:
                ax.errorbar([p[0] for p in sel], [p[1] for p in sel], xerr=xerr, yerr=yerr, fmt="none",
                            ecolor=color, elinewidth=1, capsize=3, zorder=2, label="_95% bootstrap interval")
    for x, y, label, *_ in pts:
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _scatter(pts, xlabel: str, ylabel: str, title: str, log: bool) -> bytes:
    fig = figure(pts, xlabel, ylabel, title, log)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def fvd16_vs_fvd128(table: Table, bench: str) -> bytes | None:
    """Scatter of FVD16 (x) against FVD128 (y) for one benchmark, or None with fewer than 2 points."""
    pts = _points(table, bench, "fvd16", "fvd128")
    if len(pts) < 2:
        return None
    title = f"{table._bench(bench).title}: FVD16 vs FVD128 (lower is better on both)"
    return _scatter(pts, "FVD16 (log)", "FVD128 (log)", title, log=True)


def cost_vs_fvd16(table: Table, bench: str) -> bytes | None:
    """Scatter of training cost in GPU-days (x) against FVD16 (y), or None with fewer than 2 points."""
    pts = _points(table, bench, "train_gpu_days", "fvd16")
    if len(pts) < 2:
        return None
    title = f"{table._bench(bench).title}: training cost vs FVD16"
    return _scatter(pts, "training cost (GPU-days)", "FVD16", title, log=False)
