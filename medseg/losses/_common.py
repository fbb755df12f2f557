"""Input checks and float32 preparation shared by the losses.

Every loss reads logits ``[N, C, *spatial]`` and integer targets ``[N, *spatial]`` (a
``[N, 1, *spatial]`` target is accepted too), and computes in float32 with autocast turned
off: softmax, logs and the sums over millions of pixels lose too much in bf16/fp16 (sums
saturate, ``log`` of a rounded-to-zero probability is ``-inf``). Gradients flow back to the
low-precision logits through the ``.float()`` cast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

MODES = ("multiclass", "binary")


class Prepared(NamedTuple):
    logits: torch.Tensor  # float32 [N, C, *]
    target: torch.Tensor  # int64 [N, *], ignored pixels replaced by 0 (safe to index with)
    valid: torch.Tensor  # bool [N, *], False where target == ignore_index
    mode: str


@contextlib.contextmanager
def float32_region(device_type: str) -> Iterator[None]:
    """Disable autocast for ``device_type`` inside the block (no-op where unsupported)."""
    try:
        ctx = torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device type without autocast support
        ctx = contextlib.nullcontext()
    with ctx:
        yield


def resolve_mode(mode: str | None, channels: int) -> str:
    if mode is None:
        return "binary" if channels == 1 else "multiclass"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} or None (auto), got {mode!r}")
    if mode == "binary" and channels != 1:
        raise ValueError(f"binary mode needs 1-channel logits [N, 1, ...], got {channels} channels")
    if mode == "multiclass" and channels < 2:
        raise ValueError("multiclass mode needs >= 2 channels; use mode='binary' for 1 channel")
    return mode


def prepare(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int | None,
    mode: str | None,
    num_classes: int | None = None,
) -> Prepared:
    """Check shapes and labels, cast to float32, build the valid-pixel mask.

    Raises:
        ValueError: wrong shapes, non-integer targets, or labels that are neither a class
            nor ``ignore_index`` (caught here instead of as a CUDA device assert).
    """
    if logits.ndim < 2:
        raise ValueError(f"logits must be [N, C, ...], got shape {tuple(logits.shape)}")
    C = logits.shape[1]
    mode = resolve_mode(mode, C)
    if num_classes is not None and mode == "multiclass" and C != num_classes:
        raise ValueError(
            f"logits have {C} channels but the loss was built for {num_classes} classes"
        )
    if target.ndim == logits.ndim and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}: "
            "expected [N, *spatial] integer labels for logits [N, C, *spatial]"
        )
    if target.is_floating_point() or target.dtype == torch.bool:
        if mode == "binary" and target.dtype == torch.bool:
            target = target.to(torch.int64)
        elif target.is_floating_point() and mode == "binary":
            target = target.round().to(torch.int64)
        else:
            raise ValueError(f"target must hold integer class labels, got dtype {target.dtype}")
    target = target.to(torch.int64)
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    n_labels = 2 if mode == "binary" else C
    if valid.any():
        vals = target[valid]
        lo, hi = int(vals.min()), int(vals.max())
        if lo < 0 or hi >= n_labels:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"target contains label {bad}; expected 0..{n_labels - 1} or "
                f"ignore_index={ignore_index} ({mode} mode)"
            )
    safe = torch.where(valid, target, torch.zeros_like(target))
    return Prepared(logits.float(), safe, valid, mode)


def as_weight(
    weight: Sequence[float] | torch.Tensor | None, n: int, name: str
) -> torch.Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(weight, dtype=torch.float32).flatten()
    if w.numel() != n:
        raise ValueError(f"{name} needs {n} values (one per class), got {w.numel()}")
    if bool((w < 0).any()):
        raise ValueError(f"{name} must be non-negative")
    return w


def zero_loss(logits: torch.Tensor) -> torch.Tensor:
    """A 0 that keeps the graph (so ``backward()`` works and gives zero gradients)."""
    return logits.sum() * 0.0


def one_hot_like(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float32 one-hot ``[N, C, *]`` built by scatter (no int64 ``[N, *, C]`` temporary)."""
    return torch.zeros_like(probs).scatter_(1, target.unsqueeze(1), 1.0)
