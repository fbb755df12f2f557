"""Scores computed from a confusion matrix, and a binary Dice coefficient.

Conventions (the official Cityscapes evaluation's):
- the confusion matrix has rows = ground truth, columns = prediction;
- a class absent from both ground truth and prediction has IoU / Dice = NaN and is left out
  of the means (it tells nothing about the model); a class only predicted scores 0;
- per-class accuracy (recall) is NaN for a class absent from the ground truth;
- pixels whose ground truth is ``ignore_index`` never reach the matrix, so they count in no
  score, pixel accuracy included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SegmentationScores",
    "scores_from_confusion",
    "iou_from_confusion",
    "dice_from_confusion",
    "dice_coefficient",
]


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den`` is 0 (a class absent from both sides)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def nanmean(x: np.ndarray) -> float:
    """Mean over the non-NaN entries (NaN when there are none), without numpy's warning."""
    x = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _check(confusion: Any) -> np.ndarray:
    cm = np.asarray(confusion)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square [C, C], got shape {cm.shape}")
    return cm.astype(np.float64)


def iou_from_confusion(confusion: Any) -> np.ndarray:
    """Per-class IoU ``TP / (TP + FP + FN)``; NaN where the class is absent from GT and pred.

    Args:
        confusion: ``[C, C]`` counts, rows = ground truth, columns = prediction.

    Returns:
        ``float64`` array ``[C]``.
    """
    cm = _check(confusion)
    tp = np.diag(cm)
    return safe_ratio(tp, cm.sum(0) + cm.sum(1) - tp)


def dice_from_confusion(confusion: Any) -> np.ndarray:
    """Per-class Dice (F1) ``2 TP / (2 TP + FP + FN)``; NaN where absent from GT and pred."""
    cm = _check(confusion)
    tp = np.diag(cm)
    return safe_ratio(2 * tp, cm.sum(0) + cm.sum(1))


@dataclass
class SegmentationScores:
    """Scores of one confusion matrix (all from the same dataset-level counts).

    Attributes:
        iou: per-class IoU ``[C]`` (NaN: class absent from GT and prediction).
        miou: mean of the non-NaN ``iou``.
        pixel_accuracy: correct / all non-ignored pixels.
        accuracy: per-class accuracy (recall) ``TP / (TP + FN)`` ``[C]`` (NaN: absent from GT).
        mean_accuracy: mean of the non-NaN ``accuracy``.
        precision: per-class ``TP / (TP + FP)`` ``[C]`` (NaN: never predicted).
        dice: per-class Dice / F1 ``[C]``; ``mean_dice`` the mean of its non-NaN values.
        fwiou: frequency-weighted IoU, ``sum_c freq_c * iou_c`` with ``freq_c`` the share of
            ground-truth pixels of class c.
        confusion: ``int64 [C, C]``, rows = ground truth, columns = prediction.
        support: ground-truth pixels per class ``[C]``.
        class_names: optional names, used by :meth:`format_table` and :meth:`to_dict`.
    """

    iou: np.ndarray
    miou: float
    pixel_accuracy: float
    accuracy: np.ndarray
    mean_accuracy: float
    precision: np.ndarray
    dice: np.ndarray
    mean_dice: float
    fwiou: float
    confusion: np.ndarray
    support: np.ndarray
    class_names: tuple[str, ...] | None = field(default=None)

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    def __getitem__(self, key: str) -> Any:  # dict-style access: scores["miou"]
        return getattr(self, key)

    def _names(self, class_names: Sequence[str] | None) -> list[str]:
        names = class_names if class_names is not None else self.class_names
        if names is None:
            return [str(i) for i in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
        return [str(n) for n in names]

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes ``None``); per-class values keyed by class name."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        names = self._names(class_names)
        per_class = {
            n: {
                "iou": num(self.iou[i]),
                "dice": num(self.dice[i]),
                "accuracy": num(self.accuracy[i]),
                "precision": num(self.precision[i]),
                "support": int(self.support[i]),
            }
            for i, n in enumerate(names)
        }
        return {
            "miou": num(self.miou),
            "pixel_accuracy": num(self.pixel_accuracy),
            "mean_accuracy": num(self.mean_accuracy),
            "mean_dice": num(self.mean_dice),
            "fwiou": num(self.fwiou),
            "per_class": per_class,
            "class_names": names,
            "confusion": self.confusion.tolist(),
        }

    def to_json(self, class_names: Sequence[str] | None = None, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(class_names), **{"indent": 2, **kwargs})

    def format_table(self, class_names: Sequence[str] | None = None, digits: int = 2) -> str:
        """Per-class table (IoU, Dice, accuracy in percent, GT pixels) and the summary lines."""
        names = self._names(class_names)
        w = max(12, *(len(n) for n in names)) + 1

        def pct(v: float) -> str:
            return "nan" if math.isnan(v) else f"{100 * v:.{digits}f}"

        lines = [f"{'class':<{w}}{'IoU':>8}{'Dice':>8}{'Acc':>8}{'GT pixels':>13}"]
        lines.append("-" * len(lines[0]))
        for i, n in enumerate(names):
            lines.append(
                f"{n:<{w}}{pct(self.iou[i]):>8}{pct(self.dice[i]):>8}"
                f"{pct(self.accuracy[i]):>8}{int(self.support[i]):>13}"
            )
        lines.append("-" * len(lines[0]))
        lines.append(
            f"{'mIoU':<{w}}{pct(self.miou):>8}{pct(self.mean_dice):>8}{pct(self.mean_accuracy):>8}"
        )
        lines.append(f"pixel accuracy {pct(self.pixel_accuracy)}   fwIoU {pct(self.fwiou)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def scores_from_confusion(
    confusion: Any, class_names: Sequence[str] | None = None
) -> SegmentationScores:
    """All scores of a ``[C, C]`` confusion matrix (rows = ground truth, columns = prediction).

    Args:
        confusion: integer counts, numpy or anything ``np.asarray`` accepts.
        class_names: optional, stored on the result.

    Returns:
        :class:`SegmentationScores`.
    """
    cm_int = np.asarray(confusion).astype(np.int64)
    cm = _check(cm_int)
    tp = np.diag(cm)
    gt = cm.sum(1)
    pr = cm.sum(0)
    total = cm.sum()
    iou = safe_ratio(tp, gt + pr - tp)
    dice = safe_ratio(2 * tp, gt + pr)
    acc = safe_ratio(tp, gt)
    prec = safe_ratio(tp, pr)
    pixel_acc = float(tp.sum() / total) if total > 0 else float("nan")
    if total > 0:
        freq = gt / total
        fw = float(np.sum(freq[gt > 0] * iou[gt > 0]))  # iou is finite wherever gt > 0
    else:
        fw = float("nan")
    return SegmentationScores(
        iou=iou,
        miou=nanmean(iou),
        pixel_accuracy=pixel_acc,
        accuracy=acc,
        mean_accuracy=nanmean(acc),
        precision=prec,
        dice=dice,
        mean_dice=nanmean(dice),
        fwiou=fw,
        confusion=cm_int,
        support=gt.astype(np.int64),
        class_names=tuple(class_names) if class_names is not None else None,
    )


def dice_coefficient(pred: Any, target: Any, empty_score: float = 1.0) -> float:
    """Binary Dice ``2 |P ∩ T| / (|P| + |T|)`` of two masks (no smoothing term).

    Args:
        pred: binary mask (bool or 0/1, any shape), torch or numpy. Nonzero = foreground.
        target: binary mask of the same shape.
        empty_score: value returned when both masks are empty. Defined as 1.0 by default:
            predicting "nothing" where there is nothing is a perfect result (the convention of
            MONAI's ``DiceMetric(ignore_empty=False)`` and of most challenge evaluations).
            Pass ``float('nan')`` to leave such cases out of a later ``nanmean``.
            (The tutorial's ``smooth=1e-5`` formula also gives 1.0 for empty-vs-empty, but
            biases every other value; this one is exact.)

    Returns:
        Dice in ``[0, 1]`` as a Python float.
    """
    p = _to_bool(pred)
    t = _to_bool(target)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
    inter = int(np.count_nonzero(p & t))
    den = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    if den == 0:
        return float(empty_score)
    return 2.0 * inter / den


def _to_bool(x: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x) != 0
