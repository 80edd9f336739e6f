"""``vgbench train``: the training loop of StyleGAN-V and MoStGAN-V on vgbench's native networks, and the core that
every model's trainer shares (:class:`TrainerBase`; CTSVG's step is in :mod:`vgbench.training.ctsvg`,
MotionVideoGAN's stage 3 in :mod:`vgbench.training.motionvideogan`).

The step is the authors' (``src/training/training_loop.py``, a StyleGAN2-ADA loop): per batch of ``B`` clips,

1. ``Gmain``: G's non-saturating loss through the augmented discriminator, one Adam step of G;
2. (``Greg``: no generator regulariser runs, ``pl_weight`` is 0, but G's Adam keeps the lazy-regularisation
   scaling ``lr * r/(r+1)``, ``betas ** (r/(r+1))`` with ``r = g_reg_interval``, as upstream);
3. ``Dmain``: D's loss on G's (detached) clips and on real clips, one Adam step of D;
4. ``Dreg`` every ``r1_interval`` batches: R1 on real clips with gain ``r1_interval``, one Adam step of D;
5. EMA of G (half-life ``ema_kimg`` thousand clips), counters (``kimg`` counts frames: ``B * num_frames``), and
   every ``augment.interval`` batches the ADA update of p from the mean sign of D's real logits.

Determinism and world size. Every random quantity is drawn for the *global* batch from a CPU generator seeded by
(seed, step, purpose) and each rank takes its rows: latents, fake times, motion noise, augmentation parameters and,
through :mod:`vgbench.training.data`, the real clips (a pure function of the sample index). Each rank scales its
loss by its share of the global batch and the gradients are summed over ranks (``torch.distributed.all_reduce``,
NCCL on CUDA, gloo on CPU) before the optimiser step, so 1 or N processes compute the same update up to float
reduction order, given the same forward-pass batch ``train.batch_gpu`` (it fixes the discriminator's
minibatch-stddev groups, as upstream). No global RNG is used, so the state saved in a snapshot (weights, Adam, EMA, p, counters, ADA
accumulators) is all a resume needs to continue bit for bit.

Run directory: ``config.json`` (the resolved config), ``log.jsonl`` (one line per tick, snapshot and FVD),
``snapshot-SSSSSS.vgb`` (G_ema in vgbench's checkpoint format: ``vgbench eval --model <model> --ckpt`` loads it),
``snapshot-SSSSSS.state.pt`` (everything to resume; loaded with ``weights_only=True``), ``grid-SSSSSS.png`` /
``.mp4`` (fixed-seed samples of G_ema) and ``fvd.jsonl`` (full ``vgbench eval`` records). ``SSSSSS`` is the step.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import VgbenchError
from ..utils import atomic_write, exact_float32
from .config import resolve

__all__ = ["train", "TrainingError", "build_networks", "TrainerBase", "Trainer", "trainer_class"]

STATE_FORMAT = "vgbench.train-state/1"


class TrainingError(VgbenchError, RuntimeError):
    """A training run cannot start or continue (bad run directory, data, config)."""


# ------------------------------------------------------------------------------------------------ seeds

_PURPOSES = {"z": 0, "t": 1, "motion": 2, "aug_fake": 3, "aug_real": 4, "grid": 5, "noise": 6, "shuffle": 7,
             "pl_noise": 8, "pass": 9}
_PHASES = {"G": 0, "D": 1, "Dreg": 2, "Greg": 3}


def _gen(seed: int, step: int, phase: str, purpose: str) -> torch.Generator:
    ss = np.random.SeedSequence([seed, step, _PHASES[phase], _PURPOSES[purpose]])
    return torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))


def _rng(seed: int, step: int, phase: str, purpose: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, step, _PHASES[phase], _PURPOSES[purpose], 1]))


# ------------------------------------------------------------------------------------------------ networks

def _generator_module(model: str):
    if model == "stylegan_v":
        from ..models import stylegan_v as mod
    else:
        from ..models import mostgan_v as mod
    return mod


def generator_kwargs(cfg: dict) -> dict:
    mod = _generator_module(cfg["model"])
    g = cfg["generator"]
    c_dim = cfg["data"]["c_dim"]
    if g["preset"] == "tiny":
        kw = mod.tiny_config()
        kw["c_dim"] = kw["cfg"]["c_dim"] = c_dim
    elif g["preset"] == "official":
        kw = mod.official_config(img_resolution=cfg["data"]["resolution"], c_dim=c_dim,
                                 motion_z_distance=g["motion_z_distance"], fmaps=g["fmaps"],
                                 mapping_layers=g["mapping_layers"], fp32=g["fp32"],
                                 cfg_overrides=g["overrides"] or None)
    else:
        raise TrainingError(f"generator.preset must be official or tiny, got {g['preset']!r}")
    if kw["img_resolution"] != cfg["data"]["resolution"]:
        raise TrainingError(f"the {g['preset']} generator renders {kw['img_resolution']}px but data.resolution is "
                            f"{cfg['data']['resolution']}")
    if kw["cfg"].get("use_noise"):
        raise TrainingError("generator.overrides: use_noise = true is not supported in training (both papers' model "
                            "configs set use_noise: false)")
    kw["cfg"].setdefault("sampling", {})
    kw["cfg"]["sampling"].update({"type": "random", "num_frames_per_video": cfg["data"]["num_frames"],
                                  "max_dist": cfg["data"]["max_dist"],
                                  "max_num_frames": cfg["data"]["max_num_frames"]})
    return kw


def discriminator_kwargs(cfg: dict) -> dict:
    from . import discriminator as dmod

    d, data = cfg["discriminator"], cfg["data"]
    if d["preset"] == "tiny":
        kw = dmod.tiny_kwargs(cfg["model"])
        kw["c_dim"] = data["c_dim"]
    elif d["preset"] == "official":
        kw = dmod.official_kwargs(cfg["model"], data["resolution"], c_dim=data["c_dim"],
                                  batch_per_gpu=cfg["train"]["batch_gpu"], mbstd_group_size=d["mbstd_group_size"],
                                  num_frames=data["num_frames"], max_num_frames=data["max_num_frames"], fp32=d["fp32"])
        kw["channel_base"] = int(d["fmaps"] * 32768)
    else:
        raise TrainingError(f"discriminator.preset must be official or tiny, got {d['preset']!r}")
    kw = copy.deepcopy(kw)
    kw["epilogue_kwargs"] = dict(kw.get("epilogue_kwargs") or {}, mbstd_group_size=d["mbstd_group_size"])
    dc = kw["cfg"]
    dc.update({"concat_res": d["concat_res"], "num_frames_div_factor": d["num_frames_div_factor"]})
    dc.setdefault("sampling", {}).update({"type": "random", "num_frames_per_video": data["num_frames"],
                                          "max_num_frames": data["max_num_frames"]})
    return kw


def build_networks(cfg: dict, device) -> tuple:
    """(G, D, G_ema, G kwargs, D kwargs), initialised from ``train.seed`` (the same on every rank)."""
    from .discriminator import Discriminator

    mod = _generator_module(cfg["model"])
    gkw, dkw = generator_kwargs(cfg), discriminator_kwargs(cfg)
    fork = torch.random.fork_rng(devices=[])
    with fork:
        torch.manual_seed(cfg["train"]["seed"])
        G = mod.Generator(**copy.deepcopy(gkw))
        D = Discriminator(**copy.deepcopy(dkw))
    G, D = G.train().requires_grad_(False).to(device), D.train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    return G, D, G_ema, gkw, dkw


# ------------------------------------------------------------------------------------------------ distributed

def _all_reduce_grads(module: torch.nn.Module, world: int) -> None:
    params = [p for p in module.parameters() if p.grad is not None]
    if world > 1 and params:
        import torch.distributed as dist

        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce(flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.reshape(p.shape))
    for p in params:
        torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


def _update_w_avg(G, loss, world: int, device) -> None:
    """``w_avg <- mean(w).lerp(w_avg, beta)`` with the mean over this phase's whole global batch. With one forward
    pass on one process the mean is that pass's ``mean(dim=0)`` in float32, exactly as upstream computes it."""
    means = loss.take_w_stats()
    avg = getattr(G.mapping, "w_avg", None)
    if avg is None or G.mapping.w_avg_beta is None or not means:
        return
    if world == 1 and len(means) == 1:
        mean = means[0][0]
    else:
        total = torch.zeros(avg.numel() + 1, dtype=torch.float64, device=device)
        for m, n in means:
            total[:-1] += m.double() * n
            total[-1] += n
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(total)
        mean = (total[:-1] / total[-1]).to(avg.dtype)
    avg.copy_(mean.lerp(avg, G.mapping.w_avg_beta))


def _all_reduce_sum(values: list[float], world: int, device) -> list[float]:
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _mean_over_ranks(value: float, world: int, device) -> float:
    """The mean of a number over ranks (float64 all-reduce); ``value`` itself with one process."""
    return _all_reduce_sum([value], world, device)[0] / world


# ------------------------------------------------------------------------------------------------ trainer

class TrainerBase:
    """One training run (one process of it), the part every model shares: run directory, the per-step loader,
    counters, EMA of G, snapshots and resume, sample grids, ticks in ``log.jsonl``, periodic FVD16. ``run()`` trains
    to ``train.kimg``. A model's trainer (:class:`Trainer` for the StyleGAN-V family,
    :class:`vgbench.training.ctsvg.CTSVGTrainer`) supplies :meth:`make_dataset`, :meth:`build` (networks,
    optimisers, ``self.gkw`` for the checkpoint), :meth:`setup_loss`, :meth:`train_step` and :meth:`save_grid`;
    :meth:`networks`, :meth:`optimizers` and :meth:`extra_state` name what a snapshot holds;
    :meth:`write_checkpoint` (with :meth:`snapshot_paths`) writes what eval reads (MotionVideoGAN: a manifest)."""

    #: the step losses averaged into each tick line of ``log.jsonl``
    LOG_KEYS = ("G_loss", "D_loss", "R1")

    def __init__(self, cfg: dict, run_dir: str | Path, data: str, *, device=None, resume: bool = False,
                 progress: bool = True, rank: int = 0, world: int = 1, mixed_precision: bool | None = None,
                 init: str | Path | None = None):
        from .data import ClipLoader

        self.rank, self.world = rank, world
        self.run_dir = Path(run_dir)
        self.progress = progress and rank == 0
        self.device = torch.device(device) if device else torch.device("cpu")
        self.cfg = cfg = resolve(cfg, world)
        # the configs' float16 blocks run on CUDA; elsewhere everything is float32 unless asked (tests of that path)
        self.force_fp32 = not (self.device.type == "cuda" if mixed_precision is None else mixed_precision)
        self.data_spec = data
        self.dataset = self.make_dataset(data)
        self.augment = None
        self.build()
        self.step, self.cur_nimg = 0, 0
        self.ada_sign_sum, self.ada_sign_count = 0.0, 0
        self.elapsed = 0.0
        self.resumed_from = None
        self.init_record = None
        if init is not None:
            if resume:
                raise TrainingError("--init starts a new run from a checkpoint; a resumed run continues from its own "
                                    "state")
            self.init_from(init)
        if resume:
            self._load_latest()
        self.setup_loss()
        self.loader = ClipLoader(self.dataset, cfg["train"]["batch_size"], rank=rank, world_size=world,
                                 start_step=self.step, workers=cfg["data"]["workers"])

    # ------------------------------------------------------------------------------------- model hooks
    def make_dataset(self, data):
        raise NotImplementedError

    def build(self) -> None:
        raise NotImplementedError

    def setup_loss(self) -> None:
        pass

    def train_step(self, *batch) -> dict:
        raise NotImplementedError

    def save_grid(self) -> list[Path]:
        raise NotImplementedError

    def networks(self) -> dict:
        """The modules a snapshot saves and a resume restores, by name."""
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    def optimizers(self) -> dict:
        return {"G_opt": self.G_opt, "D_opt": self.D_opt}

    def extra_state(self) -> dict:
        """Model-specific counters saved in the state (plain numbers); restored by :meth:`load_extra_state`."""
        return {}

    def load_extra_state(self, st: dict) -> None:
        pass

    def checkpoint_extra(self) -> dict:
        """Entries added to the ``config.json`` of the ``.vgb`` snapshot (e.g. which network of a model it holds)."""
        return {}

    # ---------------------------------------------------------------------------------- start from a checkpoint
    def native_model(self) -> str:
        """The ``model`` of the vgbench ``.vgb`` checkpoints this trainer writes (and can start from)."""
        return self.cfg["model"]

    @staticmethod
    def state_format() -> str:
        return STATE_FORMAT

    def official_init_states(self, obj, path: Path) -> dict:
        """``{network name: state dict}`` from the authors' checkpoint format (:mod:`vgbench.training.init`);
        ``obj`` is the torch file already read, or None for a file that is not a torch zip. The StyleGAN-V family:
        a persistence pickle's ``G``, ``D`` and ``G_ema``."""
        from .init import official_network_states

        return official_network_states(obj, path)

    def init_from(self, path: str | Path) -> None:
        """Load the networks of the checkpoint ``path`` (:mod:`vgbench.training.init`; every key and shape must fit
        the networks of this config); a network the file lacks keeps its initialisation, except that ``G`` and
        ``G_ema`` stand in for each other. Records ``self.init_record`` (path, sha256, networks loaded)."""
        from ..models.checkpoint import CheckpointError, check_state_dict, checkpoint_sha256
        from ..safe_pickle import UnsafePickleError
        from .init import init_states

        path = Path(path)
        nets = self.networks()
        try:
            states = init_states(self, path)
            states = {k: v for k, v in states.items() if k in nets}
            if "G" in states and "G_ema" in nets and "G_ema" not in states:
                states["G_ema"] = states["G"]
            if "G_ema" in states and "G" not in states:
                states["G"] = states["G_ema"]
            for name, state in states.items():
                check_state_dict(nets[name], state, str(path), what=f"{name} as this config builds it")
                bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
                if bad:
                    raise CheckpointError(f"{path}: non-finite values in {name}: {bad[:4]}")
        except (CheckpointError, UnsafePickleError) as e:
            raise TrainingError(str(e)) from e
        for name, state in states.items():
            nets[name].load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v
                                        for k, v in state.items()}, strict=True)
        self.init_record = {"path": str(path), "sha256": checkpoint_sha256(path), "networks": sorted(states)}

    # ---------------------------------------------------------------------------------- shared pieces
    def build_augment_and_adam(self) -> None:
        """The StyleGAN2-ADA optimisation of G and D: the augmentation pipe of ``augment`` (none with mode none) at
        its initial p, and Adam for G and D with the lazy-regularisation scaling of ``loss.g_reg_interval`` and
        ``loss.r1_interval``."""
        from .augment import make_pipe

        cfg = self.cfg
        aug = cfg["augment"]
        if aug["mode"] != "none":
            self.augment = make_pipe(aug["pipe"]).to(self.device)
            self.augment.p.fill_(aug["p"])
        self.G_opt = self._adam(self.G, cfg["loss"]["g_reg_interval"])
        self.D_opt = self._adam(self.D, cfg["loss"]["r1_interval"])

    def _adam(self, module, reg_interval: int):
        o = self.cfg["optim"]
        ratio = reg_interval / (reg_interval + 1)
        return torch.optim.Adam(module.parameters(), lr=o["lr"] * ratio, betas=[b ** ratio for b in o["betas"]],
                                eps=o["eps"])

    def update_ema(self, batch: int) -> None:
        """G_ema <- G.lerp(G_ema, beta), beta = 0.5 ** (batch / ema_nimg) (with the optional ramp-up); buffers
        copied."""
        cfg = self.cfg
        with torch.no_grad():
            ema_nimg = cfg["train"]["ema_kimg"] * 1000
            if cfg["train"]["ema_rampup"] is not None:
                ema_nimg = min(ema_nimg, self.cur_nimg * cfg["train"]["ema_rampup"])
            beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def reduce_and_adapt(self, logs: dict, sign_sum: float, sign_count: int) -> dict:
        """End of a step (after ``self.step += 1``): sum the :attr:`LOG_KEYS` in ``logs`` (each rank's share of the
        global mean) and the real-logit signs over ranks, then every ``augment.interval`` steps the ADA update of
        p from the mean sign since the last one. Returns ``logs`` with ``augment_p`` (and ``real_sign``)."""
        keys = [k for k in self.LOG_KEYS if k in logs]
        s = _all_reduce_sum([logs[k] for k in keys] + [sign_sum, sign_count], self.world, self.device)
        logs.update(zip(keys, s[:len(keys)]))
        self.ada_sign_sum += s[-2]
        self.ada_sign_count += int(s[-1])
        aug = self.cfg["augment"]
        if self.augment is not None and aug["mode"] == "ada" and self.step % aug["interval"] == 0:
            from .augment import ada_adjust

            mean = self.ada_sign_sum / max(self.ada_sign_count, 1)
            new_p = ada_adjust(float(self.augment.p), mean, aug["target"], self.cfg["train"]["batch_size"],
                               aug["interval"], aug["kimg"])
            self.augment.p.fill_(new_p)
            logs["real_sign"] = mean
            self.ada_sign_sum, self.ada_sign_count = 0.0, 0
        logs["augment_p"] = float(self.augment.p) if self.augment is not None else 0.0
        return logs

    def _rows(self) -> slice:
        b = self.cfg["train"]["batch_size"] // self.world
        return slice(self.rank * b, (self.rank + 1) * b)

    def _to_device(self, d: dict) -> dict:
        return {k: v.to(self.device) if v is not None else None for k, v in d.items()}

    # ------------------------------------------------------------------------------------------- snapshots
    def _state(self) -> dict:
        return {
            "format": STATE_FORMAT, "model": self.cfg["model"], "config": self.cfg,
            "step": self.step, "cur_nimg": self.cur_nimg, "elapsed": self.elapsed,
            "ada_sign_sum": self.ada_sign_sum, "ada_sign_count": self.ada_sign_count,
            "augment_p": float(self.augment.p) if self.augment is not None else None,
            **{name: m.state_dict() for name, m in self.networks().items()},
            **{name: o.state_dict() for name, o in self.optimizers().items()},
            **self.extra_state(),
        }

    def snapshot_paths(self, step: int) -> tuple[Path, Path]:
        return self.run_dir / f"snapshot-{step:06d}.vgb", self.run_dir / f"snapshot-{step:06d}.state.pt"

    def dataset_fps(self) -> float | None:
        """The frame rate of the config's dataset card (None without a card or a rate)."""
        from ..data.cards import load_card

        try:
            return load_card(self.cfg["dataset"]).get("fps") if self.cfg["dataset"] else None
        except VgbenchError:
            return None

    def write_checkpoint(self) -> Path:
        """The checkpoint that ``vgbench eval --model <model>`` reads (here G_ema as a .vgb), written atomically;
        returns its path."""
        from ..models.checkpoint import save_native

        vgb = self.snapshot_paths(self.step)[0]
        save_native(vgb, self.cfg["model"], self.gkw, self.G_ema.state_dict(),
                    extra={**self.checkpoint_extra(), "dataset_fps": self.dataset_fps(),
                           "training": {"step": self.step, "kimg": self.cur_nimg / 1000,
                                        "config": self.cfg["config_source"], "dataset": self.cfg["dataset"]}})
        return vgb

    def save_snapshot(self) -> Path:
        """The eval checkpoint (:meth:`write_checkpoint`) and the full state for a resume, both written atomically
        (rank 0)."""
        vgb = self.write_checkpoint()
        state = self.snapshot_paths(self.step)[1]
        with atomic_write(state, "wb") as fh:
            torch.save(_cpu(self._state()), fh)
        keep = self.cfg["schedule"].get("keep_states", 2)
        if keep:
            states = sorted(self.run_dir.glob("snapshot-*.state.pt"))
            for old in states[:-keep]:
                old.unlink()
        return vgb

    def _load_latest(self) -> None:
        states = sorted(self.run_dir.glob("snapshot-*.state.pt"))
        if not states:
            raise TrainingError(f"{self.run_dir}: nothing to resume (no snapshot-*.state.pt)")
        path = states[-1]
        try:
            st = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same problem for the user
            raise TrainingError(f"{path}: cannot read the training state ({type(e).__name__}: {e})") from e
        if not isinstance(st, dict) or st.get("format") != STATE_FORMAT:
            raise TrainingError(f"{path}: not a vgbench training state")
        if st["model"] != self.cfg["model"]:
            raise TrainingError(f"{path}: a {st['model']} run, cannot resume it as {self.cfg['model']}")
        for name, module in self.networks().items():
            try:
                module.load_state_dict(st[name], strict=True)
            except (RuntimeError, KeyError) as e:
                raise TrainingError(f"{path}: {name} does not fit this config: {e}") from e
        for name, opt in self.optimizers().items():
            opt.load_state_dict(st[name])
            _opt_to(opt, self.device)
        self.load_extra_state(st)
        self.step, self.cur_nimg, self.elapsed = int(st["step"]), int(st["cur_nimg"]), float(st["elapsed"])
        self.ada_sign_sum, self.ada_sign_count = float(st["ada_sign_sum"]), int(st["ada_sign_count"])
        if self.augment is not None and st["augment_p"] is not None:
            self.augment.p.fill_(float(st["augment_p"]))
        self.resumed_from = str(path)

    # ------------------------------------------------------------------------------------------------ FVD
    def run_fvd(self, ckpt: Path) -> dict:
        from ..evaluate import evaluate

        sched = self.cfg["schedule"]
        record = evaluate(self.cfg["model"], str(ckpt), self.cfg["dataset"], data=self.data_spec,
                          metrics=("fvd16",), num_fake=sched["fvd_num_fake"], device=str(self.device),
                          progress=False, out=str(self.run_dir / "fvd.jsonl"))
        return record["metrics"]["fvd16"]

    # -------------------------------------------------------------------------------------------------- run
    def _log(self, entry: dict) -> None:
        if self.rank == 0:
            with open(self.run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    def _due(self, before: int, kimg: float) -> bool:
        if kimg <= 0:
            return False
        every = kimg * 1000
        return math.floor(self.cur_nimg / every) > math.floor(before / every)

    def run(self) -> dict:
        from tqdm import tqdm

        cfg = self.cfg
        total = cfg["train"]["kimg"] * 1000
        sched = cfg["schedule"]
        bar = tqdm(total=round(total / 1000, 3), initial=round(self.cur_nimg / 1000, 3), unit="kimg",
                   disable=not self.progress, dynamic_ncols=True, desc="train")
        tick = {k: [] for k in self.LOG_KEYS}
        t_tick = time.time()
        self._log({"event": "resume" if self.resumed_from else "start", "step": self.step,
                   "kimg": self.cur_nimg / 1000, "world_size": self.world, "device": str(self.device),
                   **({"state": Path(self.resumed_from).name} if self.resumed_from else {}),
                   **({"init": self.init_record} if self.init_record else {})})
        last = {}
        it = iter(self.loader)
        try:
            while self.cur_nimg < total:
                batch = next(it)
                t0 = time.time()
                before = self.cur_nimg
                logs = self.train_step(*batch)
                self.elapsed += time.time() - t0
                last = logs
                for k in tick:
                    if k in logs:
                        tick[k].append(logs[k])
                bar.update(round((self.cur_nimg - before) / 1000, 3))
                bar.set_postfix(G=f"{logs['G_loss']:.3f}", D=f"{logs['D_loss']:.3f}", p=f"{logs['augment_p']:.3f}")
                done = self.cur_nimg >= total
                if self._due(before, sched["tick_kimg"]) or done:
                    now = time.time()
                    self._log({"event": "tick", "step": self.step, "kimg": self.cur_nimg / 1000,
                               "sec": round(now - t_tick, 3), "train_seconds": round(self.elapsed, 3),
                               **{k: float(np.mean(v)) for k, v in tick.items() if v},
                               "augment_p": logs["augment_p"]})
                    tick = {k: [] for k in tick}
                    t_tick = now
                if self._due(before, sched["snap_kimg"]) or done:
                    self._maintenance(before, done)
        finally:
            bar.close()
        return {"step": self.step, "kimg": self.cur_nimg / 1000, "last": last, "run_dir": str(self.run_dir)}

    def _maintenance(self, before: int, done: bool) -> None:
        if self.rank == 0:
            vgb = self.save_snapshot()
            grid = self.save_grid()
            self._log({"event": "snapshot", "step": self.step, "kimg": self.cur_nimg / 1000, "checkpoint": vgb.name,
                       "grid": [p.name for p in grid]})
            if self._due(before, self.cfg["schedule"]["fvd_kimg"]) or (done and self.cfg["schedule"]["fvd_kimg"] > 0):
                res = self.run_fvd(vgb)
                self._log({"event": "fvd16", "step": self.step, "kimg": self.cur_nimg / 1000,
                           "value": res.get("value"), "checkpoint": vgb.name})
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


class Trainer(TrainerBase):
    """The StyleGAN-V / MoStGAN-V training run (module docstring)."""

    def make_dataset(self, data):
        from .data import TrainingClips

        cfg = self.cfg
        return TrainingClips(data, resolution=cfg["data"]["resolution"], num_frames=cfg["data"]["num_frames"],
                             max_dist=cfg["data"]["max_dist"], max_num_frames=cfg["data"]["max_num_frames"],
                             mirror=cfg["data"]["mirror"], seed=cfg["train"]["seed"], c_dim=cfg["data"]["c_dim"])

    def build(self) -> None:
        cfg = self.cfg
        self.G, self.D, self.G_ema, self.gkw, self.dkw = build_networks(cfg, self.device)
        self.build_augment_and_adam()

    def setup_loss(self) -> None:
        from .loss import StyleGANVLoss

        cfg = self.cfg
        self.loss = StyleGANVLoss(self.G, self.D, self.augment, r1_gamma=cfg["loss"]["r1_gamma"],
                                  num_frames=cfg["data"]["num_frames"], force_fp32=self.force_fp32,
                                  precision="auto")

    # ---------------------------------------------------------------------------------------- batch inputs
    def _fake_inputs(self, step: int, phase: str) -> dict:
        """Latents, labels, times, motion noise and augmentation draws for the global batch; this rank's rows. As in
        the authors' loop, each fake clip takes the label and the length of a random training item."""
        from .data import random_frame_times

        cfg, B, seed = self.cfg, self.cfg["train"]["batch_size"], self.cfg["train"]["seed"]
        data = cfg["data"]
        z = torch.randn([B, self.G.z_dim], generator=_gen(seed, step, phase, "z"))
        rng = _rng(seed, step, phase, "t")
        items = rng.integers(0, len(self.dataset), size=B)
        t = np.stack([random_frame_times(rng, min(self.dataset.video_len(int(i)), data["max_num_frames"]),
                                         num_frames=data["num_frames"], max_dist=data["max_dist"], fractional=True)
                      for i in items])
        t = torch.from_numpy(t.astype(np.float32))
        shape = self.G.motion_z_shape(B, t)
        motion_z = torch.randn(shape, generator=_gen(seed, step, phase, "motion")) if shape[0] else None
        rows = self._rows()
        c = torch.from_numpy(np.stack([self.dataset.label(int(i)) for i in items]))
        out = {"z": z[rows], "t": t[rows], "motion_z": motion_z[rows] if motion_z is not None else None,
               "c": c[rows]}
        if self.augment is not None and float(self.augment.p) > 0:
            out["aug"] = self.augment.sample_params(B, _gen(seed, step, phase, "aug_fake"), "cpu")[rows]
        return self._to_device(out)

    def _real_inputs(self, images: torch.Tensor, t: torch.Tensor, c: torch.Tensor, step: int, phase: str) -> dict:
        B, seed = self.cfg["train"]["batch_size"], self.cfg["train"]["seed"]
        b, f = images.shape[:2]
        img = images.to(self.device, torch.float32).div(127.5).sub(1).reshape(b * f, *images.shape[2:])
        out = {"img": img, "t": t.to(torch.float32), "c": c}
        if self.augment is not None and float(self.augment.p) > 0:
            out["aug"] = self.augment.sample_params(B, _gen(seed, step, phase, "aug_real"), "cpu")[self._rows()]
        return self._to_device(out)

    def _rounds(self, d: dict) -> list[dict]:
        """Split this rank's rows into forward passes of ``batch_gpu`` clips."""
        bg = self.cfg["train"]["batch_gpu"]
        n = len(d["t"])
        if bg >= n:
            return [d]
        f = self.cfg["data"]["num_frames"]
        out = []
        for i in range(0, n, bg):
            part = {}
            for k, v in d.items():
                if v is None:
                    part[k] = None
                elif k == "img":
                    part[k] = v[i * f:(i + bg) * f]
                else:
                    part[k] = v[i:i + bg]
            out.append(part)
        return out

    # ------------------------------------------------------------------------------------------------ step
    def train_step(self, images: torch.Tensor, t_real: torch.Tensor, c_real: torch.Tensor | None = None) -> dict:
        """One batch (``ClipLoader``'s images, times and labels; ``c_real`` may be left out when unconditional): Gmain,
        Dmain, (Dreg), EMA, counters, ADA. Returns the losses of this step (global means)."""
        if c_real is None:
            c_real = torch.zeros(len(images), 0)
        cfg, step = self.cfg, self.step
        B, f = cfg["train"]["batch_size"], cfg["data"]["num_frames"]
        logs = {}
        sign_sum, sign_count = 0.0, 0

        # Gmain
        fake = self._fake_inputs(step, "G")
        self.G_opt.zero_grad(set_to_none=True)
        self.G.requires_grad_(True)
        logs["G_loss"] = sum(self.loss.g_main(p, len(p["t"]) / B).loss for p in self._rounds(fake))
        self.G.requires_grad_(False)
        _update_w_avg(self.G, self.loss, self.world, self.device)
        _all_reduce_grads(self.G, self.world)
        self.G_opt.step()

        # Dmain
        fake = self._fake_inputs(step, "D")
        real = self._real_inputs(images, t_real, c_real, step, "D")
        self.D_opt.zero_grad(set_to_none=True)
        self.D.requires_grad_(True)
        total = 0.0
        for fp, rp in zip(self._rounds(fake), self._rounds(real)):
            st = self.loss.d_main(fp, rp, len(rp["t"]) / B)
            total += st.loss
            sign_sum, sign_count = sign_sum + st.sign_sum, sign_count + st.sign_count
        logs["D_loss"] = total
        _update_w_avg(self.G, self.loss, self.world, self.device)
        self.D.requires_grad_(False)
        _all_reduce_grads(self.D, self.world)
        self.D_opt.step()

        # Dreg (lazy R1)
        r1 = cfg["loss"]["r1_interval"]
        if step % r1 == 0 and cfg["loss"]["r1_gamma"] > 0:
            real = self._real_inputs(images, t_real, c_real, step, "Dreg")
            self.D_opt.zero_grad(set_to_none=True)
            self.D.requires_grad_(True)
            total = 0.0
            for rp in self._rounds(real):
                st = self.loss.d_reg(rp, len(rp["t"]) / B, gain=r1)
                total += st.loss * len(rp["t"]) / B
                sign_sum, sign_count = sign_sum + st.sign_sum, sign_count + st.sign_count
            logs["R1"] = total
            self.D.requires_grad_(False)
            _all_reduce_grads(self.D, self.world)
            self.D_opt.step()

        self.update_ema(B)

        self.cur_nimg += B * f
        self.step += 1

        return self.reduce_and_adapt(logs, sign_sum, sign_count)

    # ------------------------------------------------------------------------------------------------ grid
    def save_grid(self) -> list[Path]:
        """Sample videos of G_ema (fixed latents; a conditional run gives video ``i`` the label of training video
        ``i * videos // grid_videos``) as PNG and MP4 grids."""
        from .media import write_grid

        sched = self.cfg["schedule"]
        n, frames = sched["grid_videos"], sched["grid_frames"]
        g = _gen(self.cfg["train"]["seed"], 0, "G", "grid")
        z = torch.randn([n, self.G_ema.z_dim], generator=g)
        t = torch.arange(frames, dtype=torch.float32).unsqueeze(0).repeat(n, 1)
        shape = self.G_ema.motion_z_shape(n, t)
        motion_z = torch.randn(shape, generator=g) if shape[0] else None
        with torch.no_grad():
            out = []
            for i in range(n):
                mz = motion_z[i:i + 1].to(self.device) if motion_z is not None else None
                c = torch.from_numpy(self.dataset.labels[i * self.dataset.num_videos // n][None]).to(self.device)
                x = self.G_ema(z[i:i + 1].to(self.device), c, t[i:i + 1].to(self.device), motion_z=mz,
                               noise_mode="const", force_fp32=self.force_fp32)
                out.append(((x * 127.5 + 128).clamp(0, 255).to(torch.uint8)).permute(0, 2, 3, 1).cpu().numpy())
        return write_grid(np.stack(out), self.run_dir / f"grid-{self.step:06d}")


def _cpu(obj):
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def _opt_to(opt: torch.optim.Optimizer, device) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


# ------------------------------------------------------------------------------------------------ entry point

def check_new_run_dir(out: Path) -> None:
    """A new run never writes into a used folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrainingError(f"{out}: exists and is not empty; pass --resume {out} to continue that run, or another "
                            f"--out")


def write_run_config(out: Path, given: dict, resolved: dict) -> None:
    """``config.json``: the resolved config, with the config as given (before ``auto`` values and the world size
    were applied) under ``"input"`` for a resume."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "config.json") as f:
        json.dump({**resolved, "input": given}, f, indent=2, sort_keys=True)


def saved_config(out: Path, model: str) -> dict:
    """The config a run in ``out`` was started with (its ``"input"``), checked against ``model``."""
    path = out / "config.json"
    if not path.is_file():
        raise TrainingError(f"{out}: not a vgbench training run (no config.json)")
    try:
        saved = json.loads(path.read_text())["input"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TrainingError(f"{path}: unreadable run config ({e})") from e
    if saved.get("model") != model:
        raise TrainingError(f"{out}: a {saved.get('model')} run, cannot resume it with --model {model}")
    return saved


def train(model: str, dataset: str | None, data: str | None, out: str | Path, *, config: str | None = None,
          sets: tuple = (), resume: bool = False, kimg: float | None = None, device: str | None = None,
          progress: bool = True, stage: str | None = None, init: str | Path | None = None) -> dict:
    """Train ``model`` (Python API of ``vgbench train``); returns a summary of the run. With ``resume``, ``out``
    is the run to continue: its saved config is used (``kimg`` may extend it; ``config``/``sets`` may not).
    ``stage``: the stage of a model trained in stages (MotionVideoGAN: ``pairs``, ``directions``, ``motion``, the
    default); each stage is a run of its own. ``init``: a checkpoint whose networks the new run starts from
    (fine-tuning; :mod:`vgbench.training.init`)."""
    from .config import STAGES, load_config, stage_config

    from .. import distributed

    if stage and model not in STAGES:
        raise TrainingError(f"--stage {stage}: {model} trains in one stage")
    device = distributed.init(device)
    rank, world, _ = distributed.env()
    out = Path(out)
    if resume:
        if sets or config:
            raise TrainingError("--resume continues a run with its saved config; --config/--set cannot change it "
                                "(only --kimg can)")
        given = saved_config(out, model)
        saved_stage = given.get("stage") or (STAGES[model][-1] if model in STAGES else None)
        if stage and stage != saved_stage:
            raise TrainingError(f"{out}: a run of stage {saved_stage!r}, not {stage!r}")
        if dataset and dataset != given["dataset"]:
            raise TrainingError(f"{out}: a run on {given['dataset']!r}, not {dataset!r}")
        data = data or given.get("data_source")
    else:
        given = load_config(model, config or dataset or "tiny", sets)
        if model in STAGES:
            given["stage"] = stage or STAGES[model][-1]
        if dataset:
            given["dataset"] = dataset
        one = stage_config(given)
        if "data" not in one:  # a stage that reads no videos (MotionVideoGAN's directions)
            if data:
                raise TrainingError(f"--stage {given['stage']} reads no videos; drop --data")
        else:
            if not given["dataset"]:
                if not data:
                    raise TrainingError("give --dataset (a dataset card) or a config that names one")
                if one.get("schedule", {}).get("fvd_kimg", 0) > 0:
                    raise TrainingError("a run without a dataset card has no real statistics for the periodic "
                                        "FVD16: give --dataset, or --set schedule.fvd_kimg=0")
            data = data or _card_data(given["dataset"])
            given["data_source"] = str(data)
    if kimg is not None:
        one = stage_config(given)
        if "kimg" not in one.get("train", {}):
            raise TrainingError(f"--kimg: stage {one.get('stage')!r} does not train for a number of kimg")
        # the key of the stage's table in the saved config (the last stage's keys are the top-level ones)
        tables = STAGES.get(model, ())
        where = given[one["stage"]] if one.get("stage") in tables[:-1] else given
        where["train"]["kimg"] = float(kimg)
    cfg = resolve(given, world)
    if not resume:
        check_new_run_dir(out)
    # data, networks and (on resume) the saved state are all checked here, before anything is written
    kw = {"init": init} if init is not None else {}
    trainer = trainer_class(model, cfg.get("stage"))(cfg, out, data, device=device, resume=resume,
                                                     progress=progress, rank=rank, world=world, **kw)
    if rank == 0 and not resume:
        write_run_config(out, given, {**cfg, "init": trainer.init_record} if init is not None else cfg)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    tf32 = cfg.get("train", {}).get("allow_tf32", False)  # the authors' default: off (full float32 on CUDA)
    with exact_float32(device) if not tf32 else contextlib.nullcontext():
        return trainer.run()


def trainer_class(model: str, stage: str | None = None) -> type:
    """The trainer of ``model`` (and ``stage``): :class:`Trainer` (StyleGAN-V family), CTSVG's, or MotionVideoGAN's
    image-pair generator (``pairs``), its directions (``directions``) or its motion LSTM (``motion``, the default)."""
    if model == "ctsvg":
        from .ctsvg import CTSVGTrainer

        return CTSVGTrainer
    if model == "motionvideogan":
        if stage == "pairs":
            from .motionstylegan import PairTrainer

            return PairTrainer
        if stage == "directions":
            from .motion_directions import DirectionsRun

            return DirectionsRun
        from .motionvideogan import MotionVideoGANTrainer

        return MotionVideoGANTrainer
    return Trainer


def _card_data(dataset: str) -> str:
    from ..data.cards import load_card

    card = load_card(dataset)
    if not card.get("data"):
        raise TrainingError(f"dataset {dataset!r} ships no videos: pass --data ROOT ({card.get('layout', '')})")
    return card["data"]
