"""The ``vgbench`` command line: the group :data:`main`, how errors end a command, and the console script.

Every command is a thin layer over :mod:`vgbench.api`, in one module per family, each listing its commands in
``COMMANDS``: :mod:`.setup` (demo, weights, protocols), :mod:`.measure` (inspect, features, stats, fvd, fid, is),
:mod:`.face` (identity, lia), :mod:`.models` (models, eval, check, invert), :mod:`.train` (train), :mod:`.results`
(compare), :mod:`.data` (data prepare, data verify), :mod:`.diagnostics` (fvd-lengths, motion, report),
:mod:`.action` (the ``action`` group: action pose, action train, action eval); the
leaderboard group lives in :mod:`vgbench.leaderboard.cli`. Shared options and helpers are in :mod:`.options`.

Errors are mapped here, once for every command (:func:`clean_errors`): a :class:`~vgbench.errors.VgbenchError`
or a missing file ends the command with its one-line message (exit code 1, no traceback); Ctrl-C prints what was
kept for a resume and exits 130. Anything else is a bug in vgbench and keeps its traceback.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click

from .. import __version__
from ..errors import VgbenchError
from ..leaderboard.cli import leaderboard
from . import action, data, diagnostics, face, measure, models, results, setup, train
from .options import CONTEXT, parse_model_options, show_warnings

__all__ = ["main", "entry_point", "sigterm_interrupts", "clean_errors", "parse_model_options"]


@contextmanager
def clean_errors():
    """vgbench's own errors (and a missing file) become a clean CLI error with the message that names the problem;
    Ctrl-C (or SIGTERM, see :func:`sigterm_interrupts`) says what was kept and exits like a shell does."""
    try:
        yield
    except KeyboardInterrupt as e:
        for note in getattr(e, "__notes__", ()):
            click.echo(note.removeprefix("vgbench: "), err=True)
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (VgbenchError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e


class _Main(click.Group):
    """The top-level group: every subcommand runs under :func:`clean_errors`."""

    def invoke(self, ctx: click.Context):
        with clean_errors():
            return super().invoke(ctx)


@click.group(cls=_Main, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="vgbench")
def main():
    """vgbench: reproducible evaluation of video generators (FVD16/FVD128 and more, with full provenance).

    Inputs (REAL, FAKE, INPUT) can be: a StyleGAN-V frames folder (root/<video>/<frame>.jpg), the same inside a
    .zip, a folder of video files, a single video file, a .npy/.npz uint8 array [N,T,H,W,3], or builtin:tiny
    (and builtin:tiny-heldout, builtin:tiny-static, builtin:tiny-shuffled) for the bundled procedural set.

    Several processes: torchrun --nproc_per_node N -m vgbench stats|fvd|fid|is|eval ... (see README).
    """
    show_warnings()
    _torchrun(click.get_current_context().invoked_subcommand)


#: commands that split their work over torchrun's processes (``train`` starts its own process group)
TORCHRUN_COMMANDS = ("stats", "fvd", "fid", "is", "eval")


def _torchrun(command: str | None) -> None:
    """Under torchrun (WORLD_SIZE > 1): start the process group for a measuring command, with statistics split
    over the ranks; the other ranks print nothing on stdout (rank 0 prints and writes the one result)."""
    from .. import distributed

    if distributed.env()[1] <= 1 or command not in TORCHRUN_COMMANDS:
        return
    distributed.init(share=True)
    if not distributed.is_main():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process


def entry_point() -> None:
    """The ``vgbench`` console script: the CLI, with SIGTERM treated like Ctrl-C (see
    :func:`sigterm_interrupts`)."""
    sigterm_interrupts()
    main()


def sigterm_interrupts() -> None:
    """Make SIGTERM (what Slurm and ``kill`` send) raise KeyboardInterrupt like Ctrl-C, so that long runs save
    their progress before they exit. Only the console script does this: a library must not take over signals."""
    import signal

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _register() -> None:
    for module in (setup, measure, face, models, train, results, data, diagnostics, action):
        for command in module.COMMANDS:
            main.add_command(command)
    main.add_command(leaderboard)


_register()
