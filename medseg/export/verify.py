"""Helpers shared by the exporters to compare an exported graph with eager PyTorch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def parity_input(cfg, size: Sequence[int], batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A normalised-looking input whose size differs from the export example (odd H and W).

    Using another size than the trace example checks that the graph really is shape-generic.
    """
    g = torch.Generator().manual_seed(seed)
    h = max(8, int(size[0]) // 2 + 3) | 1
    w = max(8, int(size[1]) // 2 + 5) | 1
    return torch.randn(batch, cfg.in_channels, h, w, generator=g)


@torch.no_grad()
def torch_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eager logits with the model in eval mode; the mode is restored."""
    was = model.training
    model.eval()
    try:
        return model(x)
    finally:
        model.train(was)
