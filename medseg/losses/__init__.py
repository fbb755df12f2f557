"""Ignore-aware segmentation losses.

All take logits ``[N, C, *spatial]`` and integer targets ``[N, *spatial]``; pixels equal to
``ignore_index`` (default 255) contribute nothing; all compute in float32 (autocast-safe);
1-channel logits select binary (sigmoid) mode.
"""

from __future__ import annotations

from .combo import SegmentationLoss, masked_cross_entropy
from .dice import DiceLoss
from .focal import FocalLoss
from .lovasz import LovaszSoftmaxLoss, lovasz_grad, lovasz_hinge_flat, lovasz_softmax_flat
from .tversky import TverskyLoss

__all__ = [
    "SegmentationLoss",
    "DiceLoss",
    "FocalLoss",
    "TverskyLoss",
    "LovaszSoftmaxLoss",
    "masked_cross_entropy",
    "lovasz_grad",
    "lovasz_softmax_flat",
    "lovasz_hinge_flat",
]
