"""Fixtures: tiny logits/targets with ignore holes."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def case():
    """logits [2, 3, 4, 5] and targets with ignore holes."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 4, 5, generator=g) * 2
    t = torch.randint(0, 3, (2, 4, 5), generator=g)
    t[0, 0, :] = 255
    t[1, :, 4] = 255
    t[1, 2, 1] = 255
    return x, t


@pytest.fixture
def binary_case():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 1, 4, 5, generator=g) * 2
    t = torch.randint(0, 2, (2, 4, 5), generator=g)
    t[0, 1, :] = 255
    return x, t
