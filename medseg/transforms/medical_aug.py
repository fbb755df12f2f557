"""MONAI dictionary augmentation for 2-D medical slices (``{"image", "label"}`` dicts).

Built from MONAI transforms (use, don't write); two small transforms are ours because MONAI
has no equivalent: :class:`RandSliceZScored` (re-normalise a slice on its own, as the app does
for a single uploaded 2-D image) and :class:`RandPadCropd` (pad with a random choice of the
image minimum or 0, the value the models pad with internally, then crop at random).

Arrays are channel-first: image ``[C, H, W]`` float32 (already z-scored), label ``[1, H, W]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import torch
from monai.transforms import (
    Compose,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    Randomizable,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from .intensity import zscore_normalize


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class RandSliceZScored(Randomizable, MapTransform):
    """With probability ``prob``, z-score each image on its own (percentile clip + z-score)."""

    def __init__(self, keys: Sequence[Hashable] = ("image",), prob: float = 0.3):
        MapTransform.__init__(self, keys)
        self.prob = prob
        self._do = False

    def randomize(self, data=None) -> None:
        self._do = self.R.rand() < self.prob

    def __call__(self, data):
        d = dict(data)
        self.randomize()
        if self._do:
            for k in self.key_iterator(d):
                d[k] = zscore_normalize(_as_numpy(d[k]))
        return d


class RandPadCropd(Randomizable, MapTransform):
    """Pad to at least ``size`` then crop ``size`` at a random position (image and label alike).

    The image is padded with its minimum (background) or, with probability ``zero_prob``, with
    0 — what :class:`medseg.models.base.SegmentationModel` pads with at inference — so the
    model has seen both. Labels are padded with ``label_pad`` (0 = background).
    """

    def __init__(
        self,
        keys: Sequence[Hashable] = ("image", "label"),
        size: tuple[int, int] = (128, 128),
        image_key: str = "image",
        zero_prob: float = 0.3,
        label_pad: int = 0,
    ):
        MapTransform.__init__(self, keys)
        self.size = tuple(size)
        self.image_key = image_key
        self.zero_prob = zero_prob
        self.label_pad = label_pad

    def __call__(self, data):
        d = dict(data)
        h, w = _as_numpy(d[self.image_key]).shape[-2:]
        th, tw = self.size
        ph, pw = max(th - h, 0), max(tw - w, 0)
        # Random placement of the original inside the padded canvas, then a random crop.
        top, left = self.R.randint(0, ph + 1), self.R.randint(0, pw + 1)
        zero = self.R.rand() < self.zero_prob
        hh, ww = h + ph, w + pw
        y0, x0 = self.R.randint(0, hh - th + 1), self.R.randint(0, ww - tw + 1)
        for k in self.key_iterator(d):
            a = _as_numpy(d[k])
            if k == self.image_key:
                fill = 0.0 if zero else float(a.min())
            else:
                fill = self.label_pad
            out = np.full(a.shape[:-2] + (hh, ww), fill, dtype=a.dtype)
            out[..., top : top + h, left : left + w] = a
            d[k] = np.ascontiguousarray(out[..., y0 : y0 + th, x0 : x0 + tw])
        return d


def medical_slice_augmentation(
    size: tuple[int, int] = (128, 128),
    *,
    scale_range: float = 0.3,
    rotate_range: float = 0.35,
    slice_zscore_prob: float = 0.3,
    seed: int | None = None,
) -> Compose:
    """Training augmentation for z-scored 2-D slices with a label map.

    Spatial: all 8 flips/90° rotations/transposes (so display-oriented PNG slices work),
    random affine (rotation ``±rotate_range`` rad, isotropic scale ``1 ± scale_range`` —
    stands in for other pixel spacings), pad/crop to ``size``. Intensity: bias field, gamma,
    scale/shift, blur, noise, and per-slice z-score with ``slice_zscore_prob``.

    Args:
        size: output ``(H, W)``.
        scale_range: relative zoom range.
        rotate_range: rotation range in radians.
        slice_zscore_prob: probability of re-normalising the slice on its own.
        seed: seed for all random transforms (``None``: MONAI default).

    Returns:
        A MONAI ``Compose`` over dicts with ``"image"`` ``[C, H, W]`` and ``"label"`` ``[1, H, W]``.
    """
    keys = ("image", "label")
    t = Compose(
        [
            RandRotate90d(keys, prob=0.75, max_k=3, spatial_axes=(0, 1)),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandAffined(
                keys,
                prob=0.8,
                rotate_range=rotate_range,
                scale_range=(scale_range, scale_range),
                translate_range=(8, 8),
                mode=("bilinear", "nearest"),
                padding_mode=("border", "zeros"),
            ),
            RandBiasFieldd("image", prob=0.3, coeff_range=(0.0, 0.3)),
            RandAdjustContrastd("image", prob=0.3, gamma=(0.6, 1.6)),
            RandScaleIntensityd("image", factors=0.2, prob=0.5),
            RandShiftIntensityd("image", offsets=0.3, prob=0.5),
            RandGaussianSmoothd("image", prob=0.2, sigma_x=(0.3, 1.0), sigma_y=(0.3, 1.0)),
            RandGaussianNoised("image", prob=0.3, std=0.1),
            RandSliceZScored("image", prob=slice_zscore_prob),
            RandPadCropd(keys, size=size),
        ]
    )
    if seed is not None:
        t.set_random_state(seed=seed)
    return t
