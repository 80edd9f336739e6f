"""Tiny MoCoGAN-HD checkpoint in the official layout: ``tests/fixtures/mocogan_hd_tiny/``.

    pretrained_models/tiny-snapshot-000000.pt   rosinality training checkpoint (torch.save dict: g_ema, args as an
                                                argparse.Namespace, ada_aug_p), 64x64 StyleGAN2, z = w = 32
    checkpoints/tiny/modelR_epoch_99.pth        RNNModule state dict (torch.save, plain tensors), h_dim 24, n_pca 16
    pca_stats/tiny/pca_comp.npy                 [32, 32] float64, Fortran order: principal axes of W (rows by
                                                decreasing variance), as scikit-learn's components_ are saved
    pca_stats/tiny/pca_stdev.npy                [32] float64, their standard deviations
    pca_stats/tiny/{pca_var_ratio,style_mean,style_var}.npy   the other files get_stats_pca.py writes (unused)

Random weights with fixed seeds. The rosinality file holds only ``g_ema``, ``args`` and ``ada_aug_p`` (the real
ones also carry ``g``, ``d`` and optimiser states, which no sampler reads), to stay small. The noise strengths
are non-zero so the ``use_noise`` modes differ. The PCA statistics are computed from 4000 mapped samples of this
generator, as ``get_stats_pca.py`` does (its IncrementalPCA gives the same axes up to sign). The LSTM follows the
official initialisation (orthogonal gate blocks and linear weights, zero LSTM biases) except that ``w`` has
standard deviation 0.5 instead of 0.02, so that the tiny videos visibly move.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

NAME = "mocogan_hd_tiny"
G_KWARGS = {"size": 64, "style_dim": 32, "n_mlp": 2, "channels": {4: 32, 8: 32, 16: 32, 32: 16, 64: 8}}
H_DIM, N_PCA = 24, 16


def make(fixtures_dir: Path) -> Path:
    from vgbench.models.mocogan_hd import RNNModule
    from vgbench.models.rosinality import StyleGAN2Generator

    out = Path(fixtures_dir) / NAME
    if out.exists():
        shutil.rmtree(out)
    for sub in ("pretrained_models", "checkpoints/tiny", "pca_stats/tiny"):
        (out / sub).mkdir(parents=True)

    torch.manual_seed(0)
    G = StyleGAN2Generator(**G_KWARGS).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.normal_(0, 0.2)
    args = argparse.Namespace(size=64, latent=32, n_mlp=2, channel_multiplier=2, iter=0, batch=4)
    torch.save({"g_ema": G.state_dict(), "args": args, "ada_aug_p": 0.0},
               out / "pretrained_models/tiny-snapshot-000000.pt")

    with torch.no_grad():
        w = G.map(torch.randn(4000, G.style_dim, generator=torch.Generator().manual_seed(1))).double().numpy()
    mean = w.mean(axis=0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    var = s ** 2 / (len(w) - 1)
    pca = out / "pca_stats/tiny"
    np.save(pca / "pca_comp.npy", np.asfortranarray(vt))  # IncrementalPCA's components_ are F-ordered float64
    np.save(pca / "pca_stdev.npy", np.sqrt(var))
    np.save(pca / "pca_var_ratio.npy", var / var.sum())
    np.save(pca / "style_mean.npy", mean.astype(np.float32))
    np.save(pca / "style_var.npy", w.var(axis=0).astype(np.float32))

    torch.manual_seed(2)
    rnn = RNNModule(z_dim=G.style_dim, h_dim=H_DIM, n_pca=N_PCA)
    rnn.official_init(w_std=0.5)
    torch.save(rnn.state_dict(), out / "checkpoints/tiny/modelR_epoch_99.pth")
    return out
