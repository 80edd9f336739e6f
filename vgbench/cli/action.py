"""``vgbench action``: skeleton action accuracy (CTSVG Table 2/3), see docs/action.md.

``action pose`` extracts COCO-17 keypoints of every video with BlazePose (the ``pose`` extra) into a keypoint file
(:mod:`vgbench.action.keypoints`); ``action train`` trains the PoseC3D recogniser on a keypoint file with labels
(:mod:`vgbench.action.recognizer`); ``action eval`` classifies a keypoint file with a trained recogniser and writes
the record (JSON) and the confusion matrix (PNG) of :mod:`vgbench.metrics.action`. Each command is its own function
registered on the group.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from .options import CONTEXT, guard_overwrite, plain_errors_are_clean


@click.group("action", context_settings=CONTEXT)
def action():
    """Skeleton action accuracy: pose keypoints, a PoseC3D recogniser, top-1/top-3 of generated action videos."""


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


def _keypoints_and_labels(keypoints: str, labels: str, num_classes: int):
    from ..action.keypoints import KeypointSet
    from ..action.labels import labels_for

    kps = KeypointSet.load(keypoints)
    return kps, labels_for(labels, kps.ids, num_classes)


def _evaluate(clf, kps, labels, classifier_info: dict) -> dict:
    from ..action.recognizer import person_counts
    from ..metrics.action import action_record

    probs, refused = clf.predict(kps)
    return action_record(kps.ids, labels, probs, refused, person_counts(kps), classifier_info)


@action.command("train", context_settings=CONTEXT)
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="a folder of `vgbench data prepare utd-mhad`: trains on keypoints of ROOT/train and records the "
                   "accuracy on ROOT/test (instead of --keypoints/--labels and --real-test-*)")
@click.option("--dataset", type=click.Choice(["utd-mhad"]), default="utd-mhad", show_default=True,
              help="the dataset card of --data")
@click.option("--split", type=click.Path(exists=True, dir_okay=False), default=None,
              help="with --data: a split file (held-out a<A>_s<S> / s<S> tokens); refused unless ROOT was prepared "
                   "with that split")
@click.option("--keypoints", type=click.Path(exists=True, dir_okay=False), default=None,
              help="training keypoints (.npz from `vgbench action pose`)")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help='labels JSON: {"labels": {"<video id>": class}} or [["<video>", class], ...]')
@click.option("--out", required=True, type=click.Path(file_okay=False), help="classifier folder to write")
@click.option("--num-classes", type=int, default=27, show_default=True, help="27 for UTD-MHAD")
@click.option("--preset", type=click.Choice(["posec3d", "tiny"]), default="posec3d", show_default=True,
              help="posec3d: mmaction2's NTU-60 keypoint config; tiny: small CPU config for smoke runs")
@click.option("--epochs", type=int, default=None, help="passes (default: the preset's; posec3d 24)")
@click.option("--repeat", type=int, default=None, help="training-set repeats per pass (posec3d 10)")
@click.option("--batch-size", type=int, default=None, help="clips per step (posec3d 16)")
@click.option("--lr", type=float, default=None, help="base learning rate (default 0.2 * batch / 128)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--real-test-keypoints", type=click.Path(exists=True, dir_okay=False), default=None,
              help="real test-split keypoints: the classifier's own accuracy is recorded with it")
@click.option("--real-test-labels", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--overwrite", is_flag=True, help="replace an existing classifier in --out")
def train(data, dataset, split, keypoints, labels, out, num_classes, preset, epochs, repeat, batch_size, lr, seed,
          real_test_keypoints, real_test_labels, overwrite):
    """Train the PoseC3D action recogniser on keypoints with labels (--keypoints/--labels, or the videos of a prepared
    dataset: --data ROOT); writes OUT/weights.pt and OUT/config.json."""
    import dataclasses

    from ..action import recognizer
    from ..utils import sha256_file

    if data is not None:
        if keypoints or labels or real_test_keypoints or real_test_labels:
            raise click.UsageError("--data replaces --keypoints, --labels and --real-test-*: give one or the other")
        guard_overwrite(Path(out) / "config.json", overwrite)
        if split is not None:
            _check_split(data, split)
        (kps, y, train_info), test = _prepared_subset(data, "train"), _prepared_subset(data, "test")
    else:
        if not (keypoints and labels):
            raise click.UsageError("give --data ROOT, or --keypoints and --labels")
        if split is not None:
            raise click.UsageError("--split goes with --data (the split of a prepared folder)")
        if bool(real_test_keypoints) != bool(real_test_labels):
            raise click.UsageError("--real-test-keypoints and --real-test-labels go together")
        guard_overwrite(Path(out) / "config.json", overwrite)
        kps, y = _keypoints_and_labels(keypoints, labels, num_classes)
        train_info = dict(keypoints=str(keypoints), keypoints_sha256=sha256_file(keypoints), labels=str(labels),
                          labels_sha256=sha256_file(labels))
        test = None
        if real_test_keypoints:
            test = (*_keypoints_and_labels(real_test_keypoints, real_test_labels, num_classes),
                    dict(keypoints=str(real_test_keypoints), keypoints_sha256=sha256_file(real_test_keypoints)))
    given = dict(epochs=epochs, repeat=repeat, batch_size=batch_size, lr=lr, seed=seed)
    cfg = dataclasses.replace(recognizer.PRESETS[preset]["train"], **{k: v for k, v in given.items() if v is not None})
    clf = recognizer.train(kps, y, num_classes, preset, cfg, log=lambda m: click.echo(m, err=True))
    clf.info["training_set"].update(train_info)
    if test is not None:
        tk, ty, test_info = test
        r = _evaluate(clf, tk, ty, {})
        clf.info["real_test"] = {k: r[k] for k in ("top1", "top3", "videos", "refused", "videos_without_person")}
        clf.info["real_test"].update(test_info)
        click.echo(f"real test split: top-1 {100 * r['top1']:.1f}%, top-3 {100 * r['top3']:.1f}% "
                   f"({r['videos']} videos)")
    clf.save(out)
    click.echo(f"wrote {out} (weights sha256 {json.loads((Path(out) / 'config.json').read_text())['weights_sha256']})")


def _check_split(root, split) -> None:
    """Refuse a prepared folder whose held-out set is not the one the split file names."""
    from ..data.recipes_utd import canonical_pairs, parse_test_pairs, split_file_tokens

    want = canonical_pairs(*parse_test_pairs(split_file_tokens(split), str(split)))
    try:
        have = json.loads((Path(root) / "manifest.json").read_text())["params"]["test_pairs"]
    except (OSError, ValueError, KeyError) as e:
        raise click.ClickException(f"{root}: no usable manifest.json of `vgbench data prepare utd-mhad` "
                                   f"({e})") from None
    if want != have:
        raise click.ClickException(f"{root} was prepared with the held-out set {have!r}, but {split} names {want!r}; "
                                   f"prepare it again with `vgbench data prepare utd-mhad --set split_file={split}`")


def _prepared_subset(root, name: str):
    """(keypoints, labels, what the classifier records) of ``ROOT/<name>`` of `vgbench data prepare utd-mhad`:
    keypoints of its video folders (cached per video), each video's action class from the manifest."""
    from ..action.dataset import split_videos
    from ..action.extract import extract_keypoints
    from ..utils import sha256_file

    videos = {v.id: v for v in split_videos(root, name)}
    with plain_errors_are_clean():
        kps = extract_keypoints(str(Path(root) / name), progress=True)  # a frames folder: ids = folder names
    if set(kps.ids) != set(videos):
        odd = sorted(set(kps.ids) ^ set(videos))[:5]
        raise click.ClickException(f"{Path(root) / name}: its video folders and manifest.json differ ({odd}); "
                                   f"check it with `vgbench data verify {root}`")
    info = dict(data=str(Path(root).resolve()), subset=name)
    if name == "train":
        info.update(videos=len(videos), manifest_sha256=sha256_file(Path(root) / "manifest.json"))
    else:
        info.update(pairs=sorted({(v.actor, v.cls) for v in videos.values()}))
    return kps, np.array([videos[i].cls for i in kps.ids]), info


@action.command("eval", context_settings=CONTEXT)
@click.option("--keypoints", required=True, type=click.Path(exists=True, dir_okay=False),
              help="keypoints of the videos to score (.npz from `vgbench action pose`)")
@click.option("--labels", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the action each video shows (generated: the label it was generated with)")
@click.option("--classifier", required=True, type=click.Path(exists=True, file_okay=False),
              help="folder written by `vgbench action train`")
@click.option("--out", type=click.Path(dir_okay=False), default="action_result.json", show_default=True,
              help="record JSON; the confusion matrix PNG goes next to it (same name, .png)")
@click.option("--overwrite", is_flag=True, help="replace existing --out and PNG files")
def evaluate(keypoints, labels, classifier, out, overwrite):
    """Top-1/top-3 action accuracy of keypoint sequences, with the confusion matrix and person counts."""
    from ..action import recognizer
    from ..metrics.action import confusion_png
    from ..utils import atomic_write, sha256_file

    out = Path(out)
    png = out.with_suffix(".png")
    guard_overwrite(out, overwrite)
    guard_overwrite(png, overwrite)
    clf = recognizer.load(classifier)
    kps, y = _keypoints_and_labels(keypoints, labels, clf.num_classes)
    record = _evaluate(clf, kps, y, clf.identity(classifier))
    record["keypoints"] = {"path": str(keypoints), "sha256": sha256_file(keypoints), "meta": kps.meta}
    record["labels"] = {"path": str(labels), "sha256": sha256_file(labels)}
    with atomic_write(out) as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    confusion_png(np.array(record["confusion_matrix"]), png,
                  title=f"top-1 {100 * record['top1']:.1f}%  top-3 {100 * record['top3']:.1f}%")
    real = record["classifier"]["real_test"]
    click.echo(f"top-1 {100 * record['top1']:.1f}%, top-3 {100 * record['top3']:.1f}% over {record['videos']} videos "
               f"({record['refused']} refused, {record['videos_without_person']} without a detected person, "
               f"{record['frames_without_person']}/{record['frames']} frames without a person)"
               + (f"; classifier on the real test split: top-1 {100 * real['top1']:.1f}%, "
                  f"top-3 {100 * real['top3']:.1f}%" if real else ""))
    click.echo(f"wrote {out} and {png}")


COMMANDS = (action,)
