"""write_dicom_series: a real head as a DICOM series, read back identical; checked independently."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medseg.io import load_volume, write_dicom_series

CH2 = Path("/usr/share/mricron/templates/ch2.nii.gz")
ITK_T1 = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz")


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is not installed (scripts/setup.sh installs its Debian package)")
    return path


def _voxel_world_check(folder: Path, nifti: Path) -> None:
    """Independent of medseg's reader: every pixel of every file, placed with its own
    ImagePositionPatient / ImageOrientationPatient / PixelSpacing, lands on the voxel of the
    NIfTI (nibabel's affine) that holds the same value."""
    img = nib.load(str(nifti))
    data = np.asarray(img.dataobj)
    inv = np.linalg.inv(img.affine)
    files = sorted(folder.glob("*.dcm"))
    assert len(files) == data.shape[2]
    for f in files[:: max(1, len(files) // 7)]:
        ds = pydicom.dcmread(f)
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        dr, dc = (float(v) for v in ds.PixelSpacing)
        a, b = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
        lps = ipp + b[..., None] * dc * iop[:3] + a[..., None] * dr * iop[3:]
        vox = (lps * [-1, -1, 1]) @ inv[:3, :3].T + inv[:3, 3]
        idx = np.rint(vox).astype(int)
        assert np.abs(vox - idx).max() < 1e-3
        np.testing.assert_array_equal(ds.pixel_array, data[idx[..., 0], idx[..., 1], idx[..., 2]])


@pytest.mark.parametrize("source", [CH2, ITK_T1], ids=["ch2-axial", "itk-coronal"])
def test_series_reads_back_identical_to_the_nifti(source, tmp_path):
    src = _need(source)
    vol = load_volume(src)
    files = write_dicom_series(vol, tmp_path / "series", body_part="head")
    assert len(files) == vol.array.shape[2]
    back = load_volume(tmp_path / "series")
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-6)
    assert back.meta["modality"] == "MR" and not back.meta["uneven_spacing"]
    # nibabel's own affine and voxels, not medseg's reader
    np.testing.assert_allclose(back.affine, nib.load(str(src)).affine, atol=1e-5)
    _voxel_world_check(tmp_path / "series", src)
    # One study, one series, one frame of reference; instance k+1 is slice k.
    heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({str(h.get(key)) for h in heads}) == 1, key
    assert [int(h.InstanceNumber) for h in heads] == list(range(1, len(files) + 1))
    assert len({str(h.SOPInstanceUID) for h in heads}) == len(files)
    h = heads[0]
    assert h.SOPClassUID == pydicom.uid.MRImageStorage
    assert (h.PatientName, h.PatientID) == ("Example^Medseg", "MEDSEG-EXAMPLE")
    assert h.PatientIdentityRemoved == "YES"


@pytest.mark.parametrize("source", [CH2, ITK_T1], ids=["ch2-axial", "itk-coronal"])
def test_upright_rows_keep_every_voxel_in_place_and_seeded_uids_repeat(source, tmp_path):
    src = _need(source)
    vol = load_volume(src)
    files = write_dicom_series(vol, tmp_path / "up", upright=True, uid_seed="example")
    _voxel_world_check(tmp_path / "up", src)
    back = load_volume(tmp_path / "up")
    np.testing.assert_array_equal(back.array, vol.array[:, ::-1, ::-1])
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    col_dir = [float(v) for v in first.ImageOrientationPatient[3:]]
    assert col_dir[2] <= 0 and (abs(col_dir[2]) > 0.5 or col_dir[1] >= 0)  # top row first
    again = write_dicom_series(vol, tmp_path / "again", upright=True, uid_seed="example")
    for a, b in zip(files, again):
        da, db = (pydicom.dcmread(f, stop_before_pixels=True) for f in (a, b))
        assert (da.SOPInstanceUID, da.SeriesInstanceUID) == (
            db.SOPInstanceUID,
            db.SeriesInstanceUID,
        )
    other = write_dicom_series(vol, tmp_path / "other", uid_seed="another")
    assert pydicom.dcmread(other[0]).StudyInstanceUID != first.StudyInstanceUID


def test_left_handed_grid_keeps_every_voxel_in_place(tmp_path):
    vol = load_volume(_need(CH2))
    crop = np.ascontiguousarray(vol.array[40:140, 50:170, 60:66])
    aff = vol.affine.copy()
    aff[:3, 3] = vol.affine[:3, :3] @ [40, 50, 60] + vol.affine[:3, 3]
    flipped = aff @ np.diag([-1.0, 1.0, 1.0, 1.0])  # x axis reversed: left-handed voxel frame
    flipped[:3, 3] = aff[:3, :3] @ [99, 0, 0] + aff[:3, 3]
    v = replace(vol, array=crop[::-1].copy(), affine=flipped, source_files=[])
    write_dicom_series(v, tmp_path / "s")
    back = load_volume(tmp_path / "s")
    # The reader orders slices along row x column: reversed here, same world positions.
    np.testing.assert_array_equal(back.array, v.array[..., ::-1])
    corner = back.affine @ [0, 0, 0, 1]
    np.testing.assert_allclose(corner, v.affine @ [0, 0, v.array.shape[2] - 1, 1], atol=1e-6)


def test_float_volumes_are_quantised_with_rescale(tmp_path):
    vol = load_volume(_need(CH2))
    crop = vol.array[60:100, 70:110, 80:83].astype(np.float32) * 0.37 - 12.5
    v = replace(vol, array=crop, source_files=[])
    write_dicom_series(v, tmp_path / "f", modality="CT")
    back = load_volume(tmp_path / "f")
    step = (crop.max() - crop.min()) / 65535
    assert np.abs(back.array - crop).max() <= step
    ds = pydicom.dcmread(next((tmp_path / "f").glob("*.dcm")))
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage and ds.RescaleType == "HU"


def test_never_overwrites_and_rejects_sheared_grids(tmp_path):
    vol = load_volume(_need(CH2))
    small = replace(vol, array=vol.array[:8, :8, :2].copy(), source_files=[])
    write_dicom_series(small, tmp_path / "x")
    before = {p.name: p.read_bytes() for p in (tmp_path / "x").iterdir()}
    with pytest.raises(FileExistsError, match="already holds"):
        write_dicom_series(small, tmp_path / "x")
    assert {p.name: p.read_bytes() for p in (tmp_path / "x").iterdir()} == before
    sheared = small.affine.copy()
    sheared[0, 1] = 0.5
    with pytest.raises(ValueError, match="not orthogonal"):
        write_dicom_series(replace(small, affine=sheared), tmp_path / "y")
    with pytest.raises(ValueError, match="modality"):
        write_dicom_series(small, tmp_path / "z", modality="US")


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
@pytest.mark.parametrize("modality", ["MR", "CT"])
def test_instances_pass_dciodvfy(modality, tmp_path):
    """David Clunie's IOD validator (Debian dicom3tools) finds no error in an instance."""
    vol = load_volume(_need(CH2))
    small = replace(vol, array=vol.array[60:100, 60:100, 80:82].copy(), source_files=[])
    files = write_dicom_series(small, tmp_path / "v", modality=modality, body_part="head")
    r = subprocess.run(["dciodvfy", str(files[0])], capture_output=True, text=True)
    report = r.stdout + r.stderr
    assert "Error" not in report, report
    assert "Warning" not in report, report
