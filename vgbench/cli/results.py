"""Commands that read result records rather than videos: ``compare``."""
from __future__ import annotations

import json

import click

from .options import CONTEXT


@click.command("compare", context_settings=CONTEXT)
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--line-a", type=int, default=-1, show_default=True, help="record of A (1-based; -1: the last)")
@click.option("--line-b", type=int, default=-1, show_default=True, help="record of B (1-based; -1: the last)")
@click.option("--force", is_flag=True, help="compare even when protocol, detector or real set differ (warnings)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def compare(a, b, line_a, line_b, force, as_json):
    """Are the results in A and B (result-record JSON lines) different given their intervals, and comparable?"""
    from ..comparison import compare as run_compare, format_report

    report = run_compare(a, b, line_a=line_a, line_b=line_b, force=force)
    click.echo(json.dumps(report, indent=2, sort_keys=True) if as_json else format_report(report))


COMMANDS = (compare,)
