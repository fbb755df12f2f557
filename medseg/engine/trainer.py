"""One configurable training loop for every medseg model (configured, never subclassed).

Features: AdamW / Adam / SGD; poly (with linear warm-up) or ReduceLROnPlateau; bf16 autocast
on CPUs with AMX (``amp="auto"``; see :func:`cpu_has_amx`) and bf16/fp16 on CUDA; channels-last;
gradient clipping; validation each epoch with a dataset-level confusion matrix; best
checkpoint by a monitored metric (``miou`` or ``mean_dice``); ``resume`` restores model,
optimiser, scheduler, epoch, history and RNG states; early stopping; tqdm bars; CSV + JSON
logs and PNG curves. Under ``torchrun`` the model is wrapped in DDP, loaders get a
``DistributedSampler`` (see :mod:`medseg.engine.distributed`) and metrics are all-reduced;
only rank 0 writes files. Checkpoints hold only tensors and plain Python values, so they load
with ``torch.load(path, weights_only=True)``.

The loop lives here; each other job has its own module: :mod:`.optim` (optimiser and
schedule factories), :mod:`.amp` (when autocast pays, the autocast context), :mod:`.rng`
(seeding, random-state snapshots), :mod:`.checkpoint` (atomic save, safe load),
:mod:`.train_log` (CSV/JSON history and curves), :mod:`.evaluator` (validation).

Example:
    >>> cfg = TrainConfig(epochs=10, lr=1e-3, out_dir="runs/exp", num_classes=19)
    >>> trainer = Trainer(model, loss_fn, train_loader, val_loader, cfg)
    >>> history = trainer.fit()
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed as D
from .amp import autocast_context, cpu_has_amx, cpu_has_native_bf16, resolve_amp
from .checkpoint import load_checkpoint_state, save_checkpoint
from .evaluator import evaluate
from .optim import make_optimizer, make_scheduler
from .rng import rng_state, seed_all, set_rng_state
from .train_log import plot_curves, write_history


@dataclass
class TrainConfig:
    """Training options (all plain values, so they round-trip through YAML and checkpoints).

    Attributes:
        num_classes: classes of the task (metrics).
        epochs: maximum epochs.
        optimizer: ``"adamw"``, ``"adam"`` or ``"sgd"``.
        lr, weight_decay, momentum: optimiser settings (momentum for SGD).
        scheduler: ``"poly"`` (per iteration, power ``poly_power``, after ``warmup_iters`` of
            linear warm-up), ``"plateau"`` (ReduceLROnPlateau on the monitored metric,
            ``plateau_factor``/``plateau_patience``) or ``"none"``.
        amp: ``"auto"`` (bf16 where the device supports it natively), ``"bf16"``, ``"fp16"``
            (CUDA) or ``"off"``.
        channels_last: use the channels-last memory format (faster convolutions on CPU).
        grad_clip: max gradient norm, or ``None``.
        monitor: metric for the best checkpoint, plateau and early stopping (higher is better).
        early_stop_patience: stop after this many epochs without improvement (``None``: never).
        ignore_index: label ignored by loss and metrics.
        out_dir: where checkpoints, logs and curves go.
        seed: seeds Python, NumPy and torch (rank added under DDP for augmentation).
        progress: tqdm bars (rank 0 only).
        max_steps_per_epoch: cap iterations per epoch (quick runs, tests).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    num_classes: int = 19
    epochs: int = 10
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "poly"
    poly_power: float = 0.9
    warmup_iters: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    amp: str | bool = "auto"
    channels_last: bool = True
    grad_clip: float | None = None
    monitor: str = "miou"
    early_stop_patience: int | None = None
    ignore_index: int = 255
    out_dir: str = "runs/exp"
    seed: int = 0
    progress: bool = True
    max_steps_per_epoch: int | None = None
    device: str = "auto"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


class Trainer:
    """Train and validate a segmentation model.

    Args:
        model: ``forward(x [N, C, H, W]) -> logits [N, K, H, W]``.
        loss_fn: ``loss_fn(logits, target [N, H, W]) -> scalar`` (e.g. ``medseg.losses``).
        train_loader, val_loader: ``DataLoader`` s yielding ``(x, y)``; under torch.distributed
            build them with :func:`medseg.engine.distributed.make_sampler`.
        config: :class:`TrainConfig`.
        class_names: for per-class logs.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: nn.Module,
        train_loader,
        val_loader,
        config: TrainConfig,
        class_names: list[str] | None = None,
    ):
        self.cfg = config
        dev = config.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(dev)
        if self.device.type == "cuda" and D.is_distributed():
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.amp = resolve_amp(config.amp, self.device)
        self.out = Path(config.out_dir)
        self.class_names = class_names
        self.loss_fn = loss_fn.to(self.device) if isinstance(loss_fn, nn.Module) else loss_fn
        self.train_loader, self.val_loader = train_loader, val_loader
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        if D.is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.optimizer = self._make_optimizer()
        self.steps_per_epoch = self._steps_per_epoch()
        self.scheduler = self._make_scheduler()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == "fp16" else None
        self.epoch = 0
        self.best = -math.inf
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ set-up
    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.cfg)

    def _steps_per_epoch(self) -> int:
        n = len(self.train_loader)
        cap = self.cfg.max_steps_per_epoch
        return min(n, cap) if cap else n

    def _make_scheduler(self):
        return make_scheduler(self.optimizer, self.cfg, self.steps_per_epoch)

    # --------------------------------------------------------------- training
    def train_one_epoch(self) -> dict[str, float]:
        """One pass over (at most ``max_steps_per_epoch`` batches of) the training loader."""
        self.model.train()
        # Shuffle order and augmentation are a function of (seed, epoch, rank), so a resumed
        # run continues exactly as an uninterrupted one would.
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        gen = getattr(self.train_loader, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(self.cfg.seed + self.epoch)
        seed_all(self.cfg.seed + 1000 * self.epoch + D.rank())
        total, n_img, steps = 0.0, 0, 0
        t0 = time.perf_counter()
        it = iter(self.train_loader)
        bar = None
        if self.cfg.progress and D.is_main_process():
            from tqdm import tqdm

            bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {self.epoch + 1}", leave=False)
        for _ in range(self.steps_per_epoch):
            try:
                x, y = next(it)
            except StopIteration:
                break
            loss = self.train_step(x, y)
            total += loss * x.shape[0]
            n_img += x.shape[0]
            steps += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.lr:.2e}")
        if bar is not None:
            bar.close()
        secs = time.perf_counter() - t0
        s_loss, s_n, s_secs = D.all_reduce_sum([total, n_img, secs]).tolist()
        return {
            "train_loss": s_loss / max(s_n, 1),
            "images_per_s": s_n / max(s_secs / D.world_size(), 1e-9),
            "steps": steps,
        }

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Forward, loss, backward, (clip), step, per-iteration schedule; returns the loss."""
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast_context(self.device, self.amp):
            logits = self.model(x)
        loss = self.loss_fn(logits.float(), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at epoch {self.epoch + 1}: lower lr or enable grad_clip"
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None and self.cfg.scheduler == "poly":
            self.scheduler.step()
        return float(loss.detach())

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def validate(self) -> dict[str, Any]:
        """Dataset-level metrics on the validation loader (all-reduced under DDP)."""
        res = evaluate(
            D.unwrap(self.model),  # plain module: no DDP collectives per uneven eval shard
            self.val_loader,
            self.cfg.num_classes,
            ignore_index=self.cfg.ignore_index,
            device=self.device,
            loss_fn=self.loss_fn,
            amp=self.amp,
            class_names=self.class_names,
        )
        res.pop("scores")
        return res

    def fit(self, max_epochs: int | None = None) -> list[dict[str, Any]]:
        """Train up to ``epochs`` (continuing after :meth:`resume`); returns the history.

        Args:
            max_epochs: run at most this many epochs in this call (time-boxed sessions; the
                schedule still spans ``config.epochs``, and :meth:`resume` continues it).
        """
        c = self.cfg
        stop_at = c.epochs if max_epochs is None else min(c.epochs, self.epoch + max_epochs)
        if D.is_main_process():
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(dataclasses.asdict(c), indent=1))
        while self.epoch < stop_at:
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.lr}
            row.update(self.train_one_epoch())
            val = self.validate()
            metric = val.get(c.monitor)
            if metric is None:
                raise ValueError(f"monitor {c.monitor!r} not in validation metrics {sorted(val)}")
            row.update({f"val_{k}": v for k, v in val.items() if k != "confusion"})
            row["seconds"] = time.perf_counter() - t0
            if self.scheduler is not None and c.scheduler == "plateau":
                self.scheduler.step(metric)
            self.epoch += 1
            improved = metric > self.best
            if improved:
                self.best, self.bad_epochs = float(metric), 0
            else:
                self.bad_epochs += 1
            row["best"] = self.best
            self.history.append(row)
            if D.is_main_process():
                self.save_checkpoint(self.out / "last.pt")
                if improved:
                    self.save_checkpoint(self.out / "best.pt")
                    torch.save(D.unwrap(self.model).state_dict(), self.out / "best_model.pt")
                self._write_logs()
            D.barrier()
            if c.early_stop_patience is not None and self.bad_epochs >= c.early_stop_patience:
                break
        return self.history

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        model = D.unwrap(self.model)
        return {
            "model": {k: v.contiguous() for k, v in model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "epoch": self.epoch,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "rng": rng_state(),
            "config": dataclasses.asdict(self.cfg),
        }

    def save_checkpoint(self, path: str | Path) -> None:
        """Everything :meth:`resume` needs, written atomically."""
        save_checkpoint(self.state_dict(), path)

    def resume(self, path: str | Path) -> None:
        """Restore everything :meth:`state_dict` saved (loaded with ``weights_only=True``)."""
        ck = load_checkpoint_state(path)
        D.unwrap(self.model).load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None and ck.get("scheduler") is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        if self.scaler is not None and ck.get("scaler") is not None:
            self.scaler.load_state_dict(ck["scaler"])
        self.epoch, self.best = int(ck["epoch"]), float(ck["best"])
        self.bad_epochs = int(ck.get("bad_epochs", 0))
        self.history = list(ck.get("history", []))
        set_rng_state(ck["rng"])

    # ------------------------------------------------------------------- logs
    def _write_logs(self) -> None:
        write_history(self.history, self.out, self.cfg.monitor)


# Kept importable from here (they lived in this module before it was split by job).
__all__ = [
    "TrainConfig",
    "Trainer",
    "autocast_context",
    "cpu_has_amx",
    "cpu_has_native_bf16",
    "plot_curves",
    "resolve_amp",
    "seed_all",
]
