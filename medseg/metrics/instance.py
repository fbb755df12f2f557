"""Cityscapes instance-level IoU (iIoU) for the 8 classes with instances.

Plain IoU is dominated by large objects: a missed pedestrian far away costs a few hundred
pixels, a car close by tens of thousands. iIoU re-weights the true-positive and
false-negative pixels of every ground-truth instance by ``avg_size[class] / instance_size``
so each instance counts about the same; false positives are not weighted (there is no
instance to attribute them to). This is ``getInstanceIouScoreForLabel`` of the official
``cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling``::

    iIoU_c = tp_w / (tp_w + fp + fn_w)

Instance maps use the Cityscapes ``*_instanceIds.png`` encoding: pixels of an instance hold
``labelId * 1000 + k``; everything else holds its labelId (< 1000) and is not an instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_INSTANCE_TRAIN_IDS,
    IGNORE_INDEX,
    label_ids_to_train_ids,
)
from .confusion import ConfusionMatrix, to_label_tensor
from .functional import nanmean, safe_ratio

__all__ = ["InstanceIoU", "InstanceIoUScores", "CITYSCAPES_AVG_INSTANCE_SIZE"]

#: Average instance size (pixels, full 2048x1024 resolution) per class, from the official
#: ``evalPixelLevelSemanticLabeling.args.avgClassSize`` (the weights iIoU is defined with).
#: ``tests/metrics/test_cityscapes_official.py`` checks these against the installed package.
#: caravan and trailer are left out: they are ignored in evaluation (train ID 255).
CITYSCAPES_AVG_INSTANCE_SIZE: dict[str, float] = {
    "person": 3462.4756337644,
    "rider": 3930.4788056518,
    "car": 12794.0202738185,
    "truck": 27855.1264367816,
    "bus": 35732.1511111111,
    "train": 67583.7075812274,
    "motorcycle": 6298.7200839748,
    "bicycle": 4672.3249222261,
}


@dataclass
class InstanceIoUScores:
    """Result of :meth:`InstanceIoU.compute`.

    Attributes:
        iiou: per-class iIoU ``[C]``; NaN for classes without instances and for instance
            classes with no instance and no false positive.
        mean_iiou: mean of the non-NaN values over the instance classes.
        tp_weighted, fn_weighted: weighted counts ``[C]``; fp: unweighted false positives.
    """

    iiou: np.ndarray
    mean_iiou: float
    tp_weighted: np.ndarray
    fn_weighted: np.ndarray
    fp: np.ndarray
    instance_classes: tuple[int, ...]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class InstanceIoU:
    """Accumulate iIoU over a dataset (train-ID predictions and targets, Cityscapes instance maps).

    Args:
        num_classes: number of train IDs (19 for Cityscapes).
        instance_classes: train IDs that have instances (default: the 8 Cityscapes ones).
        avg_instance_size: ``{train_id: average instance size in pixels}``; default: the
            official Cityscapes table (full 2048x1024 resolution). Keep it to reproduce
            official numbers; at another resolution the weights no longer balance against
            the unweighted false positives the same way.
        ignore_index: target value skipped in the false-positive count.
        label_divisor: instance id = ``label_id * label_divisor + k``.
        label_map: maps the ``label_id`` part to train IDs (default: the Cityscapes table in
            :mod:`medseg.labels`); ``None`` when instance ids already encode train IDs.

    Example:
        >>> m = InstanceIoU()
        >>> m.update(pred_train_ids, target_train_ids, instance_ids)   # [N,H,W] each
        >>> m.compute().mean_iiou
    """

    def __init__(
        self,
        num_classes: int = len(CITYSCAPES_CLASSES),
        instance_classes: Sequence[int] = CITYSCAPES_INSTANCE_TRAIN_IDS,
        avg_instance_size: Mapping[int, float] | None = None,
        ignore_index: int | None = IGNORE_INDEX,
        label_divisor: int = 1000,
        label_map: Callable[[np.ndarray], np.ndarray] | None = label_ids_to_train_ids,
    ) -> None:
        self.num_classes = int(num_classes)
        self.instance_classes = tuple(int(c) for c in instance_classes)
        if avg_instance_size is None:
            name_to_train = {n: i for i, n in enumerate(CITYSCAPES_CLASSES)}
            avg_instance_size = {
                name_to_train[n]: s for n, s in CITYSCAPES_AVG_INSTANCE_SIZE.items()
            }
        missing = [c for c in self.instance_classes if c not in avg_instance_size]
        if missing:
            raise ValueError(f"avg_instance_size has no entry for instance classes {missing}")
        self.avg_instance_size = {int(k): float(v) for k, v in avg_instance_size.items()}
        self.label_divisor = int(label_divisor)
        self.label_map = label_map
        self.cm = ConfusionMatrix(self.num_classes, ignore_index=ignore_index)
        self.reset()

    def reset(self) -> None:
        self.cm.reset()
        self.tp_weighted = np.zeros(self.num_classes, dtype=np.float64)
        self.fn_weighted = np.zeros(self.num_classes, dtype=np.float64)

    def update(self, pred: Any, target: Any, instance_ids: Any) -> InstanceIoU:
        """Add a batch.

        Args:
            pred: predicted train IDs ``[N, H, W]`` (or ``[H, W]``), or logits ``[N, C, H, W]``.
            target: ground-truth train IDs, same shape as the label maps (255 = ignore).
            instance_ids: Cityscapes instance map, same shape (``labelId * 1000 + k``).
        """
        t = np.asarray(target.cpu() if hasattr(target, "cpu") else target)
        p = to_label_tensor(pred, t.shape).cpu().numpy()
        inst = np.asarray(instance_ids.cpu() if hasattr(instance_ids, "cpu") else instance_ids)
        if inst.shape != t.shape:
            raise ValueError(f"instance_ids shape {inst.shape} != target shape {t.shape}")
        self.cm.update(p, t)

        inst_flat = inst.reshape(-1).astype(np.int64)
        sel = inst_flat > self.label_divisor  # the official code uses "> 1000" too
        if not sel.any():
            return self
        ids, inv = np.unique(inst_flat[sel], return_inverse=True)
        # class of each instance: labelId -> train ID through the shared table
        cls = ids // self.label_divisor
        cls = (self.label_map(cls) if self.label_map is not None else cls).astype(np.int64)
        sizes = np.bincount(inv, minlength=len(ids)).astype(np.float64)
        hit = p.reshape(-1)[sel].astype(np.int64) == cls[inv]
        tp = np.bincount(inv, weights=hit.astype(np.float64), minlength=len(ids))
        fn = sizes - tp
        for c in self.instance_classes:
            k = cls == c
            if not k.any():
                continue
            w = self.avg_instance_size[c] / sizes[k]
            self.tp_weighted[c] += float(np.sum(tp[k] * w))
            self.fn_weighted[c] += float(np.sum(fn[k] * w))
        return self

    def sync(self, group: Any = None) -> InstanceIoU:
        """Sum the counts over all ``torch.distributed`` processes (no-op otherwise)."""
        import torch
        import torch.distributed as dist

        self.cm.sync(group)
        if dist.is_available() and dist.is_initialized():
            both = torch.from_numpy(np.stack([self.tp_weighted, self.fn_weighted]))
            if dist.get_backend(group) == "nccl":
                both = both.cuda()
            dist.all_reduce(both, group=group)
            self.tp_weighted, self.fn_weighted = (a.copy() for a in both.cpu().numpy())
        return self

    def compute(self) -> InstanceIoUScores:
        cm = self.cm.confusion.astype(np.float64)
        fp = cm.sum(0) - np.diag(cm)
        iiou = np.full(self.num_classes, np.nan)
        for c in self.instance_classes:
            iiou[c] = safe_ratio(
                self.tp_weighted[c], self.tp_weighted[c] + fp[c] + self.fn_weighted[c]
            )
        return InstanceIoUScores(
            iiou=iiou,
            mean_iiou=nanmean(iiou[list(self.instance_classes)]),
            tp_weighted=self.tp_weighted.copy(),
            fn_weighted=self.fn_weighted.copy(),
            fp=fp,
            instance_classes=self.instance_classes,
        )
