"""``vgbench train --model ctsvg``: CTSVG's training (Manandhar & Genovesio, WACV 2024), as the authors' ``train.py``
does it, on vgbench's generator (:mod:`vgbench.models.ctsvg`) and discriminators (:mod:`.ctsvg_nets`), inside the
shared training core (:class:`vgbench.training.loop.TrainerBase`: loader, DDP gradient sums, EMA, snapshots,
resume, ``log.jsonl``, periodic FVD16).

Data (:class:`TripletClips`). Every video is one actor doing one action; ``dataset.json`` in the data root gives both
ids, ``{"labels": [["<video>", action], ...], "actors": [["<video>", actor], ...]}`` (``"labels"`` is the
StyleGAN2-ADA / StyleGAN-V key that ``vgbench data prepare utd-mhad`` writes; entries may also name frames,
``"<video>/<frame>"``, which must then agree). Ids are integers in ``[0, data.num_classes)`` and ``[0,
data.num_person)``. As the authors' ``VideoFolderPathToTensor(max_len=9)``: a window of ``clip_len`` = 9 frames
starts at ``s``, uniform in ``[0, N - clip_len - 1]`` (``N`` = the video's frames, so videos need ``clip_len + 1``
frames), and the real triplet is frames ``s, s + o, s + 2o``; D_t gets ``tau = s`` for it.

Step ``i`` (iterations from 0; the authors' order):

1. schedule: offset ``o = offsets[ceil(i / 100) mod 3]`` (train.py cycles ``kk`` after iterations 0, 100, 200,
   ...: o = 1 at i = 0, 2 for i in 1..100, 3 for 101..200, 1 for 201..300, ...); action weight ``lambda =
   clip((i - 1 - transit_start) / (transit_end - transit_start + 1e-7), 0, 1)`` (set at the end of the previous
   iteration), used in G's content style and D_t's action term.
2. D: fakes ``G(actor, action, dynsty, tau + k o)``, ``k = -1, 0, 1``, with the *real batch's* actor and action
   ids, one Gaussian ``dynsty`` per video, ``tau`` uniform over the integers ``[o, N - o - 1]`` of the real
   video's length ``N``, fresh spatial noise per frame (train.py's ``randomize_noise=True``). D_t loss
   ``softplus(-D_t(real)) + softplus(D_t(fake))`` (means), with ``tau`` the real window start and the fake centre
   (as upstream: the fake's codes are at ``tau, tau + o, tau + 2o`` for frames ``tau - o, tau, tau + o``). D_s loss
   the same on :func:`frame_order_batch` of the real triplet and of the fake triplet whose first frames are
   permuted over the batch (the "shuffle"). One Adam step each.
3. R1 every ``d_reg_every`` iterations (including 0), on D_t only: ``r1 / 2 * d_reg_every * mean_n ||grad_x
   D_t||^2`` over the 3b real frames, one Adam step of D_t.
4. G: new fakes, ``softplus(-D_t(fake)) + softplus(-D_s(frame_order_batch(fake)))`` (no shuffle), one Adam step.
5. Path length every ``g_reg_every`` iterations (including 0) on the first ``b // path_batch_shrink`` videos:
   for each of the three frames StyleGAN2's penalty against the running mean (decay 0.01) w.r.t. the broadcast
   style ``[n, n_latent, dim]``; the three penalties averaged, times ``path_regularize * g_reg_every``; the
   running mean becomes the average of the three updated means. One Adam step.
6. EMA of G (``0.5 ** (32 / 10000)`` per step at the paper's batch: ``train.ema_kimg = batch * 10 / 32``),
   ``kimg += 3 * batch / 1000``.

Adam: ``lr * r/(r+1)``, betas ``(0, 0.99) ** (r/(r+1))`` with ``r = g_reg_every`` for G and ``d_reg_every`` for
both discriminators (as upstream, D_s too). No augmentation: train.py's ``--augment`` path with adaptive p cannot
run (it tunes p from an undefined ``real_pred0``) and the documented training command does not pass it.

Deliberate differences (docs/training.md): random draws come from generators seeded by (seed, step, phase,
purpose) for the global batch (each rank takes its rows), not from the global RNG; the real videos are visited
in per-epoch permutations (train.py builds a fresh shuffled loader iterator every step); the offset and the
action ramp follow the step on every rank (train.py advances the offset on rank 0 only); under DDP the path-length
running mean is averaged over ranks; the frame-order shuffle permutes within each rank's rows, as upstream.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import TrainingClips, load_label_ids
from .loss import path_length_penalty
from .loop import TrainerBase, TrainingError, _all_reduce_grads, _gen, _mean_over_ranks, _rng

__all__ = ["offset_at", "transition_at", "TripletClips", "build_ctsvg", "render_triplet", "frame_order_batch",
           "d_losses", "r1_penalty", "g_loss", "path_penalty", "CTSVGTrainer"]


# ------------------------------------------------------------------------------------------------ schedule

def offset_at(step: int, offsets=(1, 2, 3), every: int = 100) -> int:
    """The triplet offset of iteration ``step`` (train.py's ``offset[kk]``, ``kk`` advanced after iterations
    0, every, 2 every, ...)."""
    return int(offsets[((step + every - 1) // every) % len(offsets)])


def transition_at(step: int, start: int = 2000, end: int = 4000) -> float:
    """The action-embedding weight of iteration ``step`` (set at the end of iteration ``step - 1`` upstream)."""
    return float(np.clip((step - 1 - start) / (end - start + 1e-7), 0, 1))


# ------------------------------------------------------------------------------------------------ data

class TripletClips(TrainingClips):
    """The training videos as CTSVG reads them: item ``k`` is the triplet ``s, s + o, s + 2o`` (module docstring)
    with ``o`` the offset of step ``k // batch_size``. :meth:`batch` gives ``(images uint8 [b, 3, 3, H, W], t int64
    [b, 3], ids int64 [b, 2] = (actor, action), video_len int64 [b])``."""

    BATCH_KEYS = ("image", "t", "c", "video_len")

    def __init__(self, source, *, resolution: int | None, clip_len: int, batch_size: int, offsets, offset_every: int,
                 num_person: int, num_classes: int, mirror: bool = False, seed: int = 0):
        self.clip_len, self.batch_size = clip_len, batch_size
        self.offsets, self.offset_every = tuple(offsets), offset_every
        self.num_person, self.num_classes = num_person, num_classes
        super().__init__(source, resolution=resolution, num_frames=3, max_dist=clip_len - 1,
                         max_num_frames=2 ** 62, mirror=mirror, seed=seed, total_dists=None)

    def min_length(self) -> int:
        return self.clip_len + 1

    def load_labels(self, source) -> np.ndarray:
        return load_label_ids(source, [v.id for v in self.videos],
                              [("actors", self.num_person, "actor", "data.num_person"),
                               ("labels", self.num_classes, "action", "data.num_classes")])

    def item(self, k: int) -> dict:
        index, rng, n = self.sample_start(k)
        start = int(rng.integers(n - self.clip_len))
        o = offset_at(k // self.batch_size, self.offsets, self.offset_every)
        t = [start, start + o, start + 2 * o]
        image, mirrored = self.read_frames(index, t)
        return dict(image=image, t=torch.tensor(t), c=torch.from_numpy(self.labels[index % self.num_videos]),
                    video_len=torch.tensor(n), index=index, mirrored=mirrored)


# ------------------------------------------------------------------------------------------------ networks

def generator_kwargs(cfg: dict) -> dict:
    from ..models.ctsvg import ctsvg_channels

    g, d = cfg["generator"], cfg["data"]
    channels = g["channels"] or ctsvg_channels(g["channel_multiplier"])
    size = d["resolution"]
    return dict(size=size, content_dim=g["latent"] - g["dyn"], dyn_dim=g["dyn"], num_person=d["num_person"],
                num_classes=d["num_classes"], n_mlp=g["n_mlp"], dyn_mlp=g["dyn_mlp"],
                channels={int(r): int(c) for r, c in channels.items() if int(r) <= size})


def build_ctsvg(cfg: dict, device) -> tuple:
    """(G, D_t, D_s, G_ema, G kwargs), initialised from ``train.seed``."""
    import copy

    from ..models.ctsvg import Generator
    from .ctsvg_nets import FrameOrderDiscriminator, TimeDiscriminator

    gkw, d, data = generator_kwargs(cfg), cfg["discriminator"], cfg["data"]
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg["train"]["seed"])
            G = Generator(**copy.deepcopy(gkw))
            Dt = TimeDiscriminator(data["resolution"], data["num_classes"], data["num_person"],
                                   d["channel_multiplier"], d["channels"] or None, d["embed_dim"], d["head_channels"])
            Ds = FrameOrderDiscriminator(data["resolution"], d["channel_multiplier"], d["channels"] or None)
    except (ValueError, KeyError) as e:
        raise TrainingError(f"{cfg.get('config_source', 'config')}: cannot build the CTSVG networks: {e}") from e
    G, Dt, Ds = (m.train().requires_grad_(False).to(device) for m in (G, Dt, Ds))
    return G, Dt, Ds, copy.deepcopy(G).eval(), G.init_kwargs


# ------------------------------------------------------------------------------------------------ losses

def render_triplet(G, actor, action, dynsty, tau, offset, transition, noises, with_latents: bool = False):
    """Frames at ``tau - o, tau, tau + o`` (three ``[b, 3, H, W]``) of one (actor, action, dynsty) per video;
    ``noises``: per frame, a list of per-layer noise maps. With ``with_latents`` also the three broadcast styles
    ``[b, n_latent, dim]`` (what train.py's ``return_latents`` gives, for the path-length penalty)."""
    content = G.content_style(actor, action, transition)
    m = G.motion_style(dynsty)
    frames, latents = [], []
    for k, noise in zip((-1, 0, 1), noises):
        style = torch.cat([content, G.motion_code(m, tau + k * offset)], dim=1)
        latent = style.unsqueeze(1).repeat(1, G.n_latent, 1)
        frames.append(G.synthesize(latent, noise=noise))
        latents.append(latent)
    return (frames, latents) if with_latents else frames


def frame_order_batch(first, middle, last) -> torch.Tensor:
    """D_s's input exactly as train.py builds it: ``torch.stack([first, middle, last], 2).view(3b, 3, H, W)``.
    (This interleaves channels and frames: image ``3v + c`` holds colour channel ``c`` of the three frames of
    video ``v``; D_s then compares the red and the green images of each video.)"""
    b, c, h, w = first.shape
    return torch.stack([first, middle, last], 2).reshape(b * 3, c, h, w)


def _dt(Dt, frames, action, actor, transition, tau, offset):
    return Dt(torch.cat(list(frames), 0), action, actor, transition, tau.reshape(-1, 1), offset)


def d_losses(Dt, Ds, real, fake, action, actor, transition, tau_real, tau_fake, offset, perm):
    """(D_t loss, D_s loss) of one discriminator step; ``real``/``fake`` the three frames, ``perm`` the shuffle of
    the fakes' first frames."""
    fake_t = _dt(Dt, fake, action, actor, transition, tau_fake, offset)
    real_t = _dt(Dt, real, action, actor, transition, tau_real, offset)
    fake_s = Ds(frame_order_batch(fake[0][perm], fake[1], fake[2]))
    real_s = Ds(frame_order_batch(*real))
    return (F.softplus(-real_t).mean() + F.softplus(fake_t).mean(),
            F.softplus(-real_s).mean() + F.softplus(fake_s).mean())


def r1_penalty(Dt, real, action, actor, transition, tau_real, offset) -> torch.Tensor:
    """``mean_n ||d D_t / d x_n||^2`` over the 3b real frames (train.py's ``d_r1_loss``)."""
    x = torch.cat([f.detach() for f in real], 0).requires_grad_(True)
    pred = Dt(x, action, actor, transition, tau_real.reshape(-1, 1), offset)
    grad, = torch.autograd.grad(pred.sum(), x, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


def g_loss(Dt, Ds, fake, action, actor, transition, tau_fake, offset) -> torch.Tensor:
    pred_t = _dt(Dt, fake, action, actor, transition, tau_fake, offset)
    return F.softplus(-pred_t).mean() + F.softplus(-Ds(frame_order_batch(*fake))).mean()


def path_penalty(frames, latents, mean_path_length: float, pl_noises, decay: float = 0.01):
    """(penalty averaged over the three frames, new running mean): StyleGAN2's ``g_path_regularize``
    (:func:`~vgbench.training.loss.path_length_penalty`) per frame with ``pl_noises`` the ``N(0, 1)`` images; the
    new running mean is the average of the three frames' updated means."""
    losses, means = [], []
    for img, lat, noise in zip(frames, latents, pl_noises):
        penalty, mean = path_length_penalty(img, lat, noise, mean_path_length, decay)
        losses.append(penalty.mean())
        means.append(mean.detach())
    return sum(losses) / 3.0, float(sum(means) / 3.0)


# ------------------------------------------------------------------------------------------------ trainer

class CTSVGTrainer(TrainerBase):
    """CTSVG in the shared training core: networks G, D_t (``D``), D_s (``D2``), G_ema; the step of the module
    docstring; the path-length running mean in the state."""

    LOG_KEYS = ("G_loss", "D_loss", "Ds_loss", "R1", "PL")

    def make_dataset(self, data):
        cfg = self.cfg
        d, loss = cfg["data"], cfg["loss"]
        return TripletClips(data, resolution=d["resolution"], clip_len=d["clip_len"],
                            batch_size=cfg["train"]["batch_size"], offsets=loss["offsets"],
                            offset_every=loss["offset_every"], num_person=d["num_person"],
                            num_classes=d["num_classes"], mirror=d["mirror"], seed=cfg["train"]["seed"])

    def build(self) -> None:
        loss = self.cfg["loss"]
        self.G, self.D, self.D2, self.G_ema, self.gkw = build_ctsvg(self.cfg, self.device)
        self.G_opt = self._adam(self.G, loss["g_reg_every"])
        self.D_opt = self._adam(self.D, loss["d_reg_every"])
        self.D2_opt = self._adam(self.D2, loss["d_reg_every"])
        self.mean_path_length = 0.0

    def networks(self) -> dict:
        return {"G": self.G, "D": self.D, "D2": self.D2, "G_ema": self.G_ema}

    #: the authors' checkpoint keys (train.py's ``torch.save``) -> these networks
    OFFICIAL_KEYS = {"g": "G", "d": "D", "d2": "D2", "g_ema": "G_ema"}

    def official_init_states(self, obj, path) -> dict:
        """The authors' ``torch.save`` dict: ``g``, ``d`` (D_t), ``d2`` (D_s), ``g_ema`` (those present)."""
        from ..models.checkpoint import CheckpointError
        from .init import tensors_only, torch_states

        obj = torch_states(obj, path)
        if not isinstance(obj, dict) or not set(self.OFFICIAL_KEYS) & set(obj):
            raise CheckpointError(f"{path}: not a CTSVG checkpoint (the authors' dict with g, d, d2, g_ema), a "
                                  f"vgbench ctsvg .vgb or training state")
        return {ours: tensors_only(obj[theirs], path, f"{theirs!r} as a state dict of tensors")
                for theirs, ours in self.OFFICIAL_KEYS.items() if theirs in obj}

    def optimizers(self) -> dict:
        return {"G_opt": self.G_opt, "D_opt": self.D_opt, "D2_opt": self.D2_opt}

    def extra_state(self) -> dict:
        return {"mean_path_length": self.mean_path_length}

    def load_extra_state(self, st: dict) -> None:
        self.mean_path_length = float(st["mean_path_length"])

    # ---------------------------------------------------------------------------------------- draws
    def _draws(self, step: int, phase: str, video_len: torch.Tensor, offset: int) -> dict:
        """tau (uniform integers in [o, N - o - 1] of each row's video length N), dynsty and per-frame spatial
        noise, drawn for the global batch; this rank's rows."""
        B, seed = self.cfg["train"]["batch_size"], self.cfg["train"]["seed"]
        rows = self._rows()
        u = torch.from_numpy(_rng(seed, step, phase, "t").random(B))[rows]
        n = video_len.to(torch.float64).cpu()
        tau = (offset + torch.floor(u * (n - 2 * offset))).to(torch.float32)
        dynsty = torch.randn([B, self.G.dyn_dim], generator=_gen(seed, step, phase, "motion"))[rows]
        g = _gen(seed, step, phase, "noise")
        noises = [[torch.randn([B, 1, r, r], generator=g)[rows].to(self.device) for r in self.G.noise_shapes()]
                  for _ in range(3)]
        return {"tau": tau.to(self.device), "dynsty": dynsty.to(self.device), "noises": noises}

    def _shuffle(self, step: int, b: int) -> torch.Tensor:
        keys = torch.rand([self.world, b], generator=_gen(self.cfg["train"]["seed"], step, "D", "shuffle"))
        return keys[self.rank].argsort().to(self.device)

    # ---------------------------------------------------------------------------------------- step
    def train_step(self, images, t_real, ids, video_len) -> dict:
        cfg, step, world = self.cfg, self.step, self.world
        loss_cfg, B = cfg["loss"], cfg["train"]["batch_size"]
        o = offset_at(step, loss_cfg["offsets"], loss_cfg["offset_every"])
        lam = transition_at(step, loss_cfg["transit_start"], loss_cfg["transit_end"])
        x = images.to(self.device, torch.float32).div(127.5).sub(1)
        real = (x[:, 0], x[:, 1], x[:, 2])
        b = x.shape[0]
        actor, action = ids[:, 0].to(self.device), ids[:, 1].to(self.device)
        tau_real = t_real[:, 0].to(self.device, torch.float32)
        logs = {"offset": o, "transition": lam}

        # D_t and D_s
        d = self._draws(step, "D", video_len, o)
        with torch.no_grad():
            fake = render_triplet(self.G, actor, action, d["dynsty"], d["tau"], o, lam, d["noises"])
        for m in (self.D, self.D2):
            m.requires_grad_(True)
        self.D_opt.zero_grad(set_to_none=True)
        self.D2_opt.zero_grad(set_to_none=True)
        d_t, d_s = d_losses(self.D, self.D2, real, fake, action, actor, lam, tau_real, d["tau"], o,
                            self._shuffle(step, b))
        ((d_t + d_s) / world).backward()
        for m, opt in ((self.D, self.D_opt), (self.D2, self.D2_opt)):
            _all_reduce_grads(m, world)
            opt.step()
        logs["D_loss"], logs["Ds_loss"] = d_t.item(), d_s.item()
        self.D2.requires_grad_(False)

        # lazy R1 on D_t
        if step % loss_cfg["d_reg_every"] == 0 and loss_cfg["r1"] > 0:
            self.D_opt.zero_grad(set_to_none=True)
            r1 = r1_penalty(self.D, real, action, actor, lam, tau_real, o)
            (loss_cfg["r1"] / 2 * r1 * loss_cfg["d_reg_every"] / world).backward()
            _all_reduce_grads(self.D, world)
            self.D_opt.step()
            logs["R1"] = r1.item()
        self.D.requires_grad_(False)

        # G
        self.G.requires_grad_(True)
        d = self._draws(step, "G", video_len, o)
        self.G_opt.zero_grad(set_to_none=True)
        fake = render_triplet(self.G, actor, action, d["dynsty"], d["tau"], o, lam, d["noises"])
        gl = g_loss(self.D, self.D2, fake, action, actor, lam, d["tau"], o)
        (gl / world).backward()
        _all_reduce_grads(self.G, world)
        self.G_opt.step()
        logs["G_loss"] = gl.item()

        # lazy path-length regularisation
        if step % loss_cfg["g_reg_every"] == 0 and loss_cfg["path_regularize"] > 0:
            n = max(1, b // loss_cfg["path_batch_shrink"])
            d = self._draws(step, "Greg", video_len, o)
            frames, latents = render_triplet(self.G, actor[:n], action[:n], d["dynsty"][:n], d["tau"][:n], o, lam,
                                             [[z[:n] for z in f] for f in d["noises"]], with_latents=True)
            g = _gen(cfg["train"]["seed"], step, "Greg", "pl_noise")
            shape = frames[0].shape
            pl = [torch.randn([world, *shape], generator=g)[self.rank].to(self.device) for _ in range(3)]
            self.G_opt.zero_grad(set_to_none=True)
            pen, new_mean = path_penalty(frames, latents, self.mean_path_length, pl)
            weighted = loss_cfg["path_regularize"] * loss_cfg["g_reg_every"] * pen + 0 * frames[1][0, 0, 0, 0]
            (weighted / world).backward()
            _all_reduce_grads(self.G, world)
            self.G_opt.step()
            self.mean_path_length = _mean_over_ranks(new_mean, world, self.device)
            logs["PL"] = pen.item()
        self.G.requires_grad_(False)

        self.update_ema(B)
        self.cur_nimg += B * 3
        self.step += 1
        if world > 1:
            import torch.distributed as dist

            keys = ("G_loss", "D_loss", "Ds_loss", "R1", "PL")
            t = torch.tensor([logs.get(k, 0.0) for k in keys], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            logs.update({k: v / world for k, v in zip(keys, t.tolist()) if k in logs})
        logs["augment_p"] = 0.0
        return logs

    # ---------------------------------------------------------------------------------------- grid
    def save_grid(self) -> list[Path]:
        """Videos of G_ema with stored noise at ``tau = 0, 1, ...`` (as generate.py); video ``i`` takes the ids of
        training video ``i * videos // grid_videos`` and the current action weight."""
        from .media import write_grid

        sched, loss_cfg = self.cfg["schedule"], self.cfg["loss"]
        n, frames = sched["grid_videos"], sched["grid_frames"]
        lam = transition_at(self.step, loss_cfg["transit_start"], loss_cfg["transit_end"])
        dynsty = torch.randn([n, self.G_ema.dyn_dim], generator=_gen(self.cfg["train"]["seed"], 0, "G", "grid"))
        tau = torch.arange(frames, dtype=torch.float32, device=self.device)
        out = []
        with torch.no_grad():
            for i in range(n):
                ids = torch.from_numpy(self.dataset.labels[i * self.dataset.num_videos // n]).to(self.device)
                content = self.G_ema.content_style(ids[None, 0], ids[None, 1], lam).expand(frames, -1)
                m = self.G_ema.motion_style(dynsty[i:i + 1].to(self.device)).expand(frames, -1)
                x = self.G_ema.render(content, m, tau)
                out.append(((x * 127.5 + 128).clamp(0, 255).to(torch.uint8)).permute(0, 2, 3, 1).cpu().numpy())
        return write_grid(np.stack(out), self.run_dir / f"grid-{self.step:06d}")

