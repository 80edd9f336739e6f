"""Small shared helpers: atomic file writes, hashing, natural sort order, the shipped data folders."""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

_UMASK = os.umask(0)  # read the process umask once (setting it back at once)
os.umask(_UMASK)

__all__ = ["atomic_write", "sha256_file", "sha256_json", "natural_key", "natural_sorted", "import_object",
           "bundled_dir", "deep_merge"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Write ``path`` via a temporary file in the same folder and ``os.replace`` it into place on success.

    A crash or interrupt leaves either the old file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the result ordinary permissions
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def exact_float32(device) -> Iterator[None]:
    """Full float32 convolutions and matrix products on CUDA while inside: TF32 off, restored on exit (no-op on
    other devices). The papers' numbers were made that way (StyleGAN2-ADA's training and metric scripts switch TF32
    off; V100s have none), and with PyTorch's default (TF32 convolutions on) a 256x256 StyleGAN-V frame on an H200
    differs from the CPU frame by up to 0.03 (4 grey levels; docs/testing.md "GPU checks")."""
    import torch

    if torch.device(device).type != "cuda":
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of the canonical JSON form (sorted keys, no spaces) of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2`` < ``frame10`` (case-insensitive text)."""
    parts = _DIGITS.split(name)  # text, digits, text, digits, ... (same kinds at the same positions)
    folded = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return folded, name  # exact name breaks ties (e.g. 'a01' vs 'a1', 'A' vs 'a')


def natural_sorted(names):
    return sorted(names, key=natural_key)


def import_object(path: str) -> Any:
    """The object named by ``"package.module:attribute"``, importing the module on the way (the lazy tables of
    built-in sources, detectors and weights use this, so that nothing is imported before it is needed)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def bundled_dir(name: str) -> Path:
    """A data folder shipped with vgbench (``protocols``, ``datasets``, ``reference_stats``): the repo's top-level
    folder in a checkout, ``vgbench/_bundled/<name>`` in a wheel install."""
    pkg = Path(__file__).resolve().parent
    repo = pkg.parent / name
    if repo.is_dir():
        return repo
    return pkg / "_bundled" / name


def deep_merge(base: dict, over: dict) -> dict:
    """A copy of ``base`` with ``over`` merged in: nested dicts merge key by key, anything else is replaced."""
    import copy

    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
