"""``vgbench eval``: sample a generator, compute metrics against a dataset's real statistics, record everything.

For each requested protocol, its metric's ``compute`` (:mod:`vgbench.metrics.base`) runs with an
:class:`~vgbench.metrics.base.EvalContext` holding the generator and the dataset card. For FVD and FID that is:

1. real statistics: the dataset card's shipped file when it applies, else the cache
   ``$VGBENCH_HOME/stats/<dataset>-<protocol>-<key>.npz`` keyed by (protocol parameters, detector weights,
   content hash of the video listing), computed once when missing;
2. fake statistics: ``num_videos`` videos from the adapter, rendered at the protocol's times
   ``t = 0, s, ..., (n-1)s`` (pre-generated ``folder`` videos are read with the protocol's stride instead),
   generated in a background thread while the detector runs;
3. the Fréchet distance.

Every metric's preflight runs before anything is generated. One JSON record per run (model, checkpoint sha256,
dataset card, every metric with its protocol provenance, seeds, counts, timing, environment) is returned and
appended to ``--out``. :func:`check` validates the same setup in seconds without computing anything large.

``repeats=K`` (``--repeats K``) measures each metric K times with the sampling seeds ``seed, seed+1, ...,
seed+K-1``: repeat k is exactly ``vgbench eval --seed seed+k``, no video is shared between repeats (video i of
repeat k draws from ``SeedSequence([seed+k, i, ...])``), the real side is the same. The entry keeps repeat 0's
value (the run without ``--repeats``) and adds ``repeats``: the K values, their mean and standard deviation, the
fake set's seed-to-seed spread (:func:`seed_spread`; docs/confidence.md).
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from .data.cards import DatasetError, load_card, real_source
from .errors import VgbenchError
from .features import ClipSpec
from .metrics.base import (
    EvalContext,
    cache_path,
    metric_spec,
    resolve_metric_name,
)
from .metrics.confidence import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from .metrics.stats import VideoStats
from .protocols import bundled_dir, load_protocol
from .provenance import make_record

__all__ = ["evaluate", "check", "conditioning_summary", "seed_spread", "EvalError"]


class EvalError(VgbenchError, ValueError):
    """An evaluation setup that cannot give what was asked (e.g. repeats of pre-generated videos)."""


def evaluate(model: str, ckpt: str | None, dataset: str, *, data: str | None = None,
             metrics: list[str] | tuple[str, ...] = ("fvd16",), num_fake: int | None = None, seed: int = 0,
             device: str | None = None, batch_size: int | None = None, gen_batch_size: int = 4,
             num_workers: int | None = None, strict: bool = False, progress: bool = True,
             out: str | Path | None = None, model_options: dict | None = None, bootstrap: int = DEFAULT_BOOTSTRAP,
             bootstrap_seed: int = DEFAULT_SEED, repeats: int = 1, fid_bootstrap: int = 0,
             action_classifier: str | Path | None = None) -> dict:
    """Evaluate ``model`` (loaded from ``ckpt``) on ``dataset``; returns (and appends to ``out``) the record.
    ``bootstrap``/``bootstrap_seed``: the replicates and seed of the Fréchet metrics' ``ci95`` (0: none);
    ``fid_bootstrap``: FID's replicates (default 0: none, they cost seconds each on a CPU; docs/confidence.md).
    ``repeats``: measure every metric with the fake seeds ``seed .. seed+repeats-1`` (see the module docstring).
    ``action_classifier``: the folder of ``vgbench action train`` that the ``action`` metric scores with; with
    ``out``, its confusion matrix is also drawn next to ``out`` (``<out>.<protocol>.png``)."""
    from .detectors import default_device
    from .models import get_adapter

    if not isinstance(repeats, int) or repeats < 1:
        raise EvalError(f"repeats must be a positive integer, got {repeats!r}")
    if repeats > 1 and model == "folder":
        raise EvalError("--repeats needs a generator: pre-generated (folder) videos cannot be drawn again with "
                        "another seed; evaluate disjoint folders separately instead")
    t_start = time.time()
    device = device or default_device()
    card = load_card(dataset)
    opts = dict(model_options or {})
    if model != "folder":
        opts.setdefault("native_fps", card.get("fps"))
    adapter = get_adapter(model, ckpt, device=device, **opts)
    results, timing = {}, {}
    protocols = {name: load_protocol(name) for name in (resolve_metric_name(m) for m in metrics)}
    contexts = {name: EvalContext(protocol, device, adapter=adapter, card=card, data=data, num_fake=num_fake,
                                  seed=seed, gen_batch_size=gen_batch_size, batch_size=batch_size,
                                  num_workers=num_workers, strict=strict, progress=progress, bootstrap=bootstrap,
                                  bootstrap_seed=bootstrap_seed, fid_bootstrap=fid_bootstrap,
                                  inputs={"action_classifier": action_classifier} if action_classifier else {})
                for name, protocol in protocols.items()}
    specs = {name: metric_spec(ctx.protocol.metric) for name, ctx in contexts.items()}
    for name, ctx in contexts.items():  # refuse up front: never generate for a metric that cannot finish
        if specs[name].preflight is not None:
            specs[name].preflight(ctx)
    for name, ctx in contexts.items():
        t0 = time.time()
        results[name] = specs[name].compute(ctx)
        if repeats > 1:
            results[name]["repeats"] = seed_spread(specs[name].compute, ctx, results[name], repeats)
        timing[name] = round(time.time() - t0, 2)
    extra = {"sampling": {"gen_batch_size": gen_batch_size, "num_fake": num_fake, "device": str(device),
                          "repeats": repeats},
             "timing": {"total_seconds": round(time.time() - t_start, 2), "per_metric": timing}}
    labels = conditioning_summary(adapter, seed, max((c.num_fake or (c.protocol.params.get("fake") or {}).get(
        "num_videos") or 0) for c in contexts.values()) if contexts else 0)
    if labels is not None:
        extra["conditioning"] = labels
    record = make_record(
        results, device=device,
        model={**adapter.provenance(), "info": adapter.info.to_dict()},
        dataset={"name": card["name"], "card": {k: v for k, v in card.items() if k != "card_path"},
                 "data": data or card.get("data")},
        seeds={"seed": seed, "offset_seed": {m: p.params.get("real", {}).get("offset_seed")
                                             for m, p in protocols.items()},
               "per_video": "content: SeedSequence([seed, i, 0]); motion: SeedSequence([seed, i, 1]); "
                            "other (labels, spatial noise): SeedSequence([seed, i, 2])"},
        **extra)
    from .distributed import is_main

    if out is not None and is_main():  # under torchrun every rank holds the same record; rank 0 writes it
        import json

        for name, entry in results.items():  # the action metric's confusion matrix as a picture beside ``out``
            if isinstance(entry.get("action"), dict):
                from .metrics.action import confusion_png

                png = _free_path(Path(f"{out}.{name}.png"))
                a = entry["action"]
                confusion_png(np.asarray(a["confusion_matrix"]), png,
                              title=f"{name}: top-1 {100 * a['top1']:.1f}%  top-3 {100 * a['top3']:.1f}%")
                entry["confusion_png"] = str(png)

        with open(out, "a") as f:
            f.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
    return record


def _free_path(path: Path) -> Path:
    """``path``, or ``path`` with ``-2``, ``-3``... before its suffix when it exists (earlier runs are kept)."""
    k = 1
    candidate = path
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return candidate


def seed_spread(compute, ctx: EvalContext, first: dict, repeats: int) -> dict:
    """The ``repeats`` field of a metric entry: ``first`` (computed with ``ctx.seed``) and ``repeats - 1`` more
    ``compute`` runs with the sampling seeds ``ctx.seed + 1, ...``; their values, mean and sample standard deviation.
    The later repeats skip the bootstrap (only their values are kept)."""
    t0 = time.time()
    seeds = [ctx.seed + k for k in range(repeats)]
    values = [first["value"]]
    for s in seeds[1:]:
        values.append(compute(dataclasses.replace(ctx, seed=s, bootstrap=0, fid_bootstrap=0))["value"])
    out = {"K": repeats, "seeds": seeds, "values": values, "mean": None, "std": None,
           "method": "the metric measured with the sampling seeds seed..seed+K-1 (video i of repeat k: "
                     "SeedSequence([seed+k, i, ...]); no video shared between repeats), the same real set; "
                     "std: sample standard deviation (ddof=1) of the K values",
           "seconds": 0.0}  # of the repeats after the first
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) == repeats:
        mean = sum(finite) / repeats
        out["mean"] = mean
        out["std"] = math.sqrt(sum((v - mean) ** 2 for v in finite) / (repeats - 1))
    out["seconds"] = round(time.time() - t0, 2)
    return out


def conditioning_summary(adapter, seed: int, num_videos: int) -> dict | None:
    """For a conditional model: the option used and how often each label value occurs among videos ``0..n-1``
    (labels come from ``adapter.video_labels``, deterministic like the pixels), plus a hash of the full list."""
    if num_videos <= 0 or adapter.video_labels(0, seed) is None:
        return None
    import hashlib
    import json

    per_video = [adapter.video_labels(i, seed) for i in range(num_videos)]
    counts: dict[str, dict[str, int]] = {}
    for lab in per_video:
        for k, v in lab.items():
            counts.setdefault(k, {}).setdefault(str(v), 0)
            counts[k][str(v)] += 1
    digest = hashlib.sha256(json.dumps(per_video, sort_keys=True).encode()).hexdigest()
    return {"condition": adapter.options.get("condition"), "num_videos": num_videos,
            "counts": {k: dict(sorted(c.items(), key=lambda kv: int(kv[0]) if kv[0].lstrip("-").isdigit() else kv[0]))
                       for k, c in counts.items()},
            "labels_sha256": digest,
            "how": "per-video labels from the adapter's video_labels(i, seed); `vgbench models labels` lists them"}


def check(model: str, ckpt: str | None, dataset: str, *, data: str | None = None,
          metrics=("fvd16",), device: str | None = None, model_options: dict | None = None) -> list[dict]:
    """Validate an evaluation setup quickly. Returns a list of {check, ok, detail}; nothing heavy is computed."""
    from . import weights
    from .detectors import default_device
    from .models import get_adapter

    device = device or default_device()
    report = []

    def item(name, fn):
        t0 = time.time()
        try:
            detail = fn()
            report.append({"check": name, "ok": True, "detail": detail, "seconds": round(time.time() - t0, 2)})
        except Exception as e:  # every failure becomes a line of the report
            report.append({"check": name, "ok": False, "detail": str(e), "seconds": round(time.time() - t0, 2)})

    card = {}

    def c_card():
        card.update(load_card(dataset))
        return f"{card['name']}: {card['title']}"

    item("dataset card", c_card)
    adapter = {}

    def c_model():
        opts = dict(model_options or {})
        if model != "folder" and card:
            opts.setdefault("native_fps", card.get("fps"))
        a = get_adapter(model, ckpt, device=device, **opts)
        adapter["a"] = a
        sha = a.provenance().get("checkpoint_sha256")
        return f"{model} loaded" + (f" (sha256 {sha[:12]})" if sha else "")

    item("checkpoint loads", c_model)

    def c_sample():
        a = adapter["a"]
        batch = next(a.sample(1, 2, seed=0, batch_size=1))
        return f"sampled {tuple(batch.shape)} {batch.dtype}"

    if "a" in adapter:
        item("model samples", c_sample)
    metrics = [resolve_metric_name(m) for m in metrics]
    for m in metrics:
        def c_protocol(m=m):
            p = load_protocol(m)
            if card.get("protocols") and m not in card["protocols"]:
                raise DatasetError(f"{m} is not a protocol for dataset {card['name']} ({card['protocols']})")
            return f"{p.name}@{p.version}"

        item(f"protocol {m}", c_protocol)

        def c_weights(m=m):
            p = load_protocol(m)
            name = p["detector"]["weights"]
            state = weights.status(name)
            if state != "present":
                how = (f"vgbench weights import {name} FILE" if weights.resolve(name).pip_requirement is None
                       else f"vgbench weights fetch {name}" + (" --force" if state == "corrupt" else ""))
                raise weights.WeightsError(f"weights {name} {state}: run `{how}`")
            return f"{name} present"

        item(f"detector weights for {m}", c_weights)

        def c_real(m=m):
            p = load_protocol(m)
            if "real" not in p.params or p.params["real"].get("used") is False:
                return f"{m} uses no real videos"
            shipped = (card.get("reference_stats") or {}).get(m)
            if shipped and data is None:
                st = VideoStats.load(bundled_dir("reference_stats") / shipped)
                st.check_compatible(p, "real", p["detector"]["weights_sha256"], shipped)
                return f"shipped statistics {shipped} ({st.n} videos)"
            src, spec = real_source(card, data)
            need = ClipSpec.from_protocol(p, "real").required() if p.metric == "fvd" else 1
            total = qualifying = 0
            for v in src:
                total += 1
                qualifying += v.num_frames >= need
            min_videos = p.params.get("statistics", {}).get("min_videos", 1)
            if qualifying < min_videos:
                raise DatasetError(f"{spec}: {qualifying} of {total} videos have at least {need} frames; "
                                   f"{m} needs at least {min_videos}")
            detail = f"{spec}: {total} videos, {qualifying} long enough for {m}"
            cache = cache_path(card, p, p["detector"]["weights_sha256"], src.content_hash())
            return detail + ("; statistics cached" if cache.is_file() else "; statistics will be computed once")

        item(f"real data for {m}", c_real)
    return report
