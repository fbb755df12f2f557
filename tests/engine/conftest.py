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
    m = create_model("unet_medical", in_channels=1, base_channels=8).eval()
    # the classic path (axial 2-D slices at the volume's own z); the tri-planar 2.5-D path of
    # the shipped model is tested with its own cfg (test_volume.py, tests/transforms)
    m.cfg = m.cfg.replace(volume_planes=())
    return m


@pytest.fixture
def rgb_image():
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
