"""The dataset-level confusion matrix as a MONAI metric.

MONAI's ``DiceMetric`` / ``MeanIoU`` score each image and average the scores; this wrapper
buffers one confusion matrix per iteration and aggregates them into ONE matrix, so it gives
the dataset-level numbers of :class:`~medseg.metrics.ConfusionMatrix` inside MONAI
evaluators and ignite handlers. Under torch.distributed MONAI's ``Cumulative.get_buffer``
gathers the buffers of all ranks, so ``aggregate`` sees the whole dataset.

Example (ignite / MONAI handlers)::

    from monai.handlers import IgniteMetricHandler
    metric = DatasetConfusionMetric(num_classes=19, metric_name="miou")
    handler = IgniteMetricHandler(metric_fn=metric, output_transform=from_engine(["pred", "label"]))
    handler.attach(evaluator, "val_miou")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.metrics import CumulativeIterationMetric

from ..models.outputs import logits_to_labels
from .confusion import ConfusionMatrix
from .functional import SegmentationScores, scores_from_confusion

__all__ = ["DatasetConfusionMetric"]

_SCALARS = ("miou", "pixel_accuracy", "mean_accuracy", "mean_dice", "fwiou")
_PER_CLASS = ("iou", "dice", "accuracy", "precision")
#: scalar means that can leave the background out: the per-class metric each averages
_PER_OF = {"miou": "iou", "mean_accuracy": "accuracy", "mean_dice": "dice"}


class DatasetConfusionMetric(CumulativeIterationMetric):
    """MONAI ``CumulativeIterationMetric`` over a dataset-level confusion matrix.

    Args:
        num_classes: number of classes.
        metric_name: what :meth:`aggregate` returns: one of ``miou``, ``pixel_accuracy``,
            ``mean_accuracy``, ``mean_dice``, ``fwiou`` (a scalar tensor) or ``iou``, ``dice``,
            ``accuracy``, ``precision`` (a ``[C]`` tensor).
        ignore_index: ground-truth label to skip (default 255).
        include_background: if False, class 0 is left out of the returned value (MONAI's
            convention for medical labels where 0 is background).

    Input conventions (MONAI's): ``y_pred`` batch-first ``[B, C, ...]`` logits, probabilities
    or one-hot (argmax over dim 1), or ``[B, 1, ...]`` / ``[B, ...]`` integer labels; ``y``
    ``[B, 1, ...]`` or ``[B, ...]`` integer labels, or one-hot ``[B, C, ...]`` (then nothing is
    ignored). Lists of channel-first tensors (decollated batches) work too. A tensor whose
    dim 1 has size ``C`` is always read as one score/one-hot channel per class.
    """

    def __init__(
        self,
        num_classes: int,
        metric_name: str = "miou",
        ignore_index: int | None = 255,
        include_background: bool = True,
    ) -> None:
        super().__init__()
        if metric_name not in _SCALARS + _PER_CLASS:
            raise ValueError(
                f"metric_name must be one of {_SCALARS + _PER_CLASS}, got {metric_name!r}"
            )
        if not include_background and metric_name in _SCALARS and metric_name not in _PER_OF:
            # checked here, not after a whole evaluation in aggregate()
            raise ValueError(
                f"include_background=False is not defined for {metric_name!r}; it applies to "
                f"{', '.join(sorted(_PER_OF))} and the per-class metrics"
            )
        self.num_classes = int(num_classes)
        self.metric_name = metric_name
        self.include_background = include_background
        self._cm = ConfusionMatrix(self.num_classes, ignore_index=ignore_index)

    def _labels(self, y: torch.Tensor, is_pred: bool) -> torch.Tensor:
        C = self.num_classes
        if y.ndim >= 3 and y.shape[1] == C and C > 1:
            return logits_to_labels(y, dim=1)  # logits / probabilities / one-hot
        if y.ndim >= 3 and y.shape[1] == 1:
            y = y[:, 0]
            if is_pred and C == 1:
                return y
        if y.is_floating_point():
            y = y.round().to(torch.int64)
        return y

    def _compute_tensor(
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if y is None:
            raise ValueError("DatasetConfusionMetric needs ground truth y")
        p = self._labels(torch.as_tensor(y_pred), is_pred=True)
        t = self._labels(torch.as_tensor(y), is_pred=False)
        # one [C, C] matrix per iteration, batch dim 1 so MONAI's buffer concatenates them
        return self._cm.batch_matrix(p, t).unsqueeze(0)

    def confusion(self) -> torch.Tensor:
        """Sum of the buffered (and, under DDP, gathered) matrices, ``int64 [C, C]``."""
        buf = self.get_buffer()
        if buf is None or (isinstance(buf, torch.Tensor) and buf.numel() == 0):
            return torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64)
        if isinstance(buf, (list, tuple)):
            buf = torch.cat(list(buf))
        return buf.to(torch.int64).sum(0).cpu()

    def scores(self, class_names: Sequence[str] | None = None) -> SegmentationScores:
        """All scores (see :class:`~medseg.metrics.SegmentationScores`)."""
        return scores_from_confusion(self.confusion().numpy(), class_names)

    def aggregate(self) -> torch.Tensor:  # type: ignore[override]
        s = self.scores()
        if self.metric_name in _SCALARS:
            if self.include_background:
                return torch.tensor(float(getattr(s, self.metric_name)), dtype=torch.float64)
            per = _PER_OF[self.metric_name]
            vals = torch.from_numpy(getattr(s, per)[1:])
            return (
                vals[~vals.isnan()].mean() if (~vals.isnan()).any() else torch.tensor(float("nan"))
            )
        vals = torch.from_numpy(getattr(s, self.metric_name))
        return vals if self.include_background else vals[1:]
