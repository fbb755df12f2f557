from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_labels(rng, shape, num_classes, hole_frac=0.2, ignore=255, dtype=np.int64):
    """Random label map with ``ignore`` holes (a rectangle plus scattered pixels)."""
    t = rng.integers(0, num_classes, size=shape).astype(dtype)
    holes = rng.random(shape) < hole_frac
    t[holes] = ignore
    return t


@pytest.fixture
def make_labels():
    return random_labels
