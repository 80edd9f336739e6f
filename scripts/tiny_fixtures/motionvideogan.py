"""Tiny MotionVideoGAN checkpoint in the official layout: ``tests/fixtures/motionvideogan_tiny/``.

    models/tiny/network-snapshot-000000.pkl   MotionStyleGAN G_ema (StyleGAN3-repository persistence pickle,
                                              reconstructor torch_utils.persistence), 64x64, 6 image channels
    checkpoints/tiny/modelR_epoch_99.pth       LSTMModule state dict (torch.save, plain tensors)
    directions/tiny/forward_direction.npy      [6, 32] float64, unit rows (rank 6 > n_direction 4)
    directions/tiny/backward_direction.npy

Random weights with fixed seeds. The image generator has the constructor kwargs the StyleGAN3 repository's
``train.py --cfg=stylegan2 --map-depth=2 --cbase=1024 --cmax=32`` would record (``fused_modconv_default=
'inference_only'``), with non-zero ``noise_strength`` so the constant noise buffers matter. The LSTM follows the
official initialisation (orthogonal gate blocks and linear weights, zero LSTM biases) except that ``w`` has
standard deviation 0.5 instead of 0.02, so that the tiny videos visibly move.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

NAME = "motionvideogan_tiny"
G_KWARGS = {"z_dim": 32, "w_dim": 32, "mapping_kwargs": {"num_layers": 2}, "channel_base": 1024, "channel_max": 32,
            "fused_modconv_default": "inference_only", "c_dim": 0, "img_resolution": 64, "img_channels": 6}
N_DIRECTION, RANK = 4, 6


def make(fixtures_dir: Path) -> Path:
    from vgbench.models.motionvideogan import LSTMModule
    from vgbench.models.official_pickle import write_snapshot
    from vgbench.models.stylegan2 import Generator

    out = Path(fixtures_dir) / NAME
    if out.exists():
        shutil.rmtree(out)
    for sub in ("models/tiny", "checkpoints/tiny", "directions/tiny"):
        (out / sub).mkdir(parents=True)

    torch.manual_seed(0)
    G = Generator(**G_KWARGS).eval()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.normal_(0, 0.1)
    write_snapshot(out / "models/tiny/network-snapshot-000000.pkl", G, G_KWARGS,
                   persistence_module="torch_utils.persistence", with_optimizer=False,
                   dataset_class="training.dataset.ImageFolderDataset")

    torch.manual_seed(1)
    lstm = LSTMModule(h_dim=G.z_dim, n_direction=N_DIRECTION, z_dim=G.z_dim)
    lstm.official_init(w_std=0.5)
    torch.save(lstm.state_dict(), out / "checkpoints/tiny/modelR_epoch_99.pth")

    rng = np.random.default_rng(2)
    for name in ("forward_direction", "backward_direction"):
        d = rng.standard_normal((RANK, G.w_dim))
        np.save(out / f"directions/tiny/{name}.npy", d / np.linalg.norm(d, axis=1, keepdims=True))
    return out
