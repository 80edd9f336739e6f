"""``vgbench train --model motionvideogan``: stage 3 of MotionVideoGAN's training (Zhu et al., IEEE TMM 2023), the
motion LSTM, as the authors' ``MotionVideoGAN/train.py`` + ``train_func.py`` do it, inside the shared training core
(:class:`vgbench.training.loop.TrainerBase`: loader, DDP gradient sums, snapshots, resume, ``log.jsonl``, periodic
FVD16). Stages 1 (the 6-channel image-pair StyleGAN2) and 2 (the motion directions) are inputs here:
``motion.generator`` (an official ``network-snapshot-*.pkl`` or the ``snapshot-*.vgb`` of ``--stage pairs``,
:mod:`vgbench.training.motionstylegan`; read by :func:`vgbench.models.motionvideogan.load_generator`)
and ``motion.directions`` (the folder of ``forward_direction.npy`` / ``backward_direction.npy``).

Networks. The LSTM is :class:`vgbench.models.motionvideogan.LSTMModule` (``h_dim = z_dim = G.z_dim``, the authors'
initialisation: :meth:`~vgbench.models.latent_lstm.LatentLSTM.official_init` with ``w ~ N(0, 0.02)``); the image-pair
generator is frozen. Two :class:`~.motionvideogan_nets.VideoDiscriminator` (``ModelD_3d``): ``D`` on a clip with its
first frame stacked along channels, ``D2`` (``modelD_3d_R``) on a clip with its time reversal stacked along channels.

Fake clips (:func:`render_clips`, ``VideoGenerator.forward`` with ``n_frame = num_frames + 1``): ``w_0 =
mapping(z)``, the LSTM runs ``num_frames`` steps on fresh N(0, I) noise, frame 0 is the latter image of ``w_0`` and
frame ``f >= 1`` the former (``f`` odd) or latter (``f`` even) image of code ``w_{f-1}`` (the adapter's
``frame_order="official"``); fresh spatial noise for every rendered image (upstream's default ``noise_mode``);
then average-pooled to ``data.resolution``. Real clips (:class:`ConsecutiveClips`): ``num_frames`` frames
``time_step`` apart from a start uniform in ``[0, N - 1 - num_frames * time_step]``.

Losses (:func:`ra_lsgan`, :func:`gradient_penalty`; ``models/losses.py``): relativistic average LSGAN on each scale's
last output, summed over scales, ``RaLS(a, b, real) = mean((a - mean(b) - [real])^2)``; the gradient penalty
``sum_s mean_{b,t,h,w}((||grad_x D_s(x_hat)||_channels - 1)^2) / num_D * gp_weight`` at ``x_hat = alpha real + (1 -
alpha) fake`` (one uniform alpha per clip), on D's un-flipped inputs.

Step (``GD_step``), one real batch ``x``:

1. ``loss.g_steps`` times: new fakes; ``G_loss = 0.5 * sum over D2, D of (RaLS(fake, real, 1) + RaLS(real, fake,
   0))`` where D's real and fake inputs are each reversed in time with probability 1/2 (``flip_video``, one coin
   per call); one Adam step of the LSTM.
2. New fakes (no gradient to the LSTM). ``D2_loss = 0.5 (RaLS(real, fake, 1) + RaLS(fake, real, 0)) + GP``, one
   Adam step of D2; then ``D_loss`` the same on D (coins as in 1), one Adam step of D.

Adam: ``lr = 1e-4``, betas ``(0.5, 0.999)`` for all three. No EMA (the snapshot holds the trained LSTM, as
``modelR_epoch_*.pth``). ``kimg`` counts real frames shown to D: ``batch * num_frames`` per step.

Snapshots: ``snapshot-SSSSSS.json`` is the manifest ``vgbench eval --model motionvideogan --ckpt`` reads; it names
``snapshot-SSSSSS-modelR.pth`` (the LSTM state dict, the official file format) and the run's copies of the inputs in
``inputs/`` (made at the first snapshot; a resume trains on these copies), with ``w_residual``, ``time_step`` and
the dataset card's fps.

Deliberate differences (docs/training.md): random draws come from generators seeded by (seed, step, phase,
purpose) for the global batch (each rank takes its rows), not from the global RNG, so a resume continues bit for
bit; real clips are visited in per-epoch permutations of the shared loader; only ``interpolation_frame_rate = 1``
(every training script's value).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from ..utils import atomic_write
from .data import TrainingClips
from .loop import TrainerBase, TrainingError, _all_reduce_grads, _gen, _rng

__all__ = ["ConsecutiveClips", "render_clips", "first_frame_pair", "reversal_pair", "ra_lsgan", "gradient_penalty",
           "d_loss", "g_loss", "MotionVideoGANTrainer"]

#: the run's copies of the inputs in ``inputs/``; the generator keeps its source's suffix (``generator.pkl`` for an
#: official snapshot, ``generator.vgb`` for a stage-1 snapshot of ``--stage pairs``)
INPUTS = {"generator": "generator.pkl", "forward_direction": "forward_direction.npy",
          "backward_direction": "backward_direction.npy"}


def _copy_name(role: str, src: Path) -> str:
    """The name of the run's copy of input ``role`` read from ``src`` (module docstring)."""
    return f"generator{src.suffix.lower() or '.pkl'}" if role == "generator" else INPUTS[role]


# ------------------------------------------------------------------------------------------------ data

class ConsecutiveClips(TrainingClips):
    """Item ``k``: ``num_frames`` frames ``time_step`` apart (module docstring); :meth:`batch` gives ``(images uint8
    [b, T, 3, H, W],)``. Videos need more than ``(num_frames + 1) * time_step`` frames (the authors' filter)."""

    BATCH_KEYS = ("image",)

    def __init__(self, source, *, resolution: int | None, num_frames: int, time_step: int, mirror: bool = False,
                 seed: int = 0):
        self.time_step = time_step
        super().__init__(source, resolution=resolution, num_frames=num_frames, max_dist=num_frames * time_step,
                         max_num_frames=2 ** 62, mirror=mirror, seed=seed, total_dists=None)

    def min_length(self) -> int:
        return (self.num_frames + 1) * self.time_step + 1

    def item(self, k: int) -> dict:
        index, rng, n = self.sample_start(k)
        start = int(rng.integers(n - self.num_frames * self.time_step))
        image, mirrored = self.read_frames(index, [start + i * self.time_step for i in range(self.num_frames)])
        return dict(image=image, index=index, mirrored=mirrored)


# ------------------------------------------------------------------------------------------------ clips

def render_clips(G, lstm, z, noise, *, resolution: int, generator=None, noise_mode: str = "random",
                 force_fp32: bool = True) -> torch.Tensor:
    """Fake clips ``[b, T, 3, resolution, resolution]`` in [-1, 1]-ish from ``z [b, z_dim]`` and LSTM noise ``[b, T,
    z_dim]`` (``T`` = frames), differentiable w.r.t. the LSTM; spatial noise from ``generator``."""
    from ..models.motionvideogan import frame_plan

    b, T = noise.shape[:2]
    w0 = G.mapping(z, torch.zeros(b, 0, device=z.device))[:, 0]
    codes = lstm(w0, noise)  # [b, T + 1, D]
    plan = frame_plan(T, "official")
    ws = codes[:, [lo for lo, *_ in plan]]  # official order, interpolation 1: frame f shows code lo
    img = G.synthesis(ws.reshape(b * T, 1, -1).repeat(1, G.num_ws, 1), noise_mode=noise_mode,
                      force_fp32=force_fp32, generator=generator)
    img = img.reshape(b, T, 2, 3, *img.shape[2:])
    half = torch.tensor([h for *_, h in plan], device=img.device)
    img = img[:, torch.arange(T, device=img.device), half]  # [b, T, 3, R, R]
    k = img.shape[-1] // resolution
    if k * resolution != img.shape[-1]:
        raise TrainingError(f"the generator renders {img.shape[-1]}px, not a multiple of data.resolution="
                            f"{resolution}")
    if k > 1:
        img = F.avg_pool2d(img.reshape(b * T, 3, *img.shape[-2:]), k).reshape(b, T, 3, resolution, resolution)
    return img


def first_frame_pair(clip: torch.Tensor) -> torch.Tensor:
    """``[b, T, 3, H, W]`` -> D's input ``[b, 6, T, H, W]``: the first frame repeated, then the clip."""
    return torch.cat([clip[:, :1].expand_as(clip), clip], dim=2).transpose(1, 2)


def reversal_pair(clip: torch.Tensor) -> torch.Tensor:
    """``[b, T, 3, H, W]`` -> D2's input ``[b, 6, T, H, W]``: the clip, then the clip reversed in time."""
    return torch.cat([clip, clip.flip(1)], dim=2).transpose(1, 2)


def _time_flip(x: torch.Tensor, flip: bool) -> torch.Tensor:
    return x.flip(2) if flip else x


# ------------------------------------------------------------------------------------------------ losses

def ra_lsgan(a: list, b: list, real: bool) -> torch.Tensor:
    """Relativistic average LSGAN summed over scales: ``sum_s mean((a_s - mean(b_s) - [real])^2)``."""
    return sum(((x - y.mean() - float(real)) ** 2).mean() for x, y in zip(a, b))


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """``sum_s mean((||d D_s / d x_hat||_2 over channels - 1)^2) / num_D * weight``, ``x_hat = alpha real +
    (1 - alpha) fake`` with ``alpha [b]``."""
    a = alpha.reshape(-1, 1, 1, 1, 1)
    x = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    preds = D(x)
    total = 0
    for p in preds:
        grad, = torch.autograd.grad(p.sum(), x, create_graph=True)
        total = total + ((grad.norm(2, dim=1) - 1) ** 2).mean()
    return total / len(preds) * weight


def d_loss(D, real_in: torch.Tensor, fake_in: torch.Tensor, alpha: torch.Tensor, gp_weight: float,
           flips=(False, False), real_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss with GP, GP) of one discriminator on its inputs; ``flips`` = time reversal of (fake, real) before the
    scores (D only; the GP always sees the un-flipped inputs). ``real_first``: score the real clips first (D2
    upstream; D scores the fakes first), which fixes the order of the gradient sums and instance-norm updates."""
    if real_first:
        real_pred = D(_time_flip(real_in, flips[1]))
        fake_pred = D(_time_flip(fake_in.detach(), flips[0]))
    else:
        fake_pred = D(_time_flip(fake_in.detach(), flips[0]))
        real_pred = D(_time_flip(real_in, flips[1]))
    loss = (ra_lsgan(real_pred, fake_pred, True) + ra_lsgan(fake_pred, real_pred, False)) * 0.5
    gp = gradient_penalty(D, real_in, fake_in, alpha, gp_weight)
    return loss + gp, gp


def g_loss(D, D2, real: torch.Tensor, fake: torch.Tensor, flips=(False, False)) -> tuple[torch.Tensor, ...]:
    """(G loss, its ``G_real_3d`` part, its ``G_fake_3d`` part) against both discriminators; ``flips`` = time
    reversal of D's (real, fake) inputs."""
    r2, f2 = D2(reversal_pair(real)), D2(reversal_pair(fake))
    g_real, g_fake = ra_lsgan(f2, r2, True), ra_lsgan(r2, f2, False)
    r1 = D(_time_flip(first_frame_pair(real), flips[0]))
    f1 = D(_time_flip(first_frame_pair(fake), flips[1]))
    g_real = g_real + ra_lsgan(f1, r1, True)
    g_fake = g_fake + ra_lsgan(r1, f1, False)
    return (g_real + g_fake) * 0.5, g_real, g_fake


# ------------------------------------------------------------------------------------------------ trainer

class MotionVideoGANTrainer(TrainerBase):
    """Stage 3 in the shared training core: networks ``G`` (the LSTM), ``D`` (first-frame D_3d), ``D2`` (reversal
    D_3d); the frozen image-pair generator ``image_G``; the step of the module docstring."""

    LOG_KEYS = ("G_loss", "D_loss", "D2_loss", "GP", "GP2")

    def make_dataset(self, data):
        d = self.cfg["data"]
        return ConsecutiveClips(data, resolution=d["resolution"], num_frames=d["num_frames"],
                                time_step=d["time_step"], mirror=d["mirror"], seed=self.cfg["train"]["seed"])

    def input_paths(self) -> dict[str, Path]:
        """The stage-1/2 files: the run's copies in ``inputs/`` once made, else the config's."""
        local = {role: self.run_dir / "inputs" / name for role, name in INPUTS.items()}
        local["generator"] = next(iter(sorted((self.run_dir / "inputs").glob("generator.*"))), local["generator"])
        if all(p.is_file() for p in local.values()):
            return local
        m = self.cfg["motion"]
        dirs = Path(m["directions"])
        return {"generator": Path(m["generator"]), "forward_direction": dirs / "forward_direction.npy",
                "backward_direction": dirs / "backward_direction.npy"}

    def build(self) -> None:
        from ..errors import VgbenchError
        from ..models.motionvideogan import LSTMModule, load_directions, load_generator
        from .motionvideogan_nets import VideoDiscriminator

        cfg, m, dc = self.cfg, self.cfg["motion"], self.cfg["discriminator"]
        paths = self.input_paths()
        for role, p in paths.items():
            if not p.is_file():
                raise TrainingError(f"{p}: no such file (motion.{'generator' if role == 'generator' else 'directions'}"
                                    f" in {cfg.get('config_source', 'the config')})")
        try:
            G, _ = load_generator(paths["generator"])
            dirs = [load_directions(paths[k], m["n_direction"], G.w_dim)
                    for k in ("forward_direction", "backward_direction")]
        except VgbenchError as e:
            raise TrainingError(str(e)) from e
        self.image_G = G.eval().requires_grad_(False).to(self.device)
        T = cfg["data"]["num_frames"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg["train"]["seed"])
            lstm = LSTMModule(h_dim=G.z_dim, n_direction=m["n_direction"], z_dim=G.z_dim,
                              w_residual=m["w_residual"]).official_init()
            D = VideoDiscriminator(T, 6, dc["ndf"], dc["n_layers"], dc["num_D"], dc["ndf_max"])
            D2 = VideoDiscriminator(T, 6, dc["ndf"], dc["n_layers"], dc["num_D"], dc["ndf_max"])
        lstm.set_directions(*dirs)
        self.G, self.D, self.D2 = (x.train().requires_grad_(False).to(self.device) for x in (lstm, D, D2))
        self.G_ema = self.G  # no EMA upstream
        self.gkw = {"h_dim": G.z_dim, "n_direction": m["n_direction"], "z_dim": G.z_dim}
        o = cfg["optim"]
        self.G_opt, self.D_opt, self.D2_opt = (torch.optim.Adam(x.parameters(), lr=o["lr"], betas=o["betas"],
                                                                eps=o["eps"]) for x in (self.G, self.D, self.D2))

    def networks(self) -> dict:
        return {"G": self.G, "D": self.D, "D2": self.D2}

    def official_init_states(self, obj, path) -> dict:
        """The authors' ``modelR_<tag>.pth`` (the LSTM's plain state dict), with ``modelD_3d_<tag>.pth`` (D) and
        ``modelD_3d_R_<tag>.pth`` (D2) from the same folder when ``save_models`` left them there (else the
        discriminators start fresh)."""
        from ..models.checkpoint import load_state_file
        from .init import tensors_only, torch_states

        path = Path(path)
        out = {"G": tensors_only(torch_states(obj, path), path, "the LSTM's state dict (modelR_<tag>.pth)")}
        if path.name.startswith("modelR_"):
            tag = path.name[len("modelR_"):]
            for name, file in (("D", f"modelD_3d_{tag}"), ("D2", f"modelD_3d_R_{tag}")):
                if (path.parent / file).is_file():
                    out[name] = load_state_file(path.parent / file, f"the discriminator {name}")
        return out

    def optimizers(self) -> dict:
        return {"G_opt": self.G_opt, "D_opt": self.D_opt, "D2_opt": self.D2_opt}

    # ---------------------------------------------------------------------------------------- draws
    def _fakes(self, step: int, phase: str, grad: bool) -> torch.Tensor:
        """This rank's fake clips from the draws of (step, phase) for the global batch."""
        B, seed, T = self.cfg["train"]["batch_size"], self.cfg["train"]["seed"], self.cfg["data"]["num_frames"]
        rows = self._rows()
        zd = self.image_G.z_dim
        z = torch.randn([B, zd], generator=_gen(seed, step, phase, "z"))[rows].to(self.device)
        noise = torch.randn([B, T, zd], generator=_gen(seed, step, phase, "motion"))[rows].to(self.device)
        # spatial noise is drawn inside the synthesis for this rank's images only: a generator per (rank, step)
        g = _gen(seed, step * self.world + self.rank, phase, "noise")
        with torch.set_grad_enabled(grad):
            return render_clips(self.image_G, self.G, z, noise, resolution=self.cfg["data"]["resolution"],
                                generator=g, force_fp32=self.force_fp32)

    def _flips(self, step: int, phase: str) -> tuple[bool, bool]:
        u = _rng(self.cfg["train"]["seed"], step, phase, "shuffle").random(2)
        return bool(u[0] < 0.5), bool(u[1] < 0.5)

    def _alpha(self, step: int, purpose: str) -> torch.Tensor:
        B = self.cfg["train"]["batch_size"]
        return torch.rand([B], generator=_gen(self.cfg["train"]["seed"], step, "Dreg", purpose))[self._rows()].to(
            self.device)

    # ---------------------------------------------------------------------------------------- step
    def train_step(self, images) -> dict:
        cfg, step, world = self.cfg, self.step, self.world
        loss_cfg, B, T = cfg["loss"], cfg["train"]["batch_size"], cfg["data"]["num_frames"]
        x = images.to(self.device, torch.float32).div(255).mul(2).sub(1)
        logs = {}

        # G (the LSTM), g_steps times on the same real batch
        self.G.requires_grad_(True)
        for k in range(loss_cfg["g_steps"]):
            sub = step * loss_cfg["g_steps"] + k
            fake = self._fakes(sub, "G", grad=True)
            self.G_opt.zero_grad(set_to_none=True)
            gl, g_real, g_fake = g_loss(self.D, self.D2, x, fake, self._flips(sub, "G"))
            (gl / world).backward()
            _all_reduce_grads(self.G, world)
            self.G_opt.step()
        self.G.requires_grad_(False)
        logs.update(G_loss=gl.item(), G_real=g_real.item(), G_fake=g_fake.item())

        # D2 (reversal) then D (first frame) on one new batch of fakes
        fake = self._fakes(step, "D", grad=False)
        flips = self._flips(step, "D")
        for name, D, opt, pair, purpose, fl in (
                ("D2", self.D2, self.D2_opt, reversal_pair, "aug_fake", (False, False)),
                ("D", self.D, self.D_opt, first_frame_pair, "aug_real", flips)):
            D.requires_grad_(True)
            opt.zero_grad(set_to_none=True)
            loss, gp = d_loss(D, pair(x), pair(fake), self._alpha(step, purpose), loss_cfg["gp_weight"], fl,
                              real_first=name == "D2")
            (loss / world).backward()
            _all_reduce_grads(D, world)
            opt.step()
            D.requires_grad_(False)
            logs[f"{name}_loss"], logs["GP" if name == "D" else "GP2"] = loss.item(), gp.item()

        self.cur_nimg += B * T
        self.step += 1
        if world > 1:
            import torch.distributed as dist

            keys = sorted(logs)
            t = torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            logs = {k: v / world for k, v in zip(keys, t.tolist())}
        logs["augment_p"] = 0.0
        return logs

    # ---------------------------------------------------------------------------------------- snapshots
    def snapshot_paths(self, step: int) -> tuple[Path, Path]:
        return self.run_dir / f"snapshot-{step:06d}.json", self.run_dir / f"snapshot-{step:06d}.state.pt"

    def write_checkpoint(self) -> Path:
        """The manifest ``vgbench eval --model motionvideogan`` reads, the LSTM beside it, the inputs in
        ``inputs/`` (copied once)."""
        inputs = self.run_dir / "inputs"
        inputs.mkdir(exist_ok=True)
        for role, src in self.input_paths().items():
            dst = inputs / _copy_name(role, src)
            if not dst.is_file():
                with atomic_write(dst, "wb") as fh, open(src, "rb") as f:
                    shutil.copyfileobj(f, fh)
        manifest, _ = self.snapshot_paths(self.step)
        lstm = self.run_dir / f"snapshot-{self.step:06d}-modelR.pth"
        with atomic_write(lstm, "wb") as fh:
            torch.save({k: v.detach().cpu() for k, v in self.G.state_dict().items()}, fh)
        generator = _copy_name("generator", self.input_paths()["generator"])
        entry = {"generator": f"inputs/{generator}", "lstm": lstm.name,
                 "forward_direction": f"inputs/{INPUTS['forward_direction']}",
                 "backward_direction": f"inputs/{INPUTS['backward_direction']}",
                 "w_residual": self.cfg["motion"]["w_residual"], "time_step": self.cfg["data"]["time_step"],
                 "dataset_fps": self.dataset_fps()}
        with atomic_write(manifest) as fh:
            json.dump(entry, fh, indent=2)
        return manifest

    def save_grid(self) -> list[Path]:
        """Videos of the LSTM with constant spatial noise and fixed seeds, at the generator's resolution."""
        from .media import write_grid

        sched, seed = self.cfg["schedule"], self.cfg["train"]["seed"]
        n, frames = sched["grid_videos"], sched["grid_frames"]
        zd = self.image_G.z_dim
        z = torch.randn([n, zd], generator=_gen(seed, 0, "G", "grid")).to(self.device)
        noise = torch.randn([n, frames, zd], generator=_gen(seed, 1, "G", "grid")).to(self.device)
        with torch.no_grad():
            x = render_clips(self.image_G, self.G, z, noise, resolution=self.image_G.img_resolution,
                             noise_mode="const", force_fp32=self.force_fp32)
        video = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        return write_grid(video, self.run_dir / f"grid-{self.step:06d}")
