"""Display slices (radiological convention) and resampling."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from medseg_io_data import DICOMDIR_TREE, MR2, dicom_file
from pydicom.pixels import apply_modality_lut

from medseg.io import Volume, extract_slice, load_volume, resample_to_spacing


def _stored(path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return apply_modality_lut(ds.pixel_array, ds).astype(np.float32)


# Standard DICOM slices are stored as radiologists view them, which is the convention we
# promise; the last case is a sagittal slice stored mirrored (columns run posterior→anterior).
@pytest.mark.parametrize(
    "path, plane, mirrored",
    [
        (dicom_file("CT_small.dcm"), "axial", False),
        (str(MR2 / "15970"), "sagittal", False),
        (str(MR2 / "4950"), "coronal", False),
        (str(DICOMDIR_TREE / "98892001" / "CT2N" / "6293"), "sagittal", True),
    ],
)
def test_single_slices_display_like_viewers(path, plane, mirrored):
    vol = load_volume(path)
    shown = extract_slice(vol, 0, plane)
    expected = _stored(path)
    np.testing.assert_array_equal(shown, expected[:, ::-1] if mirrored else expected)


def test_series_axial_slices_match_files(ct5n_volume):
    for k, f in enumerate(ct5n_volume.source_files):  # sorted inferior → superior
        np.testing.assert_array_equal(extract_slice(ct5n_volume, k, "axial"), _stored(f))


def _marker_volume() -> np.ndarray:
    a = np.zeros((4, 5, 6), np.int16)  # RAS+: i → Right, j → Anterior, k → Superior
    a[3, 4, 5] = 1  # the right-anterior-superior corner
    return a


@pytest.mark.parametrize(
    "plane, index, shape", [("axial", 5, (5, 4)), ("coronal", 4, (6, 4)), ("sagittal", 3, (6, 5))]
)
def test_marker_lands_top_left(plane, index, shape):
    # Axial: anterior at the top, patient's right on the left; coronal: superior top, right
    # left; sagittal: superior top, anterior left. The R-A-S corner is top-left in all three.
    s = extract_slice(_marker_volume(), index, plane)
    assert s.shape == shape and s.dtype == np.int16
    assert s[0, 0] == 1 and s.sum() == 1


def test_volume_orientation_does_not_change_display():
    ras = _marker_volume()
    vol_ras = Volume(ras.astype(np.float32), np.diag([1.0, 2.0, 3.0, 1.0]), (1, 2, 3))
    # The same scan stored LPS with axes permuted (k, i, j): flip x and y, permute.
    lps = np.transpose(ras[::-1, ::-1, :], (2, 0, 1)).astype(np.float32)
    aff = np.zeros((4, 4))
    aff[3, 3] = 1
    aff[2, 0] = 3.0  # array axis 0 → superior
    aff[0, 1] = -1.0  # array axis 1 → left
    aff[1, 2] = -2.0  # array axis 2 → posterior
    aff[:3, 3] = [3.0, 8.0, 0.0]
    vol_lps = Volume(lps, aff, (3, 1, 2))
    for plane, k in [("axial", 2), ("coronal", 1), ("sagittal", 3)]:
        np.testing.assert_array_equal(
            extract_slice(vol_ras, k, plane), extract_slice(vol_lps, k, plane)
        )


def test_middle_slice_and_bad_arguments():
    a = _marker_volume()
    np.testing.assert_array_equal(extract_slice(a), extract_slice(a, 3, "axial"))
    with pytest.raises(ValueError, match="plane"):
        extract_slice(a, 0, "oblique")
    with pytest.raises(IndexError):
        extract_slice(a, 6, "axial")


def test_resample_linear_ramp_exact_in_world():
    # Linear interpolation reproduces a linear function exactly: check it at the new voxels'
    # world positions (computed from the returned affine).
    spacing = (0.5, 0.8, 2.0)
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [10.0, -5.0, 3.0]
    idx = np.indices((20, 15, 6)).reshape(3, -1)
    world = aff[:3, :3] @ idx + aff[:3, 3:4]
    f = lambda w: 2.0 * w[0] - 1.0 * w[1] + 0.5 * w[2]  # noqa: E731
    vol = Volume(f(world).reshape(20, 15, 6).astype(np.float32), aff, spacing)
    out = resample_to_spacing(vol, 1.0)
    assert out.spacing == pytest.approx((1.0, 1.0, 1.0))
    np.testing.assert_allclose(out.affine[:3, 3], aff[:3, 3])
    oidx = np.indices(out.array.shape).reshape(3, -1)
    ow = out.affine[:3, :3] @ oidx + out.affine[:3, 3:4]
    inside = np.all((ow >= world.min(1, keepdims=True)) & (ow <= world.max(1, keepdims=True)), 0)
    assert inside.mean() > 0.8
    np.testing.assert_allclose(out.array.reshape(-1)[inside], f(ow)[inside], atol=1e-3)
    assert out.source_files == []


def test_resample_nearest_keeps_labels_and_dtype():
    m = np.zeros((10, 10), np.uint8)
    m[2:6, 3:9] = 2
    m[7:, :2] = 1
    out = resample_to_spacing(m, (0.5, 0.5), current_spacing=(1.0, 1.0), mode="nearest")
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 1, 2}
    # Upsampling by 2 with nearest: every original pixel becomes (about) a 2x2 block.
    assert out.shape == (19, 19)
    assert out[2 * 3, 2 * 5] == 2 and out[2 * 8, 1] == 1


def test_resample_real_ct(ct5n_volume):
    out = resample_to_spacing(ct5n_volume, (1.0, 1.0, 1.0))
    assert out.meta["spacing"] == pytest.approx([1.0, 1.0, 1.0])
    # The world extent is kept (same first voxel, last voxel within one new voxel).
    first = ct5n_volume.affine @ np.r_[0, 0, 0, 1]
    np.testing.assert_allclose(out.affine @ np.r_[0, 0, 0, 1], first)
    assert ct5n_volume.array.min() <= out.array.min() and out.array.max() <= ct5n_volume.array.max()


def test_any_orientation_matches_nibabel_canonical():
    """All 48 axis permutations/flips: slicing the Volume = slicing nibabel's canonical copy."""
    import itertools

    import nibabel as nib

    rng = np.random.default_rng(0)
    base = rng.integers(0, 1000, (4, 5, 6)).astype(np.float32)
    for perm in itertools.permutations(range(3)):
        for flips in itertools.product([1, -1], repeat=3):
            aff = np.zeros((4, 4))
            aff[3, 3] = 1
            for i, (ax, f) in enumerate(zip(perm, flips)):
                aff[ax, i] = f * (i + 1.0)
            vol = Volume(base, aff, (1.0, 2.0, 3.0))
            can = np.asarray(nib.as_closest_canonical(nib.Nifti1Image(base, aff)).dataobj)
            for plane in ("axial", "coronal", "sagittal"):
                for k in (0, -1, None):
                    np.testing.assert_array_equal(
                        extract_slice(vol, k, plane), extract_slice(can, k, plane)
                    )
