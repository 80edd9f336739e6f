"""Sample grids of a training run: one PNG (the first frame of every video) and one MP4 (all frames), tiled in a
near-square grid. Files are written atomically."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..utils import atomic_write

__all__ = ["tile", "write_grid"]


def tile(frames: np.ndarray) -> np.ndarray:
    """``[N, H, W, 3]`` uint8 -> one ``[rows*H, cols*W, 3]`` image, ``cols = ceil(sqrt(N))``, row-major,
    unused cells black."""
    n, h, w, c = frames.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * h:(r + 1) * h, q * w:(q + 1) * w] = frames[i]
    return out


def write_grid(videos: np.ndarray, stem: Path, fps: int = 25) -> list[Path]:
    """``videos`` uint8 ``[N, T, H, W, 3]`` -> ``stem.png`` and ``stem.mp4``; returns the paths written."""
    import av
    from PIL import Image

    stem = Path(stem)
    png, mp4 = stem.with_suffix(".png"), stem.with_suffix(".mp4")
    with atomic_write(png, "wb") as f:
        Image.fromarray(tile(videos[:, 0])).save(f, format="PNG")
    grid = [tile(videos[:, k]) for k in range(videos.shape[1])]
    h, w = grid[0].shape[:2]
    with atomic_write(mp4, "wb") as f:
        with av.open(f, mode="w", format="mp4") as container:
            stream = container.add_stream("mpeg4", rate=fps)
            stream.width, stream.height = w + (w % 2), h + (h % 2)
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 4_000_000
            for frame in grid:
                if frame.shape[0] != stream.height or frame.shape[1] != stream.width:
                    frame = np.pad(frame, ((0, stream.height - h), (0, stream.width - w), (0, 0)))
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return [png, mp4]
