"""The runner interface and the adaptor that turns a model or a callable into a runner."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Runner:
    """Base class. ``name`` says which back-end; ``__call__`` maps a normalised batch
    ``[N, C, H, W]`` float32 to logits ``[N, K, H, W]`` float32."""

    name = "base"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def as_runner(
    f: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A model (put in eval mode, run without gradients) or any callable, as a runner.

    Args:
        f: an ``nn.Module`` or a callable ``[N, C, H, W] -> [N, K, H, W]`` (a
            :class:`Runner`, a :class:`~medseg.engine.predictor.Predictor`, a lambda).

    Returns:
        A callable with the runner signature; callables are returned unchanged.
    """
    if isinstance(f, nn.Module):
        model = f.eval()

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model(x)

        return run
    if not callable(f):
        raise TypeError(f"expected a model or a callable runner, got {type(f).__name__}")
    return f
