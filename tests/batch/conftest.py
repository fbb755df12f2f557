from __future__ import annotations

import shutil

import pytest
import torch

from medseg.models import create_model


@pytest.fixture
def small_medical():
    torch.manual_seed(0)
    return create_model("unet_medical", base_channels=8).eval()


@pytest.fixture
def small_unet():
    torch.manual_seed(0)
    return create_model("unet", num_classes=5, base_channels=8).eval()


@pytest.fixture
def mr_series(tmp_path, ct5n_dir):
    """A real 5-slice series (pydicom's CT5N) relabelled as MR, for the MR model's happy path."""
    import pydicom

    d = tmp_path / "mr_series"
    shutil.copytree(ct5n_dir, d)
    for f in d.iterdir():
        ds = pydicom.dcmread(f)
        ds.Modality = "MR"
        ds.save_as(f)
    return d
