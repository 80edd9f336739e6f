"""Safe loading of generator checkpoints: official StyleGAN2-ADA-style network pickles and vgbench's own format.

Official StyleGAN-V / MoStGAN-V / DIGAN / MotionStyleGAN snapshots are pickles whose network classes are
"persistent": each one is stored as a call ``<module>._reconstruct_persistent_obj(meta)`` where ``meta`` carries the
*source code* of the defining module, which the official loader executes. vgbench never does. The restricted
unpickler below resolves only

* the persistence reconstructor of the official code bases, by its exact module path
  (:data:`PERSISTENCE_MODULES`: ``src.torch_utils.persistence`` in StyleGAN-V and MoStGAN-V,
  ``torch_utils.persistence`` in StyleGAN2-ADA, DIGAN and the StyleGAN3 repository that MotionStyleGAN forks),
  replaced by a function that returns the ``meta`` record as a :class:`PersistentObject` (source kept as text,
  never executed);
* PyTorch's tensor and storage rebuild functions. Tensors become :class:`StoredTensor` records that are decoded
  only when read (``torch.load(weights_only=True, map_location='cpu')`` of the storage bytes): the optimiser
  state (``G_opt``, ``D_opt``) and preview grids (``vis``) of a snapshot, which a GPU training run leaves on CUDA
  and evaluation never reads, are never materialised, and what is read lands on the CPU whatever device it was
  saved from;
* plain containers and numpy arrays;
* a fixed list of data-only classes that snapshots contain (OmegaConf configs, ``EasyDict``, the Adam
  optimisers, torch.nn containers, torch.distributions objects, classes of the training code pickled by
  reference), each replaced by an inert :class:`InertObject` that records its state and runs no code of theirs.

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError` naming it.
:func:`network_record` picks a network out of the result (a :class:`CheckpointError` naming whatever else stands in
its place), :func:`module_state_dict` and :func:`plain` turn it into ``{key: tensor}`` and plain dicts.

vgbench's own format is a directory or ``.vgb`` zip of ``config.json`` (model name and constructor kwargs) plus
``weights.pt`` loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import collections
import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import VgbenchError
from ..safe_pickle import NUMPY_ARRAYS, UnsafePickleError
from ..utils import atomic_write, sha256_file

__all__ = ["PersistentObject", "InertObject", "StoredTensor", "PERSISTENCE_MODULES", "load_network_pickle",
           "network_record", "describe", "module_state_dict", "plain", "save_native",
           "load_native", "CheckpointError", "checkpoint_error", "check_state_dict", "load_strict", "load_state_file",
           "torch_load_safe", "load_float_npy", "find_parts", "PartsCheckpoint", "combined_sha256",
           "checkpoint_sha256", "inert_class", "TORCH_SAFE_GLOBALS"]


class CheckpointError(VgbenchError, ValueError):
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


def inert_class(path: str) -> type:
    """The one inert stand-in class for the global ``path`` ("module.Name"): unpickling makes data-only instances
    of it and never imports the module (restricted unpicklers share it: checkpoints here, PoseC3D's .pth files)."""
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


class _StorageBytes:
    """One storage as torch pickles it (the bytes of a legacy ``torch.save`` of the storage, which name the device
    it was saved from); decoded onto the CPU on first use, and only then."""

    __slots__ = ("data", "where", "_storage")

    def __init__(self, data: bytes, where: str):
        self.data, self.where, self._storage = data, where, None

    def storage(self):
        if self._storage is None:
            if not isinstance(self.data, (bytes, bytearray)):
                raise CheckpointError(f"{self.where}: a tensor storage record holds {type(self.data).__name__}, "
                                      f"not bytes")
            try:
                st = torch.load(io.BytesIO(self.data), map_location="cpu", weights_only=True)
            except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
                raise CheckpointError(f"{self.where}: a tensor storage does not decode: {weights_only_reason(e)}") \
                    from e
            if not isinstance(st, (torch.UntypedStorage, torch.TypedStorage)):
                raise CheckpointError(f"{self.where}: a tensor storage record decodes to {type(st).__name__}")
            self._storage = st
        return self._storage


class StoredTensor:
    """A tensor of a network pickle, rebuilt on the CPU only when :meth:`load` is called (the storage is shared by
    every view of it, as in the file)."""

    __slots__ = ("rebuild", "args", "where", "parameter")

    def __init__(self, rebuild, args: tuple, where: str, parameter: bool = False):
        self.rebuild, self.args, self.where, self.parameter = rebuild, args, where, parameter

    def load(self) -> torch.Tensor:
        storage = self.args[0]
        if not isinstance(storage, _StorageBytes):
            raise CheckpointError(f"{self.where}: a tensor record has no storage ({type(storage).__name__})")
        try:
            t = self.rebuild(storage.storage(), *self.args[1:])
        except (TypeError, ValueError, RuntimeError, IndexError) as e:
            raise CheckpointError(f"{self.where}: a tensor record does not rebuild: {e}") from e
        return t.detach()

    def __repr__(self):
        return f"<StoredTensor size={tuple(self.args[2]) if len(self.args) > 2 else '?'}>"


def _lazy_tensor_functions(where: str) -> dict:
    """The torch rebuild functions a network pickle may call, as constructors of lazy records."""

    def tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
        return StoredTensor(torch._utils._rebuild_tensor_v2, (storage, offset, size, stride, False,
                                                               collections.OrderedDict()), where)

    def tensor(storage, offset, size, stride):
        return StoredTensor(torch._utils._rebuild_tensor, (storage, offset, size, stride), where)

    def parameter(data, requires_grad=False, backward_hooks=None, state=None):
        if not isinstance(data, StoredTensor):
            raise CheckpointError(f"{where}: a parameter record holds {type(data).__name__}, not a tensor")
        return StoredTensor(data.rebuild, data.args, where, parameter=True)

    return {
        ("torch._utils", "_rebuild_tensor_v2"): tensor_v2,
        ("torch._utils", "_rebuild_tensor"): tensor,
        ("torch._utils", "_rebuild_parameter"): parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): parameter,
        ("torch.storage", "_load_from_bytes"): lambda b: _StorageBytes(b, where),
    }


#: globals a restricted unpickler of torch files may return: containers, numbers, dtypes, numpy arrays
TORCH_SAFE_GLOBALS = {
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
    TORCH_SAFE_GLOBALS[("torch", _dt)] = getattr(torch, _dt)

# Data-only classes found in StyleGAN2-ADA-family snapshots, by module prefix (replaced by inert stand-ins).
_INERT_PREFIXES = (
    "omegaconf.", "dnnlib.", "src.dnnlib.", "training.", "src.training.", "torch_utils.", "src.torch_utils.",
    "torch.nn.modules.", "torch.optim.", "metrics.", "src.metrics.",
    "torch.distributions.",  # DIGAN's generator holds torch.distributions.Beta objects (training-time sampling)
)
_INERT_EXACT = {("typing", "Any"), ("enum", "Enum"), ("pathlib", "PosixPath")}


# The modules whose ``_reconstruct_persistent_obj`` the official code bases pickle (exact paths, nothing else).
PERSISTENCE_MODULES = ("src.torch_utils.persistence", "torch_utils.persistence")


class _NetworkUnpickler(pickle.Unpickler):
    def __init__(self, f, where: str):
        super().__init__(f)
        self.where = where
        self.tensors = _lazy_tensor_functions(where)

    def find_class(self, module: str, name: str):
        if name == "_reconstruct_persistent_obj" and module in PERSISTENCE_MODULES:
            return PersistentObject
        if (module, name) in self.tensors:
            return self.tensors[(module, name)]
        if (module, name) in TORCH_SAFE_GLOBALS:
            return TORCH_SAFE_GLOBALS[(module, name)]
        if (module, name) in _INERT_EXACT or module.startswith(_INERT_PREFIXES) or module in ("omegaconf",):
            if name.startswith("_") and not name.startswith("__") and module.startswith("torch"):
                raise self._refuse(module, name)
            if name == "_reconstruct_persistent_obj":
                raise self._refuse(module, name, f"a persistence reconstructor outside the official module paths "
                                                 f"{list(PERSISTENCE_MODULES)}")
            return inert_class(f"{module}.{name}")
        raise self._refuse(module, name)

    def _refuse(self, module, name, why: str = ""):
        return UnsafePickleError(
            f"{self.where}: refusing to load global '{module}.{name}'{f' ({why})' if why else ''}: a network pickle "
            f"may only contain tensors, plain data and the known persistence records; this one asks to import or call "
            f"other code, so it was not loaded.")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.where}: persistent ids are not allowed in network pickles (got {pid!r})")


def load_network_pickle(path: str | Path) -> dict:
    """Unpickle an official network snapshot safely. Returns its top-level dict (``G_ema`` etc. as
    :class:`PersistentObject`)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = _NetworkUnpickler(f, str(path)).load()
    except (UnsafePickleError, CheckpointError):
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable network pickle: {e}") from e
    if isinstance(data, PersistentObject):  # a bare pickled module
        data = {"G_ema": data}
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks, got {type(data).__name__}")
    return data


def describe(obj) -> str:
    """What a pickled object is, for error messages: ``persistent record 'Generator'``, ``instance of
    'training.networks.run'``, or the Python type."""
    if isinstance(obj, PersistentObject):
        return f"a persistent record of class '{obj.class_name}'"
    if isinstance(obj, InertObject):
        return f"an instance of '{obj._path}'"
    return f"a {type(obj).__name__}"


def network_record(snap: dict, key: str, where, class_names=("Generator",)) -> "PersistentObject":
    """The network ``snap[key]`` (e.g. ``'G_ema'``) as a :class:`PersistentObject` whose class is one of
    ``class_names``; a :class:`CheckpointError` naming the file and whatever stands there instead."""
    if key not in snap:
        raise CheckpointError(f"{where}: the pickle has no '{key}' network (keys: {sorted(map(str, snap))})")
    g = snap[key]
    if not isinstance(g, PersistentObject):
        raise CheckpointError(f"{where}: '{key}' is {describe(g)}, not a persistent network record (an official "
                              f"snapshot stores its networks through {' or '.join(PERSISTENCE_MODULES)})")
    if class_names and g.class_name not in class_names:
        raise CheckpointError(f"{where}: '{key}' is {describe(g)}; expected {' or '.join(map(repr, class_names))}")
    return g


def _module_dict(obj, name: str) -> dict:
    """The ``__dict__`` of a pickled ``torch.nn.Module``: a persistent record, or a module class pickled by reference
    (``torch.nn.Sequential``, MoStGAN-V's ``training.layers.Conv1d``) whose state has the module layout."""
    st = obj.state if isinstance(obj, (PersistentObject, InertObject)) else None
    if isinstance(st, dict) and isinstance(st.get("_parameters", {}), dict) and isinstance(st.get("_modules", {}),
                                                                                          dict):
        if isinstance(obj, PersistentObject) or {"_parameters", "_buffers", "_modules"} <= set(st):
            return st
    raise CheckpointError(f"module '{name or '<root>'}' is {describe(obj)}, not a network module record")


def _tensor(v, key: str):
    if isinstance(v, StoredTensor):
        return v.load()
    if isinstance(v, torch.Tensor):
        return v.detach()
    raise CheckpointError(f"'{key}' is {describe(v)}, not a tensor")


def module_state_dict(obj, prefix: str = "", where: str = "") -> dict[str, torch.Tensor]:
    """Flatten a pickled module tree into a state dict (parameters and persistent buffers), like
    ``nn.Module.state_dict()``; tensors are decoded onto the CPU here. Errors name ``where`` (the file)."""
    try:
        d = _module_dict(obj, prefix.rstrip("."))
        out: dict[str, torch.Tensor] = {}
        skip = set(d.get("_non_persistent_buffers_set", ()) or ())
        for name, p in (d.get("_parameters") or {}).items():
            if p is not None:
                out[prefix + name] = _tensor(p, prefix + name)
        for name, b in (d.get("_buffers") or {}).items():
            if b is not None and name not in skip:
                out[prefix + name] = _tensor(b, prefix + name)
        for name, m in (d.get("_modules") or {}).items():
            if m is not None:
                out.update(module_state_dict(m, f"{prefix}{name}.", where))
        return out
    except CheckpointError as e:
        if prefix or not where or str(e).startswith(str(where)):
            raise
        raise CheckpointError(f"{where}: {e}") from e


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


def is_native(path: str | Path) -> bool:
    """A vgbench checkpoint (a ``.vgb`` zip or a folder holding ``config.json`` + ``weights.pt``, e.g. a ``vgbench
    train`` snapshot), rather than an authors' file (a pickle, or a ``torch.save`` zip)."""
    path = Path(path)
    if path.is_dir():
        return (path / "config.json").is_file()
    try:
        with zipfile.ZipFile(path) as z:
            return "config.json" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


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
    except (KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError, pickle.UnpicklingError, RuntimeError,
            EOFError) as e:
        raise CheckpointError(f"{path}: not a vgbench checkpoint (config.json + weights.pt): "
                              f"{weights_only_reason(e)}") from e
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


_ADVICE = re.compile(r"weights_only|safe_globals|allowlist|trust|can still be loaded|Re-running|documentation of "
                     r"torch\.load|\bdo it only\b|PyTorch 2\.6", re.IGNORECASE)


def weights_only_reason(e: BaseException) -> str:
    """What a ``torch.load(weights_only=True)`` error says was refused or broken, without torch's advice on how to
    load the file anyway (retrying with ``weights_only=False`` or allow-listing the global would run code named by
    an untrusted file)."""
    text = str(e)
    if isinstance(e, KeyError):
        text = f"missing {text}"
    sentences = [x.strip() for x in re.split(r"(?<=[.!?])\s+|\n+", text) if x.strip()]
    facts = [x for x in sentences if not _ADVICE.search(x)]
    for x in facts:
        if "GLOBAL" in x:
            return x + " -- refused: loading it would import or run code named by the file"
    for x in facts:
        if "nsupported" in x:
            return x + " (not a torch.save file, or a corrupt one)"
    return facts[0] if facts else type(e).__name__


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
