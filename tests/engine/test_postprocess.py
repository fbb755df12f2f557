"""Post-processing against MONAI / scikit-image and hand-worked label maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.engine.postprocess import (
    clean_mask,
    fill_holes,
    keep_largest_component,
    remove_small_islands,
)


def _random_labels(shape, k, seed):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    # blobs: smooth noise thresholded into k classes
    f = ndi.gaussian_filter(rng.normal(size=shape), 1.5)
    return np.digitize(f, np.quantile(f, np.linspace(0, 1, k + 1)[1:-1])).astype(np.uint8)


@pytest.mark.parametrize("shape", [(40, 50), (16, 18, 12)])
@pytest.mark.parametrize("connectivity", [1, None])
def test_largest_component_matches_monai(shape, connectivity):
    from monai.transforms import KeepLargestConnectedComponent

    lab = _random_labels(shape, 4, 0)
    ours = keep_largest_component(lab, connectivity=connectivity)
    t = KeepLargestConnectedComponent(
        applied_labels=[1, 2, 3], is_onehot=False, independent=True, connectivity=connectivity
    )
    ref = t(torch.as_tensor(lab)[None]).numpy()[0]
    np.testing.assert_array_equal(ours, ref)


def test_fill_holes_matches_monai_2d_and_3d():
    from monai.transforms import FillHoles

    for shape in [(30, 30), (12, 14, 10)]:
        lab = _random_labels(shape, 3, 1)
        lab[lab == 2] = 0  # holes of background inside class 1
        ours = fill_holes(lab, classes=[1])
        ref = FillHoles(applied_labels=[1], connectivity=1)(torch.as_tensor(lab)[None]).numpy()[0]
        np.testing.assert_array_equal(ours, ref)


def test_fill_holes_hand_worked_keeps_other_classes():
    lab = np.zeros((7, 7), np.uint8)
    lab[1:6, 1:6] = 1
    lab[3, 3] = 0  # a background hole → filled
    lab[2, 2] = 2  # another class inside → untouched
    out = fill_holes(lab)
    assert out[3, 3] == 1 and out[2, 2] == 2 and out[0, 0] == 0


def test_remove_small_islands_hand_worked_and_vs_skimage():
    from skimage.morphology import remove_small_objects

    lab = np.zeros((10, 10), np.uint8)
    lab[:, 5:] = 1
    lab[2, 2] = 1  # 1-pixel island of class 1 inside class 0 → becomes 0
    lab[7, 8] = 0  # 1-pixel hole of class 0 inside class 1 → becomes 1
    out = remove_small_islands(lab, min_size=3)
    expected = np.zeros((10, 10), np.uint8)
    expected[:, 5:] = 1
    np.testing.assert_array_equal(out, expected)
    # the set of removed pixels matches scikit-image's remove_small_objects per class
    lab = _random_labels((40, 40), 3, 2)
    out = remove_small_islands(lab, min_size=20, connectivity=1)
    removed = np.zeros_like(lab, bool)
    for c in range(3):
        m = lab == c
        removed |= m & ~remove_small_objects(m, max_size=19, connectivity=1)
    np.testing.assert_array_equal(out[~removed], lab[~removed])
    # brute force: each removed pixel takes a label of a nearest kept pixel (ties allowed)
    assert removed.any()
    kept = np.argwhere(~removed)
    for i, j in np.argwhere(removed):
        d = ((kept - (i, j)) ** 2).sum(1)
        nearest = kept[d == d.min()]
        assert out[i, j] in set(lab[tuple(nearest.T)].tolist())


def test_clean_mask_single_blob_unchanged_and_noise_removed():
    lab = np.zeros((20, 20, 6), np.uint8)
    lab[5:15, 5:15, 1:5] = 1
    assert np.array_equal(clean_mask(lab), lab)
    noisy = lab.copy()
    noisy[0, 0, 0] = 1
    noisy[9, 9, 2] = 0
    np.testing.assert_array_equal(clean_mask(noisy), lab)
