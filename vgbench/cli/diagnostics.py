"""Commands that look behind one FVD number: ``fvd-lengths`` (FVD over clip length, with an SVG figure), ``motion``
(the motion-collapse diagnostic), both in :mod:`vgbench.temporal`, and ``report`` (the per-video HTML report,
:mod:`vgbench.report`)."""
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


@click.command("report", context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@click.option("--protocol", default="fvd16", show_default=True, help="FVD protocol name or .toml path")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="write the page (worst and best fake videos with thumbnails) here")
@click.option("--top", type=click.IntRange(1), default=8, show_default=True, help="videos shown at each end")
@click.option("--ridge", type=click.FloatRange(min=0), default=1e-3, show_default=True,
              help="covariance regulariser, in units of tr(S)/D")
@click.option("--overwrite", is_flag=True, help="replace the --html file if it exists")
@click.option("--json", "as_json", is_flag=True, help="print every fake video's distances as JSON")
@common_compute_options
def report(real, fake, protocol, html_path, top, ridge, overwrite, as_json, device, batch_size, num_workers,
           worker_processes, skip_bad, progress):
    """Per-video report: each fake video's Mahalanobis distance to the real features and its nearest real video.
    REAL and FAKE are videos or FVD statistics files (thumbnails need videos)."""
    from ..report import per_video_report

    if html_path:
        guard_overwrite(Path(html_path), overwrite)
    res = per_video_report(real, fake, protocol, top=top, html=html_path, ridge=ridge, device=device,
                           batch_size=batch_size, num_workers=num_workers, worker_processes=worker_processes,
                           skip_bad=skip_bad, progress=progress)
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
        return
    v = res["videos"]
    click.echo(f"{res['protocol']['name']}: {fmt(res['fvd'])}; {res['counts']['fake']} fake videos, Mahalanobis "
               f"median of the real ones {fmt(res['real_mahalanobis_median'], '.3f')}")
    for label, rows in (("worst", v[:top]), ("best", v[::-1][:top])):
        for x in rows:
            click.echo(f"  {label}: {x['id']}  Mahalanobis {x['mahalanobis']:.3f}  nearest real {x['nearest_real']} "
                       f"({x['nearest_distance']:.3f})")
    if html_path:
        click.echo(f"report written to {html_path}")


COMMANDS = (fvd_lengths, motion, report)
