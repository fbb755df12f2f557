"""Segmentation metrics: one dataset-level confusion matrix, scores from it, plots.

``DatasetConfusionMetric`` (MONAI wrapper) and the plots are imported lazily so that
``import medseg.metrics`` pulls in neither MONAI nor matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .confusion import ConfusionMatrix, to_label_tensor
from .functional import (
    SegmentationScores,
    dice_coefficient,
    dice_from_confusion,
    iou_from_confusion,
    scores_from_confusion,
)
from .instance import CITYSCAPES_AVG_INSTANCE_SIZE, InstanceIoU, InstanceIoUScores

__all__ = [
    "ConfusionMatrix",
    "SegmentationScores",
    "scores_from_confusion",
    "iou_from_confusion",
    "dice_from_confusion",
    "dice_coefficient",
    "to_label_tensor",
    "InstanceIoU",
    "InstanceIoUScores",
    "CITYSCAPES_AVG_INSTANCE_SIZE",
    "DatasetConfusionMetric",
    "plot_confusion_matrix",
    "plot_per_class_iou",
    "figure_to_array",
    "write_report",
]

_LAZY = {
    "DatasetConfusionMetric": "monai",
    "plot_confusion_matrix": "plots",
    "plot_per_class_iou": "plots",
    "figure_to_array": "plots",
    "write_report": "plots",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
