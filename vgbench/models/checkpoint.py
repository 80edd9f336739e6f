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
  optimisers, torch.nn containers, classes of the training code pickled by reference), each replaced by an
  inert :class:`InertObject` that records its state and runs no code of theirs.

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

__all__ = ["PersistentObject", "InertObject", "load_network_pickle", "module_state_dict", "plain",
           "save_native", "load_native", "CheckpointError"]


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
