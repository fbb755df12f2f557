"""Tri-planar 2.5-D volume views against brute-force loops and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from medseg.transforms import volume_views as vv


def test_context_stack_matches_a_clamped_loop():
    vol = torch.arange(4 * 5 * 6, dtype=torch.float32).reshape(4, 5, 6)
    for axis in range(3):
        for c in (0, 1, 2):
            got = vv.context_stack(vol, axis, c)
            n = vol.shape[axis]
            assert got.shape[:2] == (n, 2 * c + 1)
            for k in range(n):
                for j in range(2 * c + 1):
                    src = min(max(k - c + j, 0), n - 1)
                    assert torch.equal(got[k, j], vol.select(axis, src))
                assert torch.equal(vv.slice_with_context(vol, axis, k, c), got[k])


def test_sizes_padding_and_planes():
    assert vv.isotropic_size((181, 217, 36), (1.0, 1.0, 5.0), 2.0) == (90, 108, 90)
    v = torch.zeros(5, 17, 16)
    p = vv.pad_to_multiple(v, 16, -3.0)
    assert p.shape == (16, 32, 16)
    assert float(p[6:].max()) == -3.0 and float(p[:5, :17].abs().max()) == 0
    assert vv.plane_axis("axial") == 2 and vv.plane_axis("sagittal") == 0
    with pytest.raises(ValueError, match="plane"):
        vv.plane_axis("oblique")


def _fake_logits(scale_by_plane=False):
    """Background 0, brain = 3 × centre channel (+ the slice's H size, to tell planes apart)."""

    def fn(x):
        c = x.shape[1] // 2
        fg = 3 * x[:, c] + (0.01 * x.shape[-2] if scale_by_plane else 0)
        return torch.stack([torch.zeros_like(fg), fg], 1)

    return fn


def test_plane_probs_is_the_mean_softmax_of_each_plane():
    vol = torch.randn(6, 7, 8, generator=torch.Generator().manual_seed(0))
    got = vv.plane_probs(
        _fake_logits(True), vol, context=1, planes=("axial", "coronal", "sagittal"), batch_size=4
    )
    assert got.shape == (2, 6, 7, 8)
    # per plane the slice's H is the first remaining axis: sagittal Y=7, coronal X=6, axial X=6
    ref = np.zeros((6, 7, 8))
    for h in (7, 6, 6):
        ref += 1 / (1 + np.exp(-(3 * vol.numpy() + 0.01 * h))) / 3
    np.testing.assert_allclose(got[1], ref, atol=1e-5)
    np.testing.assert_allclose(got.sum(0), 1, atol=1e-5)


def test_clean_brain_probs_keeps_the_largest_component_and_fills_holes():
    p = np.full((20, 20, 20), 0.2, np.float32)
    p[2:12, 2:12, 2:12] = 0.9  # big cube with a hole
    p[6, 6, 6] = 0.1
    p[15:18, 15:18, 15:18] = 0.8  # small island
    got = vv.clean_brain_probs(p)
    assert got[6, 6, 6] == 1.0  # hole filled
    assert float(got[15:18, 15:18, 15:18].max()) == 0.0  # island removed
    changed = np.zeros(p.shape, bool)
    changed[6, 6, 6] = True
    changed[15:18, 15:18, 15:18] = True
    np.testing.assert_array_equal(got[~changed], p[~changed])  # everything else untouched
    # the kept component is scipy's largest component of p > 0.5
    lab, n = ndi.label(p > 0.5)
    assert n == 2 and (got > 0.5).sum() == (lab == lab[3, 3, 3]).sum() + 1


def _cfg(**kw):
    from medseg.models import get_model_cfg

    base = get_model_cfg("unet_medical").replace(
        spacing=(2.0, 2.0), context_slices=1, in_channels=3, volume_planes=("axial", "coronal")
    )
    return base.replace(**kw)


def test_predict_views_returns_labels_on_the_input_grid():
    arr = np.zeros((30, 26, 12), np.float32)
    arr[8:20, 6:18, 3:9] = 100.0
    arr += np.random.default_rng(0).normal(0, 1, arr.shape).astype(np.float32)
    labels, probs = vv.predict_views(
        _fake_logits(), arr, (1.0, 1.0, 2.0), _cfg(), return_probs=True
    )
    assert labels.shape == arr.shape and labels.dtype == np.uint8
    assert probs.shape == (2, *arr.shape)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    np.testing.assert_array_equal(labels, probs[1] > 0.5)
    truth = np.zeros(arr.shape, bool)
    truth[8:20, 6:18, 3:9] = True
    assert 2 * (labels.astype(bool) & truth).sum() / (labels.sum() + truth.sum()) > 0.9


def test_usable_planes_drop_side_on_views_of_a_thin_slab():
    from medseg.transforms.volume_views import MIN_VIEW_SIDE, usable_planes

    planes = ("axial", "coronal", "sagittal")
    assert usable_planes((90, 108, 90), planes) == planes  # a whole head: all three
    assert usable_planes((70, 85, 6), planes) == ("axial",)  # 12 axial mm at 2 mm
    assert usable_planes((6, 85, 70), planes) == ("sagittal",)  # a sagittal slab
    # nothing large enough: the plane whose slices are largest
    small = MIN_VIEW_SIDE - 4
    assert usable_planes((small, small + 2, 3), planes) == ("axial",)
