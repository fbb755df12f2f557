from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.models import get_model_cfg
from medseg.transforms.joint import RandomScale, eval_transforms, train_transforms

CFG = get_model_cfg("lraspp_mobilenet_v3")


def _pair(h=40, w=60):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    lab = rng.integers(0, 19, (h, w), dtype=np.uint8)
    return img, lab


def test_padded_pixels_are_ignored_and_image_padding_is_the_mean():
    img = np.full((40, 60, 3), 200, np.uint8)
    lab = np.full((40, 60), 3, np.uint8)
    t = train_transforms(CFG, crop_size=(64, 96), scales=(0.5,), color_jitter=(0.5, 0.5, 0.5, 0.1))
    for _ in range(5):
        x, y = t(img, lab)
        assert x.shape == (3, 64, 96) and y.shape == (64, 96) and y.dtype == torch.int64
        pad = y == 255
        # 0.5 × (40×60) = 20×30 valid pixels; everything else is padding.
        assert int((y == 3).sum()) == 20 * 30 and int(pad.sum()) == 64 * 96 - 600
        # Image padding is the ImageNet mean, i.e. ~0 after normalisation (uint8 rounding).
        assert float(x[:, pad].abs().max()) < 0.01


def test_image_and_mask_share_geometry():
    # Mask = a function of the image pixel (column index coded in red); after scale/crop/flip
    # the relation must still hold wherever the mask is not padding.
    h, w = 32, 48
    cols = np.tile(np.arange(w, dtype=np.uint8) * 5, (h, 1))
    img = np.stack([cols, np.zeros_like(cols), np.zeros_like(cols)], -1)
    lab = (np.arange(w) % 2).astype(np.uint8)[None].repeat(h, 0)
    img[:, :, 1] = lab * 255  # green channel carries the label too
    t = train_transforms(None, crop_size=(24, 40), scales=(1.0,), color_jitter=None)
    for _ in range(10):
        x, y = t(img, lab)
        valid = y != 255
        np.testing.assert_array_equal((x[1][valid] > 127).numpy(), (y[valid] == 1).numpy())


def test_random_scale_uses_nearest_for_masks():
    img, lab = _pair()
    t = train_transforms(None, crop_size=(80, 120), scales=(1.5,), color_jitter=None, hflip=0)
    _, y = t(img, lab)
    assert set(torch.unique(y).tolist()) <= set(np.unique(lab).tolist()) | {255}
    with pytest.raises(ValueError):
        RandomScale([])


def test_eval_transforms_normalise_like_the_model_cfg():
    img, lab = _pair()
    x, y = eval_transforms(CFG)(img, lab)
    mean = torch.tensor(CFG.mean)[:, None, None]
    std = torch.tensor(CFG.std)[:, None, None]
    ref = (torch.from_numpy(img).permute(2, 0, 1).float() / 255 - mean) / std
    torch.testing.assert_close(x, ref)
    np.testing.assert_array_equal(y.numpy(), lab)
    x2, y2 = eval_transforms(CFG, size=(20, 30))(img, lab)
    assert x2.shape == (3, 20, 30) and y2.shape == (20, 30)


def test_bad_inputs():
    t = eval_transforms(CFG)
    with pytest.raises(ValueError, match="uint8"):
        t(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="differ"):
        t(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
