"""Palettes, overlays and legends."""

from __future__ import annotations

from .overlay import colorize, legend, overlay, with_legend
from .palettes import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    MEDICAL_CLASSES,
    MEDICAL_PALETTE,
    palette_array,
)

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "MEDICAL_CLASSES",
    "MEDICAL_PALETTE",
    "colorize",
    "legend",
    "overlay",
    "palette_array",
    "with_legend",
]
