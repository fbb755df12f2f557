"""Tversky loss (Salehi et al., 2017) and its focal variant (Abraham & Khan, 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._common import float32_region
from .dice import SoftRegionLoss

__all__ = ["TverskyLoss"]


class TverskyLoss(SoftRegionLoss):
    """``(1 - TI_c) ** gamma`` averaged over classes, ``TI = (TP + s) / (TP + a FP + b FN + s)``.

    ``TP = sum(p g)``, ``FP = sum(p (1 - g))``, ``FN = sum((1 - p) g)`` over the valid pixels
    of the batch (soft counts from softmax / sigmoid probabilities); ``ignore_index`` pixels
    contribute nothing. ``alpha`` weighs false positives, ``beta`` false negatives:
    ``beta > alpha`` favours recall (small structures). ``alpha = beta = 0.5`` is Dice with
    smoothing ``2 s``; ``gamma != 1`` gives the focal Tversky loss.

    Args:
        num_classes: number of classes (checked against the logits).
        alpha, beta: false-positive / false-negative weights.
        gamma: focal exponent (1 = plain Tversky). Values below 1 focus on hard classes.
        ignore_index, smooth, weight, include_background, ignore_empty, mode: as in
            :class:`~medseg.losses.DiceLoss`.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 1.0,
        ignore_index: int | None = 255,
        smooth: float = 1.0,
        weight: Sequence[float] | torch.Tensor | None = None,
        include_background: bool = True,
        ignore_empty: bool = False,
        mode: str | None = None,
    ) -> None:
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {alpha}, {beta}")
        super().__init__(
            num_classes, ignore_index, smooth, weight, include_background, ignore_empty, mode
        )
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with float32_region(logits.device.type):
            tp, sp, sg, mode = self._sums(logits, target)
            fp = sp - tp
            fn = sg - tp
            ti = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
            # clamp: 1 - TI can round to a tiny negative; pow of it with gamma < 1 is NaN
            loss_c = (1.0 - ti).clamp_min(0.0)
            if self.gamma != 1.0:
                # the clamp keeps d/dx x**gamma finite at 0 for gamma < 1; where() keeps 0 at 0
                powered = loss_c.clamp_min(1e-6) ** self.gamma
                loss_c = torch.where(loss_c > 0, powered, torch.zeros_like(powered))
            return self._reduce(loss_c, sg, mode)
