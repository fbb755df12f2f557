from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: keep each worker's intra-op threads at one.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def _dicomdir_tree():
    from pathlib import Path

    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests"


@pytest.fixture
def ct5n_dir():
    d = _dicomdir_tree() / "98892001" / "CT5N"
    if not d.is_dir():
        pytest.skip(f"pydicom test series missing: {d}")
    return d


@pytest.fixture
def ct2_dir():
    d = _dicomdir_tree() / "77654033" / "CT2"
    if not d.is_dir():
        pytest.skip(f"pydicom test series missing: {d}")
    return d
