"""Evaluate a segmentation model on a dataset: one confusion matrix over all of it.

Uses :class:`medseg.metrics.ConfusionMatrix` (rows = ground truth, columns = prediction;
ignore pixels skipped); under ``torch.distributed`` each rank scores its shard and the matrices
are summed before the scores are computed, so every rank gets the dataset-level numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from ..metrics import ConfusionMatrix
from ..models.outputs import logits_to_labels
from .amp import autocast_context
from .distributed import all_reduce_sum


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: Iterable,
    num_classes: int,
    *,
    ignore_index: int = 255,
    device: torch.device | str = "cpu",
    loss_fn: Callable | None = None,
    amp: str | None = None,
    class_names: list[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``model`` on ``loader``.

    Args:
        model: ``forward(x [N, C, H, W]) -> logits [N, K, H, W]``.
        loader: yields ``(x float [N, C, H, W], y int64 [N, H, W])``.
        num_classes: K.
        ignore_index: label value skipped by the metrics (and the loss).
        device: where to run. A model on another device is moved there for the run and moved
            back afterwards.
        loss_fn: optional ``loss_fn(logits, y)``; its pixel-batch mean is reported as ``loss``.
        amp: ``"bf16"``/``"fp16"`` autocast, or ``None``.
        class_names: names for the per-class entries.
        progress: show a tqdm bar.

    Returns:
        ``{"miou", "mean_dice", "pixel_accuracy", "mean_accuracy", "fwiou", "iou": [K],
        "dice": [K], "confusion": [[K×K]], "loss" (if loss_fn), "scores": SegmentationScores}``;
        NaN marks classes absent from both prediction and ground truth.
    """
    device = torch.device(device)
    was_training = model.training
    home = next((p.device for p in model.parameters()), device)
    moved = home.type != device.type or (device.index is not None and home.index != device.index)
    if moved:
        model.to(device)
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    loss_sum, n_batches = 0.0, 0
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="eval", leave=False)
    try:
        for x, y in it:
            x, y = x.to(device), y.to(device)
            with autocast_context(device, amp):
                logits = model(x)
            if loss_fn is not None:
                loss_sum += float(loss_fn(logits.float(), y))
                n_batches += 1
            pred = logits_to_labels(logits)
            cm.update(pred, y)  # on the device: only the K×K matrix comes back
    finally:
        model.train(was_training)
        if moved:
            model.to(home)
    cm.sync()
    scores = cm.compute(class_names)
    out: dict[str, Any] = {
        "miou": float(scores.miou),
        "mean_dice": float(scores.mean_dice),
        "pixel_accuracy": float(scores.pixel_accuracy),
        "mean_accuracy": float(scores.mean_accuracy),
        "fwiou": float(scores.fwiou),
        "iou": [float(v) for v in scores.iou],
        "dice": [float(v) for v in scores.dice],
        "confusion": scores.confusion.tolist(),
        "scores": scores,
    }
    if loss_fn is not None:
        s, n = all_reduce_sum([loss_sum, n_batches]).tolist()
        out["loss"] = s / max(n, 1)
    return out
