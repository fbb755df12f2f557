"""Lovász-Softmax and Lovász hinge losses (Berman, Rannen Triki & Blaschko, CVPR 2018).

The Jaccard loss of a set of mispredicted pixels is submodular; its Lovász extension is a
convex, piecewise-linear surrogate evaluated on the vector of per-pixel errors: sort the
errors in decreasing order and take their dot product with the discrete gradient of the
Jaccard loss along that order (:func:`lovasz_grad`). Written from the paper's Algorithm 1
(multiclass: errors ``|1[y = c] - p_c|``; binary: hinge errors ``1 - z * (2y - 1)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import float32_region, prepare, zero_loss

__all__ = ["LovaszSoftmaxLoss", "lovasz_grad", "lovasz_softmax_flat", "lovasz_hinge_flat"]


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors.

    Args:
        gt_sorted: float ``[P]`` foreground indicator (0/1), sorted by decreasing error.

    Returns:
        ``[P]``: ``J(i) - J(i-1)`` where ``J(i)`` is the Jaccard loss when the first ``i``
        pixels are the mispredicted ones.
    """
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if gt_sorted.numel() > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def lovasz_softmax_flat(
    probs: torch.Tensor, labels: torch.Tensor, classes: str | Sequence[int] = "present"
) -> torch.Tensor:
    """Lovász-Softmax on flattened valid pixels.

    Args:
        probs: float ``[P, C]`` class probabilities; labels: int64 ``[P]``.
        classes: ``"present"`` (classes in ``labels``), ``"all"``, or a list of class ids.

    Returns:
        scalar: mean over the selected classes (0 if none).
    """
    if probs.numel() == 0:
        return zero_loss(probs)
    C = probs.shape[1]
    todo = range(C) if classes in ("all", "present") else [int(c) for c in classes]
    losses = []
    for c in todo:
        fg = (labels == c).to(probs.dtype)
        if classes == "present" and not bool(fg.any()):
            continue
        errors = (fg - probs[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    if not losses:
        return zero_loss(probs)
    return torch.stack(losses).mean()


def lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary Lovász hinge on flattened valid pixels (``logits [P]``, ``labels [P]`` 0/1)."""
    if logits.numel() == 0:
        return zero_loss(logits)
    y = labels.to(logits.dtype)
    errors = 1.0 - logits * (2.0 * y - 1.0)
    errors_sorted, perm = torch.sort(errors, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(y[perm]))


class LovaszSoftmaxLoss(nn.Module):
    """Lovász-Softmax (multiclass) / Lovász hinge (binary) loss; ignored pixels excluded.

    Args:
        classes: ``"present"`` (default: only classes in the target, the paper's choice for
            mIoU training), ``"all"``, or a list of class ids.
        per_image: compute per image and average (the paper's ``per_image`` option) instead
            of over the whole batch as one set of pixels.
        ignore_index: target value to skip (default 255).
        mode: ``"multiclass"``, ``"binary"`` (1-channel logits, targets 0/1) or ``None``.

    Note: sorting all pixels makes this slower than CE/Dice; common practice is to fine-tune
    with it after CE training.
    """

    def __init__(
        self,
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        ignore_index: int | None = 255,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(classes, str) and classes not in ("present", "all"):
            raise ValueError(f"classes must be 'present', 'all' or a list of ids, got {classes!r}")
        self.classes = classes
        self.per_image = per_image
        self.ignore_index = ignore_index
        self.mode = mode

    def _flat(self, x: torch.Tensor, t: torch.Tensor, v: torch.Tensor, mode: str) -> torch.Tensor:
        # x [n, C, *], t/v [n, *] -> loss over the valid pixels
        m = v.reshape(-1)
        lab = t.reshape(-1)[m]
        if mode == "binary":
            return lovasz_hinge_flat(x.reshape(-1)[m], lab)
        C = x.shape[1]
        probs = F.softmax(x, dim=1).movedim(1, -1).reshape(-1, C)[m]
        return lovasz_softmax_flat(probs, lab, self.classes)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with float32_region(logits.device.type):
            x, t, valid, mode = prepare(logits, target, self.ignore_index, self.mode)
            if self.per_image:
                losses = [
                    self._flat(x[i : i + 1], t[i : i + 1], valid[i : i + 1], mode)
                    for i in range(x.shape[0])
                ]
                return torch.stack(losses).mean() + zero_loss(x)
            return self._flat(x, t, valid, mode) + zero_loss(x)
