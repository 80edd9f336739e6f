"""``vgbench eval``: sample a generator, compute metrics against a dataset's real statistics, record everything.

Flow for each requested protocol (``fvd16``, ``fvd128``, ``fvd128_subsample8``):

1. real statistics: the dataset card's shipped file when it applies, else the cache
   ``$VGBENCH_HOME/stats/<dataset>-<protocol>-<key>.npz`` keyed by (protocol parameters, detector weights,
   content hash of the video listing), computed once when missing;
2. fake statistics: ``num_videos`` videos from the adapter, rendered at the protocol's times
   ``t = 0, s, ..., (n-1)s`` (pre-generated ``folder`` videos are read with the protocol's stride instead),
   generated in a background thread while the detector runs;
3. the Fréchet distance, and one JSON record per run with model, checkpoint sha256, dataset card, every metric
   with its protocol provenance, seeds, counts, timing and environment (appended to ``--out``).

:func:`check` validates the same setup in seconds without computing anything large.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import queue
import threading
import time
import warnings
from pathlib import Path

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from .errors import VgbenchError
from .features import ClipSpec
from .io.sources import IterableSource, open_source
from .metrics.frechet import frechet_distance
from .metrics.fvd import VideoStats, compute_stats, flag_incomplete, frechet_entry, source_summary
from .protocols import ProtocolError, bundled_dir, load_protocol
from .provenance import RESULT_SCHEMA, environment, utc_now
from .utils import sha256_json

__all__ = ["load_card", "list_cards", "evaluate", "check", "real_stats", "DatasetError", "EvalContext",
           "register_metric", "METRICS"]


@dataclasses.dataclass
class EvalContext:
    """Everything a metric needs to evaluate a generator under one protocol."""

    adapter: object  # vgbench.models.Adapter
    card: dict
    data: str | None
    protocol: object  # vgbench.protocols.Protocol
    device: str
    num_fake: int | None
    seed: int
    gen_batch_size: int
    batch_size: int | None
    num_workers: int | None
    strict: bool
    progress: bool


#: protocol ``metric`` kind -> function(EvalContext) -> metric result dict (must hold "value", "protocol",
#: "protocol_complete" and "counts"). FVD is built in; other metric modules register themselves here.
METRICS: dict = {}
#: protocol ``metric`` kind -> function(EvalContext) that raises if the metric cannot run (missing weights,
#: a model that cannot fix motion...). All preflights run before anything is generated.
PREFLIGHTS: dict = {}

#: short names accepted by --metrics
METRIC_ALIASES = {"fvd": "fvd16", "fid": "fid_video", "is": "is_ucf101"}


def register_metric(kind: str, preflight=None):
    def deco(fn):
        METRICS[kind] = fn
        if preflight is not None:
            PREFLIGHTS[kind] = preflight
        return fn

    return deco


class DatasetError(VgbenchError, ValueError):
    pass


def list_cards() -> list[str]:
    return sorted(p.stem for p in bundled_dir("datasets").glob("*.toml"))


def load_card(name: str) -> dict:
    p = bundled_dir("datasets") / f"{name}.toml"
    if not p.is_file():
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(list_cards())}")
    card = tomllib.loads(p.read_text())
    card["card_path"] = str(p)
    return card


def _real_source(card: dict, data: str | None):
    spec = data or card.get("data")
    if spec is None:
        raise DatasetError(f"dataset {card['name']!r} ships no videos: pass --data ROOT ({card.get('layout', '')})")
    return open_source(spec), spec


def _cache_path(card: dict, protocol, detector_sha: str, content_hash: str) -> Path:
    from .weights import home

    key = sha256_json({"protocol": protocol.params_sha256, "detector": detector_sha, "content": content_hash})
    return home() / "stats" / f"{card['name']}-{protocol.name}-{key[:16]}.npz"


def real_stats(card: dict, data: str | None, protocol, detector, device, progress=True, compute=None,
               **kw) -> tuple[VideoStats, str]:
    """Real statistics for ``card`` under ``protocol``: shipped, cached, or computed and cached. Returns
    (stats, where they came from). ``compute`` replaces :func:`compute_stats` (same signature) for metrics whose
    statistics are made differently, e.g. FID's per-frame statistics."""
    shipped = (card.get("reference_stats") or {}).get(protocol.name)
    if shipped and data is None:
        path = bundled_dir("reference_stats") / shipped
        st = VideoStats.load(path)
        st.check_compatible(protocol, "real", detector.provenance.get("sha256"), str(path))
        return st, str(path)
    src, _ = _real_source(card, data)
    path = _cache_path(card, protocol, detector.provenance.get("sha256"), src.content_hash())
    if path.is_file():
        try:
            st = VideoStats.load(path)
            st.check_compatible(protocol, "real", detector.provenance.get("sha256"), str(path))
            return st, str(path)
        except ProtocolError as e:  # the cache is vgbench's own: a damaged entry is recomputed, not a dead end
            warnings.warn(f"{e}; this cache entry is recomputed", UserWarning, stacklevel=2)
    st = (compute or compute_stats)(src, protocol, "real", detector=detector, device=device, progress=progress,
                                    resume_dir=path.with_name(path.name + ".partial"), **kw)
    st.save(path)
    import shutil

    shutil.rmtree(path.with_name(path.name + ".partial"), ignore_errors=True)
    return st, str(path)


def _background(iterable, depth: int = 2):
    """Run ``iterable`` in a thread, handing items over through a bounded queue (generation overlaps detection)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterable:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # hand the error to the consumer
            q.put(e)

    th = threading.Thread(target=work, name="vgbench-generate", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def fake_clips(adapter, protocol, num_videos: int, seed: int, gen_batch_size: int):
    """The fake side of any protocol with a ``[fake]`` clip policy, as (source, ClipSpec).

    Pre-generated (``folder``) videos are read with the protocol's stride; generators render only the protocol's
    times ``t = 0, s, ..., (n-1)s`` (in a background thread, overlapping the detector), read with stride 1.
    """
    fake = protocol["fake"]
    n, s = fake["num_frames"], fake["frame_stride"]
    if adapter.name == "folder":
        return adapter.source, ClipSpec(n, s, "zero", 0, None, num_videos, short_is_error=True)
    times = [k * s for k in range(n)]
    videos = adapter.iter_videos(num_videos, n, seed=seed, batch_size=gen_batch_size, times=times)
    src = IterableSource(_background(videos), length=num_videos,
                         description={"kind": "generator", "model": adapter.name, "seed": seed, "times": times})
    return src, ClipSpec(n, 1, "zero", 0, None, num_videos, short_is_error=True)


def frechet_metric(ctx: EvalContext, compute, fake_stats, unit: str | None = None) -> dict:
    """``vgbench eval`` for a Fréchet metric (FVD, FID): real statistics (shipped, cached or computed with
    ``compute``), fake statistics from ``fake_stats(ctx, detector, num_videos)``, the distance and the entry."""
    from .detectors import detector_for

    protocol = ctx.protocol
    detector = detector_for(protocol, ctx.device)
    t0 = time.time()
    real, real_from = real_stats(ctx.card, ctx.data, protocol, detector, ctx.device, progress=ctx.progress,
                                 compute=compute, num_workers=ctx.num_workers)
    t1 = time.time()
    fake = fake_stats(ctx, detector, ctx.num_fake or protocol["fake"]["num_videos"])
    t2 = time.time()
    value, info = frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma,
                                   eps=protocol["distance"]["nonfinite_retry_eps"])
    entry = frechet_entry(value, info, protocol, real, fake, detector.provenance, unit)
    if not entry["protocol_complete"]:
        wanted = (f"{fake.n} fake frames of {fake.manifest['counts'].get('frames_required')}" if unit == "frames"
                  else f"{fake.n} fake videos of {protocol['fake']['num_videos']}")
        flag_incomplete(f"{protocol.name}: {wanted} required; the value is not comparable to published numbers",
                        ctx.strict, ProtocolError, stacklevel=4)
    entry["real_stats"] = {"file": real_from, **source_summary(real)}
    entry["seconds"] = {"real": round(t1 - t0, 2), "fake": round(t2 - t1, 2)}
    return entry


def _fake_video_stats(ctx: EvalContext, detector, num_videos: int) -> VideoStats:
    src, spec = fake_clips(ctx.adapter, ctx.protocol, num_videos, ctx.seed, ctx.gen_batch_size)
    return compute_stats(src, ctx.protocol, "fake", detector=detector, device=ctx.device, progress=ctx.progress,
                         clip_spec=spec, batch_size=ctx.batch_size, num_workers=ctx.num_workers)


register_metric("fvd")(lambda ctx: frechet_metric(ctx, compute_stats, _fake_video_stats))


def _metric_fn(kind: str):
    if kind not in METRICS:
        try:  # metric modules register themselves on import: vgbench.metrics.<kind>
            importlib.import_module(f".metrics.{kind}", __package__)
        except ImportError:
            pass
    if kind not in METRICS:
        raise ProtocolError(f"no evaluator for metric kind {kind!r} in vgbench eval")
    return METRICS[kind]


def evaluate(model: str, ckpt: str | None, dataset: str, *, data: str | None = None,
             metrics: list[str] | tuple[str, ...] = ("fvd16",), num_fake: int | None = None, seed: int = 0,
             device: str | None = None, batch_size: int | None = None, gen_batch_size: int = 4,
             num_workers: int | None = None, strict: bool = False, progress: bool = True,
             out: str | Path | None = None, model_options: dict | None = None) -> dict:
    """Evaluate ``model`` (loaded from ``ckpt``) on ``dataset``; returns (and appends to ``out``) the record."""
    from .detectors import default_device
    from .models import get_adapter

    t_start = time.time()
    device = device or default_device()
    card = load_card(dataset)
    opts = dict(model_options or {})
    if model != "folder":
        opts.setdefault("native_fps", card.get("fps"))
    adapter = get_adapter(model, ckpt, device=device, **opts)
    results, timing = {}, {}
    metrics = [METRIC_ALIASES.get(m, m) for m in metrics]
    protocols = {name: load_protocol(name) for name in metrics}
    contexts = {name: EvalContext(adapter, card, data, protocol, device, num_fake, seed, gen_batch_size, batch_size,
                                  num_workers, strict, progress) for name, protocol in protocols.items()}
    for name, ctx in contexts.items():  # refuse up front: never generate for a metric that cannot finish
        _metric_fn(ctx.protocol.metric)
        if ctx.protocol.metric in PREFLIGHTS:
            PREFLIGHTS[ctx.protocol.metric](ctx)
    for name, ctx in contexts.items():
        t0 = time.time()
        results[name] = _metric_fn(ctx.protocol.metric)(ctx)
        timing[name] = round(time.time() - t0, 2)
    record = {
        "schema": RESULT_SCHEMA,
        "created": utc_now(),
        "model": {**adapter.provenance(), "info": adapter.info.to_dict()},
        "dataset": {"name": card["name"], "card": {k: v for k, v in card.items() if k != "card_path"},
                    "data": data or card.get("data")},
        "metrics": results,
        "seeds": {"seed": seed, "offset_seed": {m: p.params.get("real", {}).get("offset_seed")
                                                for m, p in protocols.items()},
                  "per_video": "content: SeedSequence([seed, i, 0]); motion: SeedSequence([seed, i, 1]); "
                                "other (labels, spatial noise): SeedSequence([seed, i, 2])"},
        "sampling": {"gen_batch_size": gen_batch_size, "num_fake": num_fake, "device": str(device)},
        "timing": {"total_seconds": round(time.time() - t_start, 2), "per_metric": timing},
        "env": environment(device),
    }
    labels = conditioning_summary(adapter, seed, max((c.num_fake or (c.protocol.params.get("fake") or {}).get(
        "num_videos") or 0) for c in contexts.values()) if contexts else 0)
    if labels is not None:
        record["conditioning"] = labels
    for m in results.values():  # a metric with nothing to measure (e.g. no face found) has no value, not NaN
        v = m.get("value")
        if isinstance(v, float) and not math.isfinite(v):
            m["value"] = None
            m.setdefault("notes", []).append(f"no value: the computation gave {v}")
    if out is not None:
        import json

        with open(out, "a") as f:
            f.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
    return record


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
    metrics = [METRIC_ALIASES.get(m, m) for m in metrics]
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
            src, spec = _real_source(card, data)
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
            cache = _cache_path(card, p, p["detector"]["weights_sha256"], src.content_hash())
            return detail + ("; statistics cached" if cache.is_file() else "; statistics will be computed once")

        item(f"real data for {m}", c_real)
    return report
