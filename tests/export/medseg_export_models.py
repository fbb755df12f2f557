"""Small variants of every registered model for the export tests (a uniquely named module:
``from conftest import ...`` would pick up another folder's conftest in a full run)."""

from __future__ import annotations

import torch

from medseg.models import create_model

# Small variants keep the parity tests fast; the architecture (and so the exported graph's
# operators) is the same as the full-size model.
SMALL_KW = {
    "fcn_vgg16": {"fc_channels": 16},
    "unet": {"base_channels": 8},
    "unet_medical": {"base_channels": 8},
    "lraspp_mobilenet_v3": {},
    "deeplabv3_resnet50": {},
}
HEAVY = {"deeplabv3_resnet50", "fcn_vgg16"}


def small_model(name: str):
    torch.manual_seed(0)
    return create_model(name, **SMALL_KW.get(name, {})).eval()
