"""The LSTM motion generator that walks a content code through W space, shared by MoCoGAN-HD and MotionVideoGAN.

Both papers (Tian et al., ICLR 2021; Zhu et al., IEEE TMM 2023) generate motion the same way: an LSTM cell
``enc_cell`` encodes the content code ``w_0`` into the initial state, a second cell ``cell`` is driven by fresh
N(0, I) noise at every step, and each step adds ``w_residual * tanh(h @ w + b) @ basis_k`` to the previous code.
They differ only in the basis: MoCoGAN-HD uses fixed PCA components of W scaled by their standard deviations,
MotionVideoGAN alternates between "backward" and "forward" motion directions (see the subclasses in
:mod:`vgbench.models.mocogan_hd` and :mod:`vgbench.models.motionvideogan`).

State dict keys are the official ones: ``enc_cell.*``, ``cell.*`` (``nn.LSTMCell(z_dim, h_dim)``), ``w``
``[h_dim, n_basis]``, ``b`` ``[n_basis]``, and ``fc1`` (``2 h_dim -> z_dim``) / ``fc2`` (``z_dim -> z_dim``), which
only the training losses use but which every official checkpoint contains.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .checkpoint import checkpoint_error, load_state_file, load_strict

__all__ = ["LatentLSTM"]


class LatentLSTM(nn.Module):
    """``forward(w0 [B, z_dim], noise [B, S, z_dim]) -> codes [B, S + 1, z_dim]`` (``codes[:, 0] = w0``)."""

    basis_arg = "n_basis"  # the subclass's constructor name for the basis size (n_pca, n_direction)
    file_what = "motion LSTM"  # what the file is, in error messages

    def __init__(self, z_dim: int, h_dim: int, n_basis: int, w_residual: float = 0.2):
        super().__init__()
        self.z_dim, self.h_dim, self.n_basis, self.w_residual = int(z_dim), int(h_dim), int(n_basis), float(w_residual)
        self.enc_cell = nn.LSTMCell(z_dim, h_dim)
        self.cell = nn.LSTMCell(z_dim, h_dim)
        self.w = nn.Parameter(torch.zeros(h_dim, n_basis))
        self.b = nn.Parameter(torch.zeros(n_basis))
        self.fc1 = nn.Linear(h_dim * 2, z_dim)  # training-only (reconstructs the LSTM input noise)
        self.fc2 = nn.Linear(z_dim, z_dim)

    @classmethod
    def load(cls, path: str | Path, w_residual: float = 0.2) -> "LatentLSTM":
        """The module saved in ``path`` (``modelR_epoch_N.pth``: a plain state dict, read with
        ``weights_only=True``); sizes come from the tensors, then every key and shape is checked."""
        state = load_state_file(path, f"{cls.file_what} ({cls.__name__})")
        try:
            h_dim, n_basis = state["w"].shape
            z_dim = state["enc_cell.weight_ih"].shape[1]
        except (KeyError, ValueError) as e:
            raise checkpoint_error(path, f"not a {cls.__name__} state dict (needs w [h_dim, {cls.basis_arg}] and "
                                         f"enc_cell.*; keys: {sorted(state)[:8]})") from e
        sizes = {"z_dim": int(z_dim), "h_dim": int(h_dim), cls.basis_arg: int(n_basis)}
        what = f"{cls.__name__}({', '.join(f'{k}={v}' for k, v in sizes.items())})"
        return load_strict(cls(**sizes, w_residual=w_residual), state, str(path), what)

    @torch.no_grad()
    def official_init(self, w_std: float = 0.02) -> "LatentLSTM":
        """The official training code's initialisation (used for test fixtures): each LSTM gate's weight block
        orthogonal, LSTM biases zero, ``fc1``/``fc2`` orthogonal, ``w ~ N(0, w_std)``, ``b = 0``."""
        for cell in (self.enc_cell, self.cell):
            for name, p in cell.named_parameters():
                if name.startswith("weight"):
                    q = p.shape[0] // 4
                    for k in range(4):
                        nn.init.orthogonal_(p.data[k * q:(k + 1) * q])
                else:
                    p.zero_()
        for lin in (self.fc1, self.fc2):
            nn.init.orthogonal_(lin.weight)
        nn.init.normal_(self.w, std=w_std)
        self.b.zero_()
        return self

    def basis(self, step: int) -> torch.Tensor:  # pragma: no cover - abstract
        """The ``[n_basis, z_dim]`` matrix that step ``step`` (0-based) moves along."""
        raise NotImplementedError

    def forward(self, w0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        h, c = self.enc_cell(w0)
        codes = [w0]
        for k in range(noise.shape[1]):
            h, c = self.cell(noise[:, k], (h, c))
            coeffs = torch.tanh(torch.matmul(h, self.w) + self.b)
            codes.append(codes[-1] + self.w_residual * torch.matmul(coeffs, self.basis(k)))
        return torch.stack(codes, dim=1)
