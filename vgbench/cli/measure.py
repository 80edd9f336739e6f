"""Commands that read videos and measure them: ``inspect``, ``features``, ``stats``, ``fvd``, ``fid`` and ``is``."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from ..metrics.confidence import FID_DEFAULT_BOOTSTRAP

from .options import (CONTEXT, RegistryHelpOption, bootstrap_options, common_compute_options, emit_record,
                      guard_overwrite, max_frame_pixels_option, protocol_help, record_options)


@click.command(context_settings=CONTEXT)
@click.argument("input")
@click.option("--limit", type=int, default=20, show_default=True, help="videos to list")
@max_frame_pixels_option
def inspect(input, limit):
    """List the videos vgbench reads from INPUT, in the order it uses them (id, frames, fps, file)."""
    from ..io.sources import VideoReadError, open_source

    src = open_source(input)
    click.echo(f"{input}: {json.dumps(src.describe())}")
    n = unreadable = 0
    for n, v in enumerate(src, 1):
        try:
            frames, fps = v.num_frames, v.fps
        except VideoReadError as e:
            unreadable += 1
            if n <= limit:
                click.echo(f"  {n:>6}  {v.id:<30} UNREADABLE: {e.problem}  {v.path}")
            continue
        if n <= limit:
            fps = f"{fps:.3f}" if fps else "?"
            click.echo(f"  {n:>6}  {v.id:<30} frames {frames:>6}  fps {fps:>7}  {v.path}")
    if n > limit:
        click.echo(f"  ... {n - limit} more")
    click.echo(f"{n} videos" + (f", {unreadable} unreadable (--skip-bad skips and counts them)"
                                if unreadable else ""))


def _resume_dir(out: Path, resume_dir) -> Path:
    return Path(resume_dir) if resume_dir else out.with_name(out.name + ".partial")


def _cleanup(resume: Path, user_given) -> None:
    """Remove the default resume folder after success (a user-given one is left alone)."""
    if user_given is None and resume.is_dir():
        import shutil

        shutil.rmtree(resume, ignore_errors=True)


_resume_dir_option = click.option("--resume-dir", type=click.Path(file_okay=False), default=None,
                                  help="keep finished work here and resume from it (default: OUT.partial/)")
_overwrite_option = click.option("--overwrite", is_flag=True, help="replace OUT if it exists")


@click.command(context_settings=CONTEXT)
@click.argument("input")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--detector", default="i3d", show_default=True)
@click.option("--frames", type=click.IntRange(1), default=None, help="use the first N frames (default: all)")
@_resume_dir_option
@_overwrite_option
@common_compute_options
def features(input, out, detector, frames, resume_dir, overwrite, device, batch_size, num_workers,
             worker_processes, skip_bad, progress):
    """Write the [N, D] float32 features of every video of INPUT to OUT (.npy) and OUT.json (ids, provenance)."""
    from .. import api

    out = Path(out)
    guard_overwrite(out, overwrite)
    resume = _resume_dir(out, resume_dir)
    feats = api.features(input, out, detector=detector, frames=frames, device=device, batch_size=batch_size or 4,
                         num_workers=1 if num_workers is None else num_workers, worker_processes=worker_processes,
                         skip_bad=skip_bad, resume_dir=resume, progress=progress)
    _cleanup(resume, resume_dir)
    click.echo(f"{out}: {feats.shape[0]} x {feats.shape[1]} features")


class _StatsGroup(click.Group):
    """``vgbench stats INPUT ...`` computes (the ``compute`` subcommand, named or not); ``vgbench stats merge``
    joins shards."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["compute", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_StatsGroup, context_settings=CONTEXT)
def stats():
    """FVD or FID statistics: `vgbench stats INPUT -o OUT [--protocol P] [--shard I/N]` computes them (all of them,
    or shard I of N); `vgbench stats merge PARTS... -o OUT` joins the shards into the file one process would have
    written."""


def _out_npz(out) -> Path:
    out = Path(out)
    return out if out.suffix == ".npz" else out.with_name(out.name + ".npz")


def _echo_stats(out: Path, st) -> None:
    c = st.manifest["counts"]
    what = f"{st.n} frames of {c['used']} videos" if "frames" in c else f"{st.n} videos"
    click.echo(f"{out}: {what} ({c['seen']} seen, {c['skipped_short']} too short, {c['skipped_bad']} "
               f"unreadable); protocol {st.manifest['protocol']['name']}@{st.manifest['protocol']['version']}")


@stats.command("compute", context_settings=CONTEXT)
@click.argument("input")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="statistics file (.npz)")
@click.option("--protocol", default="fvd16", show_default=True, help="protocol name or .toml path")
@click.option("--role", type=click.Choice(["real", "fake"]), default="real", show_default=True,
              help="which side of the protocol INPUT is (real: random offsets; fake: first frames)")
@click.option("--shard", default=None, metavar="I/N",
              help="compute only shard I of N (0-based) into a part file for `vgbench stats merge`")
@_resume_dir_option
@_overwrite_option
@common_compute_options
def stats_compute(input, out, protocol, role, shard, resume_dir, overwrite, device, batch_size, num_workers,
                  worker_processes, skip_bad, progress):
    """Compute the protocol's statistics of INPUT and write them with a manifest (OUT and OUT.json)."""
    from .. import api

    out = _out_npz(out)
    guard_overwrite(out, overwrite)
    resume = _resume_dir(out, resume_dir)
    st = api.stats(input, protocol, role, out=out, device=device, batch_size=batch_size, num_workers=num_workers,
                   worker_processes=worker_processes, skip_bad=skip_bad, resume_dir=resume, progress=progress,
                   shard=shard)
    _cleanup(resume, resume_dir)
    _echo_stats(out, st)
    if shard is not None:
        info = st.manifest["shard"]
        click.echo(f"  shard {info['index']}/{info['count']}: planned videos {info['positions'][0]}.."
                   f"{info['positions'][1] - 1} of {info['planned']}; join the parts with `vgbench stats merge`")


@stats.command("merge", context_settings=CONTEXT)
@click.argument("parts", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="merged statistics file (.npz)")
@_overwrite_option
def stats_merge(parts, out, overwrite):
    """Join the part files of `vgbench stats --shard I/N` (all N of them, any order) into OUT."""
    from .. import api

    out = _out_npz(out)
    guard_overwrite(out, overwrite)
    st = api.merge_stats(parts, out=out)
    _echo_stats(out, st)


def _metric_options(kind: str, default: str, what: str):
    """The options of a metric command (fvd, fid, is): --protocol, whose help lists the bundled protocols of metric
    ``kind``, then --json/--out/--strict (``what``: the samples counted) and the compute options."""
    protocol = click.option("--protocol", default=default, show_default=True, cls=RegistryHelpOption,
                            help_from=protocol_help(kind))
    return lambda f: protocol(record_options(what)(common_compute_options(f)))


def _echo_frechet(res, describe_counts) -> None:
    """Human summary of an FVD/FID result; ``describe_counts(real_counts, fake_counts)`` words the counts."""
    m = next(iter(res.record["metrics"].values()))
    p = m["protocol"]
    click.echo(f"{p['name']}: {res.value:.4f}")
    click.echo(f"  protocol {p['name']}@{p['version']} params {p['params_sha256'][:12]}; detector "
               f"{m['detector'].get('name')} sha256 {str(m['detector'].get('sha256'))[:12]}")
    click.echo("  " + describe_counts(m["counts"]["real"], m["counts"]["fake"])
               + ("" if m["protocol_complete"] else "  [NOT protocol-complete]"))
    if m["frechet"]["eps_retry"]:
        click.echo(f"  note: covariances were near-singular; eps={m['frechet']['eps']} was added (recorded)")


@click.command(context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@_metric_options("fvd", "fvd16", "videos")
@bootstrap_options
def fvd(real, fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
        skip_bad, progress, bootstrap, bootstrap_seed):
    """FVD between REAL and FAKE. Each is a video input or a statistics file from `vgbench stats`."""
    from .. import api

    res = api.fvd(real, fake, protocol, strict=strict, device=device, batch_size=batch_size, num_workers=num_workers,
                  worker_processes=worker_processes, skip_bad=skip_bad, progress=progress, bootstrap=bootstrap,
                  bootstrap_seed=bootstrap_seed)
    if emit_record(res.record, out_jsonl, as_json):
        return
    _echo_frechet(res, lambda rc, fc: f"real: {rc['used']} used ({rc['skipped_short']} too short, "
                                      f"{rc['skipped_bad']} unreadable); fake: {fc['used']} used "
                                      f"({fc['skipped_bad']} unreadable)")


@click.command(context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@_metric_options("fid", "fid_video", "frames")
@functools.partial(bootstrap_options, default=FID_DEFAULT_BOOTSTRAP,
                   what="FID's ci95: the fake set's videos resampled, the real set fixed; seconds per replicate on a "
                        "CPU, so 0 (none) unless asked")
def fid(real, fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
        skip_bad, progress, bootstrap, bootstrap_seed):
    """FID between REAL and FAKE (every frame one sample). Real: every frame of every video; fake: the first 16
    frames of the protocol's number of videos. Each side is a video input or FID statistics (.npz)."""
    from .. import api

    res = api.fid(real, fake, protocol, strict=strict, device=device, frame_batch=batch_size or 64,
                  num_workers=num_workers, skip_bad=skip_bad, progress=progress, bootstrap=bootstrap,
                  bootstrap_seed=bootstrap_seed)
    if emit_record(res.record, out_jsonl, as_json):
        return
    _echo_frechet(res, lambda rc, fc: f"real: {rc['frames']} frames of {rc['used']} videos "
                                      f"({rc['skipped_bad']} unreadable); fake: {fc['frames']} frames of "
                                      f"{fc['used']} videos")


@click.command("is", context_settings=CONTEXT)
@click.argument("fake")
@_metric_options("inception_score", "is_ucf101", "videos")
def is_cmd(fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
           skip_bad, progress):
    """Video Inception Score of FAKE with the UCF101 C3D (first 16 frames of each video). Needs the C3D weights:
    `vgbench weights import c3d_ucf101 FILE` (no package registry ships them)."""
    from .. import api

    res = api.inception_score(fake, protocol, strict=strict, device=device, batch_size=batch_size,
                              num_workers=num_workers, skip_bad=skip_bad, progress=progress)
    if emit_record(res.record, out_jsonl, as_json):
        return
    m = next(iter(res.record["metrics"].values()))
    p = m["protocol"]
    click.echo(f"{p['name']}: {res.value:.4f} +- {res.std:.4f}")
    click.echo(f"  protocol {p['name']}@{p['version']} params {p['params_sha256'][:12]}; detector "
               f"{m['detector'].get('name')} sha256 {str(m['detector'].get('sha256'))[:12]}")
    click.echo(f"  fake: {m['counts']['fake_used']} videos" + ("" if m["protocol_complete"] else
                                                                "  [NOT protocol-complete]"))


COMMANDS = (inspect, features, stats, fvd, fid, is_cmd)
