"""The ``vgbench leaderboard`` command group: ``add``, ``render``, ``list`` and ``validate``.

Register it in the main CLI with ``main.add_command(leaderboard)``. Every command takes
``--leaderboard-dir`` (default: ``$VGBENCH_LEADERBOARDS``, else the repository's ``leaderboards/``, else the
copy bundled in the installed package).
"""

from __future__ import annotations

from pathlib import Path

import click

from .errors import LeaderboardError
from .render import FORMATS
from .schema import KINDS
from .store import atomic_write_text, default_leaderboard_dir, load_leaderboards
from .validate import LeaderboardValidationError

_dir_option = click.option(
    "--leaderboard-dir", "leaderboard_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Leaderboard folder (default: $VGBENCH_LEADERBOARDS, else the repository's leaderboards/).")


def _load(leaderboard_dir: Path | None):
    try:
        return load_leaderboards(leaderboard_dir or default_leaderboard_dir())
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from e


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@click.group(name="leaderboard")
def leaderboard():
    """Published and measured results per benchmark: add, render, list, validate."""


@leaderboard.command("add")
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", default=None, help="Method name for every record (default: the record's model.name).")
@click.option("--benchmark", default=None, help="Benchmark for every record (default: the record's dataset.name).")
@_dir_option
def add_cmd(results: Path, method: str | None, benchmark: str | None, leaderboard_dir: Path | None):
    """Add `vgbench eval` records (JSONL) as rows "measured with vgbench"."""
    from .ingest import add_records

    lb = _load(leaderboard_dir)
    try:
        report = add_records(results, lb, method=method, benchmark=benchmark)
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from e
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for s in report.skipped:
        click.echo(f"skipped: {s}")
    for bench, methods in report.added.items():
        click.echo(f"added {len(methods)} row(s) to {bench}: {', '.join(methods)}")
    if not report.added:
        click.echo("nothing new to add")


@leaderboard.command("render")
@click.option("--benchmark", "benchmarks", multiple=True,
              help="Benchmark id, alias or dataset (repeat or comma-separate for a multi-dataset table; "
                   "html: default all).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE (atomically) instead of standard output.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(list(KINDS)),
              help="Row kinds to include (default: main and reference; repeatable).")
@click.option("--all-kinds", is_flag=True, help="Include ablations, protocol-sensitivity and component rows.")
@click.option("--with-quoted", is_flag=True, help="Include rows that re-quote another paper's numbers.")
@click.option("--paper", "papers", multiple=True, help="Only published rows from these papers (keys in _sources.toml).")
@click.option("--no-measured", is_flag=True, help="Leave out rows measured with vgbench.")
@click.option("--standalone", is_flag=True, help="LaTeX: a complete document that compiles as is.")
@_dir_option
def render_cmd(benchmarks, fmt, out, kinds, all_kinds, with_quoted, papers, no_measured, standalone,
               leaderboard_dir):
    """Render tables as Markdown, CSV, LaTeX (booktabs) or one self-contained HTML page."""
    from .render import render

    lb = _load(leaderboard_dir)
    try:
        text = render(lb, _split(benchmarks), fmt, kinds=list(KINDS) if all_kinds else (list(kinds) or None),
                      with_quoted=with_quoted, papers=_split(papers), measured=not no_measured,
                      standalone=standalone)
        if out is not None:
            atomic_write_text(out, text)
            click.echo(f"wrote {out}", err=True)
        else:
            click.echo(text, nl=False)
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from e


@leaderboard.command("list")
@_dir_option
def list_cmd(leaderboard_dir):
    """Benchmarks with their row counts."""
    lb = _load(leaderboard_dir)
    click.echo(f"{'benchmark':<14} {'published':>9} {'measured':>8}  title")
    for b in lb.benchmarks.values():
        click.echo(f"{b.id:<14} {len(b.rows):>9} {len(b.measured):>8}  {b.title}")
    click.echo(f"({lb.root})")


@leaderboard.command("validate")
@_dir_option
def validate_cmd(leaderboard_dir):
    """Check every leaderboard file against the schema; lists each problem with file and line."""
    try:
        lb = load_leaderboards(leaderboard_dir or default_leaderboard_dir())
    except LeaderboardValidationError as e:
        for err in e.errors:
            click.echo(str(err), err=True)
        raise click.ClickException(f"{len(e.errors)} problem(s) found") from e
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from e
    n = sum(len(b.rows) + len(b.measured) for b in lb.benchmarks.values())
    click.echo(f"ok: {len(lb.benchmarks)} benchmarks, {n} rows, {len(lb.papers)} papers, "
               f"{len(lb.protocols)} protocols in {lb.root}")
