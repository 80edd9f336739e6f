"""Keypoints -> PoseC3D heatmap volumes, as mmaction2's PoseC3D pipelines build them (written for vgbench from
mmaction2's ``slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint`` config and the behaviour of its transforms).

Test pipeline (:func:`test_volumes`), for one video of ``n`` frames with keypoints ``[n, 17, 2]`` and scores:

1. ``UniformSampleFrames(clip_len=48, num_clips=10, test_mode=True)`` (seed 255, reseeded per video): clip ``i``
   of a video shorter than ``clip_len`` is the ``clip_len`` frames from ``i`` (when ``n < num_clips``) or from
   ``i * n // num_clips``, modulo ``n`` (a loop); for ``clip_len <= n < 2 clip_len``, ``n - clip_len`` random
   distinct positions of ``0..clip_len`` each shift the frames after them by one; otherwise one random frame from
   each of ``clip_len`` equal segments ``[i n // clip_len, (i + 1) n // clip_len)``;
2. ``PoseCompact(padding=0.25, threshold=10, hw_ratio=1, allow_imgpad=True)``: the box around every nonzero
   coordinate of the sampled frames (x and y separately), grown 1.25x about its centre and widened to a square,
   truncated to integers with Python's ``int`` (toward zero); nonzero coordinates are shifted into it (a
   coordinate exactly 0 means "missing" and stays 0). Boxes under 10 px on a side leave everything unchanged;
3. ``Resize(scale=(-1, 64))``: short side to 64, the other ``int(side * 64 / short + 0.5)``, keypoints times
   ``new / old`` (float32) per axis; ``CenterCrop(64)``: keypoints minus ``((w - 64) // 2, (h - 64) // 2)``;
4. ``GeneratePoseTarget(sigma=0.6, use_score=True, with_kp=True, with_limb=False, double=True)``: per frame and
   keypoint with score ``s >= 1e-4``, ``s * exp(-((x - mu_x)^2 + (y - mu_y)^2) / 2 / sigma^2)`` in float32 on the
   integer pixel grid, only inside the window ``[max(int(mu - 3 sigma), 0), min(int(mu + 3 sigma) + 1, size))``
   per axis (0 outside; no window when it is empty), the maximum over people; ``double`` appends the horizontally
   mirrored volume with left/right keypoint channels swapped, so each video gives ``2 * num_clips`` clips;
5. ``FormatShape('NCTHW_Heatmap')``: clips ``[2 num_clips, 17, clip_len, 64, 64]``.

Train pipeline (:func:`train_volume`): ``UniformSampleFrames(clip_len)`` with random offsets, the same
``PoseCompact`` and ``Resize(-1, 64)``, ``RandomResizedCrop(area_range=(0.56, 1.0))`` (aspect ratio in
``[3/4, 4/3]``, 10 attempts, else the centre square), ``Resize((56, 56), keep_ratio=False)``, ``Flip(0.5)`` (x ->
``w - x`` for nonzero x, left/right keypoints swapped), ``GeneratePoseTarget`` without ``double``. Random draws
come from a ``numpy.random.Generator`` the caller seeds (mmaction2 draws from the global NumPy and Python
generators, so its training draws are not reproduced number for number; the test pipeline is, seed included).

Keypoints are float32 pixel coordinates of the source frame; a frame without a detected person is all zeros
(:mod:`vgbench.action.keypoints`), which every step above treats as missing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PipelineConfig", "LEFT_KP", "RIGHT_KP", "test_indices", "train_indices", "pose_compact", "resize",
           "crop", "flip", "random_resized_crop_box", "gaussian_heatmaps", "test_volumes", "train_volume"]

LEFT_KP = (1, 3, 5, 7, 9, 11, 13, 15)
RIGHT_KP = (2, 4, 6, 8, 10, 12, 14, 16)
EPS = 1e-4


@dataclass(frozen=True)
class PipelineConfig:
    """mmaction2's PoseC3D NTU-60 keypoint pipeline settings (the defaults) or a smaller variant."""

    clip_len: int = 48
    num_clips: int = 10  # test time
    test_seed: int = 255
    double: bool = True  # test-time flip
    size: int = 64  # short side after Resize, and the CenterCrop
    train_size: int = 56  # train-time Resize after RandomResizedCrop
    area_range: tuple = (0.56, 1.0)
    aspect_range: tuple = (3 / 4, 4 / 3)
    flip_ratio: float = 0.5
    sigma: float = 0.6
    use_score: bool = True
    padding: float = 0.25
    threshold: int = 10
    hw_ratio: float = 1.0


def _flip_order(num_kp: int = 17) -> np.ndarray:
    order = np.arange(num_kp)
    for a, b in zip(LEFT_KP, RIGHT_KP):
        order[a], order[b] = b, a
    return order


# ------------------------------------------------------------------------------------------------- frame sampling


def _uniform_clip(n: int, clip_len: int, choice, offsets) -> np.ndarray:
    """One clip of ``UniformSampleFrames`` for ``n >= clip_len``: ``choice(k, m)`` draws ``m`` distinct values
    below ``k``, ``offsets(sizes)`` one integer below each segment size."""
    if n < 2 * clip_len:  # clip_len <= n < 2 clip_len: n - clip_len random one-frame skips
        offset = np.zeros(clip_len + 1, dtype=np.int64)
        offset[choice(clip_len + 1, n - clip_len)] = 1
        return np.arange(clip_len) + np.cumsum(offset)[:-1]
    bids = np.array([i * n // clip_len for i in range(clip_len + 1)])
    return bids[:clip_len] + offsets(np.diff(bids))


def test_indices(n: int, clip_len: int, num_clips: int, seed: int = 255) -> np.ndarray:
    """``UniformSampleFrames`` in test mode: ``[num_clips * clip_len]`` frame indices in ``[0, n)``."""
    rs = np.random.RandomState(seed)  # the stream of np.random.seed(seed) + np.random.*
    out = []
    for i in range(num_clips):
        if n < clip_len:
            start = i if n < num_clips else i * n // num_clips
            out.append(np.arange(start, start + clip_len))
        else:
            out.append(_uniform_clip(n, clip_len, lambda k, m: rs.choice(k, m, replace=False), rs.randint))
    return np.mod(np.concatenate(out), n)


def train_indices(n: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """``UniformSampleFrames`` in train mode (one clip): ``[clip_len]`` frame indices in ``[0, n)``."""
    if n < clip_len:
        start = int(rng.integers(0, n))
        return np.mod(np.arange(start, start + clip_len), n)
    return _uniform_clip(n, clip_len, lambda k, m: rng.choice(k, m, replace=False), lambda hi: rng.integers(0, hi))


# ------------------------------------------------------------------------------------------ geometric transforms


def pose_compact(kp: np.ndarray, img_shape, padding: float = 0.25, threshold: int = 10,
                 hw_ratio: float | None = 1.0) -> tuple[np.ndarray, tuple[int, int]]:
    """``PoseCompact(allow_imgpad=True)`` on keypoints ``[..., 2]`` (float32): (shifted keypoints, new (h, w))."""
    kp = kp.copy()
    x, y = kp[..., 0], kp[..., 1]
    if not (x != 0).any() or not (y != 0).any():
        return kp, tuple(img_shape)
    min_x, max_x = x[x != 0].min(), x[x != 0].max()
    min_y, max_y = y[y != 0].min(), y[y != 0].max()
    if max_x - min_x < threshold or max_y - min_y < threshold:
        return kp, tuple(img_shape)
    cx, cy = (max_x + min_x) / 2, (max_y + min_y) / 2
    half_w = (max_x - min_x) / 2 * (1 + padding)
    half_h = (max_y - min_y) / 2 * (1 + padding)
    if hw_ratio is not None:
        half_h = max(hw_ratio * half_w, half_h)
        half_w = max(1 / hw_ratio * half_h, half_w)
    x0, x1 = int(cx - half_w), int(cx + half_w)
    y0, y1 = int(cy - half_h), int(cy + half_h)
    x[x != 0] -= x0
    y[y != 0] -= y0
    return kp, (y1 - y0, x1 - x0)


def resize(kp: np.ndarray, img_shape, new_hw) -> tuple[np.ndarray, tuple[int, int]]:
    """Keypoints scaled from ``img_shape`` to ``new_hw`` (both (h, w)); an int ``s`` is mmaction2's
    ``Resize(scale=(-1, s))``: short side to ``s``, long side ``int(long * s / short + 0.5)``."""
    h, w = img_shape
    if isinstance(new_hw, (int, np.integer)):
        f = float(new_hw) / min(h, w)
        new_hw = (int(h * f + 0.5), int(w * f + 0.5))
    nh, nw = new_hw
    factor = np.array([nw / w, nh / h], dtype=np.float32)
    return kp * factor, (nh, nw)


def crop(kp: np.ndarray, box) -> tuple[np.ndarray, tuple[int, int]]:
    """Keypoints in the crop ``box = (left, top, right, bottom)``: every coordinate shifted, and promoted to float64
    as mmaction2's integer box makes them (later steps stay in float64 until the heatmaps' float32)."""
    left, top, right, bottom = box
    return kp - np.array([left, top], dtype=np.int64), (bottom - top, right - left)


def center_crop_box(img_shape, size: int) -> tuple[int, int, int, int]:
    h, w = img_shape
    left, top = (w - size) // 2, (h - size) // 2
    return left, top, left + size, top + size


def random_resized_crop_box(img_shape, rng: np.random.Generator, area_range=(0.56, 1.0),
                            aspect_range=(3 / 4, 4 / 3), attempts: int = 10) -> tuple[int, int, int, int]:
    """``RandomResizedCrop.get_crop_bbox``: a box of random area fraction and aspect ratio, else the centre square."""
    h, w = img_shape
    ratios = np.exp(rng.uniform(np.log(aspect_range[0]), np.log(aspect_range[1]), size=attempts))
    areas = rng.uniform(*area_range, size=attempts) * h * w
    cw = np.round(np.sqrt(areas * ratios)).astype(np.int32)
    ch = np.round(np.sqrt(areas / ratios)).astype(np.int32)
    for i in range(attempts):
        if ch[i] <= h and cw[i] <= w:
            x0, y0 = int(rng.integers(0, w - cw[i] + 1)), int(rng.integers(0, h - ch[i] + 1))
            return x0, y0, x0 + int(cw[i]), y0 + int(ch[i])
    s = min(h, w)
    return (w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s


def flip(kp: np.ndarray, score: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip: ``x -> width - x`` for nonzero x, left and right keypoints swapped (axis -2)."""
    kp = kp.copy()
    x = kp[..., 0]
    x[x != 0] = width - x[x != 0]
    order = _flip_order(kp.shape[-2])
    return kp[..., order, :], score[..., order]


# ------------------------------------------------------------------------------------------------------- heatmaps


def gaussian_heatmaps(kp: np.ndarray, score: np.ndarray, hw, sigma: float = 0.6,
                      use_score: bool = True) -> np.ndarray:
    """``GeneratePoseTarget(with_kp=True, with_limb=False)``: keypoints ``[M, T, V, 2]`` and scores ``[M, T, V]``
    of ``M`` people -> float32 heatmaps ``[T, V, h, w]`` (see the module docstring for the formula and window)."""
    h, w = hw
    kp = kp.astype(np.float32)
    value = score.astype(np.float32) if use_score else np.ones(score.shape, np.float32)
    out = np.zeros(kp.shape[1:3] + (h, w), dtype=np.float32)
    for m in range(kp.shape[0]):
        _person_heatmaps(out, kp[m], value[m], sigma)
    return out


def _person_heatmaps(out: np.ndarray, kp: np.ndarray, v: np.ndarray, sigma: float) -> None:
    """Max-accumulate one person's Gaussians into ``out`` ``[T, V, h, w]``, evaluating only each window."""
    h, w = out.shape[-2:]
    size = int(np.ceil(6 * sigma)) + 2  # no window is wider than this
    mx, my = kp[..., 0], kp[..., 1]
    # window bounds as mmaction2 computes them: Python int() (toward zero) of mu -/+ 3 sigma, in float64 as under
    # the NumPy 1.x that mmaction2 needs (its PoseCompact uses np.Inf, removed in NumPy 2)
    st_x = np.maximum(np.trunc(mx.astype(np.float64) - 3 * sigma), 0)
    ed_x = np.minimum(np.trunc(mx.astype(np.float64) + 3 * sigma) + 1, w)
    st_y = np.maximum(np.trunc(my.astype(np.float64) - 3 * sigma), 0)
    ed_y = np.minimum(np.trunc(my.astype(np.float64) + 3 * sigma) + 1, h)
    off = np.arange(size)
    xs = (st_x[..., None] + off).astype(np.float32)  # [T, V, size]
    ys = (st_y[..., None] + off).astype(np.float32)
    dx2 = (xs - mx[..., None]) ** 2  # float32, as mmaction2's arange(st, ed, 1, np.float32) - mu
    dy2 = (ys - my[..., None]) ** 2
    patch = np.exp(-(dx2[..., None, :] + dy2[..., :, None]) / np.float32(2) / np.float32(sigma ** 2))
    patch = patch * v[..., None, None]  # [T, V, size (y), size (x)]
    keep = ((v >= EPS)[..., None, None] & (ys < ed_y[..., None])[..., :, None]
            & (xs < ed_x[..., None])[..., None, :])
    t_idx, v_idx = np.indices(kp.shape[:2])
    flat = (((t_idx * out.shape[1] + v_idx)[..., None, None] * h + ys.astype(np.int64)[..., :, None]) * w
            + xs.astype(np.int64)[..., None, :])
    np.maximum.at(out.reshape(-1), flat[keep], patch[keep])


def _split(video: np.ndarray, img_shape) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A ``[n, 17, 3]`` keypoint array -> coordinates ``[1, n, 17, 2]``, scores ``[1, n, 17]``, (h, w)."""
    video = np.asarray(video, dtype=np.float32)
    return video[None, ..., :2].copy(), video[None, ..., 2].copy(), (int(img_shape[0]), int(img_shape[1]))


def test_volumes(video: np.ndarray, img_shape, cfg: PipelineConfig = PipelineConfig()) -> np.ndarray:
    """The test pipeline for one video ``[n, 17, 3]`` (x, y, score): clips ``[2 num_clips (or num_clips without
    double), 17, clip_len, size, size]`` float32."""
    kp, score, hw = _split(video, img_shape)
    idx = test_indices(kp.shape[1], cfg.clip_len, cfg.num_clips, cfg.test_seed)
    kp, score = kp[:, idx], score[:, idx]
    kp, hw = pose_compact(kp, hw, cfg.padding, cfg.threshold, cfg.hw_ratio)
    kp, hw = resize(kp, hw, cfg.size)
    kp, hw = crop(kp, center_crop_box(hw, cfg.size))
    heat = gaussian_heatmaps(kp, score, hw, cfg.sigma, cfg.use_score)  # [num_clips * clip_len, 17, h, w]
    if cfg.double:
        heat = np.concatenate([heat, heat[..., ::-1][:, _flip_order(heat.shape[1])]])
    clips = heat.reshape((-1, cfg.clip_len) + heat.shape[1:])  # [clips, T, V, h, w]
    return np.ascontiguousarray(clips.transpose(0, 2, 1, 3, 4))


def train_volume(video: np.ndarray, img_shape, rng: np.random.Generator,
                 cfg: PipelineConfig = PipelineConfig()) -> np.ndarray:
    """The train pipeline for one video ``[n, 17, 3]``: one augmented clip ``[17, clip_len, train_size,
    train_size]`` float32, random draws from ``rng``."""
    kp, score, hw = _split(video, img_shape)
    idx = train_indices(kp.shape[1], cfg.clip_len, rng)
    kp, score = kp[:, idx], score[:, idx]
    kp, hw = pose_compact(kp, hw, cfg.padding, cfg.threshold, cfg.hw_ratio)
    kp, hw = resize(kp, hw, cfg.size)
    kp, hw = crop(kp, random_resized_crop_box(hw, rng, cfg.area_range, cfg.aspect_range))
    kp, hw = resize(kp, hw, (cfg.train_size, cfg.train_size))
    if rng.random() < cfg.flip_ratio:
        kp, score = flip(kp, score, hw[1])
    heat = gaussian_heatmaps(kp, score, hw, cfg.sigma, cfg.use_score)
    return np.ascontiguousarray(heat.transpose(1, 0, 2, 3))
