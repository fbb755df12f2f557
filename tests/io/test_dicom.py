"""DICOM reading on real files, checked against pydicom, MONAI and hand computations."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pydicom
import pytest
from medseg_io_data import (
    CT2,
    CT5N,
    MR2,
    assert_same_in_world,
    dicom_file,
    monai_load,
)
from pydicom.pixels import apply_modality_lut

from medseg.io import list_series, load_volume


def _hu(path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return apply_modality_lut(ds.pixel_array, ds)


def test_shuffled_series_sorted_along_normal(ct5n_shuffled):
    folder, mapping = ct5n_shuffled
    vol = load_volume(folder)
    # Independent order: IPP projected on the normal of IOP, computed here with pydicom.
    proj = {}
    for name in mapping:
        ds = pydicom.dcmread(folder / name)
        iop = np.array(ds.ImageOrientationPatient, float)
        proj[name] = float(
            np.dot(np.array(ds.ImagePositionPatient, float), np.cross(iop[:3], iop[3:]))
        )
    expected = sorted(proj, key=proj.get)
    assert [os.path.basename(f) for f in vol.source_files] == expected
    # File names were shuffled, so neither name nor InstanceNumber order can explain it.
    assert expected != sorted(expected)
    for k, f in enumerate(vol.source_files):
        np.testing.assert_array_equal(vol.array[..., k], _hu(f).T.astype(np.float32))
    assert vol.array.dtype == np.float32 and vol.array.shape == (16, 16, 5)
    assert vol.meta["uneven_spacing"] is False and vol.meta["n_slices"] == 5


def test_series_matches_monai_loadimage_in_world(ct5n_volume):
    ref, ref_aff = monai_load(CT5N)
    assert ref.shape == ct5n_volume.array.shape
    # MONAI stacks by InstanceNumber (here descending z); we sort along the normal. Same voxel
    # at the same world position, and the in-plane axes are identical.
    assert_same_in_world(ref, ref_aff, ct5n_volume.array, ct5n_volume.affine)
    np.testing.assert_allclose(ct5n_volume.affine[:3, :2], ref_aff[:3, :2], atol=1e-6)
    np.testing.assert_allclose(np.abs(ct5n_volume.affine[2, 2]), np.abs(ref_aff[2, 2]), atol=1e-6)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "693_UNCR.dcm"])
def test_single_file_matches_monai_and_pydicom(name):
    path = dicom_file(name)
    vol = load_volume(path)
    ref, ref_aff = monai_load(path)
    assert vol.array.shape == ref.shape + (1,)
    np.testing.assert_array_equal(vol.array[..., 0], ref)
    np.testing.assert_allclose(vol.affine[:, [0, 1, 3]], ref_aff[:, [0, 1, 3]], atol=1e-6)
    np.testing.assert_array_equal(vol.array[..., 0], _hu(path).T.astype(np.float32))
    # The third axis of a single slice is its normal scaled by the slice step
    # (SpacingBetweenSlices where given, else SliceThickness).
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    iop = np.array(ds.ImageOrientationPatient, float)
    step = float(ds.get("SpacingBetweenSlices") or ds.SliceThickness)
    normal = np.cross(iop[:3], iop[3:]) * step
    np.testing.assert_allclose(vol.affine[:3, 2], normal * [-1, -1, 1], atol=1e-6)


def test_ct_small_in_hounsfield_units():
    path = dicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert float(ds.RescaleIntercept) == -1024.0
    vol = load_volume(path)
    raw = ds.pixel_array.T.astype(np.float64)
    np.testing.assert_array_equal(vol.array[..., 0], raw * float(ds.RescaleSlope) - 1024.0)
    assert vol.meta["units"] == "HU"


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"]
)
def test_lossless_compressed_equals_uncompressed(name):
    ref = load_volume(dicom_file("MR_small.dcm"))
    vol = load_volume(dicom_file(name))
    np.testing.assert_array_equal(vol.array, ref.array)
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_uneven_spacing_detected_and_warned():
    positions = sorted(
        float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in sorted(CT2.iterdir())
    )
    gaps = np.diff(positions)
    with pytest.warns(UserWarning, match="uneven slice spacing"):
        vol = load_volume(CT2)
    assert vol.meta["uneven_spacing"] is True
    assert vol.meta["slice_gap_min_mm"] == pytest.approx(gaps.min())
    assert vol.meta["slice_gap_max_mm"] == pytest.approx(gaps.max())
    # As MONAI: the affine's slice step is the mean step from first to last slice.
    assert vol.affine[2, 2] == pytest.approx((positions[-1] - positions[0]) / 3)


def test_even_series_does_not_warn(ct5n_shuffled):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        load_volume(ct5n_shuffled[0])


def test_list_series_and_choice():
    by_uid: dict[str, int] = {}
    for f in MR2.iterdir():
        uid = pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID
        by_uid[uid] = by_uid.get(uid, 0) + 1
    listed = list_series(MR2)
    assert {d["uid"]: d["n_files"] for d in listed} == by_uid
    assert {"uid", "description", "modality", "n_files"} <= set(listed[0])
    assert all(d["modality"] == "MR" for d in listed)
    single = next(uid for uid, n in by_uid.items() if n == 1)
    vol = load_volume(MR2, series_uid=single)
    assert vol.array.shape[-1] == 1


def test_largest_series_chosen(tmp_path):
    # A folder with two real series: CT5N (5 slices) and CT_small (1 slice).
    import shutil

    for f in CT5N.iterdir():
        shutil.copy(f, tmp_path / f"a_{f.name}")
    shutil.copy(dicom_file("CT_small.dcm"), tmp_path / "z.dcm")
    (tmp_path / "README.txt").write_text("not dicom")
    assert len(list_series(tmp_path)) == 2
    vol = load_volume(tmp_path, series_uid="largest")
    assert vol.array.shape == (16, 16, 5)


def test_list_of_files_in_any_order():
    files = sorted(CT5N.iterdir(), reverse=True)
    a = load_volume([str(f) for f in files])
    b = load_volume(CT5N)
    np.testing.assert_array_equal(a.array, b.array)
    assert a.source_files == b.source_files


def test_enhanced_ct_frames_sorted_and_rescaled_per_frame():
    path = dicom_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    vol = load_volume(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    pos = [
        np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)
        for f in ds.PerFrameFunctionalGroupsSequence
    ]
    order = np.argsort([p @ normal for p in pos])
    rescale = shared.PixelValueTransformationSequence[0]
    raw = ds.pixel_array
    for k, i in enumerate(order):
        expected = raw[i].T * float(rescale.RescaleSlope) + float(rescale.RescaleIntercept)
        np.testing.assert_array_equal(vol.array[..., k], expected.astype(np.float32))
    assert vol.meta["frame_order"] == [int(i) for i in order]
    # Origin = first frame's position (LPS → RAS); slice step = difference of positions.
    lps = np.diag([-1, -1, 1])
    np.testing.assert_allclose(vol.affine[:3, 3], lps @ pos[order[0]])
    np.testing.assert_allclose(vol.affine[:3, 2], lps @ (pos[order[1]] - pos[order[0]]))
    assert vol.source_files == [path]


def test_enhanced_mr_without_geometry_loads_on_request():
    path = dicom_file("emri_small.dcm")
    vol = load_volume(path, require_geometry=False)
    ds = pydicom.dcmread(path)
    expected = np.stack([f.T for f in ds.pixel_array], axis=-1).astype(np.float32)
    np.testing.assert_array_equal(vol.array, expected)
    assert vol.meta["geometry"].startswith("missing")
    j2k = load_volume(dicom_file("emri_small_jpeg_2k_lossless.dcm"), require_geometry=False)
    np.testing.assert_array_equal(j2k.array, vol.array)


PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "SeriesDate",
    "InstitutionName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "ReferringPhysicianName",
    "AccessionNumber",
)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "eCT_Supplemental.dcm"])
def test_meta_is_phi_free(name):
    path = dicom_file(name)
    vol = load_volume(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    values = {str(ds.get(k)) for k in PHI_KEYWORDS if ds.get(k) not in (None, "")}
    flat = repr(vol.meta)
    assert not [v for v in values if v in flat]
    for key in vol.meta:
        assert not any(w in key.lower() for w in ("patient", "uid", "date", "institution", "name"))
    assert {"modality", "series_description", "shape", "spacing", "orientation"} <= set(vol.meta)


def test_enhanced_ct_geometry_agrees_with_highdicom():
    """highdicom's own volume reader (LPS, axes slice/row/column) as the reference."""
    import highdicom as hd
    from medseg_io_data import assert_same_in_world

    path = dicom_file("eCT_Supplemental.dcm")
    ref = hd.imread(path).get_volume()
    # (slice, row, col) → our (col, row, slice); LPS → RAS.
    ref_arr = np.transpose(np.asarray(ref.array, np.float32), (2, 1, 0))
    ref_aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(ref.affine)[:, [2, 1, 0, 3]]
    ours = load_volume(path)
    assert_same_in_world(ref_arr, ref_aff, ours.array, ours.affine)
