"""Ignite handler for medseg's dataset-level confusion-matrix metric.

MONAI's ``IgniteMetricHandler`` already turns any ``CumulativeIterationMetric`` into an
Ignite metric; this subclass only builds the
:class:`~medseg.metrics.monai.DatasetConfusionMetric` for you, so a bundle config or a
``SupervisedEvaluator`` needs one component::

    key_val_metric = {"val_dice": ConfusionMatrixHandler(
        num_classes=2, metric_name="mean_dice", include_background=False,
        output_transform=from_engine(["pred", "label"]))}

The score comes from ONE confusion matrix summed over the whole run (and over processes
under torch.distributed), not from an average of per-image scores.
"""

from __future__ import annotations

from collections.abc import Callable

from monai.handlers import IgniteMetricHandler

__all__ = ["ConfusionMatrixHandler"]


class ConfusionMatrixHandler(IgniteMetricHandler):
    """``IgniteMetricHandler`` over :class:`~medseg.metrics.monai.DatasetConfusionMetric`.

    Args:
        num_classes: number of classes.
        metric_name: score to report: ``miou``, ``pixel_accuracy``, ``mean_accuracy``,
            ``mean_dice``, ``fwiou`` (scalars) or ``iou``, ``dice``, ``accuracy``,
            ``precision`` (one value per class).
        ignore_index: ground-truth label that is skipped (default 255).
        include_background: False leaves class 0 out of the score (MONAI's convention).
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``, e.g.
            ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: store the per-iteration matrices in ``engine.state.metric_details``.

    After a run, ``handler.metric_fn.scores()`` gives every score of the accumulated matrix.
    """

    def __init__(
        self,
        num_classes: int,
        metric_name: str = "mean_dice",
        ignore_index: int | None = 255,
        include_background: bool = True,
        output_transform: Callable = lambda x: x,
        save_details: bool = False,
    ) -> None:
        from medseg.metrics.monai import DatasetConfusionMetric

        metric = DatasetConfusionMetric(
            num_classes,
            metric_name=metric_name,
            ignore_index=ignore_index,
            include_background=include_background,
        )
        super().__init__(
            metric_fn=metric, output_transform=output_transform, save_details=save_details
        )
