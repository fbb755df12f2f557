"""Synthetic heads: the mask follows the label map, draws are seeded, shells are ordered."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from medseg.data import synthetic_heads as sh


def _ball_source(n=24, r=7.0, shells=False):
    """A ball of 'brain' (two tissue labels) centred in an ``n³`` grid, skull around it."""
    ijk = np.indices((n, n, n)) - (n - 1) / 2
    d = np.sqrt((ijk**2).sum(0))
    labels = np.zeros((n, n, n), np.int64)
    labels[d < r] = 3  # grey
    labels[d < r / 2] = 5  # white
    brain = (d < r).astype(np.float32)
    if shells:
        out = ndi.distance_transform_edt(brain < 0.5, sampling=2.0).astype(np.float32)
        return sh.HeadSource(
            "shells", torch.from_numpy(labels), torch.from_numpy(brain), None, torch.from_numpy(out)
        )
    labels[(d >= r) & (d < r + 2)] = sh.ITK_OUTSIDE[0]
    return sh.HeadSource("itk", torch.from_numpy(labels), torch.from_numpy(brain), None)


def _still(n=24):
    """No spatial change and no thick slices: the output grid is the source grid."""
    return sh.SynthConfig(
        out_shape=(n, n, n),
        source_weights=(1.0,),
        max_rotation_deg=0.0,
        scale=(1.0, 1.0),
        max_shift_vox=0.0,
        max_elastic_vox=0.0,
        p_thick=0.0,
    )


def test_still_synthesis_keeps_the_mask(monkeypatch):
    src = _ball_source()
    # the global scale jitter (0.95-1.05) is part of the recipe: pin it for this check
    monkeypatch.setattr(sh.ms, "uniform", _pinned_uniform(sh.ms.uniform))
    img, mask, name = sh.synth_head([src], torch.Generator().manual_seed(0), _still())
    assert name == "itk" and img.shape == mask.shape == (24, 24, 24)
    np.testing.assert_array_equal(mask.numpy(), src.brain.numpy() >= 0.5)
    # z-scored like zscore_normalize does at inference (clipped values: mean ~0, std ~1)
    assert abs(float(img.mean())) < 1e-4 and float(img.std()) == pytest.approx(1.0, abs=1e-3)


def _pinned_uniform(orig):
    def uniform(gen, lo, hi, size=()):
        if (lo, hi) == (0.95, 1.05):
            return torch.tensor(1.0)
        return orig(gen, lo, hi, size)

    return uniform


def test_synthesis_is_deterministic_under_a_seed():
    src = [_ball_source(), _ball_source(shells=True)]
    cfg = sh.SynthConfig(out_shape=(20, 22, 18), source_weights=(0.5, 0.5))
    a = sh.synth_head(src, torch.Generator().manual_seed(3), cfg)
    b = sh.synth_head(src, torch.Generator().manual_seed(3), cfg)
    c = sh.synth_head(src, torch.Generator().manual_seed(4), cfg)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert not torch.equal(a[0], c[0])
    assert a[1].dtype == torch.uint8 and a[1].shape == (20, 22, 18)


def test_shells_keep_the_brain_and_are_ordered_outwards():
    src = _ball_source(shells=True)
    lab = sh.shell_labels(src, torch.Generator().manual_seed(1))
    inside = src.brain >= 0.5
    assert torch.equal(lab[inside], src.labels[inside])  # the brain is untouched
    # outside, the layer code grows with the distance from the brain (0 = beyond the head)
    order = {code: i for i, code in enumerate([sh.ECSF, *sh.SHELLS, 0])}
    rank = np.vectorize(order.get)(lab[~inside].numpy())
    dist = src.outside_mm[~inside].numpy()
    # with a smooth ±2.5 mm jitter of the distance, a voxel more than 5 mm further out is
    # never in an inner layer
    far = dist[:, None] > dist[None, :] + 5.0
    assert not (far & (rank[:, None] < rank[None, :])).any()


def test_itk_source_labels_match_its_mask():
    if not (sh.ITK_DIR / "KmeansTest_T1UCharRaw.nii.gz").is_file():
        pytest.skip("Debian insighttoolkit5-examples not installed")
    src, affine = sh.load_itk_head()
    inside = (src.brain >= 0.5).numpy()
    lab = src.labels.numpy()
    assert np.isin(lab[inside], sh.BRAIN_LABELS).all()  # brain labels exactly inside the mask
    assert not np.isin(lab[~inside], sh.BRAIN_LABELS).any()
    assert src.real is not None and 0 <= float(src.real.min()) and float(src.real.max()) <= 1
    # 2 mm isotropic grid in RAS
    np.testing.assert_allclose(np.abs(np.diag(affine)[:3]), 2.0, atol=1e-5)
    # brain volume of the real head: about 1.5 L
    assert 1300 < inside.sum() * 8 / 1000 < 1800
