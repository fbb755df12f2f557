"""DatasetConfusionMetric in MONAI's metric protocol and an ignite handler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
from monai.metrics import CumulativeIterationMetric  # noqa: E402

from medseg.metrics import ConfusionMatrix, DatasetConfusionMetric  # noqa: E402


def _batches(n=3, C=3):
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(n):
        logits = torch.randn(2, C, 6, 7, generator=g)
        t = torch.randint(0, C, (2, 1, 6, 7), generator=g)
        t[:, :, 0, :] = 255
        out.append((logits, t))
    return out


def test_cumulative_metric_equals_confusion_matrix():
    C = 3
    metric = DatasetConfusionMetric(C, metric_name="miou")
    assert isinstance(metric, CumulativeIterationMetric)
    ref = ConfusionMatrix(C)
    for logits, t in _batches(C=C):
        metric(y_pred=logits, y=t)
        ref.update(logits, t[:, 0])
    np.testing.assert_array_equal(metric.confusion().numpy(), ref.confusion)
    assert float(metric.aggregate()) == pytest.approx(ref.compute().miou)
    iou = DatasetConfusionMetric(C, metric_name="iou")
    for logits, t in _batches(C=C):
        iou(y_pred=list(logits), y=list(t))  # decollated channel-first lists
    np.testing.assert_allclose(iou.aggregate().numpy(), ref.compute().iou)
    no_bg = DatasetConfusionMetric(C, metric_name="miou", include_background=False)
    for logits, t in _batches(C=C):
        no_bg(logits, t)
    assert float(no_bg.aggregate()) == pytest.approx(np.nanmean(ref.compute().iou[1:]))
    metric.reset()
    assert metric.confusion().sum() == 0


def test_ignite_handler_reports_dataset_miou():
    ignite = pytest.importorskip("ignite")
    from ignite.engine import Engine
    from monai.handlers import IgniteMetricHandler

    C = 3
    data = _batches(C=C)

    def step(engine, batch):
        return {"pred": batch[0], "label": batch[1]}

    engine = Engine(step)
    handler = IgniteMetricHandler(
        metric_fn=DatasetConfusionMetric(C), output_transform=lambda o: (o["pred"], o["label"])
    )
    handler.attach(engine, "miou")
    engine.run(data, max_epochs=1)
    ref = ConfusionMatrix(C)
    for logits, t in data:
        ref.update(logits, t[:, 0])
    assert ignite is not None
    assert engine.state.metrics["miou"] == pytest.approx(ref.compute().miou)


@pytest.mark.parametrize("name", ["pixel_accuracy", "fwiou"])
def test_invalid_option_combination_is_refused_up_front(name):
    # regression: reported only by aggregate(), after the whole evaluation had run
    from medseg.metrics.monai import DatasetConfusionMetric

    with pytest.raises(ValueError, match="include_background=False is not defined"):
        DatasetConfusionMetric(3, metric_name=name, include_background=False)
    DatasetConfusionMetric(3, metric_name="miou", include_background=False)  # fine
