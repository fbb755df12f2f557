"""Colour palettes (from :mod:`medseg.labels`; nothing duplicated here)."""

from __future__ import annotations

import numpy as np

from ..labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, MEDICAL_CLASSES, MEDICAL_PALETTE

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "MEDICAL_CLASSES",
    "MEDICAL_PALETTE",
    "palette_array",
]


def palette_array(palette, ignore_color=(0, 0, 0)) -> np.ndarray:
    """A ``[256, 3]`` uint8 lookup table: entry *i* is the colour of class *i*.

    Indices past the palette (255 = ignore included) get ``ignore_color``.
    """
    lut = np.tile(np.asarray(ignore_color, dtype=np.uint8), (256, 1))
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    lut[: len(pal)] = pal
    return lut
