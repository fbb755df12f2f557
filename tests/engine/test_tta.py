"""Batched TTA equals the one-by-one loop; hand-worked cases; compare_tta."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.engine.predictor import Predictor
from medseg.engine.tta import compare_tta, tta_predict, tta_predict_loop
from medseg.models import create_model


@pytest.mark.parametrize("unc", ["entropy", "variance"])
@pytest.mark.parametrize("flips", [True, False])
def test_batched_equals_loop(small_unet, flips, unc):
    x = torch.randn(2, 3, 29, 41)
    a, ua = tta_predict(small_unet, x, scales=(0.75, 1.0, 1.25), flips=flips, uncertainty=unc)
    b, ub = tta_predict_loop(small_unet, x, scales=(0.75, 1.0, 1.25), flips=flips, uncertainty=unc)
    assert a.shape == (2, 5, 29, 41) and ua.shape == (2, 29, 41)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(ua, ub, atol=1e-5, rtol=0)


def test_batched_equals_loop_light_model():
    torch.manual_seed(0)
    m = create_model("lraspp_mobilenet_v3").eval()
    x = torch.randn(1, 3, 48, 80)
    a, _ = tta_predict(m, x)
    b, _ = tta_predict_loop(m, x)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_forward_pass_count():
    calls = []

    def fn(x):
        calls.append(tuple(x.shape))
        return x[:, :2] * 3.0

    x = torch.randn(2, 3, 20, 24)
    tta_predict(fn, x, scales=(0.5, 1.0, 1.5), flips=True)
    assert [c[0] for c in calls] == [4, 4, 4]  # one pass per scale, flips in the batch
    calls.clear()
    tta_predict_loop(fn, x, scales=(0.5, 1.0, 1.5), flips=True)
    assert len(calls) == 12


def test_pixelwise_model_hand_worked():
    # A pixel-wise "model" commutes with flips: every flip view equals the plain one, so the
    # mean is softmax(x) and the variance across views is exactly 0.
    x = torch.randn(1, 4, 9, 13)
    mean, var = tta_predict(lambda t: t * 2.0, x, scales=(1.0,), flips=True, uncertainty="variance")
    torch.testing.assert_close(mean, torch.softmax(x * 2.0, 1))
    assert float(var.abs().max()) < 1e-7
    # entropy of uniform probabilities is 1 after scaling by log(K)
    _, ent = tta_predict(lambda t: t * 0.0, x, scales=(1.0,), flips=False)
    torch.testing.assert_close(ent, torch.ones(1, 9, 13))


def test_flip_is_undone():
    # A "model" that always predicts class 0 on the left half of whatever it sees. The plain
    # view says "left = 0"; the flipped view, once un-flipped, says "right = 0". Averaged:
    # 0.5 everywhere. Forgetting to un-flip would give 1.0 on the left instead.
    def fn(t):
        w = t.shape[-1]
        s = torch.full((t.shape[0], 1, t.shape[-2], w), -10.0)
        s[..., : w // 2] = 10.0
        return torch.cat([s, -s], 1)

    mean, _ = tta_predict(fn, torch.zeros(1, 1, 4, 8), scales=(1.0,), flips=True)
    torch.testing.assert_close(mean, torch.full((1, 2, 4, 8), 0.5), atol=1e-4, rtol=0)


def test_predictor_tta_and_compare(small_unet, rgb_image):
    p = Predictor.from_model(small_unet)
    pred = p.predict_image(rgb_image, tta=True)
    assert pred.uncertainty.shape == rgb_image.shape[:2]
    assert 0.0 <= pred.uncertainty.min() and pred.uncertainty.max() <= 1.0 + 1e-6
    gt = p.predict_image(rgb_image).labels
    r = compare_tta(p, rgb_image, gt=gt)
    assert r["miou"] == pytest.approx(1.0)
    assert r["dice"] == pytest.approx(1.0)
    np.testing.assert_array_equal(r["changed"], r["labels"] != r["labels_tta"])
    assert r["changed_fraction"] == pytest.approx(float(r["changed"].mean()))
    # mIoU with TTA checked against a direct per-class computation
    ious = []
    for c in range(5):
        inter = np.sum((r["labels_tta"] == c) & (gt == c))
        union = np.sum((r["labels_tta"] == c) | (gt == c))
        if union:
            ious.append(inter / union)
    assert r["miou_tta"] == pytest.approx(np.mean(ious))
    assert r["seconds"] > 0 and r["seconds_tta"] > 0 and r["views"] == 6


def test_one_view_per_pass_equals_batched_and_the_loop(small_unet):
    from medseg.engine.tta import tta_predict, tta_predict_loop

    x = torch.randn(2, 3, 24, 40)
    a, ua = tta_predict(small_unet, x, batched=True)
    b, ub = tta_predict(small_unet, x, batched=False)
    c, uc = tta_predict_loop(small_unet, x)
    torch.testing.assert_close(b, c, atol=1e-6, rtol=0)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(ub, uc, atol=1e-5, rtol=0)


def test_choose_batching_measures_once_and_gpus_always_batch(small_unet, monkeypatch):
    from medseg.engine import timing, tta

    x = torch.randn(1, 3, 24, 24)
    assert tta.choose_batching(small_unet, x, key="k-gpu", device="cuda") is True
    first = tta.choose_batching(small_unet, x, key="k-cpu")
    assert isinstance(first, bool)

    def no_timing(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr(timing, "timed_rounds", no_timing)
    assert tta.choose_batching(small_unet, x, key="k-cpu") is first


def test_predictor_tta_uses_the_chosen_mode_and_matches_the_loop(small_unet, rgb_image):
    from medseg.engine.predictor import Predictor
    from medseg.engine.tta import tta_predict_loop

    p = Predictor.from_model(small_unet)
    pred = p.predict_image(rgb_image, tta=True)
    x = p.preprocess(rgb_image)
    ref, _ = tta_predict_loop(small_unet, x)
    np.testing.assert_allclose(pred.probs, ref[0].numpy(), atol=1e-5)
