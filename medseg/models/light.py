"""Light real-time street model: LR-ASPP on MobileNetV3-Large (Howard et al., 2019).

Built from torchvision's implementation (use, don't write); this wrapper adds the medseg
contract (tensor output, ``cfg``) and accepts torchvision checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from ..labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .base import SegmentationModel
from .registry import ModelCfg, register_model


class LRASPPMobileNetV3(SegmentationModel):
    divisor = 16

    def __init__(self, num_classes: int = 19, in_channels: int = 3):
        super().__init__()
        self.net = lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=num_classes
        )
        if in_channels != 3:
            first = self.net.backbone["0"][0]
            self.net.backbone["0"][0] = nn.Conv2d(
                in_channels,
                first.out_channels,
                first.kernel_size,
                first.stride,
                first.padding,
                bias=False,
            )

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]

    @staticmethod
    def adapt_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Accept torchvision ``lraspp_mobilenet_v3_large`` keys (no ``net.`` prefix)."""
        if state and not any(k.startswith("net.") for k in state):
            return {"net." + k: v for k, v in state.items()}
        return state


@register_model(
    ModelCfg(
        name="lraspp_mobilenet_v3",
        task="street",
        num_classes=19,
        in_channels=3,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        divisor=16,
        input_size=(256, 512),
        weights="lraspp_mobilenet_v3.pt",
        weights_sha256="695cecc2bbffafdfe8055c5658687dbca7f459d5e2a3e2ea8f1bec78c712b931",
        license=(
            "weights: Apache-2.0 (medseg); trained only on medseg's procedural synthetic "
            "scenes; see medseg/models/weights/lraspp_mobilenet_v3.md"
        ),
        notes=(
            "Trained from scratch (no ImageNet backbone) on procedurally generated "
            "Cityscapes-style scenes at 256x512 by scripts/train_street.py (seeds fixed). "
            "Held-out synthetic mIoU 0.47; transfer to real photos is limited: a demo model, "
            "not a Cityscapes model."
        ),
    ),
    description="LR-ASPP MobileNetV3-Large: the light real-time street model",
)
def lraspp_mobilenet_v3(num_classes: int, in_channels: int) -> LRASPPMobileNetV3:
    return LRASPPMobileNetV3(num_classes, in_channels)
