"""The StyleGAN-V / MoStGAN-V training objective: non-saturating logistic loss and lazy R1.

One object, :class:`StyleGANVLoss`, runs the three phases of the authors' loop (``src/training/loss.py``, the
StyleGAN2-ADA objective with video clips), each accumulating gradients with ``backward``:

* ``g_main``: ``softplus(-D(aug(G(z, t))))`` averaged over clips;
* ``d_main``: ``softplus(D(aug(G(z, t))))`` with G's output detached, plus ``softplus(-D(aug(x_real)))``;
* ``d_reg``: R1 on real clips, ``gamma / 2 * |d D / d x|^2`` summed over the pixels of each *frame*, averaged over
  the frames of a clip and then over clips, times the lazy interval (``gain``).

The augmentation is applied to the clip as one ``[F*3, H, W]`` image (``video_consistent_aug``: every frame gets the
same transform) with parameters drawn by the caller, so that a clip's augmentation does not depend on which rank
processes it. Losses are means over the *global* batch: each rank multiplies its local mean by
``local / global`` (``share``) and the loop sums gradients over ranks.

G's mapping does not update its tracked average ``w_avg`` itself: :meth:`StyleGANVLoss.take_w_stats` hands the loop
the means of the mapped latents, and the loop updates ``w_avg`` once per phase with the mean over the global batch
(upstream updates it in every forward pass, from that pass's batch; with one pass per step, as the paper configs
run on one GPU, that is the same).

The signs of D's real logits are returned for the ADA controller (the authors collect ``Loss/signs/real`` in both
D phases).

Subclasses change how a phase makes fake images and logits through :meth:`StyleGANVLoss.fake_images` and
:meth:`StyleGANVLoss.logits` (MotionStyleGAN's image pairs: :class:`vgbench.training.motionstylegan.PairLoss`).
:func:`path_length_penalty` is StyleGAN2's path-length regulariser, shared by MotionStyleGAN and CTSVG.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["StyleGANVLoss", "PhaseStats", "path_length_penalty"]


@dataclass
class PhaseStats:
    """What one phase reports: loss value (global-batch mean contribution of this rank) and real-logit signs."""
    loss: float = 0.0
    sign_sum: float = 0.0
    sign_count: int = 0


class StyleGANVLoss:
    #: R1's loss adds ``logits * 0`` so that every D parameter gets a (zero) gradient and an Adam step, as
    #: StyleGAN2-ADA's loss does (StyleGAN-V's); the StyleGAN3 repository's ``StyleGAN2Loss`` does not (then the
    #: output layer's bias gets no gradient and no Adam step in Dreg)
    r1_touches_all_params = True

    def __init__(self, G, D, augment=None, *, r1_gamma: float, num_frames: int = 3, force_fp32: bool = False,
                 precision: str = "auto"):
        self.G, self.D, self.augment = G, D, augment
        self.r1_gamma = float(r1_gamma)
        self.num_frames = int(num_frames)
        self.force_fp32 = force_fp32
        self.precision = precision
        self.w_means: list = []

    def take_w_stats(self) -> list:
        """[(mean of the mapped w of one forward pass, its clip count)] since the last call: the loop updates
        ``w_avg`` once per phase from the global batch (see :mod:`vgbench.training.loop`)."""
        out, self.w_means = self.w_means, []
        return out

    # ---------------------------------------------------------------------------------------------- networks
    def run_G(self, z, c, t, motion_z):
        """Frames ``[B*F, 3, H, W]`` for latents ``z`` at times ``t`` with motion noise ``motion_z``."""
        ws = self.G.mapping(z, c, skip_w_avg_update=True)
        self.w_means.append((ws[:, 0].detach().mean(dim=0), len(ws)))
        return self.G.synthesis(ws, t=t, c=c, motion_z=motion_z, noise_mode="const",
                                precision=self.precision, force_fp32=self.force_fp32)

    def run_D(self, img, c, t, aug_params=None):
        if self.augment is not None and aug_params is not None:
            nf, ch, h, w = img.shape
            n = nf // self.num_frames
            img = self.augment.apply(img.reshape(n, self.num_frames * ch, h, w), aug_params)
            img = img.reshape(nf, ch, h, w)
        return self.D(img, c, t, force_fp32=self.force_fp32)

    def fake_images(self, fake: dict) -> torch.Tensor:
        """G's images for a phase's ``fake`` inputs."""
        return self.run_G(fake["z"], fake["c"], fake["t"], fake["motion_z"])

    def logits(self, img: torch.Tensor, inputs: dict) -> torch.Tensor:
        """D's logits of ``img`` (augmented) with the rest of a phase's ``inputs`` (labels, times, augmentation)."""
        return self.run_D(img, inputs["c"], inputs["t"], inputs.get("aug"))

    # ------------------------------------------------------------------------------------------------ phases
    def g_main(self, fake, share: float, gain: float = 1.0) -> PhaseStats:
        """``fake``: dict(z, c, t, motion_z, aug)."""
        img = self.fake_images(fake)
        logits = self.logits(img, fake)
        loss = F.softplus(-logits).mean() * share
        loss.mul(gain).backward()
        return PhaseStats(loss=float(loss.detach()))

    def d_main(self, fake, real, share: float, gain: float = 1.0) -> PhaseStats:
        """``real``: dict(img [B*F, 3, H, W] in [-1, 1], c, t, aug)."""
        with torch.no_grad():
            img = self.fake_images(fake)
        logits_gen = self.logits(img, fake)
        loss_gen = F.softplus(logits_gen).mean() * share
        loss_gen.mul(gain).backward()
        logits_real = self.logits(real["img"].detach(), real)
        loss_real = F.softplus(-logits_real).mean() * share
        loss_real.mul(gain).backward()
        signs = logits_real.detach().sign()
        return PhaseStats(loss=float(loss_gen.detach() + loss_real.detach()), sign_sum=float(signs.sum()),
                          sign_count=int(signs.numel()))

    def d_reg(self, real, share: float, gain: float) -> PhaseStats:
        img = real["img"].detach().requires_grad_(True)
        logits = self.logits(img, real)
        (grad,) = torch.autograd.grad(outputs=[logits.sum()], inputs=[img], create_graph=True, only_inputs=True)
        penalty = grad.square().sum(dim=[1, 2, 3])  # per frame
        per_clip = (penalty * (self.r1_gamma / 2)).reshape(-1, len(img) // len(logits)).mean(dim=1)
        loss = ((logits * 0 + per_clip) if self.r1_touches_all_params else per_clip).mean() * share
        loss.mul(gain).backward()
        signs = logits.detach().sign()
        return PhaseStats(loss=float(per_clip.detach().mean()), sign_sum=float(signs.sum()),
                          sign_count=int(signs.numel()))


def path_length_penalty(img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor, mean, decay: float):
    """StyleGAN2's path-length regulariser (Karras et al. 2020, ``StyleGAN2Loss``'s ``Gpl`` and rosinality's
    ``g_path_regularize``): per sample, the length ``sqrt(mean_layers(sum_dims(J^2)))`` of ``J = d sum(img * y) /
    d ws`` with ``y = noise / sqrt(H W)`` (``noise``: N(0, 1) images shaped like ``img``; ``ws`` [n, layers, dim]);
    the running mean ``a = mean + decay * (mean(lengths) - mean)`` (not detached, as upstream). Returns the penalty
    ``(length - a)^2`` per sample [n] and ``a``."""
    y = noise / math.sqrt(img.shape[2] * img.shape[3])
    grad, = torch.autograd.grad(outputs=[(img * y).sum()], inputs=[ws], create_graph=True, only_inputs=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    new_mean = mean + decay * (lengths.mean() - mean)
    return (lengths - new_mean).square(), new_mean
