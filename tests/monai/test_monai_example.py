"""examples/monai_workflow.py runs on the real pydicom CT series and writes an aligned mask."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import nibabel.orientations as nio
import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monai_workflow.py"


def test_example_workflow(tmp_path, ct5n, test_unet_ckpt):
    from medseg.io import load_volume

    spec = importlib.util.spec_from_file_location("monai_workflow", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.main([str(ct5n), "-o", str(tmp_path), "--weights", str(test_unet_ckpt)])
    assert written.is_file()
    mask = nib.load(written)
    vol = load_volume(ct5n)
    # written in RAS order (the example does not invert Orientationd): same voxels, same world
    ornt = nio.io_orientation(vol.affine)
    expected_affine = vol.affine @ nio.inv_ornt_aff(ornt, vol.shape)
    assert mask.shape == nio.apply_orientation(vol.array, ornt).shape
    np.testing.assert_allclose(mask.affine, expected_affine, atol=1e-4)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}


def test_example_default_input_is_the_pydicom_series():
    spec = importlib.util.spec_from_file_location("monai_workflow", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = Path(mod.default_series())
    if not path.is_dir():
        pytest.skip("pydicom test files not installed")
    assert path.name == "CT5N" and len(list(path.iterdir())) == 5
