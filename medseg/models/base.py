"""The base class that owns the model contract: any H×W in, logits at H×W out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .outputs import logits_to_labels


class SegmentationModel(nn.Module):
    """Base for all medseg networks.

    Subclasses implement :meth:`forward_padded` for inputs whose H and W are multiples of
    ``self.divisor``. :meth:`forward` pads any input up to such a size (zeros, i.e. the
    normalised mean) and crops the logits back, so callers never see a size error.
    """

    divisor: int = 32

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected input [N, C, H, W], got shape {tuple(x.shape)}")
        expected = getattr(getattr(self, "cfg", None), "in_channels", None)
        if expected is not None and x.shape[1] != expected:
            raise ValueError(f"expected {expected} input channels, got {x.shape[1]}")
        h, w = x.shape[-2], x.shape[-1]
        d = self.divisor
        ph = (d - h % d) % d
        pw = (d - w % d) % d
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        y = self.forward_padded(x)
        if ph or pw:
            y = y[..., :h, :w]
        return y

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode label map ``[N, H, W]`` (int64) for a normalised batch."""
        was_training = self.training
        self.eval()
        try:
            logits = self(x)
        finally:
            self.train(was_training)
        return logits_to_labels(logits)
