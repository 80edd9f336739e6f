"""Safe loading of generator checkpoints: official StyleGAN2-ADA-style network pickles and vgbench's own format.

Official StyleGAN-V / MoStGAN-V / DIGAN snapshots are pickles whose network classes are "persistent": each one is
stored as a call ``<...>torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` carries the
*source code* of the defining module, which the official loader executes. vgbench never does. The restricted
unpickler below resolves only

* the persistence reconstructor, replaced by a function that returns the ``meta`` record as a
  :class:`PersistentObject` (source kept as text, never executed);
* PyTorch's tensor and storage rebuild functions (storages are decoded with ``torch.load(weights_only=True)``);
* plain containers and numpy arrays;
* a fixed list of data-only classes that snapshots contain (OmegaConf configs, ``EasyDict``, the Adam
  optimisers, torch.nn containers, torch.distributions objects, classes of the training code pickled by
  reference), each replaced by an inert :class:`InertObject` that records its state and runs no code of theirs.

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError` naming it.
:func:`module_state_dict` and :func:`plain` then turn the result into ``{key: tensor}`` and plain dicts.

vgbench's own format is a directory or ``.vgb`` zip of ``config.json`` (model name and constructor kwargs) plus
``weights.pt`` loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import collections
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..safe_pickle import NUMPY_ARRAYS, UnsafePickleError
from ..utils import atomic_write, sha256_file

__all__ = ["PersistentObject", "InertObject", "load_network_pickle", "module_state_dict", "plain", "save_native",
           "load_native", "CheckpointError", "checkpoint_error", "check_state_dict", "load_strict", "load_state_file",
           "torch_load_safe", "load_float_npy", "find_parts", "PartsCheckpoint", "combined_sha256",
           "checkpoint_sha256"]


class CheckpointError(ValueError):
    """A checkpoint is malformed or does not fit the model it is loaded into."""


class PersistentObject:
    """What a persistent class instance was pickled as: its class name, defining module and ``__dict__``."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise CheckpointError(f"unexpected persistence record: {type(meta).__name__}")
        self.class_name: str = meta.get("class_name", "?")
        self.version = meta.get("version")
        self.module_src: str = meta.get("module_src", "")  # kept as text; never executed
        self.state: dict = meta.get("state") or {}

    @property
    def init_kwargs(self) -> dict:
        return plain(self.state.get("_init_kwargs", {}))

    @property
    def init_args(self) -> tuple:
        return tuple(plain(self.state.get("_init_args", ())))

    def __repr__(self):
        return f"<PersistentObject {self.class_name}>"


class InertObject:
    """Stand-in for an allowed data-only class: records constructor args, items and state; runs nothing."""

    _path = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.items, obj.list, obj.state = args, kwargs, {}, [], None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.list.append(value)

    def extend(self, values):
        self.list.extend(values)

    def __repr__(self):
        return f"<InertObject {self._path}>"


_INERT_CLASSES: dict[str, type] = {}


def _inert(path: str) -> type:
    if path not in _INERT_CLASSES:
        _INERT_CLASSES[path] = type(path.rsplit(".", 1)[-1], (InertObject,), {"_path": path})
    return _INERT_CLASSES[path]


def _reconstructor(cls, base, state):
    """copyreg._reconstructor(cls, base, state) for allowed classes: make an inert instance of ``cls``."""
    if not (isinstance(cls, type) and issubclass(cls, InertObject)):
        raise UnsafePickleError(f"copyreg._reconstructor for a non-allowed class {cls!r}")
    return cls.__new__(cls)


def _newobj(cls, *args):
    if not (isinstance(cls, type) and issubclass(cls, InertObject)):
        raise UnsafePickleError(f"copyreg.__newobj__ for a non-allowed class {cls!r}")
    return cls.__new__(cls, *args)


def _storage_from_bytes(b: bytes):
    return torch.load(io.BytesIO(b), weights_only=True)


_TORCH_SAFE = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,  # its factory must itself be an allowed global
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "int"): int,
    ("builtins", "float"): float,
    ("builtins", "str"): str,
    ("builtins", "bool"): bool,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copyreg", "__newobj__"): _newobj,
    ("torch", "Size"): torch.Size,
    **NUMPY_ARRAYS,
}
for _dt in ("float32", "float16", "float64", "bfloat16", "int64", "int32", "uint8", "bool"):
    _TORCH_SAFE[("torch", _dt)] = getattr(torch, _dt)

# Data-only classes found in StyleGAN2-ADA-family snapshots, by module prefix (replaced by inert stand-ins).
_INERT_PREFIXES = (
    "omegaconf.", "dnnlib.", "src.dnnlib.", "training.", "src.training.", "torch_utils.", "src.torch_utils.",
    "torch.nn.modules.", "torch.optim.", "metrics.", "src.metrics.",
    "torch.distributions.",  # DIGAN's generator holds torch.distributions.Beta objects (training-time sampling)
)
_INERT_EXACT = {("typing", "Any"), ("enum", "Enum"), ("pathlib", "PosixPath")}


class _NetworkUnpickler(pickle.Unpickler):
    def __init__(self, f, where: str):
        super().__init__(f)
        self.where = where

    def find_class(self, module: str, name: str):
        if name == "_reconstruct_persistent_obj" and module.endswith("torch_utils.persistence"):
            return PersistentObject
        if (module, name) in _TORCH_SAFE:
            return _TORCH_SAFE[(module, name)]
        if (module, name) in _INERT_EXACT or module.startswith(_INERT_PREFIXES) or module in ("omegaconf",):
            if name.startswith("_") and not name.startswith("__") and module.startswith("torch"):
                raise self._refuse(module, name)
            return _inert(f"{module}.{name}")
        raise self._refuse(module, name)

    def _refuse(self, module, name):
        return UnsafePickleError(
            f"{self.where}: refusing to load global '{module}.{name}': a network pickle may only contain "
            f"tensors, plain data and the known persistence records; this one asks to import or call other code, "
            f"so it was not loaded.")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.where}: persistent ids are not allowed in network pickles (got {pid!r})")


def load_network_pickle(path: str | Path) -> dict:
    """Unpickle an official network snapshot safely. Returns its top-level dict (``G_ema`` etc. as
    :class:`PersistentObject`)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = _NetworkUnpickler(f, str(path)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable network pickle: {e}") from e
    if isinstance(data, PersistentObject):  # a bare pickled module
        data = {"G_ema": data}
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks, got {type(data).__name__}")
    return data


def _module_dict(obj) -> dict:
    if isinstance(obj, PersistentObject):
        return obj.state
    if isinstance(obj, InertObject):
        return obj.state if isinstance(obj.state, dict) else {}
    raise CheckpointError(f"not a module record: {obj!r}")


def module_state_dict(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a pickled module tree into a state dict (parameters and persistent buffers), like
    ``nn.Module.state_dict()``."""
    d = _module_dict(obj)
    out: dict[str, torch.Tensor] = {}
    skip = set(d.get("_non_persistent_buffers_set", ()) or ())
    for name, p in (d.get("_parameters") or {}).items():
        if p is not None:
            out[prefix + name] = p.detach() if isinstance(p, torch.Tensor) else p
    for name, b in (d.get("_buffers") or {}).items():
        if b is not None and name not in skip:
            out[prefix + name] = b
    for name, m in (d.get("_modules") or {}).items():
        if m is not None:
            out.update(module_state_dict(m, f"{prefix}{name}."))
    return out


def plain(obj: Any) -> Any:
    """Convert pickled config objects (OmegaConf DictConfig/ListConfig and their nodes, EasyDict) to plain
    dicts, lists and values."""
    if isinstance(obj, InertObject):
        st = obj.state if isinstance(obj.state, dict) else {}
        if "_content" in st:  # OmegaConf container
            content = st["_content"]
            if isinstance(content, dict):
                return {k: plain(v) for k, v in content.items()}
            if isinstance(content, (list, tuple)):
                return [plain(v) for v in content]
            return plain(content)
        if "_val" in st:  # OmegaConf value node
            return plain(st["_val"])
        if obj.items:  # dict subclass (EasyDict)
            return {k: plain(v) for k, v in obj.items.items()}
        if obj.list:
            return [plain(v) for v in obj.list]
        return {k: plain(v) for k, v in st.items()} if st else None
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return obj


# --------------------------------------------------------------------------- vgbench's own format


def save_native(path: str | Path, model_name: str, init_kwargs: dict, state_dict: dict, extra: dict | None = None):
    """Write ``path`` (a ``.vgb`` zip) with ``config.json`` and ``weights.pt`` (tensors only)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, buf)
    config = {"format": "vgbench.checkpoint/1", "model": model_name, "init_kwargs": init_kwargs, **(extra or {})}
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("config.json", json.dumps(config, indent=2, sort_keys=True))
        z.writestr("weights.pt", buf.getvalue())
    return path


def load_native(path: str | Path) -> tuple[dict, dict]:
    """Read a ``.vgb`` file or a folder holding ``config.json`` + ``weights.pt``: (config, state_dict)."""
    path = Path(path)
    try:
        if path.is_dir():
            config = json.loads((path / "config.json").read_text())
            state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        else:
            with zipfile.ZipFile(path) as z:
                config = json.loads(z.read("config.json"))
                state = torch.load(io.BytesIO(z.read("weights.pt")), map_location="cpu", weights_only=True)
    except (KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError, pickle.UnpicklingError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a vgbench checkpoint (config.json + weights.pt): {e}") from e
    if config.get("format") != "vgbench.checkpoint/1":
        raise CheckpointError(f"{path}: unknown checkpoint format {config.get('format')!r}")
    return config, state


def checkpoint_sha256(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        import hashlib

        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(path).as_posix().encode())
                h.update(bytes.fromhex(sha256_file(p)))
        return h.hexdigest()
    return sha256_file(path)


# ------------------------------------------------------------------------------------ shared checks for every model


def checkpoint_error(where, msg: str) -> CheckpointError:
    """``CheckpointError("<file>: <problem>")``: every loading error starts with the file it is about."""
    return CheckpointError(f"{where}: {msg}")


def check_state_dict(model: torch.nn.Module, state: dict, where: str, ignore=(), what: str = "the network") -> None:
    """Raise :class:`CheckpointError` naming missing / unexpected keys and shape mismatches between ``state`` and
    ``model.state_dict()`` (keys starting with a prefix in ``ignore`` are not compared)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items() if not any(k.startswith(p) for p in ignore)}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    bad = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or unexpected or bad:
        raise CheckpointError(
            f"{where}: weights do not match {what}: {len(missing)} missing {missing[:6]}, "
            f"{len(unexpected)} unexpected {unexpected[:6]}, {len(bad)} with other shapes "
            + str([f"{k}: {got[k]} vs {expected[k]}" for k in bad[:4]]))


def load_strict(model: torch.nn.Module, state: dict, where: str, what: str = "the network"):
    """Check ``state`` against ``model`` (keys, shapes, finite values), load it as float32 and return the model in
    inference mode. Every generator's weights go through here."""
    check_state_dict(model, state, where, what=what)
    nonfinite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise CheckpointError(f"{where}: non-finite values (NaN or inf) in {len(nonfinite)} tensors, "
                              f"e.g. {nonfinite[:4]}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return model.eval().requires_grad_(False)


def torch_load_safe(path: str | Path, what: str, allowed=()):
    """``torch.load(path, weights_only=True)`` (plus the classes in ``allowed``, e.g. ``argparse.Namespace``), with
    a :class:`CheckpointError` naming the file and the refused global or the damage instead of torch's long text."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    import pickle as _pickle

    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (_pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({what}; torch.load weights_only=True): "
                              f"{weights_only_reason(e)}") from e


def load_state_file(path: str | Path, what: str) -> dict:
    """A plain ``{name: tensor}`` state dict saved with ``torch.save`` (e.g. ``modelR_epoch_N.pth``)."""
    state = torch_load_safe(path, f"{what} state dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a plain state dict of tensors ({what})")
    return state


def weights_only_reason(e: BaseException) -> str:
    """The line of a ``torch.load(weights_only=True)`` error that says what was refused (torch's message is long)."""
    text = str(e)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line:
            return line + " -- refused: loading it would import or run code named by the file"
    for line in lines:
        if "nsupported" in line:
            return line + " (not a torch.save file, or a corrupt one)"
    return lines[0] if lines else type(e).__name__


def load_float_npy(path: str | Path):
    """A plain float ``.npy`` array (``allow_pickle=False``) with finite values."""
    import numpy as np

    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: not a plain .npy array: {e}") from e
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        raise CheckpointError(f"{path}: expected a float array, got {getattr(a, 'dtype', type(a))} "
                              f"{getattr(a, 'shape', '')}")
    if not np.isfinite(a).all():
        raise CheckpointError(f"{path}: contains NaN or inf")
    return a


def find_parts(ckpt: str | Path, patterns: dict[str, str], optional: dict, model: str) -> tuple[dict[str, Path], dict]:
    """Locate a multi-file checkpoint's parts: ``ckpt`` is a directory searched recursively for exactly one file per
    glob in ``patterns`` (role -> glob), or a JSON manifest ``{role: path, ...}`` (paths relative to it) that may also
    set the keys of ``optional``. Returns ``({role: path}, {optional key: value})``."""
    path = Path(ckpt)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        parts, problems = {}, []
        for role, pattern in patterns.items():
            found = sorted(p for p in path.rglob(pattern) if p.is_file())
            if len(found) == 1:
                parts[role] = found[0]
            else:
                problems.append(f"{role} ({pattern}): " + (
                    "not found" if not found else
                    f"{len(found)} candidates {[str(p.relative_to(path)) for p in found]}"))
        if problems:
            files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
            raise CheckpointError(
                f"{path}: a {model} checkpoint directory needs exactly one file of each part; " + "; ".join(problems)
                + f". Files found: {files[:20]}" + (" ..." if len(files) > 20 else "")
                + ". Name the parts in a JSON manifest to choose among several.")
        return parts, dict(optional)
    if path.suffix.lower() != ".json":
        raise CheckpointError(f"{path}: {model} needs {len(patterns)} artefacts ({', '.join(patterns.values())}); "
                              f"give --ckpt as their directory or a JSON manifest")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not a readable JSON manifest: {e}") from e
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path}: the manifest must be a JSON object")
    missing = [k for k in patterns if k not in manifest]
    unknown = sorted(set(manifest) - set(patterns) - set(optional))
    if missing or unknown:
        raise CheckpointError(f"{path}: manifest keys: missing {missing}, unknown {unknown}; expected "
                              f"{list(patterns)} and optionally {list(optional)}")
    parts = {}
    for role in patterns:
        p = Path(manifest[role])
        p = p if p.is_absolute() else path.parent / p
        if not p.is_file():
            raise CheckpointError(f"{path}: {role} file {p} does not exist")
        parts[role] = p
    return parts, {k: manifest.get(k, v) for k, v in optional.items()}


class PartsCheckpoint:
    """A checkpoint made of several files (a directory or a JSON manifest, see :func:`find_parts`): the parts, the
    manifest's optional settings, and one identity for results (:func:`combined_sha256` of the parts' sha256)."""

    RULE = "sha256 over sorted 'role<TAB>sha256<LF>' lines of the parts"

    def __init__(self, ckpt: str | Path, patterns: dict[str, str], optional: dict, model: str):
        self.path = Path(ckpt)
        self.parts, self.extras = find_parts(ckpt, patterns, optional, model)
        self.format = "directory" if self.path.is_dir() else "manifest"
        self.part_sha256 = {role: sha256_file(p) for role, p in self.parts.items()}
        self.sha256 = combined_sha256(self.part_sha256)

    def number(self, key: str) -> float:
        """A numeric manifest setting (e.g. ``w_residual``), or a :class:`CheckpointError` naming the manifest."""
        try:
            return float(self.extras[key])
        except (TypeError, ValueError) as e:
            raise checkpoint_error(self.path, f"{key} must be a number, got {self.extras[key]!r}") from e

    def provenance(self) -> dict:
        return {"format": self.format, "checkpoint_sha256": self.sha256, "checkpoint_sha256_rule": self.RULE,
                "parts": {role: {"path": str(p), "sha256": self.part_sha256[role]} for role, p in self.parts.items()}}


def combined_sha256(hashes: dict[str, str]) -> str:
    """One identity for a multi-file checkpoint: sha256 over the sorted ``"role<TAB>sha256"`` lines of its parts."""
    import hashlib

    h = hashlib.sha256()
    for role in sorted(hashes):
        h.update(f"{role}\t{hashes[role]}\n".encode())
    return h.hexdigest()
