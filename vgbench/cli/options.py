"""Options and helpers shared by the command modules.

- option sets: :func:`common_compute_options` (device, batching, workers, --skip-bad, progress),
  :func:`record_options` (--json/--out/--strict), :func:`max_frame_pixels_option`, :func:`eval_options`
  (model, checkpoint, dataset, metrics of ``eval`` and ``check``), :func:`parse_model_options`;
- help texts read from the registries (dataset cards, protocol files, model adapters, metric aliases) when a help
  page is shown, never at import: :class:`RegistryHelpOption`;
- output: :func:`guard_overwrite`, :func:`emit_record`, :func:`show_warnings`, :func:`fmt`;
- :func:`plain_errors_are_clean` for the commands whose inputs are checked with plain ValueError/KeyError.
"""
from __future__ import annotations

import json
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import click

#: context settings of every command: -h as well as --help, and help pages up to 110 columns
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


# --------------------------------------------------------------------------- help texts read from the registries


class RegistryHelpOption(click.Option):
    """An option whose help text is built by ``help_from()`` each time a help page is shown. The registries are read
    only then: listing the model adapters imports torch, which ``vgbench --help`` and every run must not pay."""

    def __init__(self, *args, help_from: Callable[[], str], **kwargs):
        super().__init__(*args, **kwargs)
        self.help_from = help_from

    def get_help_record(self, ctx: click.Context):
        self.help = self.help_from()
        return super().get_help_record(ctx)


def protocol_help(kind: str) -> Callable[[], str]:
    """Help of a ``--protocol`` option: the bundled protocols whose ``metric`` is ``kind``."""
    def text() -> str:
        from ..protocols import list_protocols, load_protocol

        names = [n for n in list_protocols() if load_protocol(n).metric == kind]
        return f"{', '.join(names)} or a .toml path (descriptions: vgbench protocols list)"

    return text


def dataset_help() -> str:
    from ..data.cards import list_cards

    return f"dataset card name: {', '.join(list_cards())}"


def model_help() -> str:
    from ..models import available_models

    return f"adapter name: {', '.join(available_models())} (vgbench models list)"


def metrics_help() -> str:
    from ..metrics.base import metric_aliases

    aliases = ", ".join(f"{short} = {name}" for short, name in metric_aliases().items())
    return f"comma-separated protocols (vgbench protocols list); short names: {aliases}"


# --------------------------------------------------------------------------- option sets


def _set_max_frame_pixels(ctx, param, value):
    """--max-frame-pixels: exported as $VGBENCH_MAX_FRAME_PIXELS, so worker processes see it too."""
    if value is not None:
        import os

        from ..io.sources import MAX_FRAME_PIXELS_ENV

        os.environ[MAX_FRAME_PIXELS_ENV] = str(value)
    return value


def max_frame_pixels_option(f):
    from ..io.sources import DEFAULT_MAX_FRAME_PIXELS

    return click.option("--max-frame-pixels", type=click.IntRange(1), default=None, expose_value=False,
                        callback=_set_max_frame_pixels, is_eager=True,
                        help=f"refuse frames larger than this many pixels before decoding them (default "
                             f"{DEFAULT_MAX_FRAME_PIXELS} = 4096x4096, or $VGBENCH_MAX_FRAME_PIXELS)")(f)


def _apply(f, opts):
    """Decorate ``f`` with ``opts`` so that they are listed in this order."""
    for o in reversed(opts):
        f = o(f)
    return f


def common_compute_options(f):
    """--device --batch-size --workers --worker-processes/--worker-threads --skip-bad --progress and
    --max-frame-pixels, shared by the commands that read videos through a detector (features, stats, fvd, fid, is)."""
    return _apply(max_frame_pixels_option(f), [
        click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)"),
        click.option("--batch-size", type=click.IntRange(1), default=None,
                     help="videos per detector call (default: 128 // clip length, as StyleGAN-V)"),
        click.option("--workers", "num_workers", type=click.IntRange(0), default=None,
                     help="background decoding workers (default: 1 on CPU, 4 on GPU; 0 = decode inline)"),
        click.option("--worker-processes/--worker-threads", default=None,
                     help="decode in processes or in threads (default: processes on GPU, threads on CPU)"),
        click.option("--skip-bad", is_flag=True, help="skip (and count) unreadable or too-short videos instead of "
                                                      "stopping with an error"),
        click.option("--progress/--no-progress", default=True, show_default=True, help="show progress bars"),
    ])


def bootstrap_options(f, default: int | None = None, what: str = "the Fréchet ci95 (0: no interval)"):
    """--bootstrap B / --bootstrap-seed S: the replicates and seed of a Fréchet entry's ci95 (docs/confidence.md)."""
    from ..metrics.confidence import DEFAULT_BOOTSTRAP, DEFAULT_SEED

    f = click.option("--bootstrap-seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="seed of the bootstrap resampling")(f)
    return click.option("--bootstrap", type=click.IntRange(0), show_default=True, help=f"bootstrap replicates of {what}",
                        default=DEFAULT_BOOTSTRAP if default is None else default)(f)


def record_options(what: str):
    """--json / --out / --strict, shared by the metric commands (fvd, fid, is)."""
    def wrap(f):
        f = click.option("--strict", is_flag=True, help=f"fail if a set has fewer {what} than the protocol asks for")(f)
        f = click.option("--out", "out_jsonl", type=click.Path(dir_okay=False), default=None,
                         help="append the result record to this JSONL file")(f)
        f = click.option("--json", "as_json", is_flag=True,
                         help="print one JSON object: the value and its full provenance")(f)
        return f

    return wrap


def eval_options(f):
    """The setup of an evaluation, shared by ``eval`` and ``check``."""
    return _apply(max_frame_pixels_option(f), [
        click.option("--model", required=True, cls=RegistryHelpOption, help_from=model_help),
        click.option("--ckpt", default=None, help="checkpoint file (.pkl network snapshot or .vgb); for --model "
                                                  "folder the generated videos"),
        click.option("--dataset", required=True, cls=RegistryHelpOption, help_from=dataset_help),
        click.option("--data", default=None, help="real videos (default: the card's bundled data, if any)"),
        click.option("--metrics", default="fvd16", show_default=True, cls=RegistryHelpOption,
                     help_from=metrics_help),
        click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)"),
        click.option("--condition", default=None,
                     help="conditional models: labels for every video, e.g. 'actor=3,action=5'; several separated by "
                          "';' are cycled (default: labels drawn uniformly per video and recorded)"),
        click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE",
                     help="adapter option (repeatable), e.g. --model-option clip_stride=4; see docs/models.md"),
    ])


def parse_model_options(pairs, condition=None) -> dict:
    """``("k=v", ...)`` -> {k: v}; values are read as JSON where they parse (4, 0.5, true), else kept as text."""
    opts = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--model-option")
        try:
            opts[key.strip()] = json.loads(value)
        except ValueError:
            opts[key.strip()] = value
    if condition is not None:
        opts["condition"] = condition
    return opts


# --------------------------------------------------------------------------- output and errors


def guard_overwrite(path: Path, overwrite: bool) -> None:
    """Never replace a user's file silently: ask on a terminal, refuse otherwise."""
    if path.exists() and not overwrite:
        if sys.stdin.isatty() and click.confirm(f"{path} exists. Overwrite?", default=False):
            return
        raise click.ClickException(f"{path} exists; pass --overwrite to replace it")


def emit_record(record: dict, out_jsonl, as_json) -> bool:
    """Append ``record`` to ``--out`` and print it with ``--json``; True when printed. Under torchrun only rank 0
    writes."""
    from ..distributed import is_main

    if out_jsonl and is_main():
        with open(out_jsonl, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
    return bool(as_json)


def show_warnings() -> None:
    """Show Python warnings as one yellow ``warning: ...`` line on stderr."""
    def show(message, category, filename, lineno, file=None, line=None):
        click.secho(f"warning: {message}", fg="yellow", err=True)

    warnings.showwarning = show


def fmt(x, spec=".4f") -> str:
    """A number for humans; n/a for None and NaN (a face metric with no defined value)."""
    return "n/a" if x is None or x != x else format(x, spec)


@contextmanager
def plain_errors_are_clean():
    """For the face and inversion commands: a ValueError or KeyError (what their checks raise about a video, a
    checkpoint or an option) ends the command with its message, without a traceback. vgbench's own errors, such as
    a missing face extra, are handled for every command by the group (:mod:`vgbench.cli`)."""
    try:
        yield
    except (ValueError, KeyError) as e:
        raise click.ClickException(str(e)) from e
