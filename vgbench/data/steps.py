"""The pixel steps of the dataset recipes (:mod:`vgbench.data.recipes`), each written to give the same pixels as the
call the authors' preprocessing scripts make (StyleGAN-V ``src/scripts/*.py``; see
../shared/notes/stylegan_v_protocol.md §3.3; FaceForensics' own steps are in :mod:`.recipes_ffs`):

- :func:`resize_short_side` and :func:`center_crop` follow torchvision's ``TF.resize(img, int)`` and
  ``TF.center_crop`` on PIL images: the long side becomes ``int(size * long / short)`` (truncated), the crop offset
  ``int(round((in - out) / 2))`` with Python's round-half-to-even (a 455-wide frame cropped to 256 starts at 100);
- :func:`resize_square` is PIL's ``Image.resize((s, s), LANCZOS)`` (the "squash" variant);
- :func:`encode_jpeg` is ``Image.save(path, q=95)``: PIL ignores ``q``, so the files are written at PIL's default
  quality 75 unless the quirk is turned off.
"""
from __future__ import annotations

import io

from PIL import Image

__all__ = ["resize_short_side", "center_crop", "center_crop_square", "resize_square", "encode_jpeg"]


def resize_short_side(img: Image.Image, size: int) -> Image.Image:
    """Resize so that the short side is ``size`` (aspect kept, long side truncated), PIL LANCZOS."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    if short == size:
        return img
    new_long = int(size * long / short)
    return img.resize((size, new_long) if w <= h else (new_long, size), Image.LANCZOS)


def center_crop(img: Image.Image, width: int, height: int) -> Image.Image:
    """The centred ``width`` x ``height`` window (torchvision's offsets, round half to even)."""
    w, h = img.size
    if width > w or height > h:
        raise ValueError(f"cannot centre-crop {width}x{height} out of a {w}x{h} frame")
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return img.crop((left, top, left + width, top + height))


def center_crop_square(img: Image.Image) -> Image.Image:
    """The centred square whose side is the frame's short side."""
    side = min(img.size)
    return center_crop(img, side, side)


def resize_square(img: Image.Image, size: int) -> Image.Image:
    """``size`` x ``size``, aspect not kept, PIL LANCZOS."""
    return img if img.size == (size, size) else img.resize((size, size), Image.LANCZOS)


def encode_jpeg(img: Image.Image, quality_quirk: bool, quality: int) -> bytes:
    """JPEG bytes of ``img``: at PIL's default quality (75) when ``quality_quirk`` (what ``save(path, q=95)`` in
    the authors' scripts writes), else at ``quality``."""
    buf = io.BytesIO()
    if quality_quirk:
        img.save(buf, format="JPEG")
    else:
        img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
