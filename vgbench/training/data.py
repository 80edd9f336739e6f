"""The real clips of ``vgbench train``: frame sampling, the checked dataset, and the per-step loader.

Any input ``vgbench eval`` reads (a frames folder, a zip of one, video files, an uncompressed ``.npy``/``.npz``,
``builtin:NAME``) is opened with :func:`vgbench.io.sources.open_source` and used as StyleGAN-V trains on it
(``src/training/dataset.py`` and ``layers.py`` of universome/stylegan-v; MoStGAN-V uses the same code):

* a clip of ``num_frames`` frames is drawn from a window of at most ``max_num_frames`` frames at a random offset
  in the video; inside the window the total distance between the first and the last frame is drawn from
  ``total_dists`` (``[1, 2, 4, ..., 2048]``) restricted to ``[num_frames - 1, min(window - 1, max_dist)]``, the
  first frame at a random offset, the interior frames drawn without replacement between the two, all sorted
  (:func:`random_frame_times`). The times handed to the discriminator are relative to the window's offset, and a
  video's length for the generator's times is ``min(frames, max_num_frames)`` (:meth:`TrainingClips.video_len`);
* ``mirror`` doubles the dataset with a horizontally flipped copy of every video (the whole clip is flipped);
* class labels (``c_dim > 0``, conditional training such as StyleGAN-V's MEAD config) come from ``dataset.json`` in
  the dataset's root (a folder, or a zip with or without one top folder), StyleGAN2-ADA's format
  ``{"labels": [["<video>/<frame file>", class], ...]}`` (every frame of a video must carry the same class; the
  video is found by its folder's name, as the authors' ``VideoFramesFolderDataset`` does); vgbench also accepts
  one entry per video, ``["<video>", class]``. Classes are integers in ``[0, c_dim)``, one-hot encoded; a mirrored
  copy has its video's label (:func:`load_labels`).

Everything is checked once, before training (:class:`TrainingClips`): each video is long enough for the sampling,
all videos share one square, power-of-two resolution (one frame of each is decoded), none is unreadable.

Item ``k`` of the infinite sample stream is a pure function of ``(seed, k)``: epoch ``k // len`` visits the items
in a permutation seeded by ``(seed, epoch)``, and the window offset and frame times come from a generator seeded
by ``(seed, k)``. :class:`ClipLoader` gives step ``s`` the global samples ``[s * B, (s + 1) * B)`` and rank ``r`` of
``W`` its rows ``[r * B / W, (r + 1) * B / W)``, so a run resumed at step ``s``, or split over another number of
ranks, sees the same global batches. Nothing here uses the global torch/numpy/python random state.

Differences from the authors' code, all in what it would reject: a video too short for the sampling is an error
naming it before training (theirs fails at random with ``IndexError`` when it is drawn); ``total_dists=None``
allows every distance in ``[num_frames - 1, min(window - 1, max_dist)]`` (theirs leaves out the upper end, so its
``random_1`` config with ``max_dist: 0`` has no distance at all); a compressed ``.npz`` is refused (it cannot be
read at random without decompressing it whole); a video without a label, a label out of range and the authors'
float label vectors (vgbench's eval draws one-hot classes) are errors naming the video.
"""
from __future__ import annotations

import itertools
import json
import os
import zipfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import VgbenchError
from ..io.sources import Video, VideoReadError, open_source

__all__ = ["DEFAULT_TOTAL_DISTS", "TrainingDataError", "allowed_distances", "min_video_len", "random_frame_times",
           "load_labels", "load_label_ids", "TrainingClips", "ClipLoader"]

#: the authors' ``sampling.total_dists`` (configs/sampling/random.yaml)
DEFAULT_TOTAL_DISTS = tuple(2 ** i for i in range(12))

# purposes mixed into the seeds, so that the epoch permutations and the per-sample draws are independent streams
_PERMUTATION, _SAMPLE = 1, 2


class TrainingDataError(VgbenchError, ValueError):
    """The training data does not fit the training setup (videos too short, mixed or unusable resolutions...)."""


def allowed_distances(video_len: int, num_frames: int = 3, max_dist: int = 32,
                      total_dists: Sequence[int] | None = DEFAULT_TOTAL_DISTS) -> list[int]:
    """The distances between the first and the last frame of a clip that a window of ``video_len`` frames allows:
    those of ``total_dists`` in ``[num_frames - 1, min(video_len - 1, max_dist)]`` (every integer there when
    ``total_dists`` is None)."""
    lo, hi = num_frames - 1, min(video_len - 1, max_dist)
    if total_dists is None:
        return list(range(lo, hi + 1))
    return [int(d) for d in total_dists if lo <= d <= hi]


def min_video_len(num_frames: int = 3, max_dist: int = 32,
                  total_dists: Sequence[int] | None = DEFAULT_TOTAL_DISTS) -> int:
    """The fewest frames a video needs for :func:`random_frame_times` to draw a clip from it."""
    if num_frames < 1:
        raise TrainingDataError(f"num_frames must be at least 1, got {num_frames}")
    fitting = allowed_distances(max(max_dist, num_frames - 1) + 1, num_frames, max_dist, total_dists)
    if not fitting:
        raise TrainingDataError(f"no distance between the first and last of {num_frames} frames is allowed: it must "
                                f"be at least {num_frames - 1}, at most max_dist={max_dist} and one of "
                                f"total_dists={list(total_dists) if total_dists is not None else None}")
    return min(fitting) + 1


def random_frame_times(rng: np.random.Generator, video_len: int, num_frames: int = 3, max_dist: int = 32,
                       total_dists: Sequence[int] | None = DEFAULT_TOTAL_DISTS,
                       fractional: bool = False) -> np.ndarray:
    """Sorted times of ``num_frames`` frames of a window of ``video_len`` frames (StyleGAN-V's random sampling).

    The total distance ``d`` is drawn uniformly from :func:`allowed_distances`, the first frame at an offset drawn
    from ``[0, video_len - d - 1]`` (uniformly over the integers, or a real number in that range when
    ``fractional``: the generator's times), the last at ``offset + d``, and the ``num_frames - 2`` interior frames at
    ``offset + j`` for distinct ``j`` in ``[1, d - 1]``. Returns int64, or float64 when ``fractional``.
    """
    dists = allowed_distances(video_len, num_frames, max_dist, total_dists)
    if not dists:
        need = min_video_len(num_frames, max_dist, total_dists)
        raise TrainingDataError(f"a video of {video_len} frames is too short for clips of {num_frames} frames with "
                                f"max_dist={max_dist}: it needs at least {need} frames")
    d = dists[int(rng.integers(len(dists)))]
    span = video_len - d - 1
    offset = rng.random() * span if fractional else int(rng.integers(span + 1))
    times = [offset]
    if num_frames > 1:
        times.append(offset + d)
    if num_frames > 2:
        times.extend(offset + rng.choice(np.arange(1, d), size=num_frames - 2, replace=False))
    return np.sort(np.array(times, dtype=np.float64 if fractional else np.int64))


LABELS_FILE = "dataset.json"


def _read_labels_file(data) -> tuple[str, object]:
    """(where, parsed JSON) of the ``dataset.json`` of a folder or a zip (top level or inside one top folder)."""
    path = Path(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else None
    if path is None or str(data).startswith("builtin:"):
        raise TrainingDataError(f"{data if path else '<in-memory videos>'}: class labels are read from a "
                                f"{LABELS_FILE} in a frames folder or zip; this input has none")
    try:
        if path.is_dir():
            where = path / LABELS_FILE
            if not where.is_file():
                raise TrainingDataError(f"{path}: no {LABELS_FILE} with the class labels (data.c_dim > 0 needs one)")
            return str(where), json.loads(where.read_text())
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as z:
                found = [n for n in z.namelist() if n.rstrip("/").split("/")[-1] == LABELS_FILE and n.count("/") <= 1]
                if len(found) != 1:
                    raise TrainingDataError(f"{path}: expected one {LABELS_FILE} (at the top or in the top folder) "
                                            f"with the class labels, found {len(found)}")
                return f"{path}:{found[0]}", json.loads(z.read(found[0]))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile) as e:
        raise TrainingDataError(f"{path}: cannot read {LABELS_FILE}: {e}") from e
    raise TrainingDataError(f"{path}: class labels are read from a {LABELS_FILE} in a frames folder or zip; put the "
                            f"videos in one (vgbench's readers accept root/<video>/<frame>)")


def _label_pairs(where: str, tree, key: str) -> list:
    pairs = tree.get(key) if isinstance(tree, dict) else None
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    if not isinstance(pairs, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise TrainingDataError(f"{where}: expected {{\"{key}\": [[\"<video>/<frame>\", id], ...]}}")
    return pairs


def _ids_per_video(where: str, tree, key: str, count: int, video_ids: Sequence[str], what: str,
                   setting: str) -> np.ndarray:
    """int64 ``[len(video_ids)]``: the id in ``[0, count)`` that entry ``key`` of a parsed ``dataset.json`` gives
    each video (one id per video; frame entries ``<video>/<frame>`` must agree)."""
    per_video: dict[str, int] = {}
    for name, label in _label_pairs(where, tree, key):
        if not isinstance(name, str):
            raise TrainingDataError(f"{where}: a file name must be text, got {name!r}")
        parts = [p for p in name.replace("\\", "/").split("/") if p]
        video = parts[-2] if len(parts) > 1 else (parts[0] if parts else "")
        if isinstance(label, bool) or not isinstance(label, int):
            raise TrainingDataError(f"{where}: {name}: the label must be an integer {what} in [0, {count}), got "
                                    f"{label!r} (vector labels are not supported: vgbench eval draws one-hot "
                                    f"classes)")
        if not 0 <= label < count:
            raise TrainingDataError(f"{where}: {name}: {what} {label} is outside [0, {count}) ({setting} = {count})")
        if per_video.setdefault(video, label) != label:
            plural = what + ("es" if what.endswith("s") else "s")
            raise TrainingDataError(f"{where}: video {video} has frames of two {plural} ({per_video[video]} and "
                                    f"{label})")
    missing = [v for v in video_ids if v not in per_video]
    if missing:
        raise TrainingDataError(f"{where}: no {'label' if key == 'labels' else what} for {len(missing)} video(s): "
                                f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    return np.array([per_video[v] for v in video_ids], dtype=np.int64)


def load_labels(data, video_ids: Sequence[str], c_dim: int) -> np.ndarray:
    """One-hot labels ``float32 [len(video_ids), c_dim]`` of the videos named ``video_ids`` (folder names) from the
    ``dataset.json`` of ``data`` (format in the module docstring)."""
    where, tree = _read_labels_file(data)
    ids = _ids_per_video(where, tree, "labels", c_dim, video_ids, "class", "data.c_dim")
    out = np.zeros([len(video_ids), c_dim], dtype=np.float32)
    out[np.arange(len(video_ids)), ids] = 1
    return out


def load_label_ids(data, video_ids: Sequence[str], kinds: Sequence[tuple[str, int, str, str]]) -> np.ndarray:
    """Integer ids ``int64 [len(video_ids), len(kinds)]`` from the ``dataset.json`` of ``data``, one column per
    ``(key, count, what, setting)`` of ``kinds`` (e.g. CTSVG's ``("actors", num_person, "actor",
    "data.num_person")`` and ``("labels", num_classes, "action", "data.num_classes")``); each key holds
    ``[["<video>" or "<video>/<frame>", id], ...]`` as ``"labels"`` does."""
    where, tree = _read_labels_file(data)
    cols = [_ids_per_video(where, tree, key, count, video_ids, what, setting) for key, count, what, setting in kinds]
    return np.stack(cols, axis=1) if cols else np.zeros([len(video_ids), 0], dtype=np.int64)


def _describe(videos: list[tuple[str, int]], limit: int = 5) -> str:
    shown = ", ".join(f"{path} ({n} frame{'s' if n != 1 else ''})" for path, n in videos[:limit])
    return shown + (f" and {len(videos) - limit} more" if len(videos) > limit else "")


class TrainingClips:
    """The training set: checked on creation, then clip ``k`` of the infinite stream is :meth:`item` ``(k)``.

    ``len(clips)`` is the number of videos, doubled by ``mirror``: items ``[0, n)`` are the videos, items
    ``[n, 2n)`` their mirrored copies. ``skip_short`` drops the videos too short for the sampling (listed in
    ``skipped``) instead of refusing the dataset.
    """

    #: the entries of :meth:`item` that :meth:`batch` stacks, in order
    BATCH_KEYS = ("image", "t", "c")

    def __init__(self, source, *, resolution: int | None = None, num_frames: int = 3, max_dist: int = 32,
                 max_num_frames: int = 1024, mirror: bool = True, seed: int = 0,
                 total_dists: Sequence[int] | None = DEFAULT_TOTAL_DISTS, skip_short: bool = False,
                 c_dim: int = 0):
        if seed < 0:
            raise TrainingDataError(f"seed must be a non-negative integer, got {seed}")
        self.num_frames, self.max_dist, self.total_dists = num_frames, max_dist, total_dists
        self.max_num_frames, self.mirror, self.seed = max_num_frames, mirror, seed
        need = self.min_length()
        if max_num_frames < need:
            raise TrainingDataError(f"max_num_frames={max_num_frames} is below the {need} frames that clips of "
                                    f"{num_frames} frames with max_dist={max_dist} need")
        self.source = open_source(source)
        self.name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"<{self.source.kind}>"
        self.videos, self.frame_counts, self.skipped = self._scan(need, skip_short)
        self.resolution = self._check_resolution(resolution)
        if c_dim < 0:
            raise TrainingDataError(f"c_dim must be >= 0, got {c_dim}")
        self.c_dim = c_dim
        self.labels = self.load_labels(source)
        self._perm_epoch, self._perm = -1, None

    def min_length(self) -> int:
        """The fewest frames a video needs for this sampling (subclasses with another sampling override it)."""
        return min_video_len(self.num_frames, self.max_dist, self.total_dists)

    def load_labels(self, source) -> np.ndarray:
        """One label row per video (here the one-hot classes of ``c_dim``; subclasses may read other labels)."""
        if not self.c_dim:
            return np.zeros([len(self.videos), 0], dtype=np.float32)
        return load_labels(source, [v.id for v in self.videos], self.c_dim)

    def _scan(self, need: int, skip_short: bool) -> tuple[list[Video], list[int], list[tuple[str, int]]]:
        """Every video handle with its frame count (from the handles, no pixels decoded)."""
        videos, counts, short, unreadable = [], [], [], []
        for v in self.source:
            if getattr(v, "supports_random", True) is False:
                raise TrainingDataError(f"{self.name}: a compressed .npz cannot be read at random without "
                                        f"decompressing it whole; save it uncompressed (np.savez or np.save)")
            try:
                n = v.num_frames
            except VideoReadError as e:
                unreadable.append(f"{e.path}: {e.problem}")
                continue
            if min(n, self.max_num_frames) < need:
                short.append((v.path, n))
                continue
            videos.append(v)
            counts.append(n)
        if unreadable:
            raise TrainingDataError(f"{self.name}: {len(unreadable)} unreadable video(s): "
                                    + "; ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else ""))
        if short and not skip_short:
            raise TrainingDataError(f"{self.name}: {len(short)} video(s) are shorter than the {need} frames that clips "
                                    f"of {self.num_frames} frames with max_dist={self.max_dist} need: "
                                    f"{_describe(short)}; remove them or skip them (skip_short)")
        if not videos:
            raise TrainingDataError(f"{self.name}: no video to train on"
                                    + (f" ({len(short)} too short skipped)" if short else ""))
        return videos, counts, short

    def _check_resolution(self, resolution: int | None) -> int:
        """Decode the first frame of every video: one size for all, square, a power of two, RGB. (About 1.4 ms per
        256x256 JPEG video on the reference machine: ``benchmarks/bench_training_data.py``.)"""
        first: dict[tuple, str] = {}
        for v in self.videos:
            shape = v.read([0]).shape[1:]
            if len(shape) != 3 or shape[-1] != 3:
                raise TrainingDataError(f"{v.path}: expected RGB frames, got frames of shape {shape}")
            first.setdefault(shape[:2], v.path)
            if len(first) > 1:
                (size_a, path_a), (size_b, path_b) = first.items()
                raise TrainingDataError(f"{self.name}: videos have different frame sizes: {path_a} is "
                                        f"{size_a[1]}x{size_a[0]}, {path_b} is {size_b[1]}x{size_b[0]} (width x "
                                        f"height); resize all videos to one square power-of-two resolution")
        (h, w), path = next(iter(first.items()))
        if h != w or h < 4 or h & (h - 1):
            raise TrainingDataError(f"{self.name}: frames are {w}x{h} (e.g. {path}); training needs square frames "
                                    f"whose side is a power of two (4, 8, 16, ...)")
        if resolution is not None and h != resolution:
            raise TrainingDataError(f"{self.name}: frames are {w}x{h} (e.g. {path}), the training resolution is "
                                    f"{resolution}")
        return h

    @property
    def num_videos(self) -> int:
        return len(self.videos)

    def __len__(self) -> int:
        return self.num_videos * (2 if self.mirror else 1)

    def video_len(self, index: int) -> int:
        """The frame count the sampling sees for item ``index``: ``min(frames, max_num_frames)``."""
        return min(self.frame_counts[index % self.num_videos], self.max_num_frames)

    def label(self, index: int) -> np.ndarray:
        """The one-hot label ``float32 [c_dim]`` of item ``index`` (a mirrored copy has its video's label)."""
        return self.labels[index % self.num_videos]

    def item_index(self, k: int) -> int:
        """The item that sample ``k`` of the infinite stream shows: position ``k % len`` of the permutation of epoch
        ``k // len``."""
        epoch, pos = divmod(k, len(self))
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, _PERMUTATION, epoch]).permutation(len(self))
            self._perm_epoch = epoch
        return int(self._perm[pos])

    def sample_start(self, k: int) -> tuple[int, np.random.Generator, int]:
        """``(item index, the sample's generator, the video's frame count)`` of sample ``k`` (subclasses that draw
        their own frame times start from these)."""
        if k < 0:
            raise IndexError(f"sample index must be non-negative, got {k}")
        index = self.item_index(k)
        return index, np.random.default_rng([self.seed, _SAMPLE, k]), self.frame_counts[index % self.num_videos]

    def item(self, k: int) -> dict:
        """Sample ``k``: ``image`` uint8 ``[F, 3, H, W]``, ``t`` int64 ``[F]`` (frame times relative to the window),
        ``c`` float32 ``[c_dim]`` (the label), ``video_len`` (the window's length), ``index`` (the item) and
        ``mirrored``."""
        index, rng, total = self.sample_start(k)
        window = self.video_len(index)
        offset = int(rng.integers(total - window + 1))
        t = random_frame_times(rng, window, self.num_frames, self.max_dist, self.total_dists)
        image, mirrored = self.read_frames(index, [int(i) for i in t + offset])
        return dict(image=image, t=torch.from_numpy(t), c=torch.from_numpy(self.label(index)), video_len=window,
                    index=index, mirrored=mirrored)

    def read_frames(self, index: int, wanted: list[int]) -> tuple[torch.Tensor, bool]:
        """Frames ``wanted`` of item ``index`` as uint8 ``[F, 3, H, W]`` (flipped for a mirrored item), mirrored."""
        video = self.videos[index % self.num_videos]
        frames = video.read(wanted)
        if frames.shape[1:] != (self.resolution, self.resolution, 3):
            raise VideoReadError(video.path, f"frames {wanted} are {frames.shape[2]}x{frames.shape[1]}x"
                                             f"{frames.shape[3]}, the dataset is {self.resolution}x{self.resolution}"
                                             f" RGB (checked on its first frame)")
        mirrored = index >= self.num_videos
        if mirrored:
            frames = frames[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))), mirrored

    def batch(self, samples: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples ``samples`` stacked: images uint8 ``[b, F, 3, H, W]``, times int64 ``[b, F]``, labels float32
        ``[b, c_dim]``."""
        items = [self.item(k) for k in samples]
        return tuple(torch.stack([it[key] for it in items]) for key in self.BATCH_KEYS)


class _Failure:
    """A :class:`VgbenchError` met in a loader worker, sent back as plain data (``VideoReadError`` does not
    survive pickling, and the DataLoader would turn it into a ``RuntimeError``)."""

    def __init__(self, error: VgbenchError):
        self.read = isinstance(error, VideoReadError)
        self.args = (error.path, error.problem) if self.read else (str(error),)

    def raise_(self):
        raise (VideoReadError if self.read else TrainingDataError)(*self.args)


class _StepBatches(torch.utils.data.Dataset):
    """Map-style view for the DataLoader: ``[step]`` is this rank's rows of the global batch of ``step``."""

    def __init__(self, clips: TrainingClips, batch_size: int, rank: int, world_size: int):
        self.clips, self.local = clips, batch_size // world_size
        self.batch_size, self.rank = batch_size, rank

    def rows(self, step: int) -> range:
        start = step * self.batch_size + self.rank * self.local
        return range(start, start + self.local)

    def __getitem__(self, step: int):
        try:
            return self.clips.batch(self.rows(step))
        except VideoReadError as e:
            return _Failure(VideoReadError(e.path, f"{e.problem} (training step {step}, samples "
                                                   f"{self.rows(step).start}..{self.rows(step).stop - 1})"))
        except VgbenchError as e:
            return _Failure(e)


class _Steps(torch.utils.data.Sampler):
    def __init__(self, start: int):
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


class ClipLoader:
    """This rank's share of every training step from ``start_step`` on, forever: ``(images uint8 [b, F, 3, H, W],
    t int64 [b, F], c float32 [b, c_dim])`` with ``b = batch_size / world_size``, loaded by ``workers`` background
    processes (0: in this process), ``prefetch`` batches ahead per worker, in pinned memory when CUDA is
    available."""

    def __init__(self, dataset: TrainingClips, batch_size: int, rank: int = 0, world_size: int = 1,
                 start_step: int = 0, workers: int = 2, prefetch: int = 2):
        if batch_size < 1 or world_size < 1 or batch_size % world_size:
            raise TrainingDataError(f"the batch size ({batch_size}) must be a positive multiple of the number of "
                                    f"ranks ({world_size})")
        if not 0 <= rank < world_size:
            raise TrainingDataError(f"rank {rank} is outside [0, {world_size})")
        if start_step < 0 or workers < 0 or prefetch < 1:
            raise TrainingDataError(f"start_step ({start_step}) and workers ({workers}) must be >= 0, prefetch "
                                    f"({prefetch}) >= 1")
        if workers and not dataset.source.supports_workers:
            raise TrainingDataError(f"{dataset.name}: this kind of input ({dataset.source.kind}) cannot be read in "
                                    f"worker processes; use workers=0")
        self.dataset, self.steps = dataset, _StepBatches(dataset, batch_size, rank, world_size)
        self.start_step, self.workers, self.prefetch = start_step, workers, prefetch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        extra = dict(prefetch_factor=self.prefetch) if self.workers else {}
        loader = torch.utils.data.DataLoader(self.steps, batch_size=None, sampler=_Steps(self.start_step),
                                             num_workers=self.workers, pin_memory=torch.cuda.is_available(),
                                             **extra)
        for batch in loader:
            if isinstance(batch, _Failure):
                batch.raise_()
            yield batch
