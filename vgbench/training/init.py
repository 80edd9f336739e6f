"""``vgbench train --init CKPT``: start a new run from the networks of a checkpoint (fine-tuning), read without
running code from the file.

:func:`init_states` turns a checkpoint into ``{network name: state dict}`` with the names of the trainer's
:meth:`~vgbench.training.loop.TrainerBase.networks` (``G``, ``D``, ``G_ema``, ...); the trainer loads each one
strictly (:meth:`~vgbench.training.loop.TrainerBase.init_from`: every key and shape must match the networks the
config builds). What a file may be:

* a ``snapshot-*.state.pt`` of a vgbench run of the same model (and stage): every network in it, optimisers and
  counters left behind (a new run starts at step 0 with fresh optimisers, as the authors' ``--resume PKL`` /
  ``--ckpt`` options do for a network pickle);
* a vgbench ``.vgb`` checkpoint of the same model: its network (G_ema) initialises ``G`` and ``G_ema``; the
  discriminators start fresh;
* the authors' own files, read by the trainer's :meth:`~vgbench.training.loop.TrainerBase.official_init_states`:
  a StyleGAN2-ADA / StyleGAN3 persistence pickle (``network-snapshot-*.pkl``: ``G``, ``D``, ``G_ema``) for the
  StyleGAN-V family and MotionStyleGAN; CTSVG's ``torch.save`` dict (``g``, ``d``, ``d2``, ``g_ema``);
  MotionVideoGAN's ``modelR_epoch_*.pth`` (the LSTM).

Pickles go through :func:`vgbench.models.checkpoint.load_network_pickle` (a restricted unpickler) and ``torch``
files through ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import torch

from ..models.checkpoint import (CheckpointError, is_native, load_native, load_network_pickle, module_state_dict,
                                 network_record, torch_load_safe)

__all__ = ["init_states", "persistence_states", "official_network_states", "torch_states", "tensors_only"]


def persistence_states(path: Path, names=("G", "D", "G_ema")) -> dict:
    """``{name: state dict}`` of the networks ``names`` of a StyleGAN2-ADA / StyleGAN3 persistence pickle (those
    present; at least one)."""
    snap = load_network_pickle(path)
    found = {}
    for name in names:
        if snap.get(name) is not None:  # absent or None (a pickle stripped of its discriminator)
            rec = network_record(snap, name, path, class_names=None)
            found[name] = module_state_dict(rec, where=str(path))
    if not found:
        raise CheckpointError(f"{path}: none of the networks {list(names)} in the pickle (keys: "
                              f"{sorted(map(str, snap))})")
    return found


def init_states(trainer, path: Path) -> dict:
    """``{network name: state dict}`` to start ``trainer``'s networks from (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (--init)")
    model = trainer.cfg["model"]
    if is_native(path):
        meta, state = load_native(path)
        want = trainer.native_model()
        if meta.get("model") != want:
            raise CheckpointError(f"{path}: a {meta.get('model')} checkpoint; this run starts from {want}")
        return {"G": state, "G_ema": state}
    if zipfile.is_zipfile(path):
        obj = torch_load_safe(path, "a checkpoint to start from", allowed=[argparse.Namespace])
        if isinstance(obj, dict) and obj.get("format") == trainer.state_format():
            stage = trainer.cfg.get("stage")
            saved_stage = (obj.get("config") or {}).get("stage")
            if obj.get("model") != model or saved_stage != stage:
                what = f"{obj.get('model')}" + (f" (stage {saved_stage})" if saved_stage else "")
                raise CheckpointError(f"{path}: the training state of a {what} run, not of this one")
            return {name: obj[name] for name in trainer.networks() if name in obj}
        return trainer.official_init_states(obj, path)
    return trainer.official_init_states(None, path)  # not a zip: a pickle, or torch's pre-1.6 format


def official_network_states(obj, path: Path, names=("G", "D", "G_ema")) -> dict:
    """The StyleGAN-family reader of :meth:`official_init_states`: a persistence pickle (``obj`` is None: the file
    is not a torch file)."""
    if obj is not None:
        raise CheckpointError(f"{path}: a torch file, not a network pickle (network-snapshot-*.pkl), a vgbench .vgb "
                              f"or a vgbench training state")
    return persistence_states(path, names)


def torch_states(obj, path: Path) -> object:
    """``obj`` (a torch file already read), or the file read with ``torch.load(weights_only=True)`` when ``obj`` is
    None (a file in torch's pre-1.6 format)."""
    return obj if obj is not None else torch_load_safe(path, "a checkpoint to start from", allowed=[argparse.Namespace])


def tensors_only(obj, path: Path, what: str) -> dict:
    """``obj`` as a plain ``{key: tensor}`` state dict, or a :class:`CheckpointError` naming ``path``."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected {what}")
    return dict(obj)
