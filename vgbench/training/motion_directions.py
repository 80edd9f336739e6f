"""MotionVideoGAN stage 2: the forward and backward motion directions of an image-pair generator (MotionStyleGAN),
as the authors' ``compute_jacobian.py``, ``compute_directions.py`` and ``RobustPCA.py`` compute them (low-rank
subspaces in the style of LowRankGAN, Zhu et al. 2021), and :class:`DirectionsRun`, the resumable
``vgbench train --model motionvideogan --stage directions`` run that applies them.

1. :func:`pair_jacobian`: for one ``w = mapping(z)``, the Jacobian of the two images' channel means ``[2, H, W]``
   w.r.t. ``w`` (broadcast to every synthesis layer); each image from its own synthesis call (upstream calls the
   synthesis once per image, so with ``noise_mode="random"`` the two see different spatial noise: here drawn from
   one seeded generator per image, in the order the synthesis would draw it, and held fixed while differentiating).
2. :func:`motion_directions`: for the backward directions the former image is the "foreground" and the latter the
   "background" (the forward directions swap them): ``M = J_f^T J_f / N`` and ``B = J_b^T J_b / N`` (``N = H W``);
   :func:`robust_pca` (principal component pursuit by ADMM, ``lambda = 1/60``) splits each into low-rank + sparse;
   the foreground's principal rows (right singular vectors of its low-rank part, as many as its numerical rank)
   are projected onto the null space of the background's first ``max(1, rank_b - num_relax)`` singular vectors
   (capped at ``w_dim - 1``) and normalised to unit rows. The backward rows move the former image while keeping the
   latter, which is what the LSTM's even steps need.

The outputs are the ``backward_direction.npy`` / ``forward_direction.npy`` that stage 3 and the eval adapter read
(``[rank, w_dim]`` float64, unit rows).

:class:`DirectionsRun` (``RUN`` = ``--out``): ``directions.num_samples`` latents ``z`` (row ``k`` of one ``torch.randn
([num_samples, z_dim])`` from a generator seeded with ``directions.seed``: upstream's draw, under a seed), each
sample's Jacobian saved as ``RUN/jacobians/jacobian-KKKK.npy`` (float32 ``[2, H, W, w_dim]``) and then its record
``jacobian-KKKK.json`` (``z``, ``w``, noise seeds, the generator's and the array's sha256), both atomically; a sample
counts as done when its record is there and the array's hash matches it, so ``--resume RUN`` continues with the
next one and ends with the same files as an uninterrupted run. Then the directions of sample ``directions.sample``
(upstream: the one ``jacobian{k}.npy`` given to ``compute_directions.py``) go to ``RUN/forward_direction.npy``,
``RUN/backward_direction.npy`` and the manifest ``RUN/directions.json`` (written last). Under torchrun each rank
computes the samples ``k = rank (mod world size)`` (each one the same function of ``(seed, k)`` as in one process) and
rank 0 factorises.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["pair_jacobian", "robust_pca", "motion_directions", "DirectionsRun"]

MANIFEST = "directions.json"


@contextlib.contextmanager
def _frozen_noise(synthesis, generator: torch.Generator):
    """Inside, the layers' constant noise is one draw of random-mode noise (batch 1) from ``generator``, in the
    order the synthesis draws it (block by block, ``conv0`` then ``conv1``): ``noise_mode="const"`` then renders
    what ``noise_mode="random"`` with that generator renders, with no random draw inside the differentiation."""
    layers = [getattr(b, name) for b in synthesis.blocks() for name in ("conv0", "conv1")
              if hasattr(b, name) and getattr(getattr(b, name), "use_noise", False)]
    saved = [layer.noise_const for layer in layers]
    try:
        for layer in layers:
            r = layer.resolution
            noise = torch.randn([1, 1, r, r], generator=generator, device=generator.device)
            layer.noise_const = noise.reshape(r, r).to(layer.noise_const.device)
        yield
    finally:
        for layer, buf in zip(layers, saved):
            layer.noise_const = buf


def pair_jacobian(G, w: torch.Tensor, *, noise_mode: str = "const", generators=(None, None),
                  chunk: int | None = None) -> torch.Tensor:
    """``d mean_c(image_k) / d w`` for the former (k = 0) and latter (k = 1) image: ``[2, H, W, w_dim]``.
    ``w``: ``[w_dim]``; ``noise_mode``: ``const`` (the layers' stored noise) or ``random`` (one draw per image from
    ``generators[k]``, a seeded ``torch.Generator``); ``chunk``: tangents per vectorised forward-mode pass (None:
    all ``w_dim`` at once; smaller uses less memory)."""
    if noise_mode not in ("const", "random"):
        raise ValueError(f"noise_mode must be const or random, got {noise_mode!r}")

    def image(x: torch.Tensor, k: int) -> torch.Tensor:
        ws = x.reshape(1, 1, -1).expand(1, G.num_ws, -1)
        img = G.synthesis(ws, noise_mode="const", force_fp32=True)
        return img[0, 3 * k:3 * k + 3].mean(dim=0)

    w = w.detach().to(torch.float32)
    basis = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
    out = []
    for k in (0, 1):
        if noise_mode == "random":
            if generators[k] is None:
                raise ValueError("noise_mode='random' needs a seeded torch.Generator per image (generators)")
            frozen = _frozen_noise(G.synthesis, generators[k])
        else:
            frozen = contextlib.nullcontext()
        with frozen:
            # forward mode, vectorised over the tangents: w_dim Jacobian-vector products instead of 3 H W backward
            # passes
            def column(t, k=k):
                return torch.func.jvp(lambda x: image(x, k), (w,), (t,))[1]

            out.append(torch.func.vmap(column, chunk_size=chunk)(basis).permute(1, 2, 0))
    return torch.stack(out)


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


def _one_side(fore: np.ndarray, back: np.ndarray, lamb: float, max_iter: int, num_relax: int) -> tuple:
    """The rows that move ``fore`` and keep ``back`` (module docstring), with what :func:`motion_directions`
    reports about them."""
    w_dim = fore.shape[-1]
    Jf, Jb = fore.reshape(-1, w_dim), back.reshape(-1, w_dim)
    M, B = (1 / Jf.shape[0]) * Jf.T.dot(Jf), (1 / Jb.shape[0]) * Jb.T.dot(Jb)
    Lf, _ = robust_pca(M, lamb, max_iter)
    Lb, _ = robust_pca(B, lamb, max_iter)
    rank_f, rank_b = int(np.linalg.matrix_rank(Lf)), int(np.linalg.matrix_rank(Lb))
    principal = np.linalg.svd(Lf)[2][:rank_f]
    kept = min(max(1, rank_b - num_relax), w_dim - 1)
    null = np.linalg.svd(Lb)[2][kept:].T
    proj = (null @ null.T @ principal.T).T
    proj = proj / np.linalg.norm(proj, axis=1, keepdims=True)
    # first-order RMS change of each image's grey level per unit step along a row: sqrt(d^T (J^T J / N) d)
    rms = [[float(np.sqrt(max(d @ X @ d, 0.0))) for d in proj] for X in (M, B)]
    return proj, {"rank": rank_f, "rank_kept_image": rank_b, "null_space_dim": w_dim - kept,
                  "moved_rms": rms[0], "kept_rms": rms[1]}


def motion_directions(jacobian, lamb: float = 1 / 60, max_iter: int = 10000, num_relax: int = 0, *,
                      info: bool = False):
    """``(forward, backward)`` directions ``[rank, w_dim]`` from a :func:`pair_jacobian` ``[2, H, W, w_dim]``; with
    ``info``, also ``{"forward": {...}, "backward": {...}}``: the Robust-PCA ranks of the moved image (the number of
    rows) and of the kept one, the null-space dimension projected onto, and per row the first-order RMS grey-level
    change of the moved and of the kept image per unit step (the smaller ``kept_rms``, the cleaner the row)."""
    J = np.asarray(jacobian)
    if J.ndim != 4 or J.shape[0] != 2:
        raise ValueError(f"expected a pair Jacobian [2, H, W, w_dim], got shape {J.shape}")
    backward, info_b = _one_side(J[0], J[1], lamb, max_iter, num_relax)
    forward, info_f = _one_side(J[1], J[0], lamb, max_iter, num_relax)
    if info:
        return forward, backward, {"forward": info_f, "backward": info_b}
    return forward, backward


# ------------------------------------------------------------------------------------------------ the run

def _noise_seed(seed: int, sample: int, image: int) -> int:
    """The seed of image ``image``'s spatial noise in sample ``sample`` (``noise_mode = "random"``)."""
    return int(np.random.SeedSequence([seed, sample, image, 2]).generate_state(1, dtype=np.uint64)[0] >> 1)


class DirectionsRun:
    """``vgbench train --model motionvideogan --stage directions`` (module docstring). ``cfg``: the flat stage
    config (``directions.*`` keys at the top, :func:`vgbench.training.config.stage_config`); ``data`` is unused
    (None). :meth:`run` returns the summary."""

    def __init__(self, cfg: dict, run_dir: str | Path, data=None, *, device=None, resume: bool = False,
                 progress: bool = True, rank: int = 0, world: int = 1, init=None):
        from ..errors import VgbenchError
        from ..models.motionvideogan import load_generator
        from ..utils import sha256_file
        from .config import resolve
        from .loop import TrainingError

        if init is not None:
            raise TrainingError("--init: --stage directions trains no network (it differentiates "
                                "directions.generator); drop --init")
        self.cfg = cfg = resolve(cfg, world)
        self.run_dir = Path(run_dir)
        self.device = torch.device(device) if device else torch.device("cpu")
        self.progress = progress and rank == 0
        self.rank, self.world = rank, world
        path = Path(cfg["generator"])
        where = f"directions.generator in {cfg.get('config_source', 'the config')}"
        if not path.is_file():
            raise TrainingError(f"{path}: no such file ({where})")
        try:
            G, _ = load_generator(path)
        except VgbenchError as e:
            raise TrainingError(f"{e} ({where}: stage 2 needs the stage-1 image-pair generator)") from e
        self.G = G.eval().requires_grad_(False).to(self.device)
        self.generator_sha256 = sha256_file(path)
        self.resumed = resume

    # ------------------------------------------------------------------------------------------------ files
    def jacobian_path(self, k: int) -> Path:
        return self.run_dir / "jacobians" / f"jacobian-{k:04d}.npy"

    def _done(self, k: int) -> bool:
        """Sample ``k``'s Jacobian is complete: its record is there, from this generator, and the array's hash
        matches (an array without its record was cut off by a kill: computed again)."""
        from ..utils import sha256_file
        from .loop import TrainingError

        rec_path = self.jacobian_path(k).with_suffix(".json")
        if not rec_path.is_file():
            return False
        try:
            rec = json.loads(rec_path.read_text())
        except json.JSONDecodeError as e:
            raise TrainingError(f"{rec_path}: unreadable Jacobian record ({e}); delete it to compute sample {k} "
                                f"again") from e
        if rec.get("generator_sha256") != self.generator_sha256:
            raise TrainingError(f"{rec_path}: computed with another generator file (sha256 "
                                f"{rec.get('generator_sha256')}, {self.cfg['generator']} is now "
                                f"{self.generator_sha256}); start a new run")
        npy = self.jacobian_path(k)
        if not npy.is_file() or sha256_file(npy) != rec.get("jacobian_sha256"):
            raise TrainingError(f"{npy}: missing or changed since its record {rec_path.name} was written; delete "
                                f"both to compute sample {k} again")
        return True

    def _compute(self, k: int, z: torch.Tensor) -> float:
        """Sample ``k``'s Jacobian and its record, each written atomically; returns the seconds it took."""
        from ..utils import atomic_write, sha256_file

        cfg = self.cfg
        t0 = time.time()
        z = z.reshape(1, -1).to(self.device)
        w = self.G.mapping(z, torch.zeros(1, 0, device=self.device), truncation_psi=cfg["truncation_psi"])[0, 0]
        seeds = [_noise_seed(cfg["seed"], k, i) for i in (0, 1)]
        gens = tuple(torch.Generator().manual_seed(s) for s in seeds)
        J = pair_jacobian(self.G, w, noise_mode=cfg["noise_mode"], generators=gens,
                          chunk=cfg["tangent_chunk"] or None)
        npy = self.jacobian_path(k)
        with atomic_write(npy, "wb") as fh:
            np.save(fh, J.cpu().numpy().astype(np.float32))
        rec = {"sample": k, "seed": cfg["seed"], "z": z[0].cpu().tolist(), "w": w.cpu().tolist(),
               "truncation_psi": cfg["truncation_psi"], "noise_mode": cfg["noise_mode"],
               "tangent_chunk": cfg["tangent_chunk"],
               "noise_seeds": seeds if cfg["noise_mode"] == "random" else None, "shape": list(J.shape),
               "generator_sha256": self.generator_sha256, "jacobian_sha256": sha256_file(npy)}
        with atomic_write(npy.with_suffix(".json")) as fh:
            json.dump(rec, fh, indent=1)
        return time.time() - t0

    def _log(self, entry: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> dict:
        from tqdm import tqdm

        from ..models.checkpoint import load_float_npy
        from ..utils import atomic_write

        cfg, N = self.cfg, self.cfg["num_samples"]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.run_dir / MANIFEST
        if manifest_path.is_file():  # a finished run: nothing left to do
            return self._summary(json.loads(manifest_path.read_text()))
        done = [k for k in range(N) if self._done(k)]
        if self.rank == 0:
            self._log({"event": "resume" if self.resumed else "start", "stage": "directions",
                       "samples_done": len(done), "num_samples": N, "device": str(self.device),
                       "world_size": self.world})
        z_all = torch.randn([N, self.G.z_dim], generator=torch.Generator().manual_seed(cfg["seed"]))
        # under torchrun each rank computes the samples k = rank (mod world size); rank 0 then factorises
        mine = [k for k in range(self.rank, N, self.world) if k not in done]
        bar = tqdm(total=len(mine), unit="jacobian", disable=not self.progress, dynamic_ncols=True,
                   desc="directions")
        try:
            for k in mine:
                sec = self._compute(k, z_all[k])
                self._log({"event": "jacobian", "sample": k, "sec": round(sec, 3), "rank": self.rank})
                bar.update(1)
        finally:
            bar.close()
        self._barrier()
        if self.rank != 0:
            self._barrier()  # rank 0 writes the directions and the manifest
            return self._summary(json.loads(manifest_path.read_text()))

        t0 = time.time()
        J = load_float_npy(self.jacobian_path(cfg["sample"]))
        forward, backward, info = motion_directions(J, cfg["lamb"], cfg["max_iter"], cfg["num_relax"], info=True)
        self._check(forward, backward)
        for name, d in (("forward_direction.npy", forward), ("backward_direction.npy", backward)):
            with atomic_write(self.run_dir / name, "wb") as fh:
                np.save(fh, d)
        manifest = {"generator": str(cfg["generator"]), "generator_sha256": self.generator_sha256,
                    "config": {k: v for k, v in cfg.items() if k != "input"},
                    "sample": cfg["sample"], "jacobian": str(self.jacobian_path(cfg["sample"]).relative_to(
                        self.run_dir)),
                    "forward_direction": "forward_direction.npy", "backward_direction": "backward_direction.npy",
                    "ranks": {side: info[side]["rank"] for side in ("forward", "backward")},
                    "directions": info}
        with atomic_write(manifest_path) as fh:
            json.dump(manifest, fh, indent=1)
        self._log({"event": "directions", "sample": cfg["sample"], "sec": round(time.time() - t0, 3),
                   **{f"rank_{side}": r for side, r in manifest["ranks"].items()}})
        self._barrier()
        return self._summary(manifest)

    def _barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def _check(self, forward: np.ndarray, backward: np.ndarray) -> None:
        from .loop import TrainingError

        for side, d in (("forward", forward), ("backward", backward)):
            if d.shape[0] == 0 or not np.isfinite(d).all():
                why = ("the moved image's low-rank part has rank 0" if d.shape[0] == 0 else
                       "a principal row lies inside the kept image's principal subspace (zero after projecting)")
                raise TrainingError(f"{self.jacobian_path(self.cfg['sample'])}: no usable {side} direction: {why}; "
                                    f"try another directions.sample or directions.num_relax > 0")

    def _summary(self, manifest: dict) -> dict:
        """What ``vgbench train`` prints: the files, the ranks and a warning when a rank is below stage 3's
        ``motion.n_direction``."""
        n_dir = self._stage3_n_direction()
        warnings = [f"{side}: rank {r} < motion.n_direction={n_dir} (stage 3 needs at least that many rows: --set "
                    f"motion.n_direction={min(manifest['ranks'].values())} or less)"
                    for side, r in manifest["ranks"].items() if r < n_dir]
        return {"stage": "directions", "run_dir": str(self.run_dir), "ranks": manifest["ranks"],
                "forward_direction": str(self.run_dir / "forward_direction.npy"),
                "backward_direction": str(self.run_dir / "backward_direction.npy"),
                "manifest": str(self.run_dir / MANIFEST), "warnings": warnings}

    def _stage3_n_direction(self) -> int:
        """``motion.n_direction`` of this config file (stage 3 reads the same file), else the default."""
        from .config import MVG_DEFAULTS, ConfigError, load_config

        try:
            return int(load_config("motionvideogan", self.cfg["config_source"])["motion"]["n_direction"])
        except (ConfigError, KeyError, OSError):
            return MVG_DEFAULTS["motion"]["n_direction"]
