"""MotionVideoGAN stage 2: the forward and backward motion directions of an image-pair generator (MotionStyleGAN),
as the authors' ``compute_jacobian.py``, ``compute_directions.py`` and ``RobustPCA.py`` compute them (low-rank
subspaces in the style of LowRankGAN, Zhu et al. 2021).

1. :func:`pair_jacobian`: for one ``w = mapping(z)``, the Jacobian of the two images' channel means ``[2, H, W]``
   w.r.t. ``w`` (broadcast to every synthesis layer); each image from its own synthesis call (upstream calls the
   synthesis once per image, so with ``noise_mode="random"`` the two see different spatial noise).
2. :func:`motion_directions`: for the backward directions the former image is the "foreground" and the latter the
   "background" (the forward directions swap them): ``M = J_f^T J_f / N`` and ``B = J_b^T J_b / N`` (``N = H W``);
   :func:`robust_pca` (principal component pursuit by ADMM, ``lambda = 1/60``) splits each into low-rank + sparse;
   the foreground's principal rows (right singular vectors of its low-rank part, as many as its numerical rank)
   are projected onto the null space of the background's first ``max(1, rank_b - num_relax)`` singular vectors
   (capped at ``w_dim - 1``) and normalised to unit rows. The backward rows move the former image while keeping the
   latter, which is what the LSTM's even steps need.

The outputs are the ``backward_direction.npy`` / ``forward_direction.npy`` that stage 3 and the eval adapter read
(``[rank, w_dim]`` float64, unit rows). Not yet a stage of ``vgbench train`` (docs/training.md).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["pair_jacobian", "robust_pca", "motion_directions"]


def pair_jacobian(G, w: torch.Tensor, *, noise_mode: str = "const", generators=(None, None)) -> torch.Tensor:
    """``d mean_c(image_k) / d w`` for the former (k = 0) and latter (k = 1) image: ``[2, H, W, w_dim]``.
    ``w``: ``[w_dim]``; ``generators``: the spatial-noise generators of the two synthesis calls (random mode)."""
    def image(x: torch.Tensor, k: int) -> torch.Tensor:
        ws = x.reshape(1, 1, -1).expand(1, G.num_ws, -1)
        img = G.synthesis(ws, noise_mode=noise_mode, force_fp32=True, generator=generators[k])
        return img[0, 3 * k:3 * k + 3].mean(dim=0)

    w = w.detach().to(torch.float32)
    # forward mode, one vectorised pass per image: w_dim tangents instead of 3 H W backward passes
    return torch.stack([torch.autograd.functional.jacobian(lambda x, k=k: image(x, k), w, vectorize=True,
                                                           strategy="forward-mode") for k in (0, 1)])


def robust_pca(M: np.ndarray, lamb: float = 1 / 60, max_iter: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """``M = L + S`` with ``L`` low-rank and ``S`` sparse (principal component pursuit, ADMM as ``RobustPCA.fit``):
    ``mu = numel / (4 ||M||_1)`` (the matrix 1-norm, max column sum), stop when ``||L + S - M||_F <= 1e-7
    ||M||_F`` or after ``max_iter`` iterations. Returns ``(L, S)``."""
    M = np.asarray(M)  # kept in its dtype (upstream: float32 from the saved Jacobian); the iterates are float64
    if M.ndim != 2:
        raise ValueError(f"robust_pca needs a matrix, got shape {M.shape}")
    mu = M.size / (4 * np.linalg.norm(M, ord=1))
    tol = 1e-7 * np.linalg.norm(M, ord="fro")
    L, S, Y = np.zeros(M.shape), np.zeros(M.shape), np.zeros(M.shape)

    def shrink(X, tau):
        return np.sign(X) * np.maximum(np.abs(X) - tau, 0)

    for _ in range(max_iter):
        U, sv, Vh = np.linalg.svd(M - S - Y / mu, full_matrices=False)
        L = (U * shrink(sv, 1 / mu)) @ Vh
        S = shrink(M - L - Y / mu, lamb / mu)
        Y = Y + mu * (L + S - M)
        if np.linalg.norm(L + S - M, ord="fro") <= tol:
            break
    return L, S


def _one_side(fore: np.ndarray, back: np.ndarray, lamb: float, max_iter: int, num_relax: int) -> np.ndarray:
    w_dim = fore.shape[-1]
    Jf, Jb = fore.reshape(-1, w_dim), back.reshape(-1, w_dim)
    Lf, _ = robust_pca((1 / Jf.shape[0]) * Jf.T.dot(Jf), lamb, max_iter)
    Lb, _ = robust_pca((1 / Jb.shape[0]) * Jb.T.dot(Jb), lamb, max_iter)
    principal = np.linalg.svd(Lf)[2][:np.linalg.matrix_rank(Lf)]
    null = np.linalg.svd(Lb)[2][min(max(1, np.linalg.matrix_rank(Lb) - num_relax), w_dim - 1):].T
    proj = (null @ null.T @ principal.T).T
    return proj / np.linalg.norm(proj, axis=1, keepdims=True)


def motion_directions(jacobian, lamb: float = 1 / 60, max_iter: int = 10000,
                      num_relax: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` directions ``[rank, w_dim]`` from a :func:`pair_jacobian` ``[2, H, W, w_dim]``."""
    J = np.asarray(jacobian)
    if J.ndim != 4 or J.shape[0] != 2:
        raise ValueError(f"expected a pair Jacobian [2, H, W, w_dim], got shape {J.shape}")
    backward = _one_side(J[0], J[1], lamb, max_iter, num_relax)
    forward = _one_side(J[1], J[0], lamb, max_iter, num_relax)
    return forward, backward
