"""Export-friendly wrappers: shape-agnostic padding and optional in-graph preprocessing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.outputs import logits_to_probs, probs_to_labels


class PadCrop(nn.Module):
    """Pad any ``[N, C, H, W]`` to the model's divisor, run it, crop the logits back.

    ``SegmentationModel.forward`` pads only when needed (a Python ``if`` on the size), which a
    tracer freezes at the example size. Here the pad is unconditional (possibly zero) and
    computed from the input shape, so traced / exported graphs accept every H and W.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.divisor = int(getattr(model, "divisor", 1) or 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        d = self.divisor
        ph = (d - h % d) % d
        pw = (d - w % d) % d
        inner = getattr(self.model, "forward_padded", self.model)
        y = inner(F.pad(x, (0, pw, 0, ph)))
        return y[:, :, :h, :w]


class WithPreprocessing(nn.Module):
    """uint8 image in, label map out: ``[N, H, W, C]`` (``layout="nhwc"``) or ``[N, C, H, W]``.

    Normalisation follows ``model.cfg`` (``imagenet``: /255, mean/std; ``ct_window``: window to
    [0, 1]; ``zscore``: per-image statistics over the whole image, without the percentile clip
    the Python path applies — documented limit). Output: ``labels [N, H, W]`` uint8 and
    ``probs [N, K, H, W]`` float32.
    """

    def __init__(self, model: nn.Module, layout: str = "nhwc"):
        super().__init__()
        if layout not in ("nhwc", "nchw"):
            raise ValueError(f"layout must be 'nhwc' or 'nchw', got {layout!r}")
        cfg = model.cfg
        self.layout = layout
        self.norm = cfg.normalization
        self.net = PadCrop(model)
        c = cfg.in_channels
        mean = torch.tensor(list(cfg.mean)[:c] + [0.0] * max(0, c - len(cfg.mean)))
        std = torch.tensor(list(cfg.std)[:c] + [1.0] * max(0, c - len(cfg.std)))
        self.register_buffer("mean", mean.reshape(1, c, 1, 1) * 255.0)
        self.register_buffer("std", std.reshape(1, c, 1, 1) * 255.0)
        self.window = cfg.window

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image.permute(0, 3, 1, 2) if self.layout == "nhwc" else image
        x = x.float()
        if self.norm == "imagenet":
            x = (x - self.mean) / self.std
        elif self.norm == "ct_window":
            c, w = self.window
            x = ((x - (c - w / 2.0)) / w).clamp(0.0, 1.0)
        else:  # zscore per image
            m = x.mean(dim=(1, 2, 3), keepdim=True)
            s = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            x = (x - m) / s
        logits = self.net(x)
        probs = logits_to_probs(logits)
        return probs_to_labels(probs).to(torch.uint8), probs
