"""What every metric shares: its spec and the registry, the evaluation context, and the sides of a Fréchet metric.

A metric is one module in ``vgbench/metrics/`` that registers a :class:`MetricSpec` when it is imported, plus one
line in :data:`METRIC_MODULES` naming that module for its protocol kind (the ``metric`` key of a protocol file).
The spec's ``compute(ctx)`` is the whole computation: ``vgbench eval`` calls it with a generator (``ctx.adapter``)
and a dataset card, the standalone functions (``vgbench.fvd``, ``vgbench.fid``, ...) with the sets the user gave
(``ctx.real``, ``ctx.fake``). Either way it returns the metric's entry of a result record (``value``, ``protocol``,
``protocol_complete``, ``counts`` and whatever else the metric records).

This module also holds the pieces metrics reuse: the fake clips of a generator (:func:`fake_clips`, generated in a
background thread by :func:`background`), the real statistics of a dataset card and their cache
(:func:`real_stats`), and the two-sided Fréchet computation behind FVD and FID (:func:`frechet_compute`).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..features import ClipSpec, NotEnoughVideos
from ..io.sources import IterableSource, VideoSource
from ..protocols import Protocol, ProtocolError
from ..utils import sha256_json
from .confidence import DEFAULT_BOOTSTRAP, DEFAULT_SEED, frechet_uncertainty, warn_small_sample
from .frechet import frechet_distance
from .stats import VideoStats

__all__ = ["MetricSpec", "register_metric", "metric_spec", "metric_kinds", "metric_aliases", "resolve_metric_name",
           "METRIC_MODULES", "metric_api", "metric_protocol", "MetricResult", "EvalContext", "IncompleteProtocolWarning", "flag_incomplete",
           "background", "fake_clips", "real_stats", "cache_path", "describe_source", "source_description", "is_stats_path",
           "source_summary", "frechet_entry", "frechet_compute", "SmallSampleWarning"]

#: protocol kind -> the module that registers its :class:`MetricSpec`. Adding a metric adds one line here.
METRIC_MODULES: dict[str, str] = {
    "fvd": "vgbench.metrics.fvd",
    "fid": "vgbench.metrics.fid",
    "inception_score": "vgbench.metrics.inception_score",
    "identity": "vgbench.metrics.identity",
    "lia": "vgbench.metrics.lia",
    "action": "vgbench.metrics.action",
}


# ------------------------------------------------------------------------------------------------ spec and registry


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """Everything vgbench needs to know about one kind of metric."""

    kind: str  # the ``metric`` value of its protocol files
    compute: Callable[["EvalContext"], dict]  # the metric entry of a result record
    required: Mapping[str, Sequence[str]]  # protocol sections and the keys each must have (checked on load)
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)  # ``--metrics`` short names -> protocol
    preflight: Callable[["EvalContext"], None] | None = None  # raises before anything is generated if it can't run
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)  # protocol name -> leaderboard column
    validate: Callable[[dict, str], None] | None = None  # further checks of a protocol file's values
    api: Mapping[str, str] = dataclasses.field(default_factory=dict)  # ``vgbench.<name>`` -> function of its module


_SPECS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Called by a metric module when it is imported."""
    _SPECS[spec.kind] = spec
    return spec


def metric_spec(kind: str) -> MetricSpec:
    """The spec of metric ``kind``, importing its module on first use (an import error is not hidden)."""
    if kind not in _SPECS:
        if kind not in METRIC_MODULES:
            raise ProtocolError(f"no metric of kind {kind!r}; known: {', '.join(sorted(METRIC_MODULES))}")
        importlib.import_module(METRIC_MODULES[kind])
        if kind not in _SPECS:
            raise ProtocolError(f"{METRIC_MODULES[kind]} registered no metric of kind {kind!r}")
    return _SPECS[kind]


def metric_kinds() -> list[str]:
    return sorted(METRIC_MODULES)


def metric_aliases() -> dict[str, str]:
    """Every short name ``--metrics`` accepts, with the protocol it stands for (``fvd`` -> ``fvd16``)."""
    return {alias: name for kind in metric_kinds() for alias, name in metric_spec(kind).aliases.items()}


def metric_api() -> dict[str, Callable]:
    """The standalone functions of every metric, by the name they have as ``vgbench.<name>``."""
    out = {}
    for kind in metric_kinds():
        spec = metric_spec(kind)
        module = importlib.import_module(METRIC_MODULES[kind])
        out.update({name: getattr(module, attr) for name, attr in spec.api.items()})
    return out


def metric_protocol(protocol, kind: str, what: str) -> Protocol:
    """``protocol`` (a name, path or :class:`Protocol`) loaded, refused unless it is a protocol of metric ``kind``
    (``what`` names the metric in the message, e.g. "an FVD")."""
    from ..protocols import load_protocol

    protocol = load_protocol(protocol)
    if protocol.metric != kind:
        raise ProtocolError(f"protocol {protocol.name} is a {protocol.metric!r} protocol, not {what} one")
    return protocol


def resolve_metric_name(name: str) -> str:
    """A ``--metrics`` entry as a protocol name or path: aliases resolved, anything else unchanged."""
    return metric_aliases().get(name, name)


# ------------------------------------------------------------------------------------------------ results, context


@dataclasses.dataclass
class MetricResult:
    """A metric value with its full result record (what ``--json`` prints and ``--out`` appends).

    Indexing reads the metric's entry of the record: ``r["counts"]`` is ``r.record["metrics"][name]["counts"]``.
    """

    value: float | None
    record: dict
    std: float | None = None

    @property
    def entry(self) -> dict:
        (entry,) = self.record["metrics"].values()
        return entry

    def __float__(self) -> float:
        return float(self.value)

    def __getitem__(self, key: str):
        return self.entry[key]

    def __contains__(self, key: str) -> bool:
        return key in self.entry

    def get(self, key: str, default=None):
        return self.entry.get(key, default)

    def keys(self):
        return self.entry.keys()


@dataclasses.dataclass
class EvalContext:
    """What a metric's ``compute`` gets: the protocol, and either the sets to measure (``real``, ``fake``: video
    sources or statistics, as given to the standalone functions) or a generator and a dataset card (``vgbench
    eval``: ``adapter``, ``card``, ``data``)."""

    protocol: Protocol
    device: str
    adapter: Any = None  # vgbench.models.Adapter; None when ``fake`` is given
    card: dict | None = None  # dataset card; None when ``real`` is given (or the metric uses no real set)
    data: str | None = None  # the card's real videos, when not its default
    real: Any = None
    fake: Any = None
    num_fake: int | None = None
    seed: int = 0
    gen_batch_size: int = 4
    batch_size: int | None = None
    num_workers: int | None = None
    strict: bool = False
    progress: bool = True
    detector: Any = None  # a detector to use instead of the protocol's
    options: dict = dataclasses.field(default_factory=dict)  # a standalone function's further keyword arguments
    bootstrap: int = DEFAULT_BOOTSTRAP  # Fréchet metrics: replicates of the ci95 (0: none); see metrics.confidence
    bootstrap_seed: int = DEFAULT_SEED
    fid_bootstrap: int = 0  # FID's replicates (0: none): seconds each on a CPU, so only on request
    inputs: dict = dataclasses.field(default_factory=dict)  # further files a metric needs (action_classifier)


class IncompleteProtocolWarning(UserWarning):
    """A set had fewer videos than the protocol asks for; the number is not comparable to published ones."""


class SmallSampleWarning(IncompleteProtocolWarning):
    """A Fréchet value was computed with fewer fake samples than its protocol asks for: it is biased upward."""


def flag_incomplete(msg: str, strict: bool, error: type[Exception] = NotEnoughVideos, stacklevel: int = 3) -> None:
    """A set is smaller than its protocol asks for: an error with ``strict`` (--strict), else a warning."""
    if strict:
        raise error(msg + " (--strict)")
    warnings.warn(msg, IncompleteProtocolWarning, stacklevel=stacklevel)


# ------------------------------------------------------------------------------------------------ a generator's videos


def background(iterable, depth: int = 2):
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


def fake_clips(adapter, protocol, num_videos: int, seed: int, gen_batch_size: int, start: int = 0):
    """The fake side of any protocol with a ``[fake]`` clip policy, as (source, ClipSpec).

    Pre-generated (``folder``) videos are read with the protocol's stride; generators render only the protocol's
    times ``t = 0, s, ..., (n-1)s`` (in a background thread, overlapping the detector), read with stride 1:
    videos ``start .. start + num_videos - 1`` of ``seed``.
    """
    fake = protocol["fake"]
    n, s = fake["num_frames"], fake["frame_stride"]
    if adapter.name == "folder":
        return adapter.source, ClipSpec(n, s, "zero", 0, None, num_videos, short_is_error=True)
    times = [k * s for k in range(n)]
    videos = adapter.iter_videos(num_videos, n, seed=seed, batch_size=gen_batch_size, times=times, start=start)
    src = IterableSource(background(videos), length=num_videos,
                         description={"kind": "generator", "model": adapter.name, "seed": seed, "times": times,
                                      **({"start": start} if start else {})})
    return src, ClipSpec(n, 1, "zero", 0, None, num_videos, short_is_error=True)


# ------------------------------------------------------------------------------------------------ statistics of a set


def describe_source(src: VideoSource) -> tuple[dict, str | None]:
    """(description, listing content hash or None for one-pass streams) of a source, for manifests."""
    try:
        h = src.content_hash()
    except TypeError:
        h = None
    return src.describe(), h


def source_description(src) -> dict | None:
    """``src.describe()``, or None for a source that cannot describe itself (the description is informative)."""
    try:
        return src.describe()
    except Exception:  # noqa: BLE001
        return None


def is_stats_path(x) -> bool:
    """``x`` names a statistics file written by :meth:`VideoStats.save` (an .npz holding a manifest)."""
    if not (isinstance(x, (str, os.PathLike)) and str(x).endswith(".npz") and Path(x).is_file()):
        return False
    import zipfile

    try:
        with zipfile.ZipFile(x) as z:
            return "manifest.npy" in z.namelist()
    except zipfile.BadZipFile:
        return False


def source_summary(st: VideoStats) -> dict:
    """Where a side's statistics came from, and their digest (mu, sigma, n) for ``vgbench compare``."""
    return {**{k: st.manifest.get(k) for k in ("source", "source_content_hash", "created")},
            "stats_sha256": st.digest()}


def cache_path(card: dict, protocol, detector_sha: str | None, content_hash: str) -> Path:
    """Where the real statistics of ``card`` under ``protocol`` are cached: keyed by the protocol's parameters,
    the detector weights and the content hash of the video listing."""
    from ..weights import home

    key = sha256_json({"protocol": protocol.params_sha256, "detector": detector_sha, "content": content_hash})
    return home() / "stats" / f"{card['name']}-{protocol.name}-{key[:16]}.npz"


def real_stats(card: dict, data: str | None, protocol, detector, device, progress=True, compute=None,
               **kw) -> tuple[VideoStats, str]:
    """Real statistics for ``card`` under ``protocol``: shipped, cached, or computed and cached. Returns
    (stats, where they came from). ``compute`` makes them (default: FVD's clip statistics; FID passes its
    per-frame statistics); it is called as ``compute(source, protocol, "real", detector=..., ...)``."""
    from ..data.cards import real_source
    from ..protocols import bundled_dir

    if compute is None:
        from .fvd import compute_stats as compute
    shipped = (card.get("reference_stats") or {}).get(protocol.name)
    if shipped and data is None:
        path = bundled_dir("reference_stats") / shipped
        st = VideoStats.load(path)
        st.check_compatible(protocol, "real", detector.provenance.get("sha256"), str(path))
        return st, str(path)
    from .. import distributed

    src, _ = real_source(card, data)
    path = cache_path(card, protocol, detector.provenance.get("sha256"), src.content_hash())
    if distributed.agree(path.is_file()):  # under torchrun every rank takes rank 0's view
        try:
            st = VideoStats.load(path)
            st.check_compatible(protocol, "real", detector.provenance.get("sha256"), str(path))
            return st, str(path)
        except ProtocolError as e:  # the cache is vgbench's own: a damaged entry is recomputed, not a dead end
            warnings.warn(f"{e}; this cache entry is recomputed", UserWarning, stacklevel=2)
    st = compute(src, protocol, "real", detector=detector, device=device, progress=progress,
                 resume_dir=path.with_name(path.name + ".partial"), **kw)
    if distributed.is_main():
        st.save(path)
        import shutil

        shutil.rmtree(path.with_name(path.name + ".partial"), ignore_errors=True)
    return st, str(path)


# ------------------------------------------------------------------------------------------------ Fréchet metrics


def frechet_entry(value: float, info: dict, protocol, r: VideoStats, f: VideoStats, detector_prov: dict,
                  unit: str | None = None) -> dict:
    """The metric entry of a result record for a Fréchet metric (FVD, FID): value, protocol provenance, detector,
    counts of both sides (``unit`` says when the samples are frames), completeness and the distance info."""
    counts = {"real_used": r.n, "fake_used": f.n}
    if unit:
        counts["unit"] = unit
    counts.update(real=r.manifest["counts"], fake=f.manifest["counts"])
    return {
        "value": value,
        "protocol": protocol.provenance(),
        "detector": detector_prov,
        "counts": counts,
        "protocol_complete": bool(r.manifest.get("protocol_complete", True) and
                                  f.manifest.get("protocol_complete", True)),
        "frechet": info,
    }


def _incomplete_message(protocol, role: str, c: dict) -> str:
    if "frames" in c:  # per-frame statistics (FID)
        what = f"{c.get('frames')} frames from {c['used']} videos" + (
            f" of {c['frames_required']} frames required" if c.get("frames_required") else "")
    else:
        wanted = protocol[role].get("num_videos") if role == "fake" else None
        what = f"{c['used']} videos used" + (f" of {wanted} required" if wanted else "")
    return (f"{role} set is not protocol-complete for {protocol.name}: {what}, {c['skipped_bad']} unreadable "
            "skipped; the value is not comparable to published numbers")


def _given_side(x, protocol, role, strict, detector_sha, kwargs, compute) -> VideoStats:
    """Statistics of a set the user gave: as they are, loaded from a file (checked against the protocol), or
    computed with ``compute``. An incomplete set is flagged (an error with ``strict``)."""
    if isinstance(x, VideoStats):
        st, where = x, f"<{role} statistics>"
    elif is_stats_path(x):
        st, where = VideoStats.load(x), str(x)
    else:
        st, where = compute(x, protocol, role, **kwargs), None
    if where is not None:
        st.check_compatible(protocol, role, detector_sha, where)
    if not st.manifest.get("protocol_complete", True):
        flag_incomplete(_incomplete_message(protocol, role, st.manifest["counts"]), strict, stacklevel=6)
    return st


def frechet_compute(ctx: EvalContext, compute, fake_stats, unit: str | None = None) -> dict:
    """The computation of a Fréchet metric (FVD, FID) for ``vgbench eval`` and the standalone functions alike.

    Real side: ``ctx.real`` (a source, statistics file or :class:`VideoStats`) or the card's real statistics
    (:func:`real_stats`). Fake side: ``ctx.fake`` likewise, or ``fake_stats(ctx, detector, num_videos)`` from the
    generator. ``compute(source, protocol, role, **kwargs)`` makes statistics of a given source (``ctx.options``
    are its keyword arguments). Statistics files are refused when made under another protocol, role or detector.
    """
    protocol = ctx.protocol
    given = [x for x in (ctx.real, ctx.fake) if x is not None]
    stats_only = len(given) == 2 and all(isinstance(x, VideoStats) or is_stats_path(x) for x in given)
    detector = ctx.detector
    if detector is not None or not stats_only:  # a given detector is checked against (or set to) the protocol's
        from ..detectors import detector_for

        detector = detector_for(protocol, ctx.device, detector)
    # statistics files must come from the same detector weights as the side computed now (the protocol's)
    expected_sha = protocol["detector"]["weights_sha256"]
    if detector is not None:
        expected_sha = getattr(detector, "provenance", {}).get("sha256")
    kw = dict(ctx.options, detector=detector, device=ctx.device)
    t0 = time.time()
    if ctx.real is None:
        real, real_from = real_stats(ctx.card, ctx.data, protocol, detector, ctx.device, progress=ctx.progress,
                                     compute=compute, num_workers=ctx.num_workers)
    else:
        real, real_from = _given_side(ctx.real, protocol, "real", ctx.strict, expected_sha, kw, compute), None
    t1 = time.time()
    if ctx.fake is None:
        fake = fake_stats(ctx, detector, ctx.num_fake or protocol["fake"]["num_videos"])
    else:
        fake = _given_side(ctx.fake, protocol, "fake", ctx.strict, expected_sha, kw, compute)
    t2 = time.time()
    value, info = frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma,
                                   eps=protocol["distance"]["nonfinite_retry_eps"])
    entry = frechet_entry(value, info, protocol, real, fake, fake.manifest["detector"], unit)
    entry.update(frechet_uncertainty(real, fake, value, ctx.bootstrap, ctx.bootstrap_seed, ctx.device))
    if ctx.fake is None and not entry["protocol_complete"]:  # a generator's set: flagged once, on the whole
        wanted = (f"{fake.n} fake frames of {fake.manifest['counts'].get('frames_required')}" if unit == "frames"
                  else f"{fake.n} fake videos of {protocol['fake']['num_videos']}")
        flag_incomplete(f"{protocol.name}: {wanted} required; the value is not comparable to published numbers",
                        ctx.strict, ProtocolError, stacklevel=5)
    warn_small_sample(protocol.name, entry, fake.manifest["counts"].get("frames_required") if unit == "frames"
                      else protocol["fake"]["num_videos"], unit or "videos")
    if real_from is not None:
        entry["real_stats"] = {"file": real_from, **source_summary(real)}
    else:
        entry["real"] = source_summary(real)
    if ctx.fake is not None:
        entry["fake"] = source_summary(fake)
    if ctx.real is None or ctx.fake is None:
        entry["seconds"] = {"real": round(t1 - t0, 2), "fake": round(t2 - t1, 2)}
    return entry
