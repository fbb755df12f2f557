"""DeepLabV3 with a dilated ResNet-50 (Chen et al., 2017), torchvision-compatible.

The module tree mirrors ``torchvision.models.segmentation.deeplabv3_resnet50`` (``backbone``,
``classifier``), so torchvision checkpoints load directly (``aux_classifier`` weights are
dropped). Differences: output stride 16 or 8 with ASPP rates scaled accordingly, and an image
pooling branch that also works for batch size 1 in train mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import ASPPPooling, DeepLabHead

from ..labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .base import SegmentationModel
from .registry import ModelCfg, register_model

_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}
_DILATE = {16: [False, False, True], 8: [False, True, True]}


class _BatchSafeASPPPooling(ASPPPooling):
    """ASPP image pooling whose BatchNorm falls back to running stats for a 1×1×1 batch.

    BatchNorm cannot estimate statistics from one value per channel (batch 1 after global
    pooling), which makes torchvision's head raise in train mode; we normalise with the
    running statistics in that case instead. Parameter names are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = self[1](self[0](x))
        bn: nn.BatchNorm2d = self[2]
        if self.training and y.shape[0] == 1:
            y = F.batch_norm(
                y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
            )
        else:
            y = bn(y)
        y = self[3](y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class DeepLabV3(SegmentationModel):
    """DeepLabV3-ResNet50.

    Args:
        num_classes: output classes.
        in_channels: input channels (conv1 is rebuilt when not 3).
        output_stride: 16 (ASPP rates 6/12/18) or 8 (12/24/36, torchvision's setting).
    """

    def __init__(self, num_classes: int = 19, in_channels: int = 3, output_stride: int = 16):
        super().__init__()
        if output_stride not in _RATES:
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        self.output_stride = output_stride
        self.divisor = output_stride
        net = resnet50(weights=None, replace_stride_with_dilation=_DILATE[output_stride])
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.backbone = IntermediateLayerGetter(net, return_layers={"layer4": "out"})
        self.classifier = DeepLabHead(2048, num_classes, atrous_rates=_RATES[output_stride])
        pooling = self.classifier[0].convs[-1]
        pooling.__class__ = _BatchSafeASPPPooling

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = self.classifier(self.backbone(x)["out"])
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)

    @staticmethod
    def adapt_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Drop torchvision's auxiliary head, keep everything else as is."""
        return {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}


@register_model(
    ModelCfg(
        name="deeplabv3_resnet50",
        task="street",
        num_classes=19,
        in_channels=3,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        divisor=16,
        input_size=(256, 512),
        license="architecture only (no shipped weights); loads torchvision checkpoints",
    ),
    description="DeepLabV3, dilated ResNet-50, ASPP, output stride 16 (default) or 8",
)
def deeplabv3_resnet50(num_classes: int, in_channels: int, output_stride: int = 16) -> DeepLabV3:
    return DeepLabV3(num_classes, in_channels, output_stride)
