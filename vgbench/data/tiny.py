"""The bundled tiny dataset: procedural, deterministic videos that vgbench renders itself.

Each video is a textured, lit background seen by a slowly panning camera, with one to three shaded objects that
move along smooth, bouncing trajectories, mild flicker and sensor noise. Frames are rendered on demand from
(seed, video index, frame index), so any clip of any video is reproducible without storing pixels.

Variants (``builtin:NAME``):

* ``tiny``          48 videos x 32 frames, 64x64: the "real" set; its FVD16 statistics ship in ``reference_stats/``;
* ``tiny-heldout``  48 more videos of the same process (other seeds): a "good generator";
* ``tiny-static``   the held-out videos with motion frozen at frame 0: right content, no motion;
* ``tiny-shuffled`` the held-out videos with their frames in a fixed random order: right frames, broken time.
"""
from __future__ import annotations

import numpy as np

from ..io.base import Video, VideoSource
from ..utils import sha256_json

__all__ = ["TinySource", "render_video", "VARIANTS"]

SIZE, FRAMES, COUNT = 64, 32, 48
VARIANTS = {
    "tiny": dict(seed=0, motion="normal"),
    "tiny-heldout": dict(seed=1, motion="normal"),
    "tiny-static": dict(seed=1, motion="static"),
    "tiny-shuffled": dict(seed=1, motion="shuffled"),
}


def _bounce(x: np.ndarray | float, lo: float, hi: float):
    span = hi - lo
    u = np.mod(np.asarray(x) - lo, 2 * span)
    return lo + np.where(u <= span, u, 2 * span - u)


def render_video(seed: int, index: int, frames, motion: str = "normal", size: int = SIZE,
                 length: int = FRAMES) -> np.ndarray:
    """Render frames ``frames`` of video ``index`` of the process with ``seed`` as uint8 [T, size, size, 3]."""
    rng = np.random.default_rng([seed, index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    c1, c2 = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.95, 3)
    angle = rng.uniform(0, 2 * np.pi)
    tex_f = rng.uniform(0.03, 0.25, (4, 2)) * rng.choice([-1, 1], (4, 2))
    tex_p, tex_a = rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.02, 0.08, 4)
    cam_v = rng.normal(0, 0.35, 2)
    n_obj = int(rng.integers(1, 4))
    objs = []
    for _ in range(n_obj):
        r = rng.uniform(5, 12)
        objs.append(dict(
            color=rng.uniform(0, 1, 3), r=r, aspect=rng.uniform(0.6, 1.4), p0=rng.uniform(r, size - r, 2),
            v=rng.normal(0, 1.2, 2), amp=rng.uniform(0, 4, 2), freq=rng.uniform(0.02, 0.12), ph=rng.uniform(0, 6.3),
        ))
    flick_p, flick_a = rng.uniform(8, 30), rng.uniform(0.0, 0.04)
    order = np.random.default_rng([seed, index, 7]).permutation(length) if motion == "shuffled" else None

    out = np.empty((len(frames), size, size, 3), np.uint8)
    for k, t in enumerate(frames):
        if not 0 <= t < length:
            raise IndexError(f"frame {t} out of range for a {length}-frame video")
        tt = 0.0 if motion == "static" else float(order[t] if order is not None else t)
        x, y = xx + cam_v[0] * tt, yy + cam_v[1] * tt
        g = (np.cos(angle) * x + np.sin(angle) * y) / size
        g = np.clip(0.5 + 0.5 * g, 0, 1)[..., None]
        img = c1 * (1 - g) + c2 * g
        tex = sum(a * np.sin(f[0] * x + f[1] * y + p) for f, p, a in zip(tex_f, tex_p, tex_a))
        img = img + tex[..., None]
        for o in objs:
            cx = _bounce(o["p0"][0] + o["v"][0] * tt + o["amp"][0] * np.sin(o["freq"] * tt + o["ph"]), o["r"],
                         size - o["r"])
            cy = _bounce(o["p0"][1] + o["v"][1] * tt + o["amp"][1] * np.cos(o["freq"] * tt + o["ph"]), o["r"],
                         size - o["r"])
            d = np.sqrt(((xx - cx) / (o["r"] * o["aspect"])) ** 2 + ((yy - cy) / o["r"]) ** 2)
            mask = 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * 12.0, -50, 50)))
            shade = 1.0 - 0.35 * np.clip(d, 0, 1) ** 2 + 0.15 * np.clip(1 - d, 0, 1) * ((xx - cx + yy - cy) < 0)
            img = img * (1 - mask[..., None]) + (o["color"] * shade[..., None]) * mask[..., None]
        img = img * (1 + flick_a * np.sin(2 * np.pi * tt / flick_p))
        noise = np.random.default_rng([seed, index, 1000 + int(t)]).normal(0, 0.012, img.shape)
        out[k] = np.clip(np.rint((img + noise) * 255.0), 0, 255).astype(np.uint8)
    return out


class TinyVideo(Video):
    def __init__(self, seed: int, index: int, motion: str):
        self.seed, self.index, self.motion = seed, index, motion
        self.id, self.path, self.fps = f"video_{index:03d}", f"builtin:tiny(seed={seed},motion={motion})[{index}]", 30.0

    @property
    def num_frames(self) -> int:
        return FRAMES

    def nbytes_hint(self) -> int:
        return FRAMES * SIZE * SIZE * 3

    def stamp(self):
        return ["tiny/1", self.seed, self.motion]  # pixels are a pure function of these and the renderer

    def _read(self, indices):
        return render_video(self.seed, self.index, indices, self.motion)


class TinySource(VideoSource):
    kind = "builtin"

    def __init__(self, name: str = "tiny", count: int = COUNT):
        if name not in VARIANTS:
            raise ValueError(f"unknown tiny variant {name!r}; known: {', '.join(VARIANTS)}")
        self.name, self.count = name, count
        self.cfg = VARIANTS[name]

    def __iter__(self):
        return (TinyVideo(self.cfg["seed"], i, self.cfg["motion"]) for i in range(self.count))

    def __len__(self):
        return self.count

    def describe(self):
        return {"kind": self.kind, "name": self.name, "count": self.count, "frames": FRAMES, "size": SIZE}

    def content_hash(self) -> str:
        # pixels are a pure function of these parameters and the renderer version
        return sha256_json({"renderer": "tiny/1", "name": self.name, "count": self.count, **self.cfg})
