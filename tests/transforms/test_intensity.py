from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.models import get_model_cfg
from medseg.transforms import (
    apply_window,
    imagenet_normalize,
    normalize_for_model,
    zscore_normalize,
)


def test_apply_window_hand_worked():
    hu = np.array([-1000, 0, 40, 80, 1000], dtype=np.int16)
    out = apply_window(hu, center=40, width=80)  # brain window: 0..80 HU
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])
    assert out.dtype == np.float32
    t = apply_window(torch.tensor(hu), 40, 80)
    np.testing.assert_allclose(t.numpy(), out)
    with pytest.raises(ValueError):
        apply_window(hu, 0, 0)


def test_zscore_matches_manual():
    rng = np.random.default_rng(0)
    x = rng.normal(100, 20, size=(40, 40)).astype(np.float32)
    lo, hi = np.percentile(x, [0.5, 99.5])
    c = np.clip(x, lo, hi)
    np.testing.assert_allclose(zscore_normalize(x), (c - c.mean()) / c.std(), atol=1e-5)
    assert np.all(zscore_normalize(np.full((3, 3), 7.0)) == 0)
    with pytest.raises(ValueError, match="NaN"):
        zscore_normalize(np.array([1.0, np.nan]))


def test_imagenet_normalize_and_dispatch():
    cfg = get_model_cfg("unet")
    img = np.full((2, 2, 3), 255, np.uint8)
    out = normalize_for_model(img, cfg)
    np.testing.assert_allclose(out[0, 0], (1 - np.array(cfg.mean)) / np.array(cfg.std), rtol=1e-6)
    t = imagenet_normalize(
        torch.full((1, 3, 2, 2), 255, dtype=torch.uint8), cfg.mean, cfg.std, channel_axis=1
    )
    np.testing.assert_allclose(t[0, :, 0, 0].numpy(), out[0, 0], rtol=1e-6)
