"""What every result records about where it came from: versions, git commit, device, time."""
from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["environment", "git_commit", "utc_now", "RESULT_SCHEMA", "STATS_SCHEMA", "LEGACY_STATS_SCHEMA"]

RESULT_SCHEMA = "vgbench.result/1"
STATS_SCHEMA = "vgbench.stats/2"  # /2: the .npz carries a sha256 checksum of its arrays
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
        "argv": sys.argv[:1] + [a for a in sys.argv[1:]],
    }
    if device is not None:
        env["device"] = str(device)
        if str(device).startswith("cuda") and torch.cuda.is_available():
            env["device_name"] = torch.cuda.get_device_name(torch.device(device))
            env["cuda"] = torch.version.cuda
    return env
