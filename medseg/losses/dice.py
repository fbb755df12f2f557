"""Soft Dice loss that ignores ``ignore_index`` pixels (and does not crash on them)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import as_weight, float32_region, one_hot_like, prepare

__all__ = ["DiceLoss", "soft_region_sums"]


def soft_region_sums(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, mode: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft ``TP``, ``sum(p)``, ``sum(g)`` per class over the valid pixels of the batch.

    Args:
        logits: float32 ``[N, C, *]``; target: int64 ``[N, *]`` (safe labels);
        valid: bool ``[N, *]``; mode: ``multiclass`` (softmax) or ``binary`` (sigmoid).

    Returns:
        three float32 tensors ``[K]`` (``K = C``, or 1 for binary: the foreground).
    """
    m = valid.unsqueeze(1).to(logits.dtype)
    if mode == "binary":
        probs = torch.sigmoid(logits)
        onehot = target.unsqueeze(1).to(logits.dtype)
    else:
        probs = F.softmax(logits, dim=1)
        onehot = one_hot_like(probs, target)
    probs = probs * m
    onehot = onehot * m
    dims = (0, *range(2, logits.ndim))
    tp = (probs * onehot).sum(dims)
    return tp, probs.sum(dims), onehot.sum(dims)


class SoftRegionLoss(nn.Module):
    """What the soft region losses (Dice, Tversky) share: the options, the valid-pixel soft
    counts and the reduction over classes. A base for :class:`DiceLoss` and
    :class:`~medseg.losses.TverskyLoss`; use those."""

    def __init__(
        self,
        num_classes: int | None = None,
        ignore_index: int | None = 255,
        smooth: float = 1.0,
        weight: Sequence[float] | torch.Tensor | None = None,
        include_background: bool = True,
        ignore_empty: bool = False,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.smooth = float(smooth)
        self.include_background = include_background
        self.ignore_empty = ignore_empty
        self.mode = mode
        w = None if weight is None else as_weight(weight, len(weight), "weight")
        self.register_buffer("weight", w, persistent=False)

    def _sums(
        self, logits: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
        """Soft ``TP``, ``sum(p)``, ``sum(g)`` per class and the mode (call in float32_region)."""
        x, t, valid, mode = prepare(logits, target, self.ignore_index, self.mode, self.num_classes)
        return (*soft_region_sums(x, t, valid, mode), mode)

    def _reduce(self, loss_c: torch.Tensor, gt_count: torch.Tensor, mode: str) -> torch.Tensor:
        return _reduce_classes(
            loss_c, gt_count, self.weight, mode, self.include_background, self.ignore_empty
        )


class DiceLoss(SoftRegionLoss):
    """Soft Dice loss ``1 - (2 sum(p g) + s) / (sum(p) + sum(g) + s)``, averaged over classes.

    Sums run over all valid pixels of the batch (batch Dice, as segmentation_models_pytorch and
    MONAI's ``batch=True``); pixels whose target is ``ignore_index`` are removed from both the
    prediction and the one-hot target, so they contribute nothing. A batch whose pixels are
    all ignored gives 0 with zero gradients.

    Args:
        num_classes: number of classes (checked against the logits; 1 or ``None`` with
            1-channel logits selects binary mode).
        ignore_index: target value to skip (default 255); ``None`` skips nothing.
        smooth: added to numerator and denominator. Keeps the loss defined (= 0) for a class
            absent from both target and prediction; large values soften the gradient.
        weight: optional per-class weights ``[C]`` for the mean over classes.
        include_background: if False, class 0 is left out (multiclass only).
        ignore_empty: if True, classes absent from the target of this batch are left out of
            the mean (their false positives are then not penalised by this term).
        mode: ``"multiclass"`` (softmax over C >= 2 channels), ``"binary"`` (sigmoid of one
            channel, targets 0/1: Dice of the foreground) or ``None`` (by channel count).

    Shapes:
        logits ``[N, C, *]`` (any float dtype, autocast ok), target ``[N, *]`` integer.
    """

    def per_class(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-class Dice coefficients ``[K]`` (float32, differentiable)."""
        with float32_region(logits.device.type):
            tp, sp, sg, _ = self._sums(logits, target)
            return (2.0 * tp + self.smooth) / (sp + sg + self.smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with float32_region(logits.device.type):
            tp, sp, sg, mode = self._sums(logits, target)
            dice = (2.0 * tp + self.smooth) / (sp + sg + self.smooth)
            return self._reduce(1.0 - dice, sg, mode)


def _reduce_classes(
    loss_c: torch.Tensor,
    gt_count: torch.Tensor,
    weight: torch.Tensor | None,
    mode: str,
    include_background: bool,
    ignore_empty: bool,
) -> torch.Tensor:
    """Weighted mean of per-class losses ``[K]`` with the optional exclusions."""
    keep = torch.ones_like(loss_c, dtype=torch.bool)
    if mode == "multiclass" and not include_background:
        keep[0] = False
    if ignore_empty:
        keep &= gt_count > 0
    w = torch.ones_like(loss_c) if weight is None else weight.to(loss_c.device, loss_c.dtype)
    if w.numel() != loss_c.numel():
        raise ValueError(f"weight has {w.numel()} values for {loss_c.numel()} classes")
    w = w * keep
    den = w.sum()
    if float(den) == 0.0:
        return (loss_c * 0.0).sum()
    return (loss_c * w).sum() / den
