"""Module-scoped fixtures over the real test data (see medseg_io_data.py)."""

from __future__ import annotations

import pytest
from medseg_io_data import CT5N, copy_shuffled


@pytest.fixture(scope="module")
def ct5n_shuffled(tmp_path_factory):
    d = tmp_path_factory.mktemp("ct5n")
    mapping = copy_shuffled(CT5N, d, seed=1)
    return d, mapping


@pytest.fixture(scope="module")
def ct5n_volume():
    from medseg.io import load_volume

    return load_volume(CT5N)
