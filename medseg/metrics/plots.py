"""Plots of evaluation results: normalised confusion matrix and per-class IoU bars.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly (no pyplot):
no global figure state, no GUI backend, safe in servers and worker threads. Each function
returns the figure and, given ``path``, writes a PNG; :func:`figure_to_array` gives an RGB
array for the web app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "plot_confusion_matrix",
    "plot_per_class_iou",
    "figure_to_array",
    "normalize_confusion",
    "write_report",
]


def _new_figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")


def _names(class_names: Sequence[str] | None, n: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(n)]
    if len(class_names) != n:
        raise ValueError(f"{len(class_names)} class names for {n} classes")
    return [str(c) for c in class_names]


def normalize_confusion(confusion: Any) -> np.ndarray:
    """Row-normalise ``[C, C]`` counts (each GT row sums to 1; rows with no pixels are NaN)."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    out = np.full_like(cm, np.nan)
    np.divide(cm, rows, out=out, where=rows > 0)
    return out


def plot_confusion_matrix(
    confusion: Any,
    class_names: Sequence[str] | None = None,
    path: str | Path | None = None,
    normalize: bool = True,
    title: str = "Confusion matrix",
    annotate: bool | None = None,
) -> Any:
    """Confusion-matrix heat map, rows = ground truth, columns = prediction.

    Args:
        confusion: ``[C, C]`` counts (e.g. ``ConfusionMatrix.compute().confusion``).
        class_names: tick labels (default ``0 .. C-1``).
        path: if given, write a PNG there.
        normalize: divide each row by its ground-truth pixel count (recall per cell);
            GT rows without pixels are drawn blank.
        title: figure title.
        annotate: write the values in the cells (default: when ``C <= 25``).

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    cm = np.asarray(confusion)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion must be [C, C], got shape {cm.shape}")
    n = cm.shape[0]
    names = _names(class_names, n)
    data = normalize_confusion(cm) if normalize else cm.astype(np.float64)
    side = max(4.0, 0.45 * n + 2.5)
    fig = _new_figure((side + 1.0, side))
    ax = fig.add_subplot()
    im = ax.imshow(
        np.ma.masked_invalid(data), cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None
    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=names, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Ground truth")
    ax.set_title(title + (" (row-normalised)" if normalize else ""))
    if annotate is None:
        annotate = n <= 25
    if annotate:
        finite = data[np.isfinite(data)]
        thresh = (finite.max() / 2.0) if finite.size else 0.5
        fs = 7 if n > 12 else 9
        for i in range(n):
            for j in range(n):
                v = data[i, j]
                if not np.isfinite(v) or (normalize and v < 0.005):
                    continue
                txt = f"{v:.2f}" if normalize else f"{int(v)}"
                ax.text(
                    j,
                    i,
                    txt,
                    ha="center",
                    va="center",
                    fontsize=fs,
                    color="white" if v > thresh else "black",
                )
    _save(fig, path)
    return fig


def plot_per_class_iou(
    iou: Any,
    class_names: Sequence[str] | None = None,
    path: str | Path | None = None,
    miou: float | None = None,
    title: str = "Per-class IoU",
    colors: Sequence[Sequence[int]] | None = None,
) -> Any:
    """Horizontal bar chart of per-class IoU (NaN classes shown as "n/a").

    Args:
        iou: ``[C]`` values in ``[0, 1]`` (NaN allowed).
        class_names: bar labels.
        path: if given, write a PNG there.
        miou: draw it as a dashed line (default: the mean of the non-NaN values).
        title: figure title.
        colors: optional RGB ``0..255`` per class (e.g. the model's palette).

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    v = np.asarray(iou, dtype=np.float64).reshape(-1)
    n = v.shape[0]
    names = _names(class_names, n)
    if miou is None:
        ok = ~np.isnan(v)
        miou = float(v[ok].mean()) if ok.any() else float("nan")
    fig = _new_figure((7.0, max(2.5, 0.32 * n + 1.2)))
    ax = fig.add_subplot()
    y = np.arange(n)
    if colors is not None:
        col = [tuple(c / 255.0 for c in colors[i]) for i in range(n)]
    else:
        col = ["tab:blue"] * n
    ax.barh(y, np.nan_to_num(v, nan=0.0), color=col, edgecolor="black", linewidth=0.5)
    for i, val in enumerate(v):
        ax.text(
            0.01 if np.isnan(val) else min(val, 1.0) + 0.01,
            i,
            "n/a" if np.isnan(val) else f"{100 * val:.1f}",
            va="center",
            fontsize=8,
        )
    if not math.isnan(miou):
        ax.axvline(miou, color="red", linestyle="--", linewidth=1)
        ax.text(miou, -0.9, f"mIoU {100 * miou:.1f}", color="red", ha="center", fontsize=8)
    ax.set_yticks(y, labels=names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("IoU")
    ax.set_title(title)
    _save(fig, path)
    return fig


def figure_to_array(fig: Any) -> np.ndarray:
    """Render a figure to an ``uint8 [H, W, 3]`` RGB array (for Gradio image outputs)."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].copy()


def write_report(
    scores: Any,
    out_dir: str | Path,
    class_names: Sequence[str] | None = None,
    colors: Sequence[Sequence[int]] | None = None,
    prefix: str = "",
) -> dict[str, Path]:
    """Write the usual evaluation outputs of a :class:`~medseg.metrics.SegmentationScores`.

    Files (in ``out_dir``, names prefixed by ``prefix``): ``metrics.json`` (``to_dict``),
    ``table.txt`` (``format_table``), ``confusion.png`` (row-normalised) and ``iou.png``.

    Returns:
        ``{"json": path, "table": path, "confusion": path, "iou": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = class_names if class_names is not None else scores.class_names
    paths = {
        "json": out / f"{prefix}metrics.json",
        "table": out / f"{prefix}table.txt",
        "confusion": out / f"{prefix}confusion.png",
        "iou": out / f"{prefix}iou.png",
    }
    paths["json"].write_text(scores.to_json(names) + "\n")
    paths["table"].write_text(scores.format_table(names) + "\n")
    plot_confusion_matrix(scores.confusion, names, paths["confusion"])
    plot_per_class_iou(scores.iou, names, paths["iou"], miou=scores.miou, colors=colors)
    return paths
