"""viz.overlay against the blending formula written out pixel by pixel in float."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.viz.overlay import colorize, overlay


def _formula(image, mask, palette, alpha, skip):
    img = image.astype(np.float32)
    col = colorize(mask, palette).astype(np.float32)
    paint = ~np.isin(mask, list(skip)) if skip else np.ones(mask.shape, bool)
    img[paint] = (1 - alpha) * img[paint] + alpha * col[paint]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("alpha", [0.0, 0.35, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.int32])
@pytest.mark.parametrize("skip", [(255,), (0, 255), ()])
def test_matches_the_formula(alpha, dtype, skip):
    rng = np.random.default_rng(0)
    palette = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(7)]
    img = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    mask = rng.integers(0, 9, (23, 31)).astype(dtype)  # labels 7, 8 lie past the palette
    mask[0, :5] = 255
    got = overlay(img, mask, palette, alpha, skip_classes=skip)
    np.testing.assert_array_equal(got, _formula(img, mask, palette, alpha, skip))


def test_labels_beyond_a_byte_take_the_float_path():
    img = np.full((4, 5, 3), 100, np.uint8)
    mask = np.array([[0, 300, 1, -1, 2]] * 4)
    got = overlay(img, mask, [(255, 0, 0), (0, 255, 0), (0, 0, 255)], 0.5)
    np.testing.assert_array_equal(
        got, _formula(img, mask, [(255, 0, 0), (0, 255, 0), (0, 0, 255)], 0.5, (255,))
    )
