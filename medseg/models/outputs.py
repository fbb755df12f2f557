"""From a model's output to probabilities and labels: the one place medseg does it.

A model returns logits ``[N, K, H, W]``. ``K == 1`` is a binary head (sigmoid, foreground
where the logit is above 0, i.e. the probability above 0.5); ``K > 1`` is a softmax over
classes. The predictor, TTA, the evaluator, metrics, the video pipeline and exported graphs
all call these functions, so a binary head means the same thing everywhere.

Labels come from ``max(dim).indices``, not ``argmax``: in torch 2.14 on CPU ``argmax`` over the
channels of an NCHW tensor is 5–60× slower (19×512×1024: 100 ms vs 13 ms; 2×256×256: 13 ms vs
0.2 ms), and it cost more than the model in whole-volume inference. Both return the first
maximum on ties (tested against ``argmax`` on inputs full of ties).

Two classes (or a binary head) need no reduction at all: the label is one comparison. On CPU
tensors it is done in numpy, a single-threaded SIMD loop: torch's elementwise kernels go
through its OpenMP pool, which on a shared 2-core machine waits at barriers (measured under
load: 16×2×181×217 logits, torch ``max(1).indices`` 13.5 ms, the numpy comparison 0.23 ms).
``dtype`` asks for the label type up front (``torch.uint8`` for masks), which saves a pass.
"""

from __future__ import annotations

import numpy as np
import torch


def logits_to_probs(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax over classes; sigmoid for a single-channel (binary) head.

    Args:
        logits: ``[N, K, ...]`` (class axis ``dim``).

    Returns:
        Probabilities of the same shape (``K == 1``: the foreground probability).
    """
    return torch.sigmoid(logits) if logits.shape[dim] == 1 else torch.softmax(logits, dim=dim)


def _eager_cpu(t: torch.Tensor) -> bool:
    """A CPU tensor outside tracing/export/compilation, so numpy may compute on it."""
    return (
        t.device.type == "cpu"
        and not t.requires_grad
        and t.dtype in (torch.float32, torch.float64)
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
    )


def _greater(a: torch.Tensor, b: torch.Tensor | float, dtype: torch.dtype) -> torch.Tensor:
    """``(a > b)`` as labels of ``dtype`` (1 where true)."""
    if _eager_cpu(a) and (not isinstance(b, torch.Tensor) or _eager_cpu(b)):
        bb = b.numpy() if isinstance(b, torch.Tensor) else b
        lab = torch.from_numpy(np.greater(a.numpy(), bb).view(np.uint8))
        return lab if dtype == torch.uint8 else lab.to(dtype)
    return (a > b).to(dtype)


def probs_to_labels(
    probs: torch.Tensor, dim: int = 1, dtype: torch.dtype = torch.int64
) -> torch.Tensor:
    """``[N, K, ...]`` probabilities → ``[N, ...]`` labels (threshold 0.5 for ``K == 1``).

    Args:
        probs: class axis ``dim``.
        dtype: label dtype (``torch.uint8`` when the classes fit saves a conversion).
    """
    k = probs.shape[dim]
    if k == 1:
        return _greater(probs.select(dim, 0), 0.5, dtype)
    if k == 2:  # the first maximum: class 1 only where strictly larger
        return _greater(probs.select(dim, 1), probs.select(dim, 0), dtype)
    lab = probs.max(dim).indices
    return lab if dtype == torch.int64 else lab.to(dtype)


def logits_to_labels(
    logits: torch.Tensor, dim: int = 1, dtype: torch.dtype = torch.int64
) -> torch.Tensor:
    """``[N, K, ...]`` logits → ``[N, ...]`` labels without computing probabilities
    (the softmax keeps the order of the logits; a binary head is foreground above 0)."""
    if logits.shape[dim] == 1:
        return _greater(logits.select(dim, 0), 0.0, dtype)
    return probs_to_labels(logits, dim, dtype)


def scores_to_labels(scores: np.ndarray | torch.Tensor, axis: int = 0) -> np.ndarray:
    """Labels from probabilities or logits held in numpy (e.g. ``[K, H, W]`` frames).

    For ``K == 1`` the values must be probabilities (threshold 0.5). Returns uint8 when the
    classes fit, else int64.
    """
    t = torch.as_tensor(scores)
    lab = probs_to_labels(t, dim=axis).numpy()
    return lab.astype(np.uint8) if max(t.shape[axis], 2) <= 255 else lab


def two_class_probs(probs: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """A binary head's ``[N, 1, ...]`` foreground probability as ``[N, 2, ...]`` (background,
    foreground), for code that needs one channel per class (temporal smoothing, uncertainty);
    multi-class probabilities are returned unchanged."""
    if probs.shape[dim] != 1:
        return probs
    return torch.cat([1 - probs, probs], dim=dim)


def labels_dtype(num_classes: int) -> type:
    """The smallest label dtype for ``num_classes`` (uint8 up to 255 classes, else int64)."""
    return np.uint8 if max(num_classes, 2) <= 255 else np.int64


__all__ = [
    "labels_dtype",
    "logits_to_labels",
    "logits_to_probs",
    "probs_to_labels",
    "scores_to_labels",
    "two_class_probs",
]
