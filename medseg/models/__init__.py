"""Model zoo: ``create_model(name, ...)`` and ``list_models()``.

Registered: ``fcn_vgg16``, ``unet``, ``deeplabv3_resnet50``, ``lraspp_mobilenet_v3`` (light,
real-time street model) and ``unet_medical`` (grayscale U-Net).
"""

from __future__ import annotations

from .base import SegmentationModel
from .registry import ModelCfg, load_checkpoint, register_model
from .zoo import create_model, get_model_cfg, list_models

__all__ = [
    "ModelCfg",
    "SegmentationModel",
    "create_model",
    "get_model_cfg",
    "list_models",
    "load_checkpoint",
    "register_model",
]
