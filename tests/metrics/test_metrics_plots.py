"""Plots write real PNGs with the expected content."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medseg.labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from medseg.metrics.plots import (
    figure_to_array,
    normalize_confusion,
    plot_confusion_matrix,
    plot_per_class_iou,
)


def test_normalize_confusion_rows_sum_to_one_and_empty_rows_nan():
    n = normalize_confusion([[2, 2], [0, 0]])
    np.testing.assert_allclose(n[0], [0.5, 0.5])
    assert np.isnan(n[1]).all()


def test_confusion_plot_png(tmp_path):
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 100, size=(19, 19))
    cm[3] = 0  # a class without ground truth
    path = tmp_path / "sub" / "cm.png"
    fig = plot_confusion_matrix(cm, CITYSCAPES_CLASSES, path)
    img = Image.open(path)
    assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 300
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CITYSCAPES_CLASSES)
    assert ax.get_ylabel() == "Ground truth"
    arr = figure_to_array(fig)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    assert arr.std() > 10  # not a blank canvas
    with pytest.raises(ValueError):
        plot_confusion_matrix(cm, ["a", "b"])


def test_iou_bar_chart_png(tmp_path):
    iou = np.linspace(0, 1, 19)
    iou[5] = np.nan
    path = tmp_path / "iou.png"
    fig = plot_per_class_iou(iou, CITYSCAPES_CLASSES, path, colors=CITYSCAPES_PALETTE)
    assert Image.open(path).format == "PNG"
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, np.nan_to_num(iou))
    assert any(t.get_text() == "n/a" for t in ax.texts)


def test_write_report(tmp_path):
    import json

    from medseg.metrics import ConfusionMatrix, write_report

    cm = ConfusionMatrix(3).update(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 255]))
    s = cm.compute(["a", "b", "c"])
    paths = write_report(s, tmp_path / "eval", colors=[(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    data = json.loads(paths["json"].read_text())
    # a: 1/1 ; b: tp 1, fn 1 -> 1/2 ; c: predicted on b -> 0 ; mean 0.5
    assert data["per_class"]["b"]["iou"] == 0.5 and data["miou"] == 0.5
    assert "b" in paths["table"].read_text()
    for k in ("confusion", "iou"):
        assert Image.open(paths[k]).format == "PNG"
