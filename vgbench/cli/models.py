"""Commands that run generators: ``models list/labels`` (the adapters), ``eval`` (sample a generator and measure it
against a dataset), ``check`` (validate an evaluation setup) and ``invert`` (recover a video's motion code)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (CONTEXT, RegistryHelpOption, bootstrap_options, eval_options, fmt, model_help,
                      parse_model_options, plain_errors_are_clean)


@click.group("models", context_settings=CONTEXT)
def models_group():
    """Generator adapters."""


@models_group.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def models_list(as_json):
    """Every registered model adapter and what it supports."""
    from ..models import available_models

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


@models_group.command("labels", context_settings=CONTEXT)
@click.option("--model", required=True, cls=RegistryHelpOption, help_from=model_help)
@click.option("--ckpt", default=None, help="checkpoint")
@click.option("--num", "num_videos", type=click.IntRange(1), required=True, help="videos 0..NUM-1")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--condition", default=None, help="as for vgbench eval")
@click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE")
def models_labels(model, ckpt, num_videos, seed, condition, model_option):
    """The conditioning labels of each sampled video, one JSON line per video (what `eval --seed SEED` renders)."""
    from ..models import get_adapter

    a = get_adapter(model, ckpt, device="cpu", **parse_model_options(model_option, condition))
    if a.video_labels(0, seed) is None:
        raise click.ClickException(f"{model} is unconditional: its videos have no labels")
    for i in range(num_videos):
        click.echo(json.dumps({"index": i, "seed": seed, **a.video_labels(i, seed)}))


@click.command("eval", context_settings=CONTEXT)
@eval_options
@click.option("--num-fake", type=click.IntRange(1), default=None,
              help="fake videos (default: the protocol's 2048; fewer is marked not protocol-complete)")
@click.option("--seed", type=int, default=0, show_default=True, help="sampling seed (video i uses (seed, i))")
@click.option("--repeats", type=click.IntRange(1), default=1, show_default=True,
              help="measure K times with the seeds SEED..SEED+K-1 (disjoint fake sets): the seed-to-seed spread")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="append the record to this JSONL file")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="videos per detector call")
@click.option("--gen-batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="videos per generator call")
@click.option("--workers", "num_workers", type=click.IntRange(0), default=None, help="decoding workers")
@click.option("--strict", is_flag=True, help="fail if fewer videos than the protocol asks for")
@click.option("--dry-run", is_flag=True, help="only run `vgbench check` on this setup")
@click.option("--json", "as_json", is_flag=True, help="print the whole record")
@click.option("--progress/--no-progress", default=True, show_default=True)
@bootstrap_options
@click.option("--fid-bootstrap", type=click.IntRange(0), default=0, show_default=True,
              help="bootstrap replicates of FID's ci95 (fake videos resampled, real set fixed; seconds each on a CPU, "
                   "so 0: none unless asked)")
@click.option("--action-classifier", type=click.Path(exists=True, file_okay=False), default=None,
              help="folder of `vgbench action train` for --metrics action (its confusion matrix is drawn next to "
                   "--out)")
def eval_cmd(model, ckpt, dataset, data, metrics, device, condition, model_option, num_fake, seed, repeats, out,
             batch_size, gen_batch_size, num_workers, strict, dry_run, as_json, progress, bootstrap, bootstrap_seed,
             fid_bootstrap, action_classifier):
    """Sample a generator and compute metrics against a dataset, with full provenance."""
    from .. import evaluate as E

    metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
    options = parse_model_options(model_option, condition)
    if dry_run:
        _print_check(E.check(model, ckpt, dataset, data=data, metrics=metric_list, device=device,
                             model_options=options))
        return
    rec = E.evaluate(model, ckpt, dataset, data=data, metrics=metric_list, num_fake=num_fake, seed=seed,
                     device=device, batch_size=batch_size, gen_batch_size=gen_batch_size, num_workers=num_workers,
                     strict=strict, progress=progress, out=out, model_options=options, repeats=repeats,
                     bootstrap=bootstrap, bootstrap_seed=bootstrap_seed, fid_bootstrap=fid_bootstrap,
                     action_classifier=action_classifier)
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
        if "top3" in m:  # the action metric: both accuracies, next to the classifier's own on the real test videos
            real = (m.get("classifier") or {}).get("real_test")
            fk = counts.get("fake", {})
            click.echo(f"  {'':<18} top-1 {100 * m['top1']:.1f}%, top-3 {100 * m['top3']:.1f}% ("
                       f"{fk.get('videos_without_person', 0)} videos and {fk.get('frames_without_person', 0)} frames "
                       f"without a detected person)" + (f"; classifier on the real test videos: top-1 "
                                                        f"{100 * real['top1']:.1f}%, top-3 {100 * real['top3']:.1f}%"
                                                        if real else ""))
        if "repeats" in m:
            r = m["repeats"]
            click.echo(f"  {'':<18} {r['K']} repeats (seeds {r['seeds'][0]}..{r['seeds'][-1]}): mean {fmt(r['mean'])}, "
                       f"std {fmt(r['std'])}; values {', '.join(fmt(v) for v in r['values'])}")
    if out:
        click.echo(f"record appended to {out}")


def _print_check(report) -> None:
    for r in report:
        mark = click.style("ok  ", fg="green") if r["ok"] else click.style("FAIL", fg="red")
        click.echo(f"{mark} {r['check']:<32} {r['detail']}  ({r['seconds']} s)")
    if not all(r["ok"] for r in report):
        raise click.ClickException("some checks failed")


@click.command(context_settings=CONTEXT)
@eval_options
def check(model, ckpt, dataset, data, metrics, device, condition, model_option):
    """Validate an evaluation setup in seconds: checkpoint loads and samples, data found with enough videos,
    detector weights present, statistics compatible."""
    from .. import evaluate as E

    _print_check(E.check(model, ckpt, dataset, data=data, metrics=[m.strip() for m in metrics.split(",")],
                         device=device, model_options=parse_model_options(model_option, condition)))


@click.command(context_settings=CONTEXT)
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
    from .. import api

    with plain_errors_are_clean():
        rec = api.invert(
            video, ckpt=ckpt, actor=actor, action=action, out_dir=out_dir, model=model, steps=steps, lr=lr,
            frames=frames, tau_step=tau_step, lpips_backbone=lpips_backbone, mse_weight=mse_weight,
            latent_noise=latent_noise, spatial_noise=spatial_noise, n_mean=n_mean, frame_batch=frame_batch,
            render_actors=render_actors, render_action=render_action, video_format=video_format, lia=lia,
            seed=seed, device=device, overwrite=overwrite, progress=progress,
            model_options=parse_model_options(model_option))
    if as_json:
        click.echo(json.dumps(rec, indent=2, sort_keys=True))
        return
    r0, r1 = rec["results"]["initial"], rec["results"]["final"]
    click.echo(f"{model} motion inversion of {video}: {rec['input']['frames_used']} frames, {steps} steps, "
               f"{rec['timing']['optimisation_seconds']:.1f} s")
    click.echo(f"  start: LPIPS/frame {r0['lpips_mean']:.4f}  MSE {r0['mse']:.5f}  PSNR {fmt(r0['psnr'], '.2f')} dB")
    click.echo(f"  final: LPIPS/frame {r1['lpips_mean']:.4f}  MSE {r1['mse']:.5f}  PSNR {fmt(r1['psnr'], '.2f')} dB")
    for key, v in rec["outputs"]["videos"].items():
        rho = rec.get("lia", {}).get("videos", {}).get(key, {}).get("rho") if "lia" in rec else None
        click.echo(f"  {v['path']:<36} {v['format']}" + (f"; LiA rho {fmt(rho)}" if lia else ""))
    click.echo(f"  wrote {Path(out_dir) / 'motion.npz'} and {Path(out_dir) / 'record.json'}")


COMMANDS = (models_group, eval_cmd, check, invert)
