"""Every bad input gives a MedsegIOError naming the file and the problem."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from medseg_io_data import CT5N, MR2, MR700, dicom_file, nibabel_data
from pydicom.uid import generate_uid

from medseg.io import MedsegIOError, load_volume


def _raises(path, match: str, **kwargs) -> MedsegIOError:
    with pytest.raises(MedsegIOError, match=match) as info:
        load_volume(path, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    # The message names the file (base name only: parent folders may hold patient names).
    name = getattr(path, "name", None) or str(path).rstrip("/").split("/")[-1]
    assert str(err).startswith(f"{name}: ")
    assert str(path.parent if hasattr(path, "parent") else "/nonexistent") not in str(err)
    assert err.__cause__ is None  # no chained pydicom traceback
    return err


def test_non_dicom_file_with_dcm_name(tmp_path):
    p = tmp_path / "scan.dcm"
    p.write_text("this is a text file, not DICOM\n" * 20)
    _raises(p, "not a DICOM file")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.dcm"
    p.write_bytes(b"")
    _raises(p, "empty file")


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.99])
def test_truncated_file(tmp_path, fraction):
    src = dicom_file("CT_small.dcm")
    data = open(src, "rb").read()
    p = tmp_path / "truncated.dcm"
    p.write_bytes(data[: int(len(data) * fraction)])
    _raises(p, "damaged|truncated|no pixel data|missing")


@pytest.mark.parametrize("name", ["rtstruct.dcm", "dicomdirtests/DICOMDIR"])
def test_dicom_without_pixel_data(name):
    from pathlib import Path

    _raises(Path(dicom_file(name)), "no pixel data")


def test_mixed_series_without_choice_lists_them():
    err = _raises(MR2, "3 series found")
    for f in MR2.iterdir():
        assert str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID) in str(err)


def test_unknown_series_uid():
    _raises(MR2, "not found", series_uid="1.2.3.4")


def test_slices_with_different_orientations():
    _raises(MR700, "different orientations")


def test_missing_image_position(tmp_path):
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    del ds.ImagePositionPatient
    p = tmp_path / "nopos.dcm"
    ds.save_as(p)
    _raises(p, "missing ImagePositionPatient")
    # Loads on request, on a plain voxel grid.
    vol = load_volume(p, require_geometry=False)
    assert vol.meta["geometry"].startswith("missing")


@pytest.mark.parametrize(
    "keyword, value, match",
    [
        ("ImageOrientationPatient", [0, 0, 0, 0, 0, 0], "not two orthogonal unit vectors"),
        ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0], "not two orthogonal unit vectors"),
        ("ImageOrientationPatient", [1, 0, 0], "must hold 6 finite numbers"),
        ("PixelSpacing", [0, 0.5], "must be positive"),
        ("ImagePositionPatient", ["nan", 0, 0], "must hold 3 finite numbers"),
    ],
)
def test_broken_geometry_values(tmp_path, keyword, value, match):
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    setattr(ds, keyword, value)
    p = tmp_path / "geom.dcm"
    ds.save_as(p)
    _raises(p, match)


def test_single_slice_where_volume_needed():
    from pathlib import Path

    _raises(Path(dicom_file("CT_small.dcm")), "1 slice", min_slices=2)


def test_duplicate_positions(tmp_path):
    src = sorted(CT5N.iterdir())[0]
    for i in range(2):
        ds = pydicom.dcmread(src)
        ds.SOPInstanceUID = generate_uid()
        ds.save_as(tmp_path / f"copy{i}.dcm")
    _raises(tmp_path, "share a position")


def test_slices_with_different_pixel_spacing(tmp_path):
    for i, f in enumerate(sorted(CT5N.iterdir())):
        ds = pydicom.dcmread(f)
        if i == 3:
            ds.PixelSpacing = [0.9, 0.9]
        ds.save_as(tmp_path / f.name)
    _raises(tmp_path, "different PixelSpacing")


def test_empty_folder(tmp_path):
    d = tmp_path / "empty_series"
    d.mkdir()
    _raises(d, "no DICOM image files")


def test_folder_without_dicom(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "a.dcm").write_text("hello")
    shutil.copy(dicom_file("rtstruct.dcm"), d / "rt.dcm")
    _raises(d, "no DICOM image files")


def test_missing_path(tmp_path):
    _raises(tmp_path / "nothing_here", "no such file")


def test_colour_dicom():
    from pathlib import Path

    _raises(Path(dicom_file("SC_rgb_jpeg.dcm")), "colour DICOM")


def test_undecodable_transfer_syntax(tmp_path):
    # A JPEG 2000 file relabelled as MPEG2 video: encapsulated data no installed handler decodes.
    ds = pydicom.dcmread(dicom_file("MR_small_jp2klossless.dcm"))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    p = tmp_path / "video.dcm"
    ds.save_as(p, enforce_file_format=True)
    _raises(p, "cannot decode transfer syntax 'MPEG2")


def test_nifti_with_only_nan_is_refused(tmp_path):
    # NaN backgrounds are filled (tests/io/test_hostile.py); a volume with no finite voxel
    # has nothing to segment.
    p = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), np.nan, np.float32), np.eye(4)), p)
    _raises(p, "every voxel is NaN or Inf")


def test_zero_size_nifti(tmp_path):
    p = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.zeros((16, 0, 6), np.float32), np.eye(4)), p)
    _raises(p, "axis of length 0")


def test_4d_nifti():
    from pathlib import Path

    _raises(Path(nibabel_data("example4d.nii.gz")), "4-D image")


def test_corrupt_nifti(tmp_path):
    p = tmp_path / "broken.nii.gz"
    p.write_bytes(b"\x1f\x8b garbage")
    _raises(p, "not a readable NIfTI")


def test_image_file_given_as_scan():
    from pathlib import Path

    from medseg_io_data import itk_file

    _raises(Path(itk_file("BrainT1Slice.png")), "read it with medseg.io.load_image")
