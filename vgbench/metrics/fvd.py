"""Fréchet Video Distance under a versioned protocol (``fvd16``, ``fvd128``, ``fvd128_subsample8``).

``compute_stats(source, protocol, role)`` turns videos into Gaussian statistics of I3D logits with a manifest;
``fvd(real, fake, protocol)`` takes sources or saved statistics for either side and returns the distance with
a full provenance record. Real clips: one per video at a seeded random offset, short videos skipped and counted,
at most ``max_videos`` in natural order. Fake clips: the first frames of the first ``num_videos`` videos.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from ..features import ClipSpec, NotEnoughVideos, extract_features
from ..io.sources import VideoSource, open_source
from ..protocols import Protocol, ProtocolError, load_protocol
from ..provenance import LEGACY_STATS_SCHEMA, RESULT_SCHEMA, STATS_SCHEMA, environment, utc_now
from ..utils import atomic_write, sha256_json
from .frechet import frechet_distance
from .stats import FeatureStats

__all__ = ["VideoStats", "FVDResult", "MetricResult", "compute_stats", "fvd", "IncompleteProtocolWarning",
           "load_stats", "frechet_between", "frechet_entry", "flag_incomplete"]


def _default_device() -> str:
    from ..detectors import default_device

    return default_device()


class IncompleteProtocolWarning(UserWarning):
    """A set had fewer videos than the protocol asks for; the number is not comparable to published ones."""


def flag_incomplete(msg: str, strict: bool, error: type[Exception] = NotEnoughVideos, stacklevel: int = 3) -> None:
    """A set is smaller than its protocol asks for: an error with ``strict`` (--strict), else a warning."""
    if strict:
        raise error(msg + " (--strict)")
    warnings.warn(msg, IncompleteProtocolWarning, stacklevel=stacklevel)


@dataclasses.dataclass
class VideoStats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    manifest: dict
    ids: list[str] = dataclasses.field(default_factory=list)
    offsets: list[int] = dataclasses.field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz: mu, sigma, n, ids, offsets, manifest and a sha256 ``checksum`` of all of them) and a
        readable ``path.json`` manifest."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        manifest = json.dumps(self.manifest, sort_keys=True)
        arrays = {"mu": np.asarray(self.mu, np.float64), "sigma": np.asarray(self.sigma, np.float64),
                  "n": np.int64(self.n), "ids": np.asarray(self.ids, dtype=str),
                  "offsets": np.asarray(self.offsets, np.int64), "manifest": np.asarray(manifest)}
        checksum = stats_checksum(arrays)
        with atomic_write(path, "wb") as f:
            np.savez(f, **arrays, checksum=np.asarray(checksum))
        with atomic_write(path.with_name(path.name + ".json"), "w") as f:
            json.dump({**self.manifest, "checksum": checksum}, f, indent=2, sort_keys=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "VideoStats":
        """Read and verify a statistics file: its checksum, shapes, finiteness, count and that sigma is a covariance
        (symmetric, positive semi-definite). Every problem is a :class:`ProtocolError` naming the file."""
        path = Path(path)
        try:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:
            raise ProtocolError(f"{path}: cannot read statistics file: {e}") from e
        missing = [k for k in ("mu", "sigma", "n", "manifest") if k not in arrays]
        if missing:
            raise ProtocolError(f"{path}: not a vgbench statistics file (no {', '.join(missing)})")
        try:
            manifest = json.loads(str(arrays["manifest"]))
        except ValueError as e:
            raise ProtocolError(f"{path}: damaged statistics manifest: {e}") from e
        schema = manifest.get("schema") if isinstance(manifest, dict) else None
        if schema not in (STATS_SCHEMA, LEGACY_STATS_SCHEMA):
            raise ProtocolError(f"{path}: not a vgbench statistics file (schema {schema!r})")
        if "checksum" in arrays:
            if str(arrays["checksum"]) != stats_checksum({k: v for k, v in arrays.items() if k != "checksum"}):
                raise ProtocolError(f"{path}: checksum mismatch: the statistics were changed or damaged after they "
                                    f"were written; recompute them (delete the file)")
        elif schema == STATS_SCHEMA:
            raise ProtocolError(f"{path}: the checksum is missing: the file was damaged or edited; recompute it")
        else:
            warnings.warn(f"{path}: statistics written by vgbench 0.1 carry no checksum; they were checked for "
                          f"consistency only. Recompute them to get a verifiable file.", UserWarning, stacklevel=3)
        st = cls(arrays["mu"], arrays["sigma"], int(arrays["n"]), manifest,
                 [str(s) for s in arrays.get("ids", [])], arrays["offsets"].tolist() if "offsets" in arrays else [])
        st.validate(str(path))
        return st

    def validate(self, where: str) -> None:
        """Refuse statistics that cannot be a mean and population covariance of ``n`` feature vectors."""
        mu, sigma = np.asarray(self.mu), np.asarray(self.sigma)
        if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
            raise ProtocolError(f"{where}: mu {mu.shape} and sigma {sigma.shape} do not fit together")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ProtocolError(f"{where}: NaN or inf in the statistics (mu or sigma)")
        counts = self.manifest.get("counts") or {}
        expected_n = counts.get("frames", counts.get("used"))
        if self.n < 1 or (expected_n is not None and expected_n != self.n):
            raise ProtocolError(f"{where}: n = {self.n} samples, but the manifest counts {expected_n}: the statistics "
                                f"are empty or inconsistent")
        scale = float(np.abs(sigma).max()) if sigma.size else 0.0
        if float(np.abs(sigma - sigma.T).max(initial=0.0)) > 1e-9 * max(scale, 1e-300):
            raise ProtocolError(f"{where}: sigma is not symmetric, so it is not a covariance matrix")
        lowest = float(np.linalg.eigvalsh(sigma)[0]) if sigma.size else 0.0
        if lowest < -PSD_TOLERANCE * max(scale, 1e-300) * mu.size:
            raise ProtocolError(f"{where}: sigma is not positive semi-definite (smallest eigenvalue {lowest:.4g}), so "
                                f"it is not a covariance matrix; the Fréchet distance would be meaningless")

    def check_compatible(self, protocol: Protocol, role: str, detector_sha256: str | None, where: str) -> None:
        """Refuse statistics made under another protocol, detector or role, explaining why."""
        m = self.manifest
        p = m["protocol"]
        if p["params_sha256"] != protocol.params_sha256:
            raise ProtocolError(
                f"{where}: statistics were computed under protocol {p['name']}@{p['version']} (params "
                f"{p['params_sha256'][:12]}), not {protocol.name}@{protocol.version} (params "
                f"{protocol.params_sha256[:12]}); clip length, stride, offsets or detector settings differ, so the "
                f"FVD would be meaningless. Recompute them with `vgbench stats ... --protocol {protocol.name}`.")
        if m["role"] != role:
            raise ProtocolError(f"{where}: these are {m['role']} statistics ({m['role']} clip policy) but were "
                                f"given as the {role} set")
        if detector_sha256 and m["detector"].get("sha256") != detector_sha256:
            raise ProtocolError(f"{where}: statistics were computed with detector weights "
                                f"{m['detector'].get('sha256')}, not {detector_sha256}")


def load_stats(path: str | Path) -> VideoStats:
    return VideoStats.load(path)


#: sigma may have eigenvalues down to -PSD_TOLERANCE * max|sigma| * dim (rounding in float64), no lower
PSD_TOLERANCE = 1e-10


def stats_checksum(arrays: dict) -> str:
    """sha256 over the arrays of a statistics file (name, dtype, shape and bytes of each, in name order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _is_stats_path(x) -> bool:
    return isinstance(x, (str, os.PathLike)) and str(x).endswith(".npz") and Path(x).is_file() and \
        _npz_has_manifest(Path(x))


def _npz_has_manifest(p: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            return "manifest.npy" in z.namelist()
    except zipfile.BadZipFile:
        return False


def _describe(src: VideoSource) -> tuple[dict, str | None]:
    try:
        h = src.content_hash()
    except TypeError:
        h = None
    return src.describe(), h


def compute_stats(
    source,
    protocol: str | Protocol = "fvd16",
    role: str = "real",
    *,
    detector=None,
    device: str | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    worker_processes: bool | None = None,
    skip_bad: bool = False,
    resume_dir: str | Path | None = None,
    progress: bool = True,
    clip_spec: ClipSpec | None = None,
) -> VideoStats:
    """Statistics of ``source`` as the ``role`` ('real' or 'fake') set of ``protocol``.

    ``clip_spec`` replaces the protocol's clip selection for sources that already apply it, e.g. generated fake
    videos rendered only at the protocol's times (``t = 0, s, ..., (n-1)s``), which are read with stride 1.
    ``resume_dir`` keeps finished work there and resumes from it (see :func:`extract_features`); ``"auto"`` uses a
    folder under ``$VGBENCH_HOME/partial`` named after the computation (source fingerprint included: sizes and
    modification times) and removes it on success; in-memory data and a generator's stream are not resumed.
    """
    if role not in ("real", "fake"):
        raise ValueError(f"role must be 'real' or 'fake', got {role!r}")
    protocol = load_protocol(protocol)
    from ..detectors import default_device, detector_for

    device = device or default_device()
    detector = detector_for(protocol, device, detector)
    det_prov = dict(getattr(detector, "provenance", {"name": getattr(detector, "name", "custom")}))
    expected_sha = protocol["detector"]["weights_sha256"]
    if det_prov.get("sha256") not in (None, expected_sha):
        raise ProtocolError(f"detector weights {det_prov.get('sha256')} differ from the protocol's {expected_sha}")
    spec = clip_spec or ClipSpec.from_protocol(protocol, role)
    src = open_source(source)
    desc, content_hash = _describe(src)
    if batch_size is None:
        batch_size = max(1, 128 // spec.num_frames) if spec.num_frames else 1
    on_gpu = str(device).startswith("cuda")
    if num_workers is None:  # on a GPU, decode in several processes so the detector never waits
        num_workers = min(4, os.cpu_count() or 1) if on_gpu else 1
    if worker_processes is None:
        worker_processes = on_gpu
    fingerprint = src.fingerprint() if content_hash is not None else None
    key = {"protocol": protocol.params_sha256, "role": role, "detector": det_prov.get("sha256"),
           "source": desc, "content_hash": content_hash, "fingerprint": fingerprint, "clip": spec.to_dict()}
    auto_resume = isinstance(resume_dir, str) and resume_dir == "auto"
    if auto_resume:  # a folder of its own under $VGBENCH_HOME/partial; only for files whose changes can be seen
        from ..weights import home

        resume_dir = (home() / "partial" / f"{protocol.name}-{role}-{sha256_json(key)[:16]}"
                      if fingerprint is not None else None)
    t0 = time.time()
    res = extract_features(src, detector, spec, batch_size=batch_size, num_workers=num_workers,
                           worker_processes=worker_processes, skip_bad=skip_bad, shard_dir=resume_dir,
                           shard_key=key, progress=progress, desc=f"{protocol.name} {role}")
    if auto_resume and resume_dir is not None:
        shutil.rmtree(resume_dir, ignore_errors=True)
    need = protocol["statistics"]["min_videos"]
    c = res.counts
    if len(res) < need:
        raise NotEnoughVideos(
            f"too few usable videos for {protocol.name} ({role}): {c['used']} used, need at least {need} "
            f"({c['seen']} seen, {c['skipped_short']} shorter than {spec.required()} frames, "
            f"{c['skipped_bad']} unreadable)")
    stats = FeatureStats(res.features.shape[1])
    stats.append(res.features, where=f"{protocol.name} {role} features")
    mu, sigma = stats.mean_cov()
    wanted = protocol[role]["num_videos"] if role == "fake" else None
    complete = (c["used"] >= wanted) if wanted else True
    complete = complete and c["skipped_bad"] == 0
    manifest = {
        "schema": STATS_SCHEMA,
        "created": utc_now(),
        "role": role,
        "protocol": {"name": protocol.name, "version": protocol.version, "params_sha256": protocol.params_sha256},
        "detector": det_prov,
        "clip": spec.to_dict(),
        "source": desc,
        "source_content_hash": content_hash,
        "counts": c,
        "bad_videos": res.bad,
        "protocol_complete": complete,
        "runtime": {"seconds": round(time.time() - t0, 3), "device": str(device), "batch_size": batch_size,
                    "num_workers": num_workers, "worker_processes": worker_processes},
        "env": environment(device),
    }
    return VideoStats(mu, sigma, stats.n, manifest, res.ids, res.offsets)


@dataclasses.dataclass
class MetricResult:
    """A metric value and its full provenance record (what ``--json`` prints and ``--out`` appends)."""

    value: float
    record: dict

    def __float__(self) -> float:
        return self.value


FVDResult = MetricResult


def _incomplete_message(protocol, role: str, c: dict) -> str:
    if "frames" in c:  # per-frame statistics (FID)
        what = f"{c.get('frames')} frames from {c['used']} videos" + (
            f" of {c['frames_required']} frames required" if c.get("frames_required") else "")
    else:
        wanted = protocol[role].get("num_videos") if role == "fake" else None
        what = f"{c['used']} videos used" + (f" of {wanted} required" if wanted else "")
    return (f"{role} set is not protocol-complete for {protocol.name}: {what}, {c['skipped_bad']} unreadable "
            "skipped; the value is not comparable to published numbers")


def _side(x, protocol, role, strict, detector_sha, kwargs, compute=None) -> VideoStats:
    """Statistics for one side: given, loaded from a file (checked against the protocol), or computed."""
    if isinstance(x, VideoStats):
        st, where = x, f"<{role} statistics>"
    elif _is_stats_path(x):
        st, where = VideoStats.load(x), str(x)
    else:
        st, where = (compute or compute_stats)(x, protocol, role, **kwargs), None
    if where is not None:
        st.check_compatible(protocol, role, detector_sha, where)
    if not st.manifest.get("protocol_complete", True):
        flag_incomplete(_incomplete_message(protocol, role, st.manifest["counts"]), strict, stacklevel=5)
    return st


def source_summary(st: VideoStats) -> dict:
    return {k: st.manifest.get(k) for k in ("source", "source_content_hash", "created")}


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


def frechet_between(real, fake, protocol, compute, *, strict: bool, detector, device, kwargs: dict):
    """The two-sided driver shared by FVD and FID: statistics of each side (sources or statistics files), then
    the Fréchet distance. Returns (value, info, real_stats, fake_stats)."""
    need_detector = not all(isinstance(x, VideoStats) or _is_stats_path(x) for x in (real, fake))
    from ..detectors import default_device, detector_for

    device = device or default_device()
    if detector is not None or need_detector:
        detector = detector_for(protocol, device, detector)
    kw = dict(kwargs, detector=detector, device=device)
    # statistics files must come from the same detector weights as the side computed now (the protocol's)
    expected_sha = protocol["detector"]["weights_sha256"]
    if detector is not None:
        expected_sha = getattr(detector, "provenance", {}).get("sha256")
    r = _side(real, protocol, "real", strict, expected_sha, kw, compute)
    f = _side(fake, protocol, "fake", strict, expected_sha, kw, compute)
    value, info = frechet_distance(r.mu, r.sigma, f.mu, f.sigma, eps=protocol["distance"]["nonfinite_retry_eps"])
    return value, info, r, f


def fvd(real, fake, protocol: str | Protocol = "fvd16", *, strict: bool = False, detector=None,
        device: str | None = None, **kwargs) -> FVDResult:
    """FVD between ``real`` and ``fake``: each a video source (path, array, ``builtin:NAME``...) or statistics
    (a ``.npz`` written by :meth:`VideoStats.save` or a :class:`VideoStats`). Extra keyword arguments go to
    :func:`compute_stats` (batch_size, num_workers, skip_bad, progress...)."""
    protocol = load_protocol(protocol)
    device = device or _default_device()
    kwargs.setdefault("resume_dir", "auto")  # an interrupted run resumes where it stopped
    value, info, r, f = frechet_between(real, fake, protocol, compute_stats, strict=strict, detector=detector,
                                        device=device, kwargs=kwargs)
    metric = frechet_entry(value, info, protocol, r, f, f.manifest["detector"])
    metric.update(real=source_summary(r), fake=source_summary(f))
    record = {
        "schema": RESULT_SCHEMA,
        "created": utc_now(),
        "fvd": value,
        "model": None,
        "dataset": None,
        "metrics": {protocol.name: metric},
        "seeds": {"offset_seed": protocol["real"].get("offset_seed")},
        "env": environment(device),
    }
    return FVDResult(value, record)
