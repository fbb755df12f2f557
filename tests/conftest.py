from __future__ import annotations

import os
import tempfile

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: keep each worker's intra-op threads at one.
torch.set_num_threads(1)
# backend="auto" (the default) times back-ends on first use: tests that do not test it run
# eager PyTorch only (no timing), and every decision goes to a throwaway folder, never to the
# user's ~/.cache. Tests of auto pass their candidates explicitly.
os.environ.setdefault("MEDSEG_AUTO_BACKENDS", "torch")
os.environ["MEDSEG_CACHE_DIR"] = tempfile.mkdtemp(prefix="medseg-test-cache-")


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
