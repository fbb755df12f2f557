"""Joint RGB image + label-map transforms on ``torchvision.transforms.v2``.

The image and its mask go through one v2 pipeline as ``tv_tensors.Image`` / ``tv_tensors.Mask``,
so every random geometric choice (scale, crop window, flip) is shared, masks are resized with
nearest neighbour, and pixels a crop pads are filled with 255 (ignore) in the mask and the
dataset mean in the image (0 after normalisation). Colour jitter touches only the image.
Normalisation comes from the model's :class:`~medseg.models.ModelCfg` through
:func:`medseg.transforms.intensity.normalize_for_model`, so training and inference agree.

Example:
    >>> t = train_transforms(get_model_cfg("lraspp_mobilenet_v3"), crop_size=(256, 256))
    >>> x, y = t(image_uint8_hwc, label_uint8_hw)   # x: float32 [3, 256, 256], y: int64 [256, 256]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ..labels import IGNORE_INDEX
from .intensity import normalize_for_model


class RandomScale(v2.Transform):
    """Resize by a factor drawn from ``scales`` (image bilinear + antialias, mask nearest).

    Args:
        scales: candidate factors, e.g. ``(0.5, 0.75, 1.0, 1.25, 1.5)``.
    """

    def __init__(self, scales: Sequence[float]):
        super().__init__()
        if not scales or min(scales) <= 0:
            raise ValueError(f"scales must be positive factors, got {scales!r}")
        self.scales = tuple(float(s) for s in scales)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = v2.query_size(flat_inputs)
        s = self.scales[int(torch.randint(len(self.scales), ()))]
        return {"size": [max(1, round(h * s)), max(1, round(w * s))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        # v2 dispatches Mask to a nearest-neighbour kernel; images get bilinear + antialias.
        return TF.resize(inpt, params["size"], antialias=True)


class JointTransform:
    """Callable ``(image, mask) -> (x, y)`` around a v2 pipeline.

    Args:
        pipeline: v2 transforms applied to ``(tv_tensors.Image uint8, tv_tensors.Mask)``.
        cfg: model config whose normalisation is applied last (``None``: return uint8).

    Inputs: ``image`` uint8 ``[H, W, 3]`` numpy (or ``[3, H, W]`` tensor), ``mask`` integer
    ``[H, W]``. Outputs: ``x`` float32 ``[3, H', W']`` normalised, ``y`` int64 ``[H', W']``.
    """

    def __init__(self, pipeline: Sequence[v2.Transform], cfg=None):
        self.pipeline = v2.Compose(list(pipeline))
        self.cfg = cfg

    def __call__(self, image, mask) -> tuple[torch.Tensor, torch.Tensor]:
        img = _to_image(image)
        m = torch.as_tensor(np.asarray(mask))
        if m.dim() != 2:
            raise ValueError(f"mask must be [H, W], got shape {tuple(m.shape)}")
        if m.shape != img.shape[-2:]:
            raise ValueError(
                f"image {tuple(img.shape[-2:])} and mask {tuple(m.shape)} differ in size"
            )
        img, m = self.pipeline(img, tv_tensors.Mask(m[None].to(torch.uint8)))
        y = m.as_subclass(torch.Tensor)[0].long()
        x = img.as_subclass(torch.Tensor)
        if self.cfg is not None:
            x = normalize_for_model(x, self.cfg, channel_axis=0)
        return x, y


def _to_image(image) -> tv_tensors.Image:
    if isinstance(image, torch.Tensor):
        t = image
    else:
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3:
            raise ValueError(f"image must be [H, W, C] or [H, W], got shape {a.shape}")
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
    if t.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 image (0..255), got {t.dtype}")
    return tv_tensors.Image(t)


def _mean_fill(cfg) -> list[int] | int:
    """uint8 image fill that normalises to ~0 (the dataset mean), for crop padding."""
    if cfg is None or cfg.normalization != "imagenet":
        return 0
    return [round(255 * m) for m in cfg.mean]


def train_transforms(
    cfg=None,
    crop_size: tuple[int, int] = (256, 512),
    scales: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5),
    hflip: float = 0.5,
    color_jitter: tuple[float, float, float, float] | None = (0.3, 0.3, 0.3, 0.03),
) -> JointTransform:
    """Multi-scale training augmentation.

    Colour jitter → random scale from ``scales`` → random crop ``crop_size`` (padding when the
    scaled image is smaller: image with the mean, mask with 255) → horizontal flip → normalise.

    Args:
        cfg: :class:`~medseg.models.ModelCfg` (normalisation); ``None`` leaves uint8.
        crop_size: ``(H, W)`` of the output.
        scales: scale factors to draw from (``(1.0,)`` disables multi-scale).
        hflip: flip probability.
        color_jitter: ``(brightness, contrast, saturation, hue)`` or ``None``.
    """
    # Jitter first, so it cannot shift the mean-valued padding the crop adds.
    ops: list[v2.Transform] = [] if color_jitter is None else [v2.ColorJitter(*color_jitter)]
    ops += [
        RandomScale(scales),
        v2.RandomCrop(
            crop_size,
            pad_if_needed=True,
            fill={tv_tensors.Image: _mean_fill(cfg), tv_tensors.Mask: IGNORE_INDEX},
        ),
        v2.RandomHorizontalFlip(hflip),
    ]
    return JointTransform(ops, cfg)


def eval_transforms(cfg=None, size: tuple[int, int] | None = None) -> JointTransform:
    """Optional resize to ``size`` (mask nearest) then normalise; no randomness."""
    ops: list[v2.Transform] = [] if size is None else [v2.Resize(size, antialias=True)]
    return JointTransform(ops or [v2.Identity()], cfg)
