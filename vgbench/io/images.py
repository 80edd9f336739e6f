"""Decoding one image file (a frame of a frames folder or of a zip) to uint8 RGB, with the 16-bit rule."""
from __future__ import annotations

import numpy as np

from .base import VideoReadError, check_frame_size

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _decode_image(fp, where: str, num_frames: int = 1) -> np.ndarray:
    """An image file as uint8 RGB ``[H, W, 3]``.

    16-bit images are reduced to 8 bits by keeping the high byte (``x >> 8``), the rule Pillow itself applies to
    16-bit RGB PNGs (a plain ``convert('RGB')`` would clip 16-bit grey to white). 32-bit integer and float images
    have no defined 8-bit range and are refused. Frames larger than :func:`max_frame_pixels` are refused before
    they are decoded.
    """
    from PIL import Image

    try:
        with Image.open(fp) as im:
            check_frame_size(im.width, im.height, num_frames, where)
            if im.mode.startswith("I;16"):
                high = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
                return np.repeat(high[..., None], 3, axis=-1)
            if im.mode in ("I", "F"):
                raise VideoReadError(where, f"{'32-bit integer' if im.mode == 'I' else 'floating-point'} image "
                                            f"(mode {im.mode}): its pixel range is not defined; convert the frames "
                                            f"to 8-bit RGB")
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im)
    except VideoReadError:
        raise
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, UnidentifiedImageError...)
        raise VideoReadError(where, f"cannot decode image: {e}") from e
