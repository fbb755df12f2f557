"""Focal loss (Lin et al., 2017) over valid pixels only."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import float32_region, prepare, zero_loss

__all__ = ["FocalLoss"]

# (1 - p_t) is clamped away from 0 so that d/dx (1 - p_t) ** gamma stays finite for
# gamma < 1 when p_t rounds to exactly 1; the value moves by < eps**gamma * |log p_t| ~ 0.
_EPS = 1e-6


class FocalLoss(nn.Module):
    """``-alpha_t (1 - p_t) ** gamma * log(p_t)`` per pixel, ignored pixels excluded.

    Args:
        alpha: multiclass: ``None`` (no weighting), a float (a constant factor, as in the
            tutorial) or per-class weights ``[C]`` (``alpha_t`` = weight of the pixel's
            class). Binary: ``alpha`` weighs positives and ``1 - alpha`` negatives
            (torchvision's ``sigmoid_focal_loss`` convention; 0.25 in the paper); ``None``
            = no weighting.
        gamma: focusing exponent (0 = cross entropy).
        reduction: ``"mean"`` (over valid pixels; 0 when there are none, not NaN), ``"sum"``,
            or ``"none"`` (``[N, *]`` with zeros at ignored pixels).
        ignore_index: target value to skip (default 255).
        mode: ``"multiclass"``, ``"binary"`` (1-channel sigmoid, targets 0/1) or ``None``.
    """

    def __init__(
        self,
        alpha: float | Sequence[float] | torch.Tensor | None = None,
        gamma: float = 2.0,
        reduction: str = "mean",
        ignore_index: int | None = 255,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.mode = mode
        if alpha is None or isinstance(alpha, (int, float)):
            self.alpha_scalar = None if alpha is None else float(alpha)
            self.register_buffer("alpha", None, persistent=False)
        else:
            self.alpha_scalar = None
            self.register_buffer(
                "alpha", torch.as_tensor(alpha, dtype=torch.float32).flatten(), persistent=False
            )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with float32_region(logits.device.type):
            x, t, valid, mode = prepare(logits, target, self.ignore_index, self.mode)
            if mode == "binary":
                z = x[:, 0]
                y = t.to(z.dtype)
                logpt = -F.binary_cross_entropy_with_logits(z, y, reduction="none")
                if self.alpha is not None:
                    raise ValueError("binary mode takes a float alpha (weight of positives)")
                a = None
                if self.alpha_scalar is not None:
                    a = self.alpha_scalar * y + (1.0 - self.alpha_scalar) * (1.0 - y)
            else:
                logp = F.log_softmax(x, dim=1)
                logpt = logp.gather(1, t.unsqueeze(1)).squeeze(1)
                a = None
                if self.alpha is not None:
                    if self.alpha.numel() != x.shape[1]:
                        raise ValueError(
                            f"alpha has {self.alpha.numel()} values for {x.shape[1]} classes"
                        )
                    a = self.alpha.to(x.device)[t]
                elif self.alpha_scalar is not None:
                    a = torch.full_like(logpt, self.alpha_scalar)
            pt = logpt.exp()
            loss = -((1.0 - pt).clamp_min(_EPS) ** self.gamma) * logpt if self.gamma else -logpt
            if a is not None:
                loss = loss * a
            loss = torch.where(valid, loss, torch.zeros_like(loss))
            if self.reduction == "none":
                return loss
            if self.reduction == "sum":
                return loss.sum()
            n = valid.sum()
            if int(n) == 0:
                return zero_loss(x)
            return loss.sum() / n
