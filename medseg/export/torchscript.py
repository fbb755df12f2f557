"""TorchScript export (tracing through :class:`PadCrop`, so any H×W works afterwards)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .wrappers import PadCrop


def trace_model(
    model: nn.Module, input_size: Sequence[int], *, batch: int = 1
) -> torch.jit.ScriptModule:
    """Trace ``model`` (eval mode, no grad) into a frozen TorchScript module.

    The trace records the shape arithmetic of the padding, so the module accepts other batch
    sizes, heights and widths than the example. The model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        cin = model.cfg.in_channels
        x = torch.randn(batch, cin, int(input_size[0]), int(input_size[1]))
        with torch.no_grad(), warnings.catch_warnings():
            # TracerWarnings (shape arithmetic is traced on purpose) and the deprecation notice
            # of torch.jit (still the only self-contained format C++/mobile runtimes load).
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(PadCrop(model).eval(), x, check_trace=False)
            traced = torch.jit.freeze(traced)
    finally:
        model.train(was_training)
    return traced


def export_torchscript(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: Sequence[int] | None = None,
    verify: bool = True,
    atol: float = 1e-4,
) -> dict:
    """Trace ``model`` and save it to ``path``; verify against eager PyTorch.

    Args:
        model: a medseg model.
        path: output ``.pt`` file (written atomically).
        input_size: ``(H, W)`` of the trace example (default ``model.cfg.input_size``).
        verify: run the saved module and eager PyTorch on an input of a *different* odd size
            and report the max abs difference of the logits.
        atol: raise if the difference exceeds this.

    Returns:
        ``{"path", "max_abs_diff"}`` (``max_abs_diff`` is ``None`` without ``verify``).
    """
    size = tuple(input_size or model.cfg.input_size)
    traced = trace_model(model, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(traced, str(tmp))
    tmp.replace(path)
    diff = None
    if verify:
        from .verify import parity_input, torch_logits

        x = parity_input(model.cfg, size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = loaded(x)
        diff = float((got - torch_logits(model, x)).abs().max())
        if diff > atol:
            raise RuntimeError(f"TorchScript output differs from PyTorch by {diff:.3g} > {atol}")
    return {"path": str(path), "max_abs_diff": diff}
