"""Fixtures for the MONAI interop tests: real scans from packages, a test U-Net checkpoint,
and an independent implementation of the brain model's preprocessing contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai_helpers import T1, T1_BRAIN


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path} missing (Debian package insighttoolkit5-examples; test.sh installs it)"
        )
    return path


@pytest.fixture(scope="session")
def t1_crop(tmp_path_factory) -> Path:
    """A 72×64×40 crop of the real ITK T1 head (LSA orientation kept), written as NIfTI."""
    import nibabel as nib

    img = nib.load(_need(T1))
    crop = img.slicer[28:100, 32:96, 10:50]
    out = tmp_path_factory.mktemp("t1") / "t1_crop.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(crop.dataobj), crop.affine), out)
    return out


@pytest.fixture(scope="session")
def t1_pair(tmp_path_factory, t1_crop) -> Path:
    """An evaluation folder: images/t1.nii.gz and labels/t1.nii.gz (skull-stripped, same crop)."""
    import nibabel as nib

    root = tmp_path_factory.mktemp("eval")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    shutil.copy(t1_crop, root / "images" / "t1.nii.gz")
    lab = nib.load(_need(T1_BRAIN)).slicer[28:100, 32:96, 10:50]
    nib.save(nib.Nifti1Image(np.asarray(lab.dataobj), lab.affine), root / "labels" / "t1.nii.gz")
    return root


@pytest.fixture(scope="session")
def ct5n(tmp_path_factory) -> Path:
    """The real 5-slice CT series from pydicom's test files, copied (file names have no suffix)."""
    from pydicom.data import get_testdata_files

    files = get_testdata_files("dicomdirtests/98892001/CT5N/*")
    if len(files) != 5:
        pytest.skip("pydicom test file dicomdirtests/98892001/CT5N not found")
    out = tmp_path_factory.mktemp("dicom") / "CT5N"
    out.mkdir()
    for f in files:
        shutil.copy(f, out / Path(f).name)
    return out


@pytest.fixture(scope="session")
def mixed_series(tmp_path_factory, ct5n) -> Path:
    """One folder holding two real CT series: CT5N (5 files) and CT2 (4 files)."""
    from pydicom.data import get_testdata_files

    ct2 = get_testdata_files("dicomdirtests/77654033/CT2/*")
    if not ct2:
        pytest.skip("pydicom test files dicomdirtests/77654033/CT2 not found")
    out = tmp_path_factory.mktemp("mixed") / "two_series"
    shutil.copytree(ct5n, out)
    for f in ct2:
        shutil.copy(f, out / f"ct2_{Path(f).name}")
    return out


@pytest.fixture(scope="session")
def test_unet_ckpt(tmp_path_factory, t1_crop) -> Path:
    """A ``unet_medical`` state dict (2.5-D input) whose output varies across the image.

    A freshly initialised U-Net predicts one class almost everywhere (its BatchNorm running
    statistics are 0/1), which would make mask comparisons trivially equal. Here BatchNorm
    statistics are set from one pass over the real T1 slices and the last bias is shifted so
    that about half of the voxels are foreground: masks then have structure and borders.
    """
    import nibabel as nib

    from medseg.models import create_model
    from medseg.transforms.intensity import zscore_normalize

    torch.manual_seed(0)
    model = create_model("unet_medical")
    img = nib.load(t1_crop)
    arr = np.asarray(nib.as_closest_canonical(img).dataobj, dtype=np.float32)
    z = zscore_normalize(np.moveaxis(arr, 2, 0))  # [Z, X, Y] axial slices
    c = model.cfg.context_slices  # 2.5-D stacks: each slice with its neighbours as channels
    idx = np.clip(np.arange(len(z))[:, None] + np.arange(-c, c + 1)[None], 0, len(z) - 1)
    x = torch.from_numpy(np.ascontiguousarray(z[idx]))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        model.outc.bias[1] -= (logits[:, 1] - logits[:, 0]).median()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    out = tmp_path_factory.mktemp("ckpt") / "test_unet.pt"
    torch.save(model.state_dict(), out)
    return out


@pytest.fixture(scope="session")
def test_unet(test_unet_ckpt):
    from medseg.models import create_model

    return create_model("unet_medical", weights=test_unet_ckpt).eval()
