"""Transforms: plain functions, MONAI array transforms and dictionary (``...d``) transforms."""

from __future__ import annotations

from .intensity import apply_window, imagenet_normalize, normalize_for_model, zscore_normalize
from .windows import WINDOW_PRESETS, apply_window_preset, get_window, stack_windows

# MONAI transforms (CTWindow, MultiWindow, PercentileZScore and their ...d versions) live in
# medseg.transforms.array / .dictionary, imported on demand so this package stays light.

__all__ = [
    "WINDOW_PRESETS",
    "apply_window_preset",
    "get_window",
    "stack_windows",
    "apply_window",
    "imagenet_normalize",
    "normalize_for_model",
    "zscore_normalize",
]
