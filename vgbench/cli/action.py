"""Skeleton action commands (the ``action`` group): ``action pose`` extracts COCO-17 keypoints of every video with
BlazePose (the ``pose`` extra) into a keypoint file (:mod:`vgbench.action.keypoints`); see docs/action.md."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import CONTEXT, guard_overwrite, plain_errors_are_clean


@click.group("action", context_settings=CONTEXT)
def action():
    """Skeleton-based action recognition of generated videos (CTSVG's action accuracy): pose extraction."""


@action.command("pose", context_settings=CONTEXT)
@click.argument("videos")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="keypoint file to write (.npz: keypoints [N,T,17,3], lengths, person, img_shape, ids, meta)")
@click.option("--overwrite", is_flag=True, help="replace --out if it exists")
@click.option("--skip-bad", is_flag=True, help="skip (and count) unreadable videos instead of stopping")
@click.option("--max-videos", type=click.IntRange(1), default=None, help="only the first N videos")
@click.option("--no-cache", is_flag=True, help="neither read nor write the per-video keypoint cache")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
              help="TFLite threads (0 = the runtime's default)")
@click.option("--json", "as_json", is_flag=True, help="print the file's metadata (counts, model sha256) as JSON")
@click.option("--progress/--no-progress", default=True, show_default=True)
def pose(videos, out, overwrite, skip_bad, max_videos, no_cache, threads, as_json, progress):
    """Keypoints (COCO-17, x and y in pixels, score) of the person in every frame of VIDEOS, with BlazePose run
    offline (`pip install 'vgbench[pose]'`; its weights come with `vgbench weights fetch blazepose_detector
    blazepose_landmark_full`, or on first use). Cached per video: running it again only decodes and hashes the
    videos."""
    from .. import api

    guard_overwrite(out, overwrite)
    with plain_errors_are_clean():
        kps = api.action_pose(videos, out=out, skip_bad=skip_bad, max_videos=max_videos, cache=not no_cache,
                              threads=threads, progress=progress)
    if as_json:
        click.echo(json.dumps(kps.meta, indent=2, sort_keys=True))
        return
    c = kps.meta["counts"]
    click.echo(f"{out}: keypoints of {c['videos']} videos, {c['frames']} frames (longest {kps.keypoints.shape[1]})")
    click.echo(f"  no person in {c['frames_no_person']} frames and {c['videos_no_person']} whole videos; "
               f"{c['videos_skipped']} unreadable videos skipped; {c['cache_hits']} videos from the cache")


COMMANDS = (action,)
