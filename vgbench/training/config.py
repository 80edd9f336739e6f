"""Training configs: the bundled TOML files in ``vgbench/training/configs/<model>/<name>.toml``, ``--set`` overrides,
and the values the authors' ``src/train.py`` derives when a config says ``"auto"``.

A config is a nested dict with exactly the sections and keys of :data:`DEFAULTS`; a file or ``--set`` naming any
other key is refused (:class:`ConfigError` names the key and the file). ``"auto"`` values are resolved by
:func:`resolve` with the formulas of ``cfg=auto`` in the authors' ``src/train.py`` (StyleGAN2-ADA's):

* ``fmaps``: 1 at 512 px and above, else 0.5 (``channel_base = fmaps * 32768``);
* ``lr``: 0.002 at 1024 px, else 0.0025;
* ``r1_gamma``: ``0.0002 * resolution**2 / batch_size``;
* ``ema_kimg``: ``batch_size * 10 / 32``;
* ``mbstd_group_size`` of the discriminator: ``min(batch per GPU, group size)``.

Two facts of the authors' code that the configs keep (both are documented in docs/training.md):

* ``kimg`` counts *frames* shown to the discriminator (``cur_nimg += batch_size * num_frames_per_video``), so
  25000 kimg is 25M frames, about 8.3M clips of 3 frames;
* ``src/train.py`` tests ``c.resume not in {'noresume', 'latest'}``, which is true for the default ``resume: ~``,
  so every run from scratch uses ``ada_kimg = 100`` and no EMA ramp-up; the configs say so explicitly.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import VgbenchError
from ..utils import deep_merge

__all__ = ["ConfigError", "DEFAULTS", "MODELS", "STAGES", "config_dir", "list_configs", "load_config", "parse_set",
           "resolve", "stage_config"]

MODELS = ("stylegan_v", "mostgan_v", "ctsvg", "motionvideogan")
#: the stages of a model trained in several runs (``vgbench train --stage``); the last one is the default
STAGES = {"motionvideogan": ("pairs", "directions", "motion")}


class ConfigError(VgbenchError, ValueError):
    """A training config is malformed: unknown key, wrong type, impossible value."""


AUTO = "auto"

#: Every key a config may set, with its default. ``None`` means "no value" (allowed for the keys marked so).
DEFAULTS: dict = {
    "model": "",               # stylegan_v | mostgan_v
    "dataset": "",             # dataset card (vgbench/_bundled/datasets/<name>.toml)
    "paper": "",               # the paper entry this config reproduces: paper, table, row
    "data": {
        "resolution": 256,
        "num_frames": 3,            # frames per clip (sampling.num_frames_per_video)
        "max_dist": 32,             # sampling.max_dist: largest distance between first and last frame
        "max_num_frames": 1024,     # dataset.max_num_frames: clips are drawn from a window this long
        "mirror": True,             # x-flipped copy of every video (training.mirror)
        "workers": 3,               # background decoding processes per rank (training.num_workers)
        "c_dim": 0,                 # classes (dataset.c_dim): > 0 trains on the labels of the data's dataset.json
    },
    "generator": {
        "preset": "official",       # official (src/train.py's cfg=auto network) | tiny (CPU tests)
        "fmaps": AUTO,
        "mapping_layers": 2,        # cfg=auto's map=2
        "motion_z_distance": 16,    # = time_enc.min_period_len
        "fp32": False,              # True: no fp16 blocks, no conv clamp
        "overrides": {},            # model config keys (e.g. motion_num, mod_layers) merged into the generator cfg
    },
    "discriminator": {
        "preset": "official",
        "fmaps": AUTO,
        "concat_res": 16,
        "num_frames_div_factor": 2,
        "mbstd_group_size": 4,
        "fp32": False,
    },
    "loss": {
        "r1_gamma": AUTO,
        "r1_interval": 16,          # D_reg_interval (lazy R1)
        "g_reg_interval": 4,        # G_reg_interval: no G regulariser runs (pl_weight 0) but Adam is still scaled
        "video_consistent_aug": True,
    },
    "optim": {"lr": AUTO, "betas": [0.0, 0.99], "eps": 1e-8},
    "train": {
        "batch_size": 64,           # global batch (clips), split over ranks
        "batch_gpu": None,          # clips per forward pass on one rank (None: batch_size / world size)
        "kimg": 25000.0,              # thousands of FRAMES shown to D (authors' unit)
        "ema_kimg": AUTO,
        "ema_rampup": None,         # None: no ramp-up (what the authors' runs from scratch use)
        "seed": 0,
        "allow_tf32": False,         # CUDA: TF32 convolutions and matmuls (authors: allow_tf32=False)
    },
    "augment": {
        "mode": "ada",              # ada | fixed | none
        "pipe": "bgc",
        "p": 0.0,                   # initial p (fixed: the p)
        "target": 0.6,
        "interval": 4,              # batches between p adjustments
        "kimg": 100.0,               # ada_kimg: clips (thousands) for p to move by 1
    },
    "schedule": {
        "tick_kimg": 5.0,             # log line / progress interval (kimg of frames)
        "snap_kimg": 1000.0,          # snapshot + sample grid interval (authors: snap 200 ticks x 5 kimg)
        "fvd_kimg": 1000.0,           # FVD16 interval (0: never); runs on the snapshot with vgbench eval's code
        "fvd_num_fake": 2048,
        "grid_videos": 16,          # videos in the sample grid
        "grid_frames": 16,
        "keep_states": 2,           # resume states kept (older ones deleted; 0 keeps all); .vgb snapshots all kept
    },
}

#: CTSVG's keys (``--model ctsvg``; vgbench/training/ctsvg.py): the argparse options of the authors' train.py, plus
#: the channel tables (empty: the authors' ``Generator``/``Discriminator*`` tables) that the tiny CI config shrinks.
CTSVG_DEFAULTS: dict = {
    "model": "",
    "dataset": "",
    "paper": "",
    "data": {
        "resolution": 128,          # --size
        "clip_len": 9,              # VideoFolderPathToTensor(max_len=9): the real triplet lies in a 9-frame window
        "num_person": 30,           # --num_person (actors: "actors" of dataset.json)
        "num_classes": 8,           # --num_classes (actions: "labels" of dataset.json)
        "mirror": False,            # the authors' loader does not flip
        "workers": 3,
    },
    "generator": {
        "latent": 320,              # --latent: content + motion dims
        "dyn": 256,                 # --dyn_size: motion (time2vec) dims
        "n_mlp": 8,
        "dyn_mlp": 4,
        "channel_multiplier": 2,
        "channels": {},             # resolution -> channels; {} = the authors' table
    },
    "discriminator": {
        "channel_multiplier": 2,
        "channels": {},             # {} = the authors' table (512 up to 32 px)
        "embed_dim": 128,           # tau_dim = c_dim = 128 in DiscriminatorConPerson
        "head_channels": 128,       # final_conv output channels
    },
    "loss": {
        "r1": 10.0,                 # --r1 (gamma; the penalty is r1 / 2 * mean ||grad||^2 on D_t)
        "d_reg_every": 16,
        "path_regularize": 2.0,
        "path_batch_shrink": 2,
        "g_reg_every": 4,
        "transit_start": 2000,      # iterations: action embedding weight ramps 0 -> 1 in G and D_t
        "transit_end": 4000,
        "offsets": [1, 2, 3],       # triplet frame offsets, cycled ...
        "offset_every": 100,        # ... every this many iterations
    },
    "optim": {"lr": 0.002, "betas": [0.0, 0.99], "eps": 1e-8},
    "train": {
        "batch_size": 16,           # --batch (triplets; the authors' is per GPU, GPU count not stated)
        "batch_gpu": None,          # must equal the batch per rank (one forward pass per rank)
        "kimg": 7200.0,             # thousands of frames shown to D: 150000 iterations x 16 x 3
        "ema_kimg": AUTO,           # auto: batch * 10 / 32, i.e. G_ema decay 0.5 ** (32 / 10000) per step
        "ema_rampup": None,
        "seed": 0,
        "allow_tf32": False,         # CUDA: TF32 convolutions and matmuls (authors: allow_tf32=False)
    },
    "augment": {"mode": "none", "pipe": "bgc", "p": 0.0, "target": 0.6, "interval": 4, "kimg": 100.0},
    "schedule": copy.deepcopy(DEFAULTS["schedule"]),
}

#: MotionVideoGAN's stage-3 keys (``--model motionvideogan``; vgbench/training/motionvideogan.py): the options of the
#: authors' ``MotionVideoGAN/train.py`` (``options/*.py`` defaults and ``script/*/run_train.sh``).
MVG_DEFAULTS: dict = {
    "model": "",
    "dataset": "",
    "paper": "",
    "data": {
        "resolution": 256,          # --video_frame_size: real frames; fakes are average-pooled to it
        "num_frames": 16,           # --n_frames_G - 1: frames per clip
        "time_step": 1,             # --time_step: dataset frames between clip frames (run_train.sh: 1)
        "mirror": False,            # the authors' loader does not flip
        "workers": 3,
    },
    "motion": {
        "generator": "",            # --img_g_weights: MotionStyleGAN (stage 1): network-snapshot-*.pkl or .vgb
        "directions": "",           # --save_direction_path: folder of forward/backward_direction.npy (stage 2)
        "n_direction": 30,          # --n_direction
        "w_residual": 0.2,          # --w_residual
    },
    "discriminator": {
        "num_D": 2,                 # --num_D scales
        "ndf": 64,                  # MultiscaleDiscriminator's ndf (and ndf_max) defaults
        "ndf_max": 64,
        "n_layers": 3,
    },
    "loss": {
        "g_steps": 5,               # --G_step: LSTM updates per discriminator update, on the same real batch
        "gp_weight": 10.0,          # compute_gradient_penalty_T: sum over scales / num_D * 10
    },
    "optim": {"lr": 1e-4, "betas": [0.5, 0.999], "eps": 1e-8},  # --lr, --beta1/2 (D_3d hard-codes the same)
    "train": {
        "batch_size": 16,           # --batchSize (over all GPUs)
        "batch_gpu": None,
        "kimg": 1000.0,             # thousands of real frames shown to D (upstream counts 100 epochs)
        "ema_kimg": 0.0,            # upstream keeps no EMA of the LSTM; must stay 0
        "ema_rampup": None,
        "seed": 0,
        "allow_tf32": False,         # CUDA: TF32 convolutions and matmuls (authors: allow_tf32=False)
    },
    "augment": {"mode": "none", "pipe": "bgc", "p": 0.0, "target": 0.6, "interval": 4, "kimg": 100.0},
    "schedule": copy.deepcopy(DEFAULTS["schedule"]),
}

#: MotionVideoGAN's stage-1 keys (``--model motionvideogan --stage pairs``; vgbench/training/motionstylegan.py): the
#: ``--cfg=stylegan2`` settings of the authors' MotionStyleGAN ``train.py`` (a StyleGAN3-repository fork) with their
#: README's options ``--gpus=4 --batch=32 --gamma=1 --mirror=1 --kimg=25000 --snap=50``; ``MVG_DEFAULTS["pairs"]``,
#: i.e. a ``[pairs]`` table (``[pairs.data]``, ``[pairs.train]``, ...) in the motionvideogan config files.
PAIRS_DEFAULTS: dict = {
    "paper": "",                    # the paper entry of this stage (else the config's top-level paper)
    "data": {
        "resolution": 256,          # the pair images are 2 x (resolution x resolution), stacked on channels
        "interval": 4,              # k: pairs [x_t, x_{t+k}] and [x_{t+k}, x_t] (the paper: 4 on every dataset)
        "mirror": True,             # --mirror=1: an x-flipped copy of every pair
        "workers": 3,               # --workers
    },
    "generator": {                  # training.networks_stylegan2.Generator with img_channels = 6
        "z_dim": 512,
        "w_dim": 512,
        "mapping_layers": 8,        # --cfg=stylegan2's map depth
        "channel_base": 32768,      # --cbase
        "channel_max": 512,         # --cmax
        "num_fp16_res": 4,          # the network's default (0 with fp32)
        "conv_clamp": 256.0,        # the network's default (none with fp32)
        "fp32": False,              # --fp32: no fp16 blocks, no clamp (G and D)
    },
    "discriminator": {              # training.networks_stylegan2.Discriminator (resnet) with img_channels = 6
        "channel_base": 32768,
        "channel_max": 512,
        "num_fp16_res": 4,
        "conv_clamp": 256.0,
        "mbstd_group_size": 4,      # --mbstd-group
    },
    "loss": {                       # training.loss.StyleGAN2Loss
        "r1_gamma": 1.0,            # --gamma=1
        "r1_interval": 16,          # D_reg_interval
        "style_mixing_prob": 0.9,
        "pl_weight": 2.0,
        "pl_batch_shrink": 2,
        "pl_decay": 0.01,
        "g_reg_interval": 4,        # G_reg_interval
    },
    "optim": {"lr": 0.002, "betas": [0.0, 0.99], "eps": 1e-8},  # --glr default for stylegan2, --dlr 0.002
    "train": {
        "batch_size": 32,           # --batch (over all GPUs)
        "batch_gpu": None,          # --batch-gpu (None: batch_size / world size)
        "kimg": 25000.0,            # --kimg: thousands of image pairs shown to D
        "ema_kimg": AUTO,           # batch * 10 / 32
        "ema_rampup": 0.05,         # training_loop's default (train.py sets None only with --resume)
        "seed": 0,
        "allow_tf32": False,         # CUDA: TF32 convolutions and matmuls (authors: allow_tf32=False)
    },
    "augment": {"mode": "ada", "pipe": "bgc", "p": 0.0, "target": 0.6, "interval": 4,
                "kimg": 500.0},     # ada_kimg: training_loop's default (100 only with --resume)
    "schedule": dict(copy.deepcopy(DEFAULTS["schedule"]), tick_kimg=4.0, snap_kimg=200.0, fvd_kimg=0.0,
                     grid_videos=16, grid_frames=2),  # --tick=4, --snap=50 ticks; no FVD for image pairs
}

#: MotionVideoGAN's stage 2 (``--stage directions``; vgbench/training/motion_directions.py): the ``[directions]``
#: table, the options of the authors' ``compute_jacobian.py`` and ``compute_directions.py``.
DIRECTIONS_DEFAULTS: dict = {
    "paper": "",                    # as PAIRS_DEFAULTS["paper"]
    "generator": "",                # --restore_path: the stage-1 MotionStyleGAN network-snapshot-*.pkl
    "num_samples": 10,              # --total_num: latents z whose Jacobians are computed (and saved)
    "seed": 0,                      # z = randn([num_samples, z_dim]) from this seed (upstream: the unseeded RNG)
    "truncation_psi": 1.0,          # mapping(z, truncation_psi=1)
    "noise_mode": "random",         # the synthesis' default (one seeded draw per image, held fixed); or const
    "sample": 0,                    # whose Jacobian gives the directions (upstream: the jacobian{k}.npy passed)
    "lamb": 1 / 60,                 # Robust PCA's sparsity weight (--lamb 60 is used as 1/60)
    "max_iter": 10000,              # --max_iter of the Robust PCA
    "num_relax": 0,                 # --num_relax: background singular vectors left out of the null space
    "tangent_chunk": 32,            # forward-mode tangents per vectorised pass (memory; 0: all w_dim at once)
}

MVG_DEFAULTS["pairs"] = PAIRS_DEFAULTS
MVG_DEFAULTS["directions"] = DIRECTIONS_DEFAULTS

_NULLABLE = {("train", "batch_gpu"), ("train", "ema_rampup")}
_FREE = {("generator", "overrides"), ("generator", "channels"), ("discriminator", "channels")}


def defaults(model: str) -> dict:
    """The keys (with defaults) a config of ``model`` may set."""
    return {"ctsvg": CTSVG_DEFAULTS, "motionvideogan": MVG_DEFAULTS}.get(model, DEFAULTS)


def config_dir() -> Path:
    return Path(__file__).with_name("configs")


def list_configs(model: str) -> list[str]:
    d = config_dir() / model
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def _check(tree: dict, defaults: dict, where: str, path: tuple = ()) -> None:
    for key, value in tree.items():
        full = path + (key,)
        name = ".".join(full)
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"{where}: unknown config key {name!r} (known here: {known})")
        ref = defaults[key]
        if full in _FREE:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {name} must be a table, got {value!r}")
            continue
        if isinstance(ref, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {name} must be a table, got {value!r}")
            _check(value, ref, where, full)
            continue
        if value is None and (full in _NULLABLE or ref is None):
            continue
        if value == AUTO and ref == AUTO:
            continue
        ok = {bool: lambda v: isinstance(v, bool),
              int: lambda v: isinstance(v, int) and not isinstance(v, bool),
              float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              str: lambda v: isinstance(v, str),
              list: lambda v: isinstance(v, list)}
        kind = type(ref) if ref not in (None, AUTO) else float
        if full in _NULLABLE and ref is None:
            kind = float
        if not ok[kind](value):
            raise ConfigError(f"{where}: {name} must be {kind.__name__}"
                              f"{' or auto' if ref == AUTO else ''}, got {value!r}")


def parse_set(item: str) -> dict:
    """``'a.b=value'`` -> ``{'a': {'b': value}}``; the value is read as TOML (``0.5``, ``true``, ``[0, 0.99]``),
    else kept as a string."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. loss.r1_gamma=1.0")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    tree: dict = {}
    node = tree
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"--set {item!r}: empty key component")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return tree


def load_config(model: str, name_or_path: str, sets: tuple[str, ...] | list[str] = ()) -> dict:
    """The config for ``model``: a bundled name (``ffs``, ``tiny``...) or a TOML file, then ``--set`` items."""
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r} for training; trainable: {', '.join(MODELS)}")
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = config_dir() / model / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"no training config {name_or_path!r} for {model}; bundled: "
                              f"{', '.join(list_configs(model))} (or give a .toml file)")
    try:
        tree = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    ref = defaults(model)
    _check(tree, ref, str(path))
    cfg = deep_merge(ref, tree)
    for item in sets:
        over = parse_set(item)
        _check(over, ref, f"--set {item}")
        cfg = deep_merge(cfg, over)
    if cfg["model"] and cfg["model"] != model:
        raise ConfigError(f"{path}: this config is for {cfg['model']}, not {model}")
    cfg["model"] = model
    cfg["config_source"] = str(path)
    return cfg


def stage_config(cfg: dict, stage: str | None = None) -> dict:
    """The config of one stage of a model trained in stages (:data:`STAGES`), from a loaded config ``cfg`` (which
    holds every stage): the last stage's keys are the top-level ones (without the other stages' tables), an
    earlier stage's are its table (``[pairs]``, ``[directions]``) with the run's ``model``, ``dataset``, ``paper``
    and sources. ``stage`` defaults to ``cfg["stage"]``, else the last stage. A config of a model without stages,
    or one already of a single stage, is returned as is (a copy)."""
    stages = STAGES.get(cfg.get("model", ""))
    if not stages:
        if stage not in (None, ""):
            raise ConfigError(f"--stage {stage}: {cfg.get('model')} trains in one stage")
        return copy.deepcopy(cfg)
    stage = stage or cfg.get("stage") or stages[-1]
    if stage not in stages:
        raise ConfigError(f"unknown stage {stage!r} of {cfg['model']}; stages: {', '.join(stages)}")
    if not any(s in cfg for s in stages[:-1]):  # already one stage's config
        if cfg.get("stage", stages[-1]) != stage:
            raise ConfigError(f"this is the config of stage {cfg.get('stage')!r}, not {stage!r}")
        return copy.deepcopy(cfg)
    if stage == stages[-1]:
        out = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in stages[:-1]}
    else:
        out = {k: cfg[k] for k in ("model", "dataset", "paper", "config_source", "data_source") if k in cfg}
        out.update({k: copy.deepcopy(v) for k, v in cfg[stage].items() if not (k == "paper" and not v)})
    out["stage"] = stage
    return out


def resolve(cfg: dict, world_size: int = 1) -> dict:
    """Fill ``"auto"`` values (formulas above) and check the combination; returns a new dict. A config of a model
    trained in stages is first cut to its stage (:func:`stage_config`)."""
    cfg = stage_config(cfg)
    if cfg.get("model") == "ctsvg":
        return _resolve_ctsvg(cfg, world_size)
    if cfg.get("model") == "motionvideogan":
        return {"pairs": _resolve_pairs, "directions": _resolve_directions,
                "motion": _resolve_mvg}[cfg["stage"]](cfg, world_size)
    where = cfg.get("config_source", "config")
    res = cfg["data"]["resolution"]
    if res < 4 or res & (res - 1):
        raise ConfigError(f"{where}: data.resolution must be a power of two >= 4, got {res}")
    tr = cfg["train"]
    B = tr["batch_size"]
    bg = _batch_per_pass(tr, world_size, where)
    for sec in ("generator", "discriminator"):
        if cfg[sec]["fmaps"] == AUTO:
            cfg[sec]["fmaps"] = 1 if res >= 512 else 0.5
    if cfg["optim"]["lr"] == AUTO:
        cfg["optim"]["lr"] = 0.002 if res >= 1024 else 0.0025
    if cfg["loss"]["r1_gamma"] == AUTO:
        cfg["loss"]["r1_gamma"] = 0.0002 * res ** 2 / B
    if tr["ema_kimg"] == AUTO:
        tr["ema_kimg"] = B * 10 / 32
    d = cfg["discriminator"]
    d["mbstd_group_size"] = min(bg, d["mbstd_group_size"])
    if bg % d["mbstd_group_size"]:
        raise ConfigError(f"{where}: the batch per forward pass ({bg}) must be a multiple of the minibatch-stddev "
                          f"group ({d['mbstd_group_size']})")
    if cfg["data"]["c_dim"] < 0:
        raise ConfigError(f"{where}: data.c_dim must be >= 0 (0: unconditional), got {cfg['data']['c_dim']}")
    if cfg["data"]["num_frames"] < 2:
        raise ConfigError(f"{where}: data.num_frames must be >= 2 (the discriminator sees time differences)")
    _check_augment(cfg["augment"], where)
    _require_non_negative(cfg, (("loss", "r1_gamma"), ("optim", "lr"), ("train", "kimg")), where)
    _require_positive(cfg, (("loss", "r1_interval"), ("loss", "g_reg_interval"), ("augment", "interval")), where)
    cfg["world_size"] = world_size
    return cfg


def _batch_per_pass(tr: dict, world_size: int, where: str, prefix: str = "") -> int:
    """Check ``train.batch_size`` against the world size and ``train.batch_gpu`` (None: the batch per rank) against
    the batch per rank; sets and returns ``batch_gpu``. ``prefix``: the key's table in the file (``pairs.``)."""
    B = tr["batch_size"]
    if B < 1 or B % world_size:
        raise ConfigError(f"{where}: {prefix}train.batch_size={B} must be a positive multiple of the world size "
                          f"({world_size})")
    per_rank = B // world_size
    bg = tr["batch_gpu"] or per_rank
    if bg < 1 or per_rank % bg:
        raise ConfigError(f"{where}: {prefix}train.batch_gpu={bg} must divide the batch per rank ({per_rank})")
    tr["batch_gpu"] = bg
    return bg


def _check_augment(aug: dict, where: str, prefix: str = "") -> None:
    """The ``augment`` table of the StyleGAN2-ADA trainers: a known mode and p in [0, 1]."""
    if aug["mode"] not in ("ada", "fixed", "none"):
        raise ConfigError(f"{where}: {prefix}augment.mode must be ada, fixed or none, got {aug['mode']!r}")
    if not 0 <= aug["p"] <= 1:
        raise ConfigError(f"{where}: {prefix}augment.p must be in [0, 1], got {aug['p']}")


def _require_positive(cfg: dict, keys, where: str) -> None:
    """Each ``cfg[section][key]`` of ``keys`` (section, key pairs) must be >= 1."""
    for sec, key in keys:
        if cfg[sec][key] < 1:
            raise ConfigError(f"{where}: {sec}.{key} must be >= 1")


def _require_non_negative(cfg: dict, keys, where: str) -> None:
    """Each ``cfg[section][key]`` of ``keys`` (section, key pairs) must be a finite number >= 0."""
    for sec, key in keys:
        v = cfg[sec][key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ConfigError(f"{where}: {sec}.{key} must be a finite number >= 0, got {v!r}")


def _one_pass_per_rank(tr: dict, world_size: int, where: str, why: str) -> int:
    """Check ``train.batch_size`` against the world size and set ``train.batch_gpu`` to the batch per rank (models
    whose losses see one forward pass per rank); returns it."""
    B = tr["batch_size"]
    if B < 1 or B % world_size:
        raise ConfigError(f"{where}: train.batch_size={B} must be a positive multiple of the world size "
                          f"({world_size})")
    per_rank = B // world_size
    if tr["batch_gpu"] not in (None, per_rank):
        raise ConfigError(f"{where}: train.batch_gpu must be the batch per rank ({per_rank}): {why}")
    tr["batch_gpu"] = per_rank
    return per_rank


def _resolve_ctsvg(cfg: dict, world_size: int) -> dict:
    where = cfg.get("config_source", "config")
    res = cfg["data"]["resolution"]
    if res < 8 or res & (res - 1):
        raise ConfigError(f"{where}: data.resolution must be a power of two >= 8, got {res}")
    tr, g, loss = cfg["train"], cfg["generator"], cfg["loss"]
    B = tr["batch_size"]
    per_rank = _one_pass_per_rank(tr, world_size, where, "CTSVG's discriminators see one forward pass per rank")
    if per_rank != 1 and per_rank % 4:
        raise ConfigError(f"{where}: the batch per rank ({per_rank}) must be 1 or a multiple of 4 (D_t's "
                          f"minibatch-stddev groups of 4 over 3 x batch frames)")
    if not 0 < g["dyn"] < g["latent"] or g["dyn"] < 2:
        raise ConfigError(f"{where}: generator.dyn must be in [2, generator.latent), got {g['dyn']} and "
                          f"{g['latent']}")
    _require_positive(cfg, (("data", "num_person"), ("data", "num_classes")), where)
    offsets = loss["offsets"]
    if not offsets or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 1 for o in offsets):
        raise ConfigError(f"{where}: loss.offsets must be a list of integers >= 1, got {offsets!r}")
    if 2 * max(offsets) >= cfg["data"]["clip_len"]:
        raise ConfigError(f"{where}: data.clip_len={cfg['data']['clip_len']} must exceed twice the largest offset "
                          f"({max(offsets)})")
    if loss["transit_end"] <= loss["transit_start"]:
        raise ConfigError(f"{where}: loss.transit_end must be after loss.transit_start")
    _require_positive(cfg, [("loss", k) for k in ("d_reg_every", "g_reg_every", "path_batch_shrink", "offset_every")],
                      where)
    if cfg["augment"]["mode"] != "none":
        raise ConfigError(f"{where}: augment.mode must be none for ctsvg (the authors' ADA path cannot run: "
                          f"train.py tunes p from an undefined real_pred0; docs/training.md)")
    _require_non_negative(cfg, (("loss", "r1"), ("loss", "path_regularize"), ("optim", "lr"), ("train", "kimg")), where)
    if tr["ema_kimg"] == AUTO:
        tr["ema_kimg"] = B * 10 / 32
    cfg["world_size"] = world_size
    return cfg


def _resolve_mvg(cfg: dict, world_size: int) -> dict:
    where = cfg.get("config_source", "config")
    d, tr, m = cfg["data"], cfg["train"], cfg["motion"]
    res = d["resolution"]
    if res < 4 or res & (res - 1):
        raise ConfigError(f"{where}: data.resolution must be a power of two >= 4, got {res}")
    _one_pass_per_rank(tr, world_size, where, "the relativistic losses average D's scores over one forward pass "
                                              "per rank")
    _require_positive(cfg, (("data", "num_frames"), ("data", "time_step"), ("motion", "n_direction"),
                            ("loss", "g_steps"), ("discriminator", "num_D"), ("discriminator", "ndf"),
                            ("discriminator", "ndf_max"), ("discriminator", "n_layers")), where)
    if d["num_frames"] < 2:
        raise ConfigError(f"{where}: data.num_frames must be >= 2")
    if tr["ema_kimg"] != 0 or tr["ema_rampup"] is not None:
        raise ConfigError(f"{where}: train.ema_kimg must be 0 for motionvideogan (the authors keep no EMA of the "
                          f"LSTM; the snapshot holds the trained LSTM itself)")
    if cfg["augment"]["mode"] != "none":
        raise ConfigError(f"{where}: augment.mode must be none for motionvideogan (the authors' stage 3 does not "
                          f"augment)")
    _require_non_negative(cfg, (("loss", "gp_weight"), ("optim", "lr"), ("train", "kimg"), ("motion", "w_residual")),
                          where)
    for key in ("generator", "directions"):
        if not m[key]:
            raise ConfigError(f"{where}: motion.{key} is not set: stage 3 trains on a given image-pair generator "
                              f"(motion.generator = network-snapshot-*.pkl) and its directions (motion.directions = "
                              f"the folder of forward_direction.npy / backward_direction.npy); --set them")
    cfg["world_size"] = world_size
    return cfg


def _resolve_pairs(cfg: dict, world_size: int) -> dict:
    """MotionVideoGAN stage 1 (``stage_config(cfg, "pairs")``'s flattened dict): ``ema_kimg = auto`` and the
    batch split as the authors' ``train.py`` checks it."""
    where = cfg.get("config_source", "config")
    d, g, dc, loss, tr = cfg["data"], cfg["generator"], cfg["discriminator"], cfg["loss"], cfg["train"]
    res = d["resolution"]
    if res < 16 or res & (res - 1):
        raise ConfigError(f"{where}: pairs.data.resolution must be a power of two >= 16, got {res}")
    _require_positive(cfg, (("data", "interval"), ("generator", "z_dim"), ("generator", "w_dim"),
                            ("generator", "mapping_layers"), ("generator", "channel_base"),
                            ("generator", "channel_max"), ("discriminator", "channel_base"),
                            ("discriminator", "channel_max"), ("loss", "r1_interval"), ("loss", "g_reg_interval"),
                            ("loss", "pl_batch_shrink"), ("augment", "interval")), where)
    _require_positive(cfg, (("generator", "conv_clamp"), ("discriminator", "conv_clamp")), where)
    _require_non_negative(cfg, (("generator", "num_fp16_res"), ("discriminator", "num_fp16_res"),
                                ("loss", "r1_gamma"), ("loss", "pl_weight"), ("loss", "pl_decay"), ("optim", "lr"),
                                ("train", "kimg"), ("augment", "kimg")), where)
    B = tr["batch_size"]
    bg = _batch_per_pass(tr, world_size, where, "pairs.")
    group = dc["mbstd_group_size"]
    if group < 1 or bg < group or bg % group:
        raise ConfigError(f"{where}: pairs.train.batch_gpu={bg} must be a multiple of pairs.discriminator."
                          f"mbstd_group_size={group} (train.py: --batch-gpu cannot be smaller than --mbstd; the "
                          f"minibatch-stddev groups split each forward pass)")
    if tr["ema_kimg"] == AUTO:
        tr["ema_kimg"] = B * 10 / 32
    _require_non_negative(cfg, (("train", "ema_kimg"),), where)
    if bg // loss["pl_batch_shrink"] < 1 and loss["pl_weight"] > 0:
        raise ConfigError(f"{where}: pairs.loss.pl_batch_shrink={loss['pl_batch_shrink']} leaves no sample of a "
                          f"forward pass of {bg} for the path-length penalty")
    if g["z_dim"] != g["w_dim"]:
        raise ConfigError(f"{where}: pairs.generator.z_dim ({g['z_dim']}) must equal w_dim ({g['w_dim']}): stage 3's "
                          f"LSTM (sized by z_dim) edits w")
    if not 0 <= loss["style_mixing_prob"] <= 1:
        raise ConfigError(f"{where}: pairs.loss.style_mixing_prob must be in [0, 1], got {loss['style_mixing_prob']}")
    if tr["ema_rampup"] is not None and tr["ema_rampup"] < 0:
        raise ConfigError(f"{where}: pairs.train.ema_rampup must be >= 0 (or absent), got {tr['ema_rampup']}")
    _check_augment(cfg["augment"], where, "pairs.")
    if cfg["schedule"]["fvd_kimg"] > 0:
        raise ConfigError(f"{where}: pairs.schedule.fvd_kimg must be 0: stage 1 trains an image-pair generator, "
                          f"FVD needs videos (stage 3 measures it)")
    cfg["world_size"] = world_size
    return cfg


def _resolve_directions(cfg: dict, world_size: int) -> dict:
    """MotionVideoGAN stage 2 (the flat ``[directions]`` config, :class:`~.motion_directions.DirectionsRun`)."""
    where = cfg.get("config_source", "config")
    if not cfg["generator"]:
        raise ConfigError(f"{where}: directions.generator is not set: stage 2 differentiates a trained image-pair "
                          f"generator (the stage-1 network-snapshot-*.pkl); --set directions.generator=PATH")
    if cfg["num_samples"] < 1:
        raise ConfigError(f"{where}: directions.num_samples must be >= 1, got {cfg['num_samples']}")
    if not 0 <= cfg["sample"] < cfg["num_samples"]:
        raise ConfigError(f"{where}: directions.sample must be in [0, directions.num_samples={cfg['num_samples']}), "
                          f"got {cfg['sample']}")
    if cfg["noise_mode"] not in ("random", "const"):
        raise ConfigError(f"{where}: directions.noise_mode must be random or const, got {cfg['noise_mode']!r}")
    if not (math.isfinite(cfg["lamb"]) and cfg["lamb"] > 0):
        raise ConfigError(f"{where}: directions.lamb must be a finite number > 0, got {cfg['lamb']!r}")
    if cfg["max_iter"] < 1:
        raise ConfigError(f"{where}: directions.max_iter must be >= 1, got {cfg['max_iter']}")
    for key in ("num_relax", "tangent_chunk", "seed"):
        if cfg[key] < 0:
            raise ConfigError(f"{where}: directions.{key} must be >= 0, got {cfg[key]}")
    if not math.isfinite(cfg["truncation_psi"]):
        raise ConfigError(f"{where}: directions.truncation_psi must be finite, got {cfg['truncation_psi']!r}")
    cfg["world_size"] = world_size
    return cfg
