"""``vgbench data prepare`` / ``vgbench data verify``: build a dataset card's real set from its raw download, and
check a built set against its manifest (:mod:`vgbench.data.prepare`, docs/datasets.md)."""
from __future__ import annotations

import json

import click

from .options import CONTEXT


@click.group("data", context_settings=CONTEXT)
def data():
    """Prepare real datasets exactly as the papers' code did, with a manifest; verify them."""


@data.command("prepare", context_settings=CONTEXT)
@click.argument("card")
@click.option("--source", type=click.Path(exists=True), required=True, help="the raw download (file or folder)")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="output ROOT (new, empty, or an unfinished/finished run of the same preparation to resume)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="override a recipe parameter or quirk, e.g. start_frame=100, mode=squash, jpeg_quality_quirk=false")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="worker processes")
@click.option("--zip", "zip_output", is_flag=True,
              help="also write OUT.zip (StyleGAN-V's zip layout: one top-level folder, directory entries)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def prepare_cmd(card, source, out, sets, workers, zip_output, progress):
    """Build CARD's real set from its raw download into OUT (StyleGAN-V layout OUT/<video>/<%06d.jpg> and
    OUT/manifest.json). Interrupted runs resume; finished videos are never rewritten."""
    from ..api import data_prepare

    overrides = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = value
    manifest = data_prepare(card, source, out, sets=overrides, workers=workers, progress=progress,
                            zip_output=zip_output)
    for b in manifest["bad_sources"]:
        click.echo(f"skipped {b['job']}: {b['bad']}", err=True)
    click.echo(json.dumps({"out": out, "videos": manifest["num_videos"], "bad_sources": len(manifest["bad_sources"]),
                           "recipe": manifest["recipe"], "version": manifest["version"],
                           "listing_content_hash": manifest["listing_content_hash"],
                           "zip": (manifest.get("zip") or {}).get("path")}, sort_keys=True))


@data.command("verify", context_settings=CONTEXT)
@click.argument("root", type=click.Path(exists=True, file_okay=False))
def verify_cmd(root):
    """Re-check ROOT against its manifest.json: frame counts, sizes, frame-file digests and the listing hash."""
    from ..api import data_verify

    report = data_verify(root)
    for problem in report["problems"]:
        click.echo(problem, err=True)
    click.echo(json.dumps(report["ok"] and {"ok": True, "videos": report["videos"]}
                          or {"ok": False, "videos": report["videos"], "problems": len(report["problems"])}))
    if not report["ok"]:
        raise SystemExit(1)


COMMANDS = (data,)
