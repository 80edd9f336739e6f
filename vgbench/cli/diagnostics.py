"""Commands that look behind one FVD number: ``fvd-lengths`` (FVD over clip length, with an SVG figure) and
``motion`` (the motion-collapse diagnostic), both in :mod:`vgbench.temporal`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import CONTEXT, common_compute_options, emit_record, fmt, guard_overwrite


@click.command("fvd-lengths", context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@click.option("--protocols", default="fvd16,fvd32,fvd64,fvd128", show_default=True,
              help="FVD protocols differing in clip length, comma-separated")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), default=None, help="write the figure here (.svg)")
@click.option("--overwrite", is_flag=True, help="replace the --svg file if it exists")
@click.option("--out", "out_jsonl", type=click.Path(dir_okay=False), default=None,
              help="append the result record to this JSONL file")
@click.option("--json", "as_json", is_flag=True, help="print the result record")
@common_compute_options
def fvd_lengths(real, fake, protocols, svg_path, overwrite, out_jsonl, as_json, device, batch_size, num_workers,
                worker_processes, skip_bad, progress):
    """FVD of FAKE against REAL at several clip lengths (16, 32, 64, 128 frames): one record, one figure."""
    from ..temporal import fvd_lengths as run, length_svg
    from ..utils import atomic_write

    if svg_path:
        guard_overwrite(Path(svg_path), overwrite)
    names = [p.strip() for p in protocols.split(",") if p.strip()]
    rec = run(real, fake, names, device=device, batch_size=batch_size, num_workers=num_workers,
              worker_processes=worker_processes, skip_bad=skip_bad, progress=progress)
    if svg_path:
        with atomic_write(svg_path) as f:
            f.write(length_svg({Path(str(fake)).name or str(fake): rec["length_curve"]},
                               title=f"FVD over clip length: {Path(str(fake)).name} vs {Path(str(real)).name}"))
    if emit_record(rec, out_jsonl, as_json):
        return
    for r in rec["length_curve"]:
        if "unavailable" in r:
            click.echo(f"  {r['protocol']:<8} {r['frames']:>4} frames: unavailable ({r['unavailable']})")
        else:
            ci = f"  ci95 [{fmt(r['low'])}, {fmt(r['high'])}]" if r["low"] is not None else ""
            click.echo(f"  {r['protocol']:<8} {r['frames']:>4} frames: {fmt(r['value'])}{ci}")
    if svg_path:
        click.echo(f"figure written to {svg_path}")


@click.command("motion", context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@click.option("--features", type=click.Choice(["inception", "pixels"]), default="inception", show_default=True,
              help="per-frame features: the FID Inception-v3, or pooled pixels (no weights)")
@click.option("--frames", "num_frames", type=click.IntRange(2), default=16, show_default=True,
              help="the first N frames of each video (shorter videos are skipped and counted)")
@click.option("--window", type=click.IntRange(2), default=None, help="also per consecutive window of this many frames")
@click.option("--max-videos", type=click.IntRange(1), default=None, help="at most this many videos per side")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--json", "as_json", is_flag=True, help="print the full result (per video) as JSON")
@click.option("--progress/--no-progress", default=True, show_default=True)
def motion(real, fake, features, num_frames, window, max_videos, device, as_json, progress):
    """Motion collapse: temporal variance of per-frame features within FAKE's videos against REAL's."""
    from ..temporal import motion_collapse

    res = motion_collapse(real, fake, features=features, num_frames=num_frames, window=window,
                          max_videos=max_videos, device=device, progress=progress)
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
        return
    click.echo(f"temporal variance of {features} features over {num_frames} frames (mean over videos):")
    for side in ("real", "fake"):
        s = res[side]
        click.echo(f"  {side}: {fmt(s['mean'], '.6g')} (median {fmt(s['median'], '.6g')}; {s['videos']} videos, "
                   f"{s['skipped_short']} too short)")
    click.echo(f"  fake / real: {fmt(res['ratio'])}  (1: as much motion as real; 0: static)")
    if window:
        click.echo("  per window of " f"{window} frames, fake / real: "
                   + ", ".join(fmt(r) for r in res["window_ratios"]))


COMMANDS = (fvd_lengths, motion)
