"""Hostile and odd NIfTI inputs (issue 20): headers that lie about their size, non-physical
spacing, NaN backgrounds. Each is refused (or repaired) before memory is spent, with a message
that says what the header claims and what the file holds."""

from __future__ import annotations

import gzip
import resource

import nibabel as nib
import numpy as np
import pytest

from medseg.io import MedsegIOError, load_volume
from medseg.io.limits import check_declared_size, human_bytes


def _header_only(path, shape, dtype=np.uint8, data: bytes = b"", gz=True):
    """A NIfTI file whose header declares ``shape`` but that holds only ``data``."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr.set_sform(np.eye(4), code=1)
    hdr.set_qform(np.eye(4), code=1)
    hdr.set_data_offset(352)
    raw = hdr.binaryblock + b"\x00" * (352 - len(hdr.binaryblock)) + data
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def test_huge_declared_gz_is_refused_from_the_header(tmp_path):
    # 4000 x 4000 x 400 uint8 in a tiny file: used to grow the process to 7.4 GB
    p = _header_only(tmp_path / "bomb.nii.gz", (4000, 4000, 400), data=b"\x00" * 200_000)
    before = _peak_rss_mb()
    with pytest.raises(MedsegIOError) as e:
        load_volume(p)
    msg = str(e.value)
    assert "4000×4000×400" in msg and "over the limit" in msg and "--max-volume-gb" in msg
    assert _peak_rss_mb() - before < 200  # nothing was allocated for the voxels


def test_huge_declared_uncompressed_is_refused(tmp_path):
    p = _header_only(tmp_path / "cube.nii", (20000, 20000, 20000), np.int16, gz=False)
    with pytest.raises(MedsegIOError, match="20000×20000×20000"):
        load_volume(p)


def test_truncated_gz_says_declared_vs_held(tmp_path):
    # under the size limit, but the file holds far less than the header declares
    p = _header_only(tmp_path / "short.nii.gz", (200, 200, 100), np.uint8, data=b"\x01" * 1000)
    with pytest.raises(MedsegIOError) as e:
        load_volume(p)
    msg = str(e.value)
    assert "200×200×100" in msg and human_bytes(200 * 200 * 100) in msg
    assert "holds 1000 B" in msg


def test_truncated_uncompressed_says_declared_vs_held(tmp_path):
    p = _header_only(tmp_path / "short.nii", (64, 64, 64), np.int16, data=b"\x00" * 4096, gz=False)
    with pytest.raises(MedsegIOError, match=r"holds 4\.0 KiB"):
        load_volume(p)


def test_limit_is_configurable(tmp_path, monkeypatch):
    a = np.zeros((64, 64, 64), np.float32)
    p = tmp_path / "ok.nii.gz"
    nib.save(nib.Nifti1Image(a, np.eye(4)), p)
    assert load_volume(p).shape == (64, 64, 64)
    with pytest.raises(MedsegIOError, match="over the limit of 512.0 KiB"):
        load_volume(p, max_bytes=512 << 10)
    monkeypatch.setenv("MEDSEG_MAX_VOLUME_GB", "0.0005")  # 512 KiB
    with pytest.raises(MedsegIOError, match="over the limit"):
        load_volume(p)
    assert check_declared_size((64, 64, 64), 1 << 20) is None


@pytest.mark.parametrize("sx", [1e-9, -1e-9, 5e3])
def test_non_physical_spacing_in_the_affine_is_refused(tmp_path, sx):
    p = tmp_path / "geom.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.diag([sx, 1.0, 1.0, 1.0])), p)
    with pytest.raises(MedsegIOError, match="not physical"):
        load_volume(p)


@pytest.mark.parametrize("pixdim", [0.0, np.nan])
def test_broken_pixdim_without_sform_is_refused(tmp_path, pixdim):
    # no sform/qform: nibabel builds the affine from pixdim, which is 0 or NaN here
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((8, 8, 8))
    hdr.set_data_dtype(np.uint8)
    hdr.set_data_offset(352)
    hdr["pixdim"][1] = pixdim
    raw = hdr.binaryblock + b"\x00" * 4 + b"\x01" * 512
    p = tmp_path / "pixdim.nii"
    p.write_bytes(raw)
    with pytest.raises(MedsegIOError, match="not physical|singular"):
        load_volume(p)


def test_nan_background_is_filled_with_the_minimum_and_reported(tmp_path):
    a = np.random.default_rng(0).uniform(10, 20, (6, 7, 8)).astype(np.float32)
    a[0] = np.nan
    a[1, 1, 1] = np.inf
    p = tmp_path / "nanbg.nii.gz"
    nib.save(nib.Nifti1Image(a, np.eye(4)), p)
    vol = load_volume(p)
    finite = a[np.isfinite(a)]
    assert np.isfinite(vol.array).all()
    assert np.all(vol.array[0] == finite.min())
    assert vol.array[1, 1, 1] == finite.min()
    np.testing.assert_array_equal(vol.array[2:], a[2:])
    assert vol.meta["nonfinite_voxels"] == a[0].size + 1
    assert any("NaN/Inf" in w for w in vol.meta["warnings"])


def test_oblique_affine_loads_with_its_geometry(tmp_path):
    # kept from the good news of the issue: a 20° rotated affine is read as it is
    t = np.deg2rad(20)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot * 1.5
    p = tmp_path / "oblique.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 6, 7), np.float32), aff), p)
    vol = load_volume(p)
    np.testing.assert_allclose(vol.affine, nib.load(p).affine)
    np.testing.assert_allclose(vol.spacing, (1.5, 1.5, 1.5), rtol=1e-6)
