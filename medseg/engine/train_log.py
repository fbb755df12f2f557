"""The training history on disk: ``history.json``, ``history.csv``, ``loss.png``, ``metric.png``.

Figures use ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot, no global
backend switch): a library must not change its host process's matplotlib settings.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np


def write_history(history: list[dict[str, Any]], out: Path, monitor: str = "miou") -> None:
    """``history.json`` (everything), ``history.csv`` (scalars) and the curves."""
    scalars = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in history]
    (out / "history.json").write_text(json.dumps(history, indent=1))
    keys = list(dict.fromkeys(k for r in scalars for k in r))
    with open(out / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(scalars)
    plot_curves(history, out, monitor)


def plot_curves(history: list[dict[str, Any]], out: Path, monitor: str = "miou") -> None:
    """``loss.png`` (train/val loss) and ``metric.png`` (val metrics) from the history."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ep = [r["epoch"] for r in history]
    for name, keys in (
        ("loss", ["train_loss", "val_loss"]),
        ("metric", [f"val_{monitor}", "val_miou", "val_mean_dice", "val_pixel_accuracy"]),
    ):
        fig = Figure(figsize=(5, 3.2), dpi=100, layout="tight")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k in dict.fromkeys(keys):
            ys = [r.get(k) for r in history]
            if any(v is not None for v in ys):
                ax.plot(ep, [np.nan if v is None else v for v in ys], marker="o", label=k)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.savefig(out / f"{name}.png")


__all__ = ["plot_curves", "write_history"]
