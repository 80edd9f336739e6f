"""``vgbench train``: train StyleGAN-V, MoStGAN-V, CTSVG or one of MotionVideoGAN's three stages
(:mod:`vgbench.training`), on one process or under torchrun."""
from __future__ import annotations

import json

import click

from .options import CONTEXT


@click.command("train", context_settings=CONTEXT)
@click.option("--model", type=click.Choice(["stylegan_v", "mostgan_v", "ctsvg", "motionvideogan"]), required=True)
@click.option("--dataset", default=None,
              help="dataset card (ffs, sky, ucf101, ...); also picks the bundled config (may be left out with --data "
                   "when the config names no card and periodic FVD is off)")
@click.option("--data", default=None, help="the real videos (StyleGAN-V frames folder, zip, video files, builtin:NAME)")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="new run directory")
@click.option("--config", default=None,
              help="bundled config name (ffs, sky, tiny, ...; default: the dataset's) or a .toml file")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a config value, e.g. loss.r1_gamma=1")
@click.option("--resume", type=click.Path(file_okay=False, exists=True), default=None,
              help="continue the run in this directory from its latest snapshot")
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), default=None,
              help="train until this many thousand frames were shown to D (fractions allowed, e.g. 0.03)")
@click.option("--device", default=None, help="default: cuda:LOCAL_RANK when CUDA is available, else cpu")
@click.option("--stage", type=click.Choice(["pairs", "directions", "motion"]), default=None,
              help="motionvideogan only, one run each: pairs (stage 1, the image-pair StyleGAN2), directions (stage 2, "
                   "the motion directions of its Jacobian), motion (stage 3, the LSTM; the default)")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False), default=None,
              help="start the new run from this checkpoint's networks (fine-tuning): a vgbench snapshot-*.state.pt or "
                   ".vgb of the same model, or the authors' file (network-snapshot-*.pkl, CTSVG .pt, modelR_*.pth); "
                   "read without running code from it")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_cmd(model, dataset, data, out, config, sets, resume, kimg, device, progress, stage, init):
    """Train StyleGAN-V, MoStGAN-V, CTSVG or MotionVideoGAN (--stage pairs, directions, motion) with the papers'
    recipe; snapshots load in `vgbench eval`.

    Multi-GPU: torchrun --nproc_per_node N -m vgbench train ... (the global batch is split over the processes).
    """
    from ..api import train

    if resume is None and out is None:
        raise click.UsageError("give --out RUN_DIR for a new run, or --resume RUN_DIR")
    if resume is not None and out is not None and out != resume:
        raise click.UsageError("--resume continues in its own directory; drop --out")
    summary = train(model, out=resume or out, dataset=dataset, data=data, config=config, sets=sets,
                    resume=resume is not None, kimg=kimg, device=device, progress=progress, stage=stage, init=init)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "last"}, sort_keys=True))


COMMANDS = (train_cmd,)
