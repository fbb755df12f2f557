"""NIfTI read/write, canonical reorientation, DICOM → NIfTI agreement."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from medseg_io_data import assert_same_in_world, itk_file, monai_load, nibabel_data

from medseg.io import (
    Volume,
    from_canonical,
    load_volume,
    save_mask_like,
    save_nifti,
    to_canonical,
)


@pytest.fixture(scope="module")
def anatomical():
    return load_volume(nibabel_data("anatomical.nii"))


def test_nifti_matches_monai_and_nibabel(anatomical):
    path = nibabel_data("anatomical.nii")
    ref, ref_aff = monai_load(path, reader="NibabelReader")
    np.testing.assert_array_equal(anatomical.array, ref)
    np.testing.assert_array_equal(anatomical.affine, ref_aff)
    img = nib.load(path)
    np.testing.assert_array_equal(anatomical.array, img.get_fdata(dtype=np.float32))
    np.testing.assert_array_equal(anatomical.affine, img.affine)
    assert anatomical.source_files == []
    assert anatomical.spacing == pytest.approx(tuple(img.header.get_zooms()[:3]))
    assert anatomical.meta["orientation"] == "".join(nib.aff2axcodes(img.affine))


def test_mask_round_trip_nifti_source(anatomical, tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 3, anatomical.array.shape).astype(np.uint8)
    out = save_mask_like(mask, anatomical, tmp_path / "mask.nii.gz")
    img = nib.load(out)
    assert img.get_data_dtype() == np.uint8
    # Affine identical (float32 in the source header → stored exactly), voxel for voxel.
    np.testing.assert_array_equal(img.affine, anatomical.affine)
    np.testing.assert_array_equal(np.asarray(img.dataobj), mask)
    assert img.header.get_sform(coded=True)[1] == 1
    assert img.header.get_qform(coded=True)[1] == 1
    np.testing.assert_allclose(img.header.get_qform(), anatomical.affine, atol=1e-4)


def test_mask_round_trip_dicom_source(ct5n_volume, tmp_path):
    mask = (ct5n_volume.array > 0).astype(np.uint8)
    assert 0 < mask.sum() < mask.size
    img = nib.load(save_mask_like(mask, ct5n_volume, tmp_path / "m.nii"))
    # NIfTI-1 stores the sform in float32: identical up to that rounding.
    np.testing.assert_array_equal(img.affine, ct5n_volume.affine.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(img.dataobj), mask)


def test_dicom_to_nifti_agrees_in_world(ct5n_volume, tmp_path):
    p = save_nifti(ct5n_volume.array, ct5n_volume.affine, tmp_path / "ct.nii.gz")
    back = load_volume(p)
    np.testing.assert_array_equal(back.array, ct5n_volume.array)
    np.testing.assert_allclose(back.affine, ct5n_volume.affine, atol=1e-4)
    # MONAI reading our NIfTI puts every voxel where MONAI reading the DICOM puts it.
    from medseg_io_data import CT5N

    ref_dcm, aff_dcm = monai_load(CT5N)
    ref_nii, aff_nii = monai_load(p, reader="NibabelReader")
    aff_nii = aff_nii.copy()
    np.testing.assert_allclose(aff_nii, ct5n_volume.affine, atol=1e-4)
    assert_same_in_world(ref_dcm, np.round(aff_dcm, 4), ref_nii, np.round(aff_nii, 4))


def _nibabel_canonical(vol: Volume):
    img = nib.as_closest_canonical(nib.Nifti1Image(vol.array, vol.affine))
    return np.asarray(img.dataobj), img.affine


@pytest.mark.parametrize("which", ["dicom", "nifti"])
def test_to_canonical_matches_nibabel_and_inverts(which, ct5n_volume, anatomical):
    vol = ct5n_volume if which == "dicom" else anatomical
    can = to_canonical(vol)
    ref, ref_aff = _nibabel_canonical(vol)
    np.testing.assert_array_equal(can.array, ref)
    np.testing.assert_allclose(can.affine, ref_aff, atol=1e-5)
    assert can.orientation == "RAS" and can.meta["orientation"] == "RAS"
    np.testing.assert_array_equal(from_canonical(can.array, vol), vol.array)
    if which == "dicom":
        assert vol.orientation == "LPS"  # so the test really flips axes


def test_from_canonical_on_oblique_permuted_volume():
    # Axes permuted and flipped: voxel (i, j, k) lies along -S, +R, -A.
    aff = np.array([[0, 2.0, 0, 10], [0, 0, -3.0, 20], [-1.5, 0, 0, 30], [0, 0, 0, 1]])
    arr = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    vol = Volume(arr, aff, (1.5, 2.0, 3.0), {}, [])
    can = to_canonical(vol)
    assert can.orientation == "RAS"
    assert_same_in_world(arr, aff, can.array, can.affine)
    mask = (can.array % 7 == 0).astype(np.uint8)
    back = from_canonical(mask, vol)
    np.testing.assert_array_equal(back, (arr % 7 == 0).astype(np.uint8))
    with pytest.raises(ValueError, match="canonical volume's shape"):
        from_canonical(arr, vol)  # the original layout, not the canonical one


def test_real_t1_head_loads_with_affine():
    path = itk_file("KmeansTest_T1UCharRaw.nii.gz")
    vol = load_volume(path, min_slices=2)
    img = nib.load(path)
    assert vol.array.shape == img.shape
    np.testing.assert_array_equal(vol.affine, img.affine)
    assert vol.array.dtype == np.float32


def test_save_nifti_rejects_bad_suffix(tmp_path):
    from medseg.io import MedsegIOError

    with pytest.raises(MedsegIOError, match="must end in .nii"):
        save_nifti(np.zeros((2, 2, 2)), np.eye(4), tmp_path / "x.png")


def test_save_mask_like_rejects_wrong_shape_or_labels(anatomical, tmp_path):
    with pytest.raises(ValueError, match="shape"):
        save_mask_like(np.zeros((2, 2, 2), np.uint8), anatomical, tmp_path / "m.nii")
    bad = np.full(anatomical.array.shape, 300)
    with pytest.raises(ValueError, match="0..255"):
        save_mask_like(bad, anatomical, tmp_path / "m.nii")


def test_to_metatensor_and_monai_orientation_agree_with_to_canonical(ct5n_volume):
    from monai.transforms import Orientation

    mt = ct5n_volume.to_metatensor()
    assert tuple(mt.shape) == (1, *ct5n_volume.array.shape)
    ras = Orientation(axcodes="RAS")(mt)
    can = to_canonical(ct5n_volume)
    np.testing.assert_array_equal(ras[0].numpy(), can.array)
    np.testing.assert_allclose(np.asarray(ras.affine), can.affine, atol=1e-6)
