"""FCN-8s on a VGG16 backbone (Long, Shelhamer & Darrell, 2015).

Instead of the original 100-pixel input padding (which makes output crops depend on input
size), the base class pads inputs to a multiple of 32 and ``fc6`` is a 7×7 convolution with
``padding=3``: at 256×256 the ``pool5`` map is 8×8 (not the degenerate 1×1 the tutorial's
un-padded fc6 gives), and every skip aligns exactly, so no crop offsets are needed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.models import vgg16

from ..labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .base import SegmentationModel
from .registry import ModelCfg, register_model


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights ``[C, C, k, k]`` that make ``ConvTranspose2d`` start as bilinear upsampling."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    w = np.zeros((channels, channels, kernel_size, kernel_size), dtype=np.float32)
    w[range(channels), range(channels)] = filt
    return torch.from_numpy(w)


def _upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    k = 2 * factor
    up = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, k))
    return up


class FCN8s(SegmentationModel):
    """FCN-8s: score ``pool5`` (via conv fc6/fc7), fuse with scored ``pool4`` and ``pool3``.

    Args:
        num_classes: output classes.
        in_channels: input channels (the first VGG conv is rebuilt when not 3).
        fc_channels: width of fc6/fc7 (4096 in the paper).
    """

    divisor = 32

    def __init__(self, num_classes: int = 19, in_channels: int = 3, fc_channels: int = 4096):
        super().__init__()
        features = vgg16(weights=None).features
        if in_channels != 3:
            features[0] = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.stage3 = features[:17]  # → pool3, stride 8, 256 ch
        self.stage4 = features[17:24]  # → pool4, stride 16, 512 ch
        self.stage5 = features[24:31]  # → pool5, stride 32, 512 ch
        self.fc = nn.Sequential(
            nn.Conv2d(512, fc_channels, 7, padding=3),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
            nn.Conv2d(fc_channels, fc_channels, 1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
        )
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        # Skip scorers start at zero, as in the paper's staged training, so the net starts as
        # FCN-32s and learns to use the finer skips.
        for m in (self.score_pool4, self.score_pool3):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.up2_a = _upsampler(num_classes, 2)
        self.up2_b = _upsampler(num_classes, 2)
        self.up8 = _upsampler(num_classes, 8)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.stage3(x)
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        s = self.score_fr(self.fc(p5))
        s = self.up2_a(s) + self.score_pool4(p4)
        s = self.up2_b(s) + self.score_pool3(p3)
        return self.up8(s)


@register_model(
    ModelCfg(
        name="fcn_vgg16",
        task="street",
        num_classes=19,
        in_channels=3,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        divisor=32,
        input_size=(256, 512),
        license="architecture only (no shipped weights)",
    ),
    description="FCN-8s, VGG16 backbone, skip fusion of pool3/pool4, bilinear-initialised upsampling",
)
def fcn_vgg16(num_classes: int, in_channels: int, fc_channels: int = 4096) -> FCN8s:
    return FCN8s(num_classes, in_channels, fc_channels)
