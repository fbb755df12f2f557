from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from medseg.data.medical import MedicalSliceDataset
from medseg.models import get_model_cfg


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.normal(100, 20, (6, 5, 4)).astype(np.float32)
    mask = np.zeros((6, 5, 4), np.uint8)
    mask[2:4, 1:3, 1] = 1
    mask[1:5, 1:4, 2] = 2
    aff = np.diag([-2.0, -2.0, 3.0, 1.0])  # LPS-like: x and y flipped relative to RAS
    nib.save(nib.Nifti1Image(img, aff), tmp_path / "img.nii.gz")
    nib.save(nib.Nifti1Image(mask, aff), tmp_path / "mask.nii.gz")
    return tmp_path / "img.nii.gz", tmp_path / "mask.nii.gz", img, mask, aff


def test_slices_are_canonical_axial_with_neighbours(pair):
    ip, mp, img, mask, aff = pair
    ref = nib.as_closest_canonical(nib.Nifti1Image(img, aff)).get_fdata()  # independent
    ref_m = np.asarray(nib.as_closest_canonical(nib.Nifti1Image(mask, aff)).dataobj)
    ds = MedicalSliceDataset([(ip, mp)], neighbours=1)
    assert len(ds) == 4
    x, y = ds[0]
    assert x.shape == (3, 6, 5) and y.shape == (6, 5)
    np.testing.assert_allclose(x[0].numpy(), ref[:, :, 0], rtol=1e-6)  # edge repeated
    np.testing.assert_allclose(x[1].numpy(), ref[:, :, 0], rtol=1e-6)
    np.testing.assert_allclose(x[2].numpy(), ref[:, :, 1], rtol=1e-6)
    x2, y2 = ds[2]
    np.testing.assert_array_equal(y2.numpy(), ref_m[:, :, 2])


def test_foreground_aware_weights_and_binarize(pair):
    ip, mp, *_ = pair
    ds = MedicalSliceDataset([(ip, mp)], fg_weight=5.0, binarize=True)
    np.testing.assert_array_equal(ds.weights.numpy(), [1, 5, 5, 1])
    assert set(np.unique(ds[2][1].numpy())) == {0, 1}
    idx = list(ds.sampler(2000))
    frac_fg = np.isin(idx, [1, 2]).mean()
    assert 0.75 < frac_fg < 0.92  # expected 10/12 ≈ 0.83


def test_zscore_and_spacing_from_model_cfg(pair):
    ip, mp, *_ = pair
    cfg = get_model_cfg("unet_medical").replace(spacing=(1.0, 1.0))
    ds = MedicalSliceDataset([(ip, mp)], cfg=cfg)
    x, y = ds[1]
    assert x.shape == (1, 12, 10) and y.shape == (12, 10)  # 2 mm → 1 mm in-plane, z kept
    vol = np.stack([ds[k][0][0].numpy() for k in range(4)], -1)
    assert abs(vol.mean()) < 1e-4 and abs(vol.std() - 1) < 1e-3  # one z-score per volume


def test_mismatched_pair_errors(tmp_path, pair):
    ip, *_ = pair
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), np.eye(4)), tmp_path / "bad.nii.gz")
    with pytest.raises(ValueError, match="shape"):
        MedicalSliceDataset([(ip, tmp_path / "bad.nii.gz")])
