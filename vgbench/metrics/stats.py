"""Feature statistics: :class:`FeatureStats` accumulates them, :class:`VideoStats` is their file.

:class:`FeatureStats` streams features into a float64 running sum and XᵀX (population covariance, ÷N, as
StyleGAN-V); memory is O(D²) whatever the number of videos, and the result does not depend on how rows were
batched. :class:`VideoStats` is the mean, covariance and count of one set with the manifest that says how they were
made (protocol, role, detector, source, counts); its ``.npz`` carries a sha256 checksum of its arrays, and loading
verifies the checksum, the count and that sigma is a covariance.

Schema ``vgbench.stats/3`` files of FVD also keep ``features`` (float32 [n, D], one row per video, 2048 x 400 x 4 B =
3.3 MB for FVD16): the bootstrap interval and the N→∞ extrapolation (:mod:`vgbench.metrics.confidence`) resample
them. FID's fake statistics keep per-frame ``features`` and ``frame_videos`` (each row's video) only when made with
``keep_features`` (FID's bootstrap: 32,768 x 2048 x 4 B = 268 MB for fid_video, so not by default). Files of schema
/2 and /1, and other FID statistics, have none and load as before (``features`` None).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import VgbenchError
from ..protocols import Protocol, ProtocolError
from ..provenance import CHECKSUMMED_STATS_SCHEMA, LEGACY_STATS_SCHEMA, STATS_SCHEMA
from ..utils import atomic_write

__all__ = ["FeatureStats", "FeatureError", "VideoStats", "load_stats", "stats_checksum", "PSD_TOLERANCE"]


class FeatureError(VgbenchError, ValueError):
    """Features are malformed (wrong shape, NaN or inf)."""


class FeatureStats:
    def __init__(self, dim: int):
        self.dim = dim
        self.n = 0
        self.sum = np.zeros(dim, np.float64)
        self.xtx = np.zeros((dim, dim), np.float64)

    def append(self, feats: np.ndarray, where: str = "features") -> None:
        x = np.asarray(feats)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise FeatureError(f"{where}: expected features shaped [N, {self.dim}], got {x.shape}")
        if not np.all(np.isfinite(x)):
            bad = np.unique(np.nonzero(~np.isfinite(x))[0])
            raise FeatureError(f"{where}: NaN or inf in features of rows {bad[:10].tolist()}")
        x = x.astype(np.float64)
        self.n += x.shape[0]
        self.sum += x.sum(axis=0)
        self.xtx += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        mu = self.mean
        return self.xtx / self.n - np.outer(mu, mu)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0:
            raise FeatureError("no features were accumulated")
        return self.mean, self.cov


@dataclasses.dataclass
class VideoStats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    manifest: dict
    ids: list[str] = dataclasses.field(default_factory=list)
    offsets: list[int] = dataclasses.field(default_factory=list)
    features: np.ndarray | None = None  # float32 [n, D], one row per video (FVD) or per frame (FID), or None
    frame_videos: np.ndarray | None = None  # per-frame features (FID): the index into ``ids`` of each row's video

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz: mu, sigma, n, ids, offsets, manifest, the per-video ``features`` when kept, and a
        sha256 ``checksum`` of all of them) and a readable ``path.json`` manifest."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        manifest = json.dumps(self.manifest, sort_keys=True)
        arrays = {"mu": np.asarray(self.mu, np.float64), "sigma": np.asarray(self.sigma, np.float64),
                  "n": np.int64(self.n), "ids": np.asarray(self.ids, dtype=str),
                  "offsets": np.asarray(self.offsets, np.int64), "manifest": np.asarray(manifest)}
        if self.features is not None:
            arrays["features"] = np.asarray(self.features, np.float32)
        if self.frame_videos is not None:
            arrays["frame_videos"] = np.asarray(self.frame_videos, np.int64)
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
        if schema not in (STATS_SCHEMA, CHECKSUMMED_STATS_SCHEMA, LEGACY_STATS_SCHEMA):
            raise ProtocolError(f"{path}: not a vgbench statistics file (schema {schema!r})")
        if "checksum" in arrays:
            if str(arrays["checksum"]) != stats_checksum({k: v for k, v in arrays.items() if k != "checksum"}):
                raise ProtocolError(f"{path}: checksum mismatch: the statistics were changed or damaged after they "
                                    f"were written; recompute them (delete the file)")
        elif schema != LEGACY_STATS_SCHEMA:
            raise ProtocolError(f"{path}: the checksum is missing: the file was damaged or edited; recompute it")
        else:
            warnings.warn(f"{path}: statistics written by vgbench 0.1 carry no checksum; they were checked for "
                          f"consistency only. Recompute them to get a verifiable file.", UserWarning, stacklevel=3)
        st = cls(arrays["mu"], arrays["sigma"], int(arrays["n"]), manifest,
                 [str(s) for s in arrays.get("ids", [])], arrays["offsets"].tolist() if "offsets" in arrays else [],
                 arrays.get("features"), arrays.get("frame_videos"))
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
        if self.features is not None or self.frame_videos is not None:
            self._validate_features(where)
        scale = float(np.abs(sigma).max()) if sigma.size else 0.0
        if float(np.abs(sigma - sigma.T).max(initial=0.0)) > 1e-9 * max(scale, 1e-300):
            raise ProtocolError(f"{where}: sigma is not symmetric, so it is not a covariance matrix")
        lowest = float(np.linalg.eigvalsh(sigma)[0]) if sigma.size else 0.0
        if lowest < -PSD_TOLERANCE * max(scale, 1e-300) * mu.size:
            raise ProtocolError(f"{where}: sigma is not positive semi-definite (smallest eigenvalue {lowest:.4g}), so "
                                f"it is not a covariance matrix; the Fréchet distance would be meaningless")

    def digest(self) -> str:
        """sha256 of mu, sigma and n alone: the same for the same statistics however and whenever they were saved
        (result entries record it, ``vgbench compare`` checks it)."""
        return stats_checksum({"mu": np.asarray(self.mu, np.float64), "sigma": np.asarray(self.sigma, np.float64),
                               "n": np.int64(self.n)})

    def _validate_features(self, where: str) -> None:
        """Kept features must be the rows mu was made from (their mean, to float32 rounding); per-frame features
        name a video of ``ids`` for each row, with every frame of a video together."""
        if self.frame_videos is not None:
            v = np.asarray(self.frame_videos)
            if self.features is None or v.shape != (self.n,) or (self.n and (v.min() < 0 or v.max() >= len(self.ids)
                                                                               or np.any(np.diff(v) < 0))):
                raise ProtocolError(f"{where}: the video index of the per-frame features does not fit the "
                                    f"{self.n} frames of {len(self.ids)} videos (or the features are missing)")
        x = np.asarray(self.features)
        if x.shape != (self.n, np.asarray(self.mu).size):
            raise ProtocolError(f"{where}: features {x.shape} do not fit n = {self.n} and mu {np.shape(self.mu)}")
        if not np.isfinite(x).all():
            raise ProtocolError(f"{where}: NaN or inf in the kept features")
        mean = x.astype(np.float64).mean(axis=0)
        scale = max(float(np.abs(x).max(initial=0.0)), 1e-30)
        if float(np.abs(mean - self.mu).max(initial=0.0)) > 1e-5 * scale:
            raise ProtocolError(f"{where}: the per-video features are not the ones mu was computed from")

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
