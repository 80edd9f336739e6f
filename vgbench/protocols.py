"""Versioned evaluation protocols, read from the TOML files in ``protocols/``.

A :class:`Protocol` is a name, a version and a nested dict of parameters. Its identity in results is
``name@version`` plus :attr:`Protocol.params_sha256`, the hash of every parameter (descriptive text excluded),
so two results are comparable exactly when their hashes agree.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from .errors import ProtocolError
from .utils import bundled_dir, sha256_json

__all__ = ["Protocol", "ProtocolError", "load_protocol", "list_protocols", "protocols_dir", "bundled_dir",
           "DETECTOR_RESIZES"]

_DESCRIPTIVE = {"name", "version", "description", "reference"}


def protocols_dir() -> Path:
    return bundled_dir("protocols")


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    version: str
    params: dict
    description: str = ""
    reference: str = ""
    path: str = ""

    @property
    def params_sha256(self) -> str:
        return sha256_json(self.params)

    @property
    def metric(self) -> str:
        return self.params.get("metric", "")

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def provenance(self) -> dict:
        return {"name": self.name, "version": self.version, "params_sha256": self.params_sha256,
                "params": self.params}


# The input resize each built-in detector implements, by [detector].resize_mode: the other [detector] keys that
# must be given with these values. A protocol asking a built-in detector for anything else is refused.
DETECTOR_RESIZES = {
    "i3d": {  # vgbench.detectors.i3d.I3DDetector.preprocess
        "bilinear": {"resize": [224, 224], "align_corners": False, "antialias": False, "scale": "x / 127.5 - 1"},
        "tf1_resize_bilinear": {"resize": [224, 224], "align_corners": False, "half_pixel_centers": False,
                                "antialias": False, "scale": "2 * x / 255 - 1 after the resize"},
    },
    "inception": {"tf1_legacy_bilinear": {"resize": [299, 299], "align_corners": False, "padding_mode": "border"}},
    "c3d": {"bilinear": {"resize": [112, 112], "align_corners": True}},
}


def _validate_resize(det: dict, where: str) -> None:
    modes = DETECTOR_RESIZES.get(det.get("name"))
    if modes is None or "resize_mode" not in det:
        return
    mode = det["resize_mode"]
    if mode not in modes:
        raise ProtocolError(f"{where}: [detector].resize_mode {mode!r} is not implemented by the {det['name']} "
                            f"detector; known: {', '.join(modes)}")
    for key, want in modes[mode].items():
        got = det.get(key)
        if type(got) is not type(want) or got != want:
            raise ProtocolError(f"{where}: [detector].{key} must be {want!r} with resize_mode {mode!r} (what the "
                                f"{det['name']} detector implements), got {got!r}")


def _validate(data: dict, where: str) -> None:
    """The keys every protocol needs, the sections and keys its metric reads (:class:`MetricSpec.required
    <vgbench.metrics.base.MetricSpec>`), the metric's own value checks, and the detector's resize settings."""
    for key in ("name", "version", "metric"):
        if key not in data:
            raise ProtocolError(f"{where}: missing top-level key '{key}'")
    from .metrics.base import METRIC_MODULES, metric_spec

    spec = metric_spec(data["metric"]) if data["metric"] in METRIC_MODULES else None  # other kinds: outside code
    for section, keys in (spec.required if spec else {}).items():
        if section not in data:
            raise ProtocolError(f"{where}: missing section [{section}]")
        for k in keys:
            if k not in data[section]:
                raise ProtocolError(f"{where}: missing [{section}].{k}")
    if isinstance(data.get("detector"), dict):
        _validate_resize(data["detector"], where)
    if spec is not None and spec.validate is not None:
        spec.validate(data, where)


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load a protocol by name (``fvd16``) from the bundled folder, or from a ``.toml`` path."""
    if isinstance(name_or_path, Protocol):
        return name_or_path
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = protocols_dir() / f"{name_or_path}.toml"
        if not p.is_file():
            raise ProtocolError(f"unknown protocol {name_or_path!r}; known: {', '.join(list_protocols())}")
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ProtocolError(f"{p}: cannot read protocol: {e}") from e
    _validate(data, str(p))
    params = {k: v for k, v in data.items() if k not in _DESCRIPTIVE}
    return Protocol(name=data["name"], version=str(data["version"]), params=params,
                    description=data.get("description", ""), reference=data.get("reference", ""), path=str(p))


def list_protocols() -> list[str]:
    return sorted(p.stem for p in protocols_dir().glob("*.toml"))
