"""Sliding window: MONAI SlidingWindowInferer interop and hand-worked cases."""

from __future__ import annotations

import pytest
import torch

from medseg.engine.predictor import Predictor
from medseg.engine.sliding import make_inferer, sliding_window_predict


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_matches_monai_inferer(small_unet, mode):
    from monai.inferers import SlidingWindowInferer

    x = torch.randn(1, 3, 45, 70)
    ours = sliding_window_predict(small_unet, x, (32, 32), overlap=0.5, mode=mode)
    with torch.no_grad():
        ref = SlidingWindowInferer((32, 32), sw_batch_size=4, overlap=0.5, mode=mode)(x, small_unet)
    torch.testing.assert_close(ours, ref)
    with torch.no_grad():
        ref2 = make_inferer((32, 32), overlap=0.5, mode=mode)(x, small_unet)
    torch.testing.assert_close(ours, ref2)


def test_predictor_is_a_monai_network(small_unet):
    from monai.inferers import SlidingWindowInferer

    p = Predictor.from_model(small_unet)
    x = torch.randn(1, 3, 40, 40)
    out = SlidingWindowInferer((32, 32), overlap=0.25, mode="gaussian")(x, p)
    torch.testing.assert_close(out, sliding_window_predict(small_unet, x, (32, 32)))


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_pixelwise_function_is_unchanged(mode):
    # Blending weights sum to one, so a pixel-wise function comes out exactly (any overlap).
    x = torch.randn(2, 3, 50, 37)
    out = sliding_window_predict(lambda t: torch.tanh(t) * 3, x, (16, 16), overlap=0.4, mode=mode)
    torch.testing.assert_close(out, torch.tanh(x) * 3, atol=1e-5, rtol=1e-5)


def test_small_image_is_padded_and_cropped():
    x = torch.randn(1, 3, 10, 12)
    out = sliding_window_predict(lambda t: t, x, (32, 32))
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)


def test_bad_arguments():
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="overlap"):
        sliding_window_predict(lambda t: t, x, (8, 8), overlap=1.0)
    with pytest.raises(ValueError, match="mode"):
        sliding_window_predict(lambda t: t, x, (8, 8), mode="median")
