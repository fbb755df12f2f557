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


def _first_max_numpy(a: np.ndarray) -> np.ndarray:
    """``[N, K, ...]`` float array → ``[N, ...]`` uint8 index of the first maximum over K
    (K ≤ 256): a running maximum, one single-threaded pass per class."""
    best = a[:, 0].copy()
    idx = np.zeros(best.shape, np.uint8)
    m = np.empty(best.shape, bool)
    for c in range(1, a.shape[1]):
        np.greater(a[:, c], best, out=m)
        np.copyto(idx, np.uint8(c), where=m)
        np.maximum(best, a[:, c], out=best)
    return idx


def _source_index(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear source rows ``i0``, ``i1`` and the weight of ``i1`` for each output row, as
    ``F.interpolate(..., align_corners=False)`` computes them (float32)."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = src.astype(np.int64)  # floor, src >= 0
    return i0, np.minimum(i0 + 1, n_in - 1), (src - i0.astype(np.float32)).astype(np.float64)


def resized_labels(
    logits: torch.Tensor, size: tuple[int, int], dtype: torch.dtype = torch.int64
) -> torch.Tensor:
    """Labels of the logits bilinearly resized to ``size`` (``align_corners=False``).

    The same labels as ``logits_to_labels(F.interpolate(logits, size, mode="bilinear"))``
    without resizing every class channel, for many classes on the CPU: a resized pixel is a
    convex combination of its 2×2 source pixels, so where those four have the same label (the
    first maximum, strictly above every lower class) the resized pixel has it too. Only pixels
    whose four sources disagree (along class boundaries: ~5 % of a street photo) are
    interpolated, from their four source logit vectors, in float64. Measured on a 19-class
    384×512 → 563×751 street photo: 1.4× faster, labels identical; the full float32 resize can
    differ only where two classes are equal to within its rounding. Two classes or fewer, other
    devices and tracing take the plain resize.

    Args:
        logits: ``[N, K, h, w]`` float.
        size: output ``(H, W)``.
        dtype: label dtype.

    Returns:
        ``[N, H, W]`` labels.
    """
    import torch.nn.functional as F

    n, k, h, w = logits.shape
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return logits_to_labels(logits, dtype=dtype)
    if k <= 2 or k > 256 or not _eager_cpu(logits):
        resized = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)
        return logits_to_labels(resized, dtype=dtype)
    a = logits.detach().contiguous().numpy()
    low = _first_max_numpy(a)  # [N, h, w]
    y0, y1, wy = _source_index(h, H)
    x0, x1, wx = _source_index(w, W)
    top, bottom = low[:, y0], low[:, y1]
    out = top[:, :, x0]  # a new array: the top-left source's label
    mixed = out != top[:, :, x1]
    mixed |= out != bottom[:, :, x0]
    mixed |= out != bottom[:, :, x1]
    ni, ri, ci = np.nonzero(mixed)
    if ni.size:
        v = a.transpose(0, 2, 3, 1)  # a view [N, h, w, K]
        fy, fx = wy[ri][:, None], wx[ci][:, None]
        r0, r1, c0, c1 = y0[ri], y1[ri], x0[ci], x1[ci]
        z = (1 - fy) * ((1 - fx) * v[ni, r0, c0] + fx * v[ni, r0, c1]) + fy * (
            (1 - fx) * v[ni, r1, c0] + fx * v[ni, r1, c1]
        )
        out[ni, ri, ci] = z.argmax(1)
    lab = torch.from_numpy(out)
    return lab if dtype == torch.uint8 else lab.to(dtype)


def scores_to_labels(scores: np.ndarray | torch.Tensor, axis: int = 0) -> np.ndarray:
    """Labels from probabilities or logits held in numpy (e.g. ``[K, H, W]`` frames).

    For ``K == 1`` the values must be probabilities (threshold 0.5). Returns uint8 when the
    classes fit, else int64.
    """
    a = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    k = a.shape[axis]
    if 3 <= k <= 256 and a.dtype.kind == "f":
        # single-threaded running maximum: no OpenMP pool to wait for (video pipeline threads)
        return _first_max_numpy(np.moveaxis(a, axis, 0)[None])[0]
    lab = probs_to_labels(torch.from_numpy(np.ascontiguousarray(a)), dim=axis).numpy()
    return lab.astype(np.uint8) if max(k, 2) <= 255 else lab


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
    "resized_labels",
    "scores_to_labels",
    "two_class_probs",
]
