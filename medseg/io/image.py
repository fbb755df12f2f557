"""2-D image files (PNG, JPEG, TIFF, BMP) read with Pillow.

Unlike volumes, 2-D images keep the on-screen layout ``(H, W)`` or ``(H, W, 3)`` (row 0 at
the top), which is what photos, viewer exports and the street-scene models use.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import MedsegIOError, require_nonempty_file
from .kinds import is_image_name

PathLike = str | os.PathLike
#: Largest image accepted (pixels): far above any slice or photo, far below a memory bomb.
MAX_PIXELS = 100_000_000


def is_image_file(path: PathLike) -> bool:
    """True when the file name has a 2-D image suffix :func:`load_image` reads."""
    return is_image_name(path)


def load_image(
    path: PathLike, *, mode: str | None = None, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Read a 2-D image file.

    Args:
        path: PNG, JPEG, TIFF or BMP; 8- or 16-bit grayscale, 32-bit integer or float
            grayscale, RGB/RGBA (alpha dropped) or palette. Multi-page TIFF: first page.
        mode: ``None`` keeps the stored kind (a gray palette counts as grayscale);
            ``"gray"`` gives ``(H, W)``: RGB with equal channels (how many viewers export
            grayscale slices) loses its copies, colour is converted with Pillow's ITU-R
            601-2 luma; ``"rgb"`` gives ``(H, W, 3)`` uint8 (grayscale repeated; 16-bit
            is not scaled down: such input raises).
        max_pixels: refuse larger images (decompression-bomb guard).

    Returns:
        ``(H, W)`` grayscale (uint8, uint16, int32 or float32 as stored) or ``(H, W, 3)``
        uint8 RGB, row 0 at the top.

    Raises:
        MedsegIOError: missing, empty, corrupt, unsupported or too large files.
    """
    from PIL import Image, UnidentifiedImageError

    path = require_nonempty_file(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise MedsegIOError(
                    path,
                    f"image of {w}×{h} pixels ({w * h / 1e6:.1f} megapixels) is over the limit "
                    f"of {max_pixels / 1e6:g} megapixels",
                )
            if im.format not in {"PNG", "JPEG", "TIFF", "BMP", "MPO"}:
                raise MedsegIOError(
                    path, f"unsupported image format {im.format}; use PNG, JPEG, TIFF or BMP"
                )
            im.load()
            return _convert(_to_array(im, path), im, mode, path)
    except MedsegIOError:
        raise
    except UnidentifiedImageError:
        raise MedsegIOError(
            path, "not a readable image (supported: PNG, JPEG, TIFF, BMP; DICOM via load_volume)"
        ) from None
    except Image.DecompressionBombError as e:
        raise MedsegIOError(path, f"image too large ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MedsegIOError(path, f"damaged or truncated image ({e})") from None


def _convert(a: np.ndarray, im, mode: str | None, path: str) -> np.ndarray:
    if mode is None:
        return a
    if mode == "gray":
        if a.ndim == 2:
            return a
        if np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
            return np.ascontiguousarray(a[..., 0])
        return np.asarray(im.convert("RGB").convert("L"))
    if mode == "rgb":
        if a.ndim == 3:
            return a
        if a.dtype != np.uint8:
            raise MedsegIOError(path, f"{a.dtype} grayscale cannot be shown as 8-bit RGB as is")
        return np.repeat(a[..., None], 3, axis=-1)
    raise ValueError(f"mode must be None, 'gray' or 'rgb', got {mode!r}")


def _to_array(im, path: str) -> np.ndarray:
    mode = im.mode
    if mode in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im)
        if mode.startswith("I;16"):
            a = a.astype(np.uint16)
        elif mode == "I":
            a = a.astype(np.int32)
        return np.ascontiguousarray(a)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("LA", "La"):
        return np.asarray(im.convert("L"))
    if mode == "P":
        rgb = np.asarray(im.convert("RGB"))
        # A palette of grays (common for exported slices) stays one channel.
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return np.ascontiguousarray(rgb[..., 0])
        return rgb
    if mode in ("RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB"))
    raise MedsegIOError(path, f"unsupported pixel mode {mode!r}")
