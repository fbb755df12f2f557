"""U-Net (Ronneberger et al., 2015) for RGB scenes and grayscale medical slices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, MEDICAL_CLASSES, MEDICAL_PALETTE
from .base import SegmentationModel
from .registry import ModelCfg, register_model


class DoubleConv(nn.Sequential):
    """(conv 3×3 → BN → ReLU) × 2."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        mid = mid_channels or out_channels
        super().__init__(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """Max-pool 2× then :class:`DoubleConv`."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """Upsample 2× (bilinear or transposed conv), concatenate the skip, :class:`DoubleConv`."""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # Sizes match because the base class pads inputs to a multiple of 16; the pad here
        # only guards direct use of the block.
        dy = skip.shape[-2] - x.shape[-2]
        dx = skip.shape[-1] - x.shape[-1]
        if dy or dx:
            x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(SegmentationModel):
    """Four-level U-Net.

    Args:
        in_channels: input channels (3 for RGB, 1 for a grayscale slice).
        num_classes: output channels (logits).
        base_channels: width of the first level (doubles at each level).
        bilinear: bilinear upsampling + conv (True) or transposed convolutions (False).
    """

    divisor = 16

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 19,
        base_channels: int = 64,
        bilinear: bool = True,
    ):
        super().__init__()
        c = base_channels
        f = 2 if bilinear else 1
        self.bilinear = bilinear
        self.inc = DoubleConv(in_channels, c)
        self.down1 = Down(c, 2 * c)
        self.down2 = Down(2 * c, 4 * c)
        self.down3 = Down(4 * c, 8 * c)
        self.down4 = Down(8 * c, 16 * c // f)
        self.up1 = Up(16 * c, 8 * c // f, bilinear)
        self.up2 = Up(8 * c, 4 * c // f, bilinear)
        self.up3 = Up(4 * c, 2 * c // f, bilinear)
        self.up4 = Up(2 * c, c, bilinear)
        self.outc = nn.Conv2d(c, num_classes, kernel_size=1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


@register_model(
    ModelCfg(
        name="unet",
        task="street",
        num_classes=19,
        in_channels=3,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        divisor=16,
        input_size=(256, 512),
        license="architecture only (no shipped weights)",
    ),
    description="U-Net (DoubleConv/Down/Up, bilinear or transposed-conv upsampling)",
)
def unet(
    num_classes: int, in_channels: int, base_channels: int = 64, bilinear: bool = True
) -> UNet:
    return UNet(in_channels, num_classes, base_channels, bilinear)


@register_model(
    ModelCfg(
        name="unet_medical",
        task="medical",
        num_classes=2,
        in_channels=5,
        class_names=MEDICAL_CLASSES,
        palette=MEDICAL_PALETTE,
        normalization="zscore",
        mean=(0.0,),
        std=(1.0,),
        spacing=(2.0, 2.0),
        divisor=16,
        input_size=(128, 128),
        weights="unet_medical.pt",
        weights_sha256="f32f600299e21bd8ba4dfa3ae6623e38b2a859fa585fc396613cebef5641dcc8",
        license=(
            "weights: Apache-2.0 (medseg); trained only on synthetic heads made from the ITK "
            "KmeansTest T1 label maps (insighttoolkit5-examples, Apache-2.0) and nilearn's "
            "MNI152 2009 maps; see medseg/models/weights/unet_medical.md"
        ),
        notes=(
            "2.5-D brain extraction for MRI heads of any contrast: each slice with 2 neighbours "
            "on each side (2 mm isotropic grid) as channels, axial, coronal and sagittal "
            "predictions averaged. Trained only on synthetic heads of random contrast "
            "(SynthStrip-style) by scripts/train_brain.py (seed 0). Held-out Colin27 results "
            "in the model card. Research demo, not for clinical use."
        ),
        modalities=("MR",),
        contrast="",  # contrast-agnostic (synthetic random-contrast training)
        body_part="head",
        context_slices=2,
        volume_planes=("axial", "coronal", "sagittal"),
    ),
    description="grayscale U-Net for medical slices (binary or multi-class)",
)
def unet_medical(
    num_classes: int, in_channels: int, base_channels: int = 16, bilinear: bool = True
) -> UNet:
    return UNet(in_channels, num_classes, base_channels, bilinear)
