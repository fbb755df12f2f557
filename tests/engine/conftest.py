from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.models import create_model


@pytest.fixture
def small_unet():
    torch.manual_seed(0)
    return create_model("unet", num_classes=5, base_channels=8).eval()


@pytest.fixture
def small_medical():
    torch.manual_seed(0)
    return create_model("unet_medical", base_channels=8).eval()


@pytest.fixture
def rgb_image():
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
