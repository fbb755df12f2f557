"""``SegmentationLoss``: weighted cross-entropy + Dice (+ focal, Lovász) in one module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import as_weight, float32_region, prepare, zero_loss
from .dice import DiceLoss
from .focal import FocalLoss
from .lovasz import LovaszSoftmaxLoss

__all__ = ["SegmentationLoss", "masked_cross_entropy"]


def masked_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int | None = 255,
    label_smoothing: float = 0.0,
    mode: str | None = None,
) -> torch.Tensor:
    """Cross entropy (softmax, or BCE-with-logits for 1 channel) over valid pixels.

    Same as ``F.cross_entropy(..., ignore_index=...)`` with a weighted mean
    (``sum w_t l / sum w_t``), except that a batch with no valid pixel gives 0, not NaN.
    Binary mode: ``weight`` is ``[w_negative, w_positive]``.
    """
    with float32_region(logits.device.type):
        x, t, valid, mode = prepare(logits, target, ignore_index, mode)
        if mode == "binary":
            y = t.to(x.dtype)
            if label_smoothing:
                y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
            per_px = F.binary_cross_entropy_with_logits(x[:, 0], y, reduction="none")
        else:
            per_px = F.cross_entropy(x, t, reduction="none", label_smoothing=label_smoothing)
        w = valid.to(x.dtype)
        if weight is not None:
            n = 2 if mode == "binary" else x.shape[1]
            if weight.numel() != n:
                raise ValueError(f"class weights have {weight.numel()} values, expected {n}")
            # each pixel's whole loss is scaled by its target class's weight (with label
            # smoothing this differs from F.cross_entropy(weight=...), which also weights the
            # smoothing term per class; without smoothing the two are identical)
            w = w * weight.to(x.device, x.dtype)[t]
        den = w.sum()
        if float(den) == 0.0:
            return zero_loss(x)
        return (per_px * w).sum() / den


class SegmentationLoss(nn.Module):
    """``ce_weight * CE + dice_weight * Dice + focal_weight * Focal + lovasz_weight * Lovász``.

    All terms skip ``ignore_index`` pixels and compute in float32 (autocast-safe). After each
    call ``self.last_components`` holds the unweighted terms (detached) for logging.

    Args:
        num_classes: number of classes (``1`` or a 1-channel model = binary mode).
        ce_weight, dice_weight, focal_weight, lovasz_weight: term weights (0 disables).
        class_weights: optional ``[C]`` weights for CE and Dice (binary: ``[neg, pos]`` for CE).
        ignore_index: default 255.
        dice_smooth: ``smooth`` of the Dice term.
        focal_gamma, focal_alpha: focal parameters (see :class:`FocalLoss`).
        label_smoothing: for the CE term.
        mode: ``"multiclass"``, ``"binary"`` or ``None`` (by channel count).

    Example:
        >>> crit = SegmentationLoss(19, ce_weight=1.0, dice_weight=0.5)
        >>> loss = crit(model(images), masks)          # masks [N,H,W] with 255 = ignore
        >>> loss.backward(); crit.last_components      # {'ce': ..., 'dice': ...}
    """

    def __init__(
        self,
        num_classes: int,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        focal_weight: float = 0.0,
        lovasz_weight: float = 0.0,
        class_weights: Sequence[float] | torch.Tensor | None = None,
        ignore_index: int | None = 255,
        dice_smooth: float = 1.0,
        focal_gamma: float = 2.0,
        focal_alpha: float | Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.ce_weight, self.dice_weight = float(ce_weight), float(dice_weight)
        self.focal_weight, self.lovasz_weight = float(focal_weight), float(lovasz_weight)
        if min(self.ce_weight, self.dice_weight, self.focal_weight, self.lovasz_weight) < 0:
            raise ValueError("loss term weights must be >= 0")
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)
        self.mode = mode
        binary = mode == "binary" or (mode is None and self.num_classes == 1)
        n_w = 2 if binary else self.num_classes
        cw = None if class_weights is None else as_weight(class_weights, n_w, "class_weights")
        self.register_buffer("class_weights", cw, persistent=False)
        self.dice = DiceLoss(
            None if binary else self.num_classes,
            ignore_index=ignore_index,
            smooth=dice_smooth,
            weight=None if binary else cw,
            mode=mode,
        )
        self.focal = FocalLoss(focal_alpha, focal_gamma, "mean", ignore_index, mode)
        self.lovasz = LovaszSoftmaxLoss(ignore_index=ignore_index, mode=mode)
        self.last_components: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        parts: dict[str, torch.Tensor] = {}
        total = zero_loss(logits.float())
        if self.ce_weight:
            parts["ce"] = masked_cross_entropy(
                logits,
                target,
                self.class_weights,
                self.ignore_index,
                self.label_smoothing,
                self.mode,
            )
            total = total + self.ce_weight * parts["ce"]
        if self.dice_weight:
            parts["dice"] = self.dice(logits, target)
            total = total + self.dice_weight * parts["dice"]
        if self.focal_weight:
            parts["focal"] = self.focal(logits, target)
            total = total + self.focal_weight * parts["focal"]
        if self.lovasz_weight:
            parts["lovasz"] = self.lovasz(logits, target)
            total = total + self.lovasz_weight * parts["lovasz"]
        self.last_components = {k: v.detach() for k, v in parts.items()}
        return total
