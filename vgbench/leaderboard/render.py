"""One entry point for every output format: ``render(lb, benchmarks, fmt)`` -> text."""

from __future__ import annotations

from .errors import LeaderboardError
from .store import Leaderboards
from .table import build_table

FORMATS = ("md", "csv", "latex", "html")


def render(lb: Leaderboards, benchmarks: list[str] | None, fmt: str = "md", kinds=None,
           with_quoted: bool = False, papers=None, measured: bool = True, standalone: bool = False) -> str:
    """Render ``benchmarks`` (all of them for html when empty) in ``fmt``."""
    if fmt not in FORMATS:
        raise LeaderboardError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "html":
        from .render_html import to_html

        return to_html(lb, benchmarks or None)
    if not benchmarks:
        raise LeaderboardError(f"--benchmark is required for --format {fmt} "
                               f"(known: {', '.join(sorted(lb.benchmarks))})")
    table = build_table(lb, benchmarks, kinds=kinds, with_quoted=with_quoted, papers=papers, measured=measured)
    if not table.rows:
        raise LeaderboardError("no rows to show with these filters (try --kind ablation or --with-quoted)")
    if fmt == "md":
        from .render_text import to_markdown

        return to_markdown(table)
    if fmt == "csv":
        from .render_text import to_csv

        return to_csv(table)
    from .render_latex import to_latex

    return to_latex(table, standalone=standalone)
