"""The ``folder`` adapter: evaluate videos generated elsewhere, from any video source (folder, zip, npy...).

``--ckpt`` is the source. ``sample(n, frames)`` yields the first ``frames`` frames of the first ``n`` videos in
natural order; a shorter video or too few videos is an error naming the problem. Frame rate cannot be changed.
"""
from __future__ import annotations

import numpy as np

from ..io.sources import VideoReadError, open_source
from .base import Adapter, Capabilities, ModelInfo, register


@register
class FolderAdapter(Adapter):
    name = "folder"
    description = "pre-generated videos from any video source (--ckpt PATH)"
    capabilities = Capabilities(fps_control=False, content_motion_separable=False, max_frames=None,
                                time_step="the videos' own frames", notes="at most the videos' length")

    def __init__(self, ckpt, device="cpu", fps: float | None = None, **options):
        super().__init__(ckpt, device, **options)
        self.reject_unknown_options(options, ())
        if ckpt is None:
            raise ValueError("the folder model needs --ckpt pointing at the generated videos")
        self.source = open_source(ckpt)
        self._fps = fps

    @property
    def info(self) -> ModelInfo:
        first = next(iter(self.source), None)
        res = None
        if first is not None:
            h, w = first.read([0]).shape[1:3]
            res = (int(h), int(w))
        return self.model_info(res, self._fps or (first.fps if first else None))

    def provenance(self) -> dict:
        try:
            h = self.source.content_hash()
        except TypeError:
            h = None
        return {"name": self.name, "checkpoint": str(self.ckpt), "source": self.source.describe(),
                "source_content_hash": h}

    def sample(self, n, frames, fps=None, seed=0, batch_size=4, content_seed=None, motion_seed=None, start=0):
        if content_seed is not None or motion_seed is not None:
            raise ValueError("pre-generated videos cannot be re-seeded")
        if fps is not None and fps != self._fps:
            raise ValueError(f"pre-generated videos cannot be resampled to {fps} fps")
        batch, count = [], 0
        for i, v in enumerate(self.source):
            if i < start:
                continue
            if count == n:
                break
            if v.num_frames < frames:
                raise VideoReadError(v.path, f"has {v.num_frames} frames, {frames} are needed")
            batch.append(v.read(range(frames)))
            count += 1
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)
        if count < n:
            raise ValueError(f"{self.ckpt}: only {count} videos available, {n} requested")
