"""MONAI array transforms for CT windowing and MR normalisation.

Thin wrappers over the plain functions in :mod:`medseg.transforms.intensity` and
:mod:`medseg.transforms.windows`, so a ``Compose`` pipeline and direct calls give the same
numbers. Inputs are channel-first arrays/tensors (``(C, spatial...)``, as MONAI loads them);
``MetaTensor`` inputs keep their affine and meta data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.transforms import Transform
from monai.utils import TransformBackends
from monai.utils.type_conversion import convert_to_dst_type

from .intensity import zscore_normalize
from .windows import WindowSpec, apply_window_preset, get_window, stack_windows

__all__ = ["CTWindow", "MultiWindow", "PercentileZScore"]


class CTWindow(Transform):
    """Window Hounsfield units to float32 [0, 1] with a named preset or ``(center, width)``.

    Args:
        window: a name from :data:`~medseg.transforms.windows.WINDOW_PRESETS` (``"brain"``,
            ``"lung"``, ...) or ``(center, width)``.

    Example::

        Compose([LoadImage(ensure_channel_first=True), CTWindow("brain")])
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, window: WindowSpec = "brain") -> None:
        self.window = get_window(window)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        out = apply_window_preset(img, self.window)
        return convert_to_dst_type(
            out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32
        )[0]


class MultiWindow(Transform):
    """Several CT windows of a one-channel HU image stacked as channels.

    Args:
        windows: names or ``(center, width)`` pairs, one per output channel, e.g.
            ``("brain", "subdural", "bone")``.

    Input ``(1, spatial...)`` → output ``(len(windows), spatial...)`` float32.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, windows: Sequence[WindowSpec] = ("brain", "subdural", "bone")) -> None:
        self.windows = [get_window(w) for w in windows]
        if not self.windows:
            raise ValueError("need at least one window")

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if img.shape[0] != 1:
            raise ValueError(f"MultiWindow expects one input channel, got shape {tuple(img.shape)}")
        out = stack_windows(img[0], self.windows, axis=0)
        return convert_to_dst_type(
            out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32
        )[0]


class PercentileZScore(Transform):
    """MR intensity normalisation: clip to percentiles, then z-score.

    Args:
        lower, upper: percentiles of the image's own values used for clipping.
        channel_wise: statistics per channel (default) instead of over the whole array.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, lower: float = 0.5, upper: float = 99.5, channel_wise: bool = True) -> None:
        if not 0 <= lower < upper <= 100:
            raise ValueError(f"need 0 <= lower < upper <= 100, got {lower}, {upper}")
        self.lower, self.upper, self.channel_wise = lower, upper, channel_wise

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        if self.channel_wise:
            out = np.stack([zscore_normalize(c, self.lower, self.upper) for c in a])
        else:
            out = zscore_normalize(a, self.lower, self.upper)
        return convert_to_dst_type(
            out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32
        )[0]
