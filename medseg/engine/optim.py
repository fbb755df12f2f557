"""Optimiser and learning-rate schedule factories for the trainer (plain functions)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("poly", "plateau", "none")


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg) -> torch.optim.Optimizer:
    """AdamW, Adam or SGD (Nesterov) from ``cfg.optimizer``, ``lr``, ``weight_decay``,
    ``momentum`` (a :class:`~medseg.engine.trainer.TrainConfig`)."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True
        )
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg, steps_per_epoch: int):
    """The schedule ``cfg.scheduler`` names, or ``None``.

    ``poly`` steps per iteration over ``epochs * steps_per_epoch`` (power ``poly_power``),
    after ``warmup_iters`` of linear warm-up; ``plateau`` is ReduceLROnPlateau on the monitored
    metric (higher is better), stepped per epoch by the trainer.
    """
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler != "poly":
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {cfg.scheduler!r}")
    total = max(1, cfg.epochs * steps_per_epoch - cfg.warmup_iters)
    poly = torch.optim.lr_scheduler.PolynomialLR(optimizer, total, cfg.poly_power)
    if cfg.warmup_iters <= 0:
        return poly
    warm = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1e-3, total_iters=cfg.warmup_iters
    )
    return torch.optim.lr_scheduler.SequentialLR(
        optimizer, [warm, poly], milestones=[cfg.warmup_iters]
    )


__all__ = ["OPTIMIZERS", "SCHEDULERS", "make_optimizer", "make_scheduler"]
