"""What every result records about where it came from, and the one result record every writer uses.

:func:`environment` says where a number was made (package versions, git commit, device, torch threads);
:class:`ResultRecord` is the record itself (schema ``vgbench.result/1``, documented as JSON Schema in
``docs/result-record.schema.json``) and :func:`make_record` builds one as the JSON-ready dict that ``--json`` prints
and ``--out`` appends.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import importlib.metadata
import math
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["environment", "git_commit", "utc_now", "RESULT_SCHEMA", "STATS_SCHEMA", "CHECKSUMMED_STATS_SCHEMA",
           "LEGACY_STATS_SCHEMA",
           "ResultRecord", "make_record"]

RESULT_SCHEMA = "vgbench.result/1"
STATS_SCHEMA = "vgbench.stats/3"  # /3: per-video features (FVD) kept beside mu and sigma, for the bootstrap
CHECKSUMMED_STATS_SCHEMA = "vgbench.stats/2"  # /2: the .npz carries a sha256 checksum of its arrays
LEGACY_STATS_SCHEMA = "vgbench.stats/1"
_PACKAGES = ("vgbench", "torch", "numpy", "scipy", "av", "pillow", "click")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=1)
def git_commit() -> dict:
    """Commit of the vgbench checkout this code runs from (``None`` for an install without git metadata)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _world_size() -> int:
    from .distributed import rank_world

    return rank_world()[1]


def environment(device: str | None = None) -> dict:
    import torch

    g = git_commit()
    env = {
        "vgbench": _version("vgbench"),
        "git_commit": g["commit"],
        "git_dirty": g["dirty"],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in _PACKAGES if p != "vgbench"},
        "torch_threads": torch.get_num_threads(),
        "world_size": _world_size(),
        "argv": sys.argv[:1] + [a for a in sys.argv[1:]],
    }
    if device is not None:
        env["device"] = str(device)
        if str(device).startswith("cuda") and torch.cuda.is_available():
            env["device_name"] = torch.cuda.get_device_name(torch.device(device))
            env["cuda"] = torch.version.cuda
    return env


@dataclasses.dataclass
class ResultRecord:
    """One result: the metric entries (by protocol name) and everything they were made from.

    ``headline`` holds the record's top-level shortcuts to its main numbers (``{"fvd": 47.4}`` for ``vgbench fvd``,
    ``{"is": m, "is_std": s}`` for ``vgbench is``); ``extra`` the sections that only some writers have
    (``sampling``, ``timing``, ``conditioning`` of ``vgbench eval``). ``model`` and ``dataset`` are None unless a
    generator and a dataset card were evaluated.
    """

    metrics: dict
    env: dict
    model: dict | None = None
    dataset: dict | None = None
    seeds: dict = dataclasses.field(default_factory=dict)
    headline: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)
    schema: str = RESULT_SCHEMA
    created: str = dataclasses.field(default_factory=utc_now)

    _RESERVED = ("schema", "created", "model", "dataset", "metrics", "seeds", "env")

    def to_dict(self) -> dict:
        """The JSON form. A value that is not a finite number (a metric with nothing to measure) becomes None and the
        entry says why in ``notes``: records never hold NaN."""
        clash = sorted((set(self.headline) | set(self.extra)) & set(self._RESERVED) | set(self.headline) & set(self.extra))
        if clash:
            raise ValueError(f"result record keys used twice: {clash}")
        for entry in self.metrics.values():
            v = entry.get("value")
            if isinstance(v, float) and not math.isfinite(v):
                entry["value"] = None
                entry.setdefault("notes", []).append(f"no value: the computation gave {v}")
        return {"schema": self.schema, "created": self.created, **self.headline, "model": self.model,
                "dataset": self.dataset, "metrics": self.metrics, "seeds": self.seeds, **self.extra, "env": self.env}


def make_record(metrics: dict, *, device: str | None = None, model: dict | None = None, dataset: dict | None = None,
                seeds: dict | None = None, headline: dict | None = None, **extra) -> dict:
    """A result record as a JSON-ready dict (see :class:`ResultRecord`), with the environment of ``device``."""
    return ResultRecord(metrics=metrics, env=environment(device), model=model, dataset=dataset, seeds=seeds or {},
                        headline=headline or {}, extra=extra).to_dict()
