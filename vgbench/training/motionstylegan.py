"""``vgbench train --model motionvideogan --stage pairs``: stage 1 of MotionVideoGAN's training (Zhu et al., IEEE TMM
2023), MotionStyleGAN, the StyleGAN2 that renders image pairs as 6-channel images, as the authors' MotionStyleGAN
``train.py --cfg=stylegan2`` (a fork of the StyleGAN3 repository) trains it, inside the shared training core
(:class:`vgbench.training.loop.TrainerBase`: loader, DDP gradient sums, EMA with ramp-up, snapshots, resume,
``log.jsonl``). Its snapshot is stage 3's ``motion.generator``.

Data (:class:`PairClips`). The paper reorganises every training video ``x_1..x_n`` into the pairs ``[x_t, x_{t+k}]``
and ``[x_{t+k}, x_t]``, ``1 <= t <= n - k``, with ``k = data.interval`` (4 for all three datasets); the authors store
them as ``2H x W`` images that their loader splits into channels 0-2 (the former frame) and 3-5 (the latter). Here
the pairs are read from the videos: item ``i`` of the ``2 sum_v (n_v - k)`` pairs (doubled by ``mirror``, the x-flipped
copies) is video ``v``, start ``t``, order ``i mod 2``; epochs visit all items in a seeded permutation (the shared
:class:`~vgbench.training.data.TrainingClips` stream), so every pair of every video is equally likely, not every video.

Networks. G: :class:`vgbench.models.stylegan2.Generator` (the StyleGAN3 repository's ``networks_stylegan2``, flavour
``sg3``, ``img_channels = 6``, ``fused_modconv_default = 'inference_only'``); D:
:class:`vgbench.training.discriminator.Discriminator` with one frame per sample (``image_kwargs``: the plain resnet
StyleGAN2 discriminator with its keys).

Step (``training_loop.py``: phases Gmain, Greg, Dmain, Dreg; ``StyleGAN2Loss``), one batch of ``B`` real pairs:

1. ``Gmain``: ``softplus(-D(aug(G(z))))``, one Adam step of G;
2. ``Greg`` every ``g_reg_interval`` steps (from step 0): on the first ``batch_gpu // pl_batch_shrink`` latents of
   each forward pass, the path-length penalty (:func:`~vgbench.training.loss.path_length_penalty`, running mean
   ``pl_mean`` with ``pl_decay``) times ``pl_weight * g_reg_interval``, one Adam step of G;
3. ``Dmain``: ``softplus(D(aug(G(z))))`` + ``softplus(-D(aug(x)))``, one Adam step of D; the mapping's ``w_avg``
   follows the mean ``w`` of this phase only (upstream's ``update_emas=True``);
4. ``Dreg`` every ``r1_interval`` steps (from step 0): ``r1_gamma / 2 * |d D(aug(x)) / d x|^2`` times
   ``r1_interval``, one Adam step of D;
5. EMA of G (``ema_kimg = B * 10 / 32``, ramp-up 0.05: ``min(ema_kimg * 1000, cur_nimg * 0.05)`` images), ``kimg``
   counts pairs, and every ``augment.interval`` steps the ADA update of p (target 0.6, ``ada_kimg`` 500).

Every G pass applies style mixing (probability ``style_mixing_prob``: a cutoff layer uniform in ``[1, num_ws)``, the
later layers from the mapping of a second ``z``) and fresh spatial noise. Adam: ``lr * r/(r+1)``, betas ``(0, 0.99)
** (r/(r+1))`` with ``r`` the phase pair's lazy interval, as upstream.

Random draws. The latents of a phase are drawn for the global batch from a generator seeded by (seed, step, phase,
"z"); each forward pass of ``batch_gpu`` samples (global pass index ``j``) has its own CPU generator seeded by (seed,
``step * passes + j``, phase, "pass") from which it draws, in the authors' order within one
``accumulate_gradients`` call, the mixing cutoff, the mixing coin, the second ``z``, the spatial noise of every
layer, the path-length noise (Greg) and the augmentation parameters (fake, then real). Seeding upstream's global
RNG with the same number reproduces their draws exactly, which is how docs/training.md compares the losses. A resume
continues bit for bit; with the same ``batch_gpu`` any world size computes the same update up to float reduction
order.

Deliberate differences (docs/training.md): pairs come from the videos, not from pre-built pair images (the same set);
gradients are the global-batch mean, i.e. upstream's sum over forward passes divided by their number (equal when
``batch_gpu`` is the batch per GPU, as in the recipe); ``w_avg`` moves once per Dmain with the mean over the global
batch, and every forward pass of a Greg phase starts from the same ``pl_mean``, which then becomes the mean of the
passes' updated means over the global batch (upstream: updated pass after pass on each GPU, never synchronised;
the same with one pass on one GPU).

Snapshots: ``snapshot-SSSSSS.vgb`` holds G_ema (``config.json`` says ``"network": "MotionStyleGAN"``); stage 3 takes it
as ``motion.generator`` (:func:`vgbench.models.motionvideogan.load_generator` reads it or an official
``network-snapshot-*.pkl``). ``grid-SSSSSS.png``: fixed-seed pairs of G_ema, former | latter side by side.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from ..utils import atomic_write
from .data import TrainingClips
from .loop import TrainerBase, _all_reduce_grads, _gen, _mean_over_ranks, _update_w_avg
from .loss import PhaseStats, StyleGANVLoss, path_length_penalty

__all__ = ["PairClips", "generator_kwargs", "discriminator_kwargs", "PairLoss", "PairTrainer"]

# ------------------------------------------------------------------------------------------------ data

class PairClips(TrainingClips):
    """Every ordered pair of frames ``interval`` apart of every video (module docstring); :meth:`batch` gives
    ``(images uint8 [b, 6, H, W],)``, the former frame in channels 0-2."""

    BATCH_KEYS = ("image",)

    def __init__(self, source, *, resolution: int | None, interval: int, mirror: bool = True, seed: int = 0):
        self.interval = int(interval)
        super().__init__(source, resolution=resolution, num_frames=2, max_dist=self.interval, max_num_frames=2 ** 62,
                         mirror=mirror, seed=seed, total_dists=None)
        starts = np.array([n - self.interval for n in self.frame_counts], dtype=np.int64)
        self.first_start = np.concatenate([[0], np.cumsum(starts)])  # pair starts of video v: [first[v], first[v+1])
        self.num_pairs = 2 * int(self.first_start[-1])

    def min_length(self) -> int:
        return self.interval + 1

    def __len__(self) -> int:
        return self.num_pairs * (2 if self.mirror else 1)

    def pair(self, index: int) -> tuple[int, int, int, bool]:
        """Item ``index`` -> (video, former frame, latter frame, mirrored)."""
        if not 0 <= index < len(self):
            raise IndexError(f"pair index {index} outside [0, {len(self)})")
        mirrored, j = divmod(index, self.num_pairs)
        start, backwards = divmod(j, 2)
        v = int(np.searchsorted(self.first_start, start, side="right")) - 1
        t = start - int(self.first_start[v])
        a, b = (t + self.interval, t) if backwards else (t, t + self.interval)
        return v, a, b, bool(mirrored)

    def item(self, k: int) -> dict:
        index = self.item_index(k)
        v, a, b, mirrored = self.pair(index)
        frames, _ = self.read_frames(v + (self.num_videos if mirrored else 0), [a, b])
        return dict(image=frames.reshape(6, *frames.shape[2:]), index=index, mirrored=mirrored)


# ------------------------------------------------------------------------------------------------ networks

def generator_kwargs(cfg: dict) -> dict:
    """Constructor kwargs of :class:`vgbench.models.stylegan2.Generator` (the StyleGAN3 repository's layout)."""
    g, fp32 = cfg["generator"], cfg["generator"]["fp32"]
    return {"z_dim": g["z_dim"], "c_dim": 0, "w_dim": g["w_dim"], "img_resolution": cfg["data"]["resolution"],
            "img_channels": 6, "mapping_kwargs": {"num_layers": g["mapping_layers"]},
            "channel_base": g["channel_base"], "channel_max": g["channel_max"],
            "num_fp16_res": 0 if fp32 else g["num_fp16_res"], "conv_clamp": None if fp32 else g["conv_clamp"],
            "fused_modconv_default": "inference_only"}


def discriminator_kwargs(cfg: dict) -> dict:
    from .discriminator import image_kwargs

    d, fp32 = cfg["discriminator"], cfg["generator"]["fp32"]
    return image_kwargs(cfg["data"]["resolution"], 6, channel_base=d["channel_base"], channel_max=d["channel_max"],
                        num_fp16_res=0 if fp32 else d["num_fp16_res"], conv_clamp=None if fp32 else d["conv_clamp"],
                        mbstd_group_size=d["mbstd_group_size"])


# ------------------------------------------------------------------------------------------------ loss

class PairLoss(StyleGANVLoss):
    """``StyleGAN2Loss`` on image pairs: :class:`~vgbench.training.loss.StyleGANVLoss`'s phases with style mixing,
    random spatial noise and per-pass augmentation draws (a phase's inputs carry their pass's generator ``gen``),
    plus :meth:`g_reg`, the path-length penalty. ``pl_mean`` is the running mean (float32 scalar tensor)."""

    r1_touches_all_params = False  # the StyleGAN3 repository's R1 (no ``logits * 0`` term)

    def __init__(self, G, D, augment=None, *, r1_gamma: float, style_mixing_prob: float, pl_weight: float,
                 pl_decay: float, pl_mean: torch.Tensor | None = None, force_fp32: bool = False):
        super().__init__(G, D, augment, r1_gamma=r1_gamma, num_frames=1, force_fp32=force_fp32)
        self.style_mixing_prob, self.pl_weight, self.pl_decay = float(style_mixing_prob), float(pl_weight), pl_decay
        self.pl_mean = torch.zeros([]) if pl_mean is None else pl_mean.detach().clone().float()

    def run_G(self, z, gen: torch.Generator, update_w_avg: bool = False):
        """(images [n, 6, H, W], ws [n, num_ws, w_dim]) with style mixing and spatial noise drawn from ``gen``."""
        c = torch.zeros([len(z), 0], device=z.device)
        ws = self.G.mapping(z, c, skip_w_avg_update=True)
        if update_w_avg:
            self.w_means.append((ws[:, 0].detach().mean(dim=0), len(ws)))
        if self.style_mixing_prob > 0:
            cutoff = int(torch.empty([], dtype=torch.int64).random_(1, ws.shape[1], generator=gen))
            if not bool(torch.rand([], generator=gen) < self.style_mixing_prob):
                cutoff = ws.shape[1]
            z2 = torch.randn(z.shape, generator=gen).to(z.device)
            ws[:, cutoff:] = self.G.mapping(z2, c, skip_w_avg_update=True)[:, cutoff:]
        img = self.G.synthesis(ws, noise_mode="random", force_fp32=self.force_fp32, generator=gen)
        return img, ws

    def fake_images(self, fake: dict) -> torch.Tensor:
        return self.run_G(fake["z"], fake["gen"], fake.get("update_w_avg", False))[0]

    def logits(self, img: torch.Tensor, inputs: dict) -> torch.Tensor:
        if self.augment is not None and float(self.augment.p) > 0:
            img = self.augment.apply(img, self.augment.sample_params(len(img), inputs["gen"], img.device))
        t = torch.zeros([len(img), 1], device=img.device)
        return self.D(img, None, t, force_fp32=self.force_fp32)

    def g_reg(self, fake: dict, share: float, gain: float) -> PhaseStats:
        """Path-length regularisation on ``fake["z"]`` (already shrunk); returns the mean penalty's share."""
        img, ws = self.run_G(fake["z"], fake["gen"])
        noise = torch.randn(img.shape, generator=fake["gen"]).to(img.device)
        penalty, mean = path_length_penalty(img, ws, noise, self.pl_mean.to(img.device), self.pl_decay)
        self.pl_mean = mean.detach().cpu()
        (penalty * self.pl_weight).mean().mul(share * gain).backward()
        return PhaseStats(loss=float(penalty.detach().mean()) * share)


# ------------------------------------------------------------------------------------------------ trainer

class PairTrainer(TrainerBase):
    """MotionStyleGAN in the shared training core: G, D, G_ema, the step of the module docstring, ``pl_mean`` in the
    state."""

    LOG_KEYS = ("G_loss", "D_loss", "R1", "PL")

    def make_dataset(self, data):
        d = self.cfg["data"]
        return PairClips(data, resolution=d["resolution"], interval=d["interval"], mirror=d["mirror"],
                         seed=self.cfg["train"]["seed"])

    def build(self) -> None:
        from ..models.stylegan2 import Generator
        from .discriminator import Discriminator

        cfg = self.cfg
        self.gkw, self.dkw = generator_kwargs(cfg), discriminator_kwargs(cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg["train"]["seed"])
            G = Generator(**copy.deepcopy(self.gkw))
            D = Discriminator(**copy.deepcopy(self.dkw))
        self.G, self.D = (m.train().requires_grad_(False).to(self.device) for m in (G, D))
        self.G_ema = copy.deepcopy(self.G).eval()
        self.build_augment_and_adam()
        self.pl_mean = torch.zeros([])

    def setup_loss(self) -> None:
        loss = self.cfg["loss"]
        self.loss = PairLoss(self.G, self.D, self.augment, r1_gamma=loss["r1_gamma"],
                             style_mixing_prob=loss["style_mixing_prob"], pl_weight=loss["pl_weight"],
                             pl_decay=loss["pl_decay"], pl_mean=self.pl_mean, force_fp32=self.force_fp32)

    def extra_state(self) -> dict:
        return {"pl_mean": self.loss.pl_mean.clone()}

    def load_extra_state(self, st: dict) -> None:
        self.pl_mean = st["pl_mean"].float()

    def checkpoint_extra(self) -> dict:
        from ..models.motionvideogan import PAIR_NETWORK

        return {"network": PAIR_NETWORK}

    # ---------------------------------------------------------------------------------------- draws
    def _passes(self, step: int, phase: str, n: int | None = None) -> list[dict]:
        """This rank's forward passes of ``phase``: latents (the first ``n`` of each pass when given) and the
        pass's generator (module docstring)."""
        cfg = self.cfg
        B, bg, seed = cfg["train"]["batch_size"], cfg["train"]["batch_gpu"], cfg["train"]["seed"]
        z = torch.randn([B, cfg["generator"]["z_dim"]], generator=_gen(seed, step, phase, "z"))
        passes = B // bg
        out = []
        for j in range(self.rank * (passes // self.world), (self.rank + 1) * (passes // self.world)):
            zj = z[j * bg:(j + 1) * bg][:n]
            out.append({"z": zj.to(self.device), "gen": _gen(seed, step * passes + j, phase, "pass")})
        return out

    def _step_G(self) -> None:
        _all_reduce_grads(self.G, self.world)
        self.G_opt.step()

    def _step_D(self) -> None:
        _all_reduce_grads(self.D, self.world)
        self.D_opt.step()

    # ---------------------------------------------------------------------------------------- step
    def train_step(self, images: torch.Tensor) -> dict:
        cfg, step, loss_cfg = self.cfg, self.step, self.cfg["loss"]
        B, bg = cfg["train"]["batch_size"], cfg["train"]["batch_gpu"]
        share = bg / B
        x = images.to(self.device, torch.float32).div(127.5).sub(1).split(bg)
        logs = {}
        sign_sum, sign_count = 0.0, 0

        # Gmain
        self.G_opt.zero_grad(set_to_none=True)
        self.G.requires_grad_(True)
        logs["G_loss"] = sum(self.loss.g_main(f, share).loss for f in self._passes(step, "G"))
        self.G.requires_grad_(False)
        self._step_G()

        # Greg (lazy path-length regularisation)
        r = loss_cfg["g_reg_interval"]
        if step % r == 0 and loss_cfg["pl_weight"] > 0:
            self.G_opt.zero_grad(set_to_none=True)
            self.G.requires_grad_(True)
            n = bg // loss_cfg["pl_batch_shrink"]
            # every forward pass starts from the step's running mean; the new mean is the passes' mean over the
            # global batch, so the step does not depend on how the batch is split over passes and ranks
            start, means, total = self.loss.pl_mean, [], 0.0
            for f in self._passes(step, "Greg", n):
                self.loss.pl_mean = start
                total += self.loss.g_reg(f, share, gain=r).loss
                means.append(float(self.loss.pl_mean))
            logs["PL"] = total
            self.loss.pl_mean = torch.tensor(_mean_over_ranks(sum(means) / len(means), self.world, self.device),
                                             dtype=torch.float32)
            self.G.requires_grad_(False)
            self._step_G()

        # Dmain
        self.D_opt.zero_grad(set_to_none=True)
        self.D.requires_grad_(True)
        total = 0.0
        for f, xr in zip(self._passes(step, "D"), x):
            st = self.loss.d_main(dict(f, update_w_avg=True), {"img": xr, "gen": f["gen"]}, share)
            total += st.loss
            sign_sum, sign_count = sign_sum + st.sign_sum, sign_count + st.sign_count
        logs["D_loss"] = total
        _update_w_avg(self.G, self.loss, self.world, self.device)
        self.D.requires_grad_(False)
        self._step_D()

        # Dreg (lazy R1)
        r1 = loss_cfg["r1_interval"]
        if step % r1 == 0 and loss_cfg["r1_gamma"] > 0:
            self.D_opt.zero_grad(set_to_none=True)
            self.D.requires_grad_(True)
            total = 0.0
            for f, xr in zip(self._passes(step, "Dreg"), x):
                st = self.loss.d_reg({"img": xr, "gen": f["gen"]}, share, gain=r1)
                total += st.loss * share
                sign_sum, sign_count = sign_sum + st.sign_sum, sign_count + st.sign_count
            logs["R1"] = total
            self.D.requires_grad_(False)
            self._step_D()

        self.update_ema(B)
        self.cur_nimg += B
        self.step += 1
        return self.reduce_and_adapt(logs, sign_sum, sign_count)

    # ---------------------------------------------------------------------------------------- grid
    def save_grid(self) -> list[Path]:
        """Fixed-seed pairs of G_ema (constant noise), former | latter side by side, tiled into one PNG."""
        from PIL import Image

        from .media import tile

        n = self.cfg["schedule"]["grid_videos"]
        z = torch.randn([n, self.G_ema.z_dim], generator=_gen(self.cfg["train"]["seed"], 0, "G", "grid"))
        with torch.no_grad():
            img = torch.cat([self.G_ema(z[i:i + 1].to(self.device), noise_mode="const", force_fp32=self.force_fp32)
                             for i in range(n)])
        pairs = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu()
        side = torch.cat([pairs[:, :3], pairs[:, 3:]], dim=3).permute(0, 2, 3, 1).numpy()  # [n, H, 2W, 3]
        png = self.run_dir / f"grid-{self.step:06d}.png"
        with atomic_write(png, "wb") as f:
            Image.fromarray(tile(side)).save(f, format="PNG")
        return [png]
