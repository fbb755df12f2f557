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


@pytest.mark.parametrize("pad", [(0, 0, 0), (5, 3, 2)])
def test_work_on_the_foreground_box_changes_nothing(pad):
    """The box optimisation against scipy on the whole array: blobs away from the border
    (holes whose region touches the box side but not the array side), and touching it."""
    from scipy import ndimage as ndi

    core = _random_labels((14, 16, 10), 3, 4)
    core[core == 2] = 0
    core[3:6, 3:6, 3:6] = 1
    core[4, 4, 4] = 0  # an enclosed hole
    lab = np.pad(core, [(p, p + 1) for p in pad])
    st1, st3 = ndi.generate_binary_structure(3, 1), ndi.generate_binary_structure(3, 3)
    ref = lab.copy()
    comp, n = ndi.label(ref == 1, structure=st3)
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    ref[(comp > 0) & (comp != sizes.argmax())] = 0
    filled = ndi.binary_fill_holes(ref == 1, structure=st1)
    ref[filled & (ref == 0)] = 1
    np.testing.assert_array_equal(clean_mask(lab), ref)
    np.testing.assert_array_equal(fill_holes(lab), _scipy_fill(lab, st1))


def _scipy_fill(lab, st):
    from scipy import ndimage as ndi

    out = lab.copy()
    for c in [c for c in np.unique(lab) if c != 0]:
        f = ndi.binary_fill_holes(out == c, structure=st)
        out[f & (out == 0)] = c
    return out


def test_empty_and_int64_label_maps():
    z = np.zeros((5, 6, 4), np.int64)
    assert np.array_equal(clean_mask(z), z) and clean_mask(z).dtype == np.int64
    lab = np.zeros((6, 6), np.int64)
    lab[1:5, 1:5] = 300  # a class index above a byte
    lab[2, 2] = 0
    out = fill_holes(lab)
    assert out[2, 2] == 300 and out[0, 0] == 0
