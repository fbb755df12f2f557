"""Paths and helpers for the real test data (pydicom, pydicom-data, nibabel, Debian)."""

from __future__ import annotations

import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

TESTFILES = Path(get_testdata_file("CT_small.dcm")).parent
DICOMDIR_TREE = TESTFILES / "dicomdirtests"
CT5N = DICOMDIR_TREE / "98892001" / "CT5N"  # 5 evenly spaced axial CT slices
CT2 = DICOMDIR_TREE / "77654033" / "CT2"  # 4 slices with one large gap
MR2 = DICOMDIR_TREE / "98892003" / "MR2"  # 3 series mixed in one folder
MR700 = DICOMDIR_TREE / "98892003" / "MR700"  # one series, a different orientation per slice
from medseg.data.samples import ITK_DATA  # noqa: E402


def nibabel_data(name: str) -> str:
    import nibabel

    return str(Path(nibabel.__file__).parent / "tests" / "data" / name)


def dicom_file(name: str) -> str:
    path = get_testdata_file(name)
    if path is None:  # pydicom-data is a declared dependency; say clearly if it is missing
        pytest.skip(f"{name} not installed (pip install pydicom-data)")
    return str(path)


def itk_file(name: str) -> str:
    p = ITK_DATA / name
    if not p.exists():
        pytest.skip(f"{p} missing (Debian package insighttoolkit5-examples)")
    return str(p)


def copy_shuffled(src: Path, dst: Path, seed: int = 0) -> dict[str, str]:
    """Copy a series under random file names; returns new name → original name."""
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.is_file())
    names = [f"img_{i:03d}.dcm" for i in range(len(files))]
    random.Random(seed).shuffle(names)
    mapping = {}
    for f, n in zip(files, names):
        shutil.copy(f, dst / n)
        mapping[n] = f.name
    return mapping


def monai_load(path, reader: str = "PydicomReader"):
    """(array, affine) from MONAI's own LoadImage, the reference for our layout."""
    from monai.data import NibabelReader, PydicomReader
    from monai.transforms import LoadImage

    r = PydicomReader() if reader == "PydicomReader" else NibabelReader()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = LoadImage(reader=r, image_only=True)(str(path))
    return np.asarray(img), np.asarray(img.affine, dtype=np.float64)


def assert_same_in_world(arr_a, aff_a, arr_b, aff_b, atol: float = 1e-4) -> None:
    """Brute force: every voxel of b equals the voxel of a at the same world position.

    Both grids must be the same up to axis flips/permutations (what slice ordering and
    reorientation produce); the index map is ``inv(aff_a) @ aff_b``, checked to be integral.
    """
    t = np.linalg.inv(np.asarray(aff_a, float)) @ np.asarray(aff_b, float)
    ti = np.round(t)
    assert np.allclose(t, ti, atol=atol), f"grids differ by more than flips/permutations:\n{t}"
    idx_b = np.indices(arr_b.shape[:3]).reshape(3, -1)
    idx_a = (ti[:3, :3] @ idx_b + ti[:3, 3:4]).astype(int)
    for ax in range(3):
        assert idx_a[ax].min() >= 0 and idx_a[ax].max() < arr_a.shape[ax]
    np.testing.assert_array_equal(arr_a[tuple(idx_a)], arr_b[tuple(idx_b)])
