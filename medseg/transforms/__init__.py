"""Transforms: plain functions, MONAI array transforms and dictionary (``...d``) transforms."""

from __future__ import annotations

from .intensity import apply_window, imagenet_normalize, normalize_for_model, zscore_normalize

__all__ = ["apply_window", "imagenet_normalize", "normalize_for_model", "zscore_normalize"]
