"""Write network snapshots in the official StyleGAN2-ADA "persistence" pickle format, from vgbench's modules.

Used to make test fixtures and the tiny shipped checkpoints in exactly the shape the authors' training code writes:
a dict ``{G, D, G_ema, augment_pipe, training_set_kwargs, G_opt, ...}`` in which every network module is
pickled as ``<module_path>._reconstruct_persistent_obj(meta)`` with ``meta = {type: 'class', version,
module_src, class_name, state}``. ``module_src`` is a placeholder string written by us (never the authors'
code); ``state`` is the module's ``__dict__`` (parameters, buffers, submodules, ``_init_args``,
``_init_kwargs``), and configs are OmegaConf ``DictConfig`` objects as in the real snapshots (needs the
``omegaconf`` package, a test dependency only), optionally nodes of a whole experiment config pickled with their
parent chain, as ``src/train.py`` passes them. A snapshot can also carry the training state a GPU run leaves in it
(optimiser moments, preview grids) with storages recorded as saved from a CUDA device. Reading these files is
:mod:`vgbench.models.checkpoint`'s job.
"""
from __future__ import annotations

import contextlib
import copy
import io
import pickle
import sys
import types
from pathlib import Path
from typing import Callable

import torch
from torch import nn

__all__ = ["write_snapshot", "PLACEHOLDER_SOURCE"]

PLACEHOLDER_SOURCE = "# placeholder module source written by vgbench's fixture generator; not executable\n"
_PERSISTENCE_VERSION = 6
_KEEP = {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "training"}


@contextlib.contextmanager
def _fake_modules(persistence_module: str):
    """Temporarily provide the globals the official pickles reference, so pickle can name them."""
    made = []

    def ensure(name):
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            made.append(name)
        return sys.modules[name]

    parts = persistence_module.split(".")
    for i in range(1, len(parts) + 1):
        ensure(".".join(parts[:i]))
    pers = sys.modules[persistence_module]

    def _reconstruct_persistent_obj(meta):  # never called: only its name is pickled
        raise RuntimeError("placeholder")

    _reconstruct_persistent_obj.__module__ = persistence_module
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dn = ensure("dnnlib")
    dnu = ensure("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    dnu.EasyDict = EasyDict
    dn.util = dnu
    try:
        yield pers._reconstruct_persistent_obj, EasyDict
    finally:
        for name in reversed(made):
            sys.modules.pop(name, None)


def _plain_attr(v) -> bool:
    if isinstance(v, (int, float, str, bool, type(None))):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain_attr(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain_attr(x) for k, x in v.items())
    return False


class _SnapshotPickler(pickle.Pickler):
    def __init__(self, f, reconstruct, init_kwargs: dict, to_config, extra_state=None, module_cfg=None):
        super().__init__(f, protocol=4)
        self.reconstruct, self.init_kwargs, self.to_config = reconstruct, init_kwargs, to_config
        self.extra_state, self.module_cfg = extra_state, module_cfg

    def reducer_override(self, obj):
        if isinstance(obj, nn.Module) and not type(obj).__module__.startswith("torch."):
            state = {k: v for k, v in obj.__dict__.items() if k in _KEEP or (not k.startswith("_") and _plain_attr(v))}
            kwargs = self.init_kwargs.get(id(obj), {})
            state["_init_args"] = ()
            state["_init_kwargs"] = {k: (self.to_config(v) if k == "cfg" else v) for k, v in kwargs.items()}
            if self.module_cfg is not None and "cfg" in state:  # the official modules keep the node they were given
                state["cfg"] = self.module_cfg
            if self.extra_state is not None:
                state.update(self.extra_state(obj) or {})
            meta = {"type": "class", "version": _PERSISTENCE_VERSION, "module_src": PLACEHOLDER_SOURCE,
                    "class_name": type(obj).__name__, "state": state}
            return self.reconstruct, (meta,)
        return NotImplemented


@contextlib.contextmanager
def _saved_on(device: str, tensors: list):
    """Record the storages of ``tensors`` as saved from ``device`` (what ``torch.save`` writes for CUDA tensors)."""
    import torch.serialization as ser

    ptrs = {t.untyped_storage().data_ptr() for t in tensors}
    original = ser.location_tag

    def location_tag(storage):
        return device if storage.data_ptr() in ptrs else original(storage)

    ser.location_tag = location_tag
    try:
        yield
    finally:
        ser.location_tag = original


def _training_state(G: nn.Module, z_dim: int) -> tuple[dict, list]:
    """``G_opt`` (a copy, with one Adam step taken so it holds moment estimates) and ``vis`` preview grids, as the
    official training loop pickles them; plus the list of their tensors."""
    g = torch.Generator().manual_seed(0)
    G_train = copy.deepcopy(G)
    opt = torch.optim.Adam(G_train.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    for p in G_train.parameters():
        p.grad = 1e-3 * torch.randn(p.shape, generator=g)
    opt.step()
    opt.zero_grad(set_to_none=True)
    grid_z = torch.randn(4, z_dim, generator=g).split(2)  # tuples of tensors stay on the GPU in official snapshots
    vis = {"grid_size": (2, 2), "grid_z": grid_z, "vgrid_z": torch.randn(4, z_dim, generator=g),
           "ts": torch.arange(16.0).repeat(4, 1)}
    tensors = [v for st in opt.state.values() for v in st.values() if isinstance(v, torch.Tensor)]
    tensors += [p for group in opt.param_groups for p in group["params"]]
    tensors += list(grid_z) + [vis["vgrid_z"], vis["ts"]]
    return {"G_opt": opt, "vis": vis}, tensors


def write_snapshot(path: str | Path, G: nn.Module, init_kwargs: dict, dataset_cfg: dict | None = None,
                   persistence_module: str = "src.torch_utils.persistence", with_optimizer: bool = True,
                   dataset_class: str = "training.dataset.VideoFramesFolderDataset",
                   extra_state: Callable[[nn.Module], dict | None] | None = None,
                   experiment_cfg: dict | None = None, training_device: str | None = None) -> Path:
    """Write ``G`` (also as ``G_ema``) with its constructor kwargs in the official snapshot layout.

    ``dataset_class``: ``training_set_kwargs.class_name`` (image GANs such as MotionStyleGAN use
    ``training.dataset.ImageFolderDataset`` and store no ``cfg``: pass ``dataset_cfg=None`` for that).
    ``extra_state(module)``: non-plain attributes to add to a module's pickled state (e.g. DIGAN's
    ``torch.distributions.Beta`` objects), which are otherwise dropped.
    Modules that keep a ``cfg`` attribute get the same config object as their constructor argument (the official
    modules do ``self.cfg = cfg``).
    ``experiment_cfg``: a whole experiment config (``{'model': {'generator': ...}, 'dataset': ..., ...}``; values may
    be OmegaConf interpolations). The generator's ``cfg`` (constructor argument and module attribute) is then its
    ``model.generator`` node and ``training_set_kwargs.cfg`` its ``dataset`` node, pickled with their parent chain
    as ``src/train.py`` passes them; ``init_kwargs['cfg']`` and ``dataset_cfg`` are not used.
    ``training_device``: add the training state a GPU run leaves in a snapshot -- ``G_opt`` with moment estimates
    and ``vis`` preview grids, their storages recorded as saved from this device (e.g. ``'cuda:0'``; the networks
    themselves are saved from the CPU, as the official training loop does).
    """
    from omegaconf import OmegaConf

    path = Path(path)
    node = root = None
    if experiment_cfg is not None:
        root = OmegaConf.create(experiment_cfg)
        node = root.model.generator
        to_config = lambda d: copy.deepcopy(node)  # noqa: E731  (persistence deep-copies the constructor kwargs)
    else:
        to_config = lambda d: OmegaConf.create(d)  # noqa: E731
    buf = io.BytesIO()
    with _fake_modules(persistence_module) as (reconstruct, EasyDict):
        tsk = EasyDict(class_name=dataset_class, path="data/dataset.zip", use_labels=False, max_size=None,
                       xflip=False, resolution=init_kwargs.get("img_resolution"))
        if root is not None:
            tsk["cfg"] = root.dataset
        elif dataset_cfg is not None or dataset_class.endswith("VideoFramesFolderDataset"):
            tsk["cfg"] = OmegaConf.create(dataset_cfg or {})
        snapshot = {"training_set_kwargs": tsk, "G": G, "D": None, "G_ema": G, "augment_pipe": None,
                    "stats": {"cur_nimg": 0, "cur_tick": 0, "batch_idx": 0}}
        gpu_tensors = []
        if training_device is not None:
            state, gpu_tensors = _training_state(G, int(getattr(G, "z_dim", 4)))
            snapshot.update(state)
        elif with_optimizer:
            snapshot["G_opt"] = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99))
        if node is None and isinstance(init_kwargs.get("cfg"), dict):
            node = to_config(init_kwargs["cfg"])
        pickler = _SnapshotPickler(buf, reconstruct, {id(G): init_kwargs}, to_config, extra_state, node)
        with _saved_on(training_device or "cpu", gpu_tensors):
            pickler.dump(snapshot)
    path.write_bytes(buf.getvalue())
    return path
