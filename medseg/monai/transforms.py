"""MONAI transforms for the medical models' preprocessing contract.

The brain-extraction U-Net (``unet_medical``) was trained on axial slices resampled in-plane
with ``torch.nn.functional.interpolate(..., mode="bilinear", align_corners=False)`` to
``round(n * spacing / cfg.spacing)`` pixels (:mod:`medseg.transforms.spacing`, the rule
training and ``medseg.engine.volume`` share). MONAI's ``Spacing`` resamples on a different grid (it keeps
the first voxel's centre fixed rather than the field-of-view edges) and rounds sizes its own
way, so it does not reproduce that contract; :class:`InPlaneResample` does, by computing the
target size per image and delegating the resampling itself to MONAI's ``Resize`` (which uses
the same ``interpolate`` call, updates the affine, and is inverted by ``Invertd``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.transforms import InvertibleTransform, MapTransform, Resize

from ..transforms.spacing import inplane_size

__all__ = [
    "InPlaneResample",
    "InPlaneResampled",
    "inplane_size",
]


class InPlaneResample(Resize):
    """Resample the first two spatial axes ``(x, y)`` to ``spacing`` mm; leave ``z`` alone.

    Args:
        spacing: target in-plane spacing ``(sx, sy)`` in mm (e.g. ``model.cfg.spacing``).
            ``None`` leaves the image as it is (a model with no preferred spacing).
        mode: ``"linear"`` (bilinear in-plane; default) or ``"nearest"`` (for label maps).

    The input is channel-first ``[C, X, Y]`` or ``[C, X, Y, Z]``; the current spacing is read
    from the ``MetaTensor``'s affine. The output's affine is updated, and MONAI's ``Invertd`` /
    :meth:`inverse` resizes back to the original size with the same interpolation (which for
    logits is the contract's "logits back to the original in-plane size, bilinear").
    """

    def __init__(self, spacing: Sequence[float] | None, mode: str = "linear") -> None:
        if mode not in ("linear", "nearest"):
            raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
        if spacing is not None:
            spacing = tuple(float(s) for s in spacing)
            if len(spacing) < 2 or min(spacing[:2]) <= 0:
                raise ValueError(f"spacing must be two positive numbers (mm), got {spacing}")
        super().__init__(spatial_size=-1, mode="bilinear" if mode == "linear" else "nearest")
        self.target = spacing
        self.linear = mode == "linear"

    def __call__(self, img: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if self.target is None:
            return img
        if not isinstance(img, MetaTensor):
            raise TypeError(
                "InPlaneResample needs a MetaTensor with an affine (load the image with "
                "LoadImage/LoadImaged, or use medseg.io.Volume.to_metatensor())"
            )
        nd = img.ndim - 1
        if nd not in (2, 3):
            raise ValueError(f"expected [C, X, Y] or [C, X, Y, Z], got shape {tuple(img.shape)}")
        spacing = affine_to_spacing(img.affine, r=nd).tolist()
        size = inplane_size(img.shape[1:3], spacing, self.target)
        self.spatial_size = (*size, *img.shape[3:])
        mode = ("bilinear" if nd == 2 else "trilinear") if self.linear else "nearest"
        # align_corners=False is what the models were trained with (torch's default).
        return super().__call__(img, mode=mode, align_corners=False if self.linear else None)


class InPlaneResampled(MapTransform, InvertibleTransform):
    """Dictionary version of :class:`InPlaneResample`.

    Args:
        keys: keys to resample.
        spacing: target in-plane spacing (mm) or ``None`` (no change).
        mode: ``"linear"`` or ``"nearest"``, one for all keys or one per key.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spacing: Sequence[float] | None,
        mode: str | Sequence[str] = "linear",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        if len(modes) != len(self.keys):
            raise ValueError(f"got {len(modes)} modes for {len(self.keys)} keys")
        self.resamplers = {k: InPlaneResample(spacing, m) for k, m in zip(self.keys, modes)}

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resamplers[key](d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            r = self.resamplers[key]
            if r.target is not None:
                d[key] = r.inverse(d[key])
        return d


class IsotropicResample(Resize):
    """Resample all three spatial axes to ``spacing`` mm: the grid of the 2.5-D tri-planar models.

    ``round(n * spacing_i / spacing)`` voxels per axis (the physical extent kept), trilinear
    with ``align_corners=False`` — :func:`medseg.transforms.volume_views.resample` as a MONAI
    transform; ``Invertd`` resizes back (trilinear) to the original grid.

    Args:
        spacing: target spacing (mm); a sequence (e.g. ``model.cfg.spacing``) uses its first
            value; ``None`` leaves the image as it is.
        mode: ``"linear"`` (default) or ``"nearest"`` (label maps).
    """

    def __init__(self, spacing: float | Sequence[float] | None, mode: str = "linear") -> None:
        if mode not in ("linear", "nearest"):
            raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
        if spacing is not None:
            spacing = float(spacing[0] if isinstance(spacing, Sequence) else spacing)
            if spacing <= 0:
                raise ValueError(f"spacing must be a positive number (mm), got {spacing}")
        super().__init__(spatial_size=-1, mode="trilinear" if mode == "linear" else "nearest")
        self.target = spacing
        self.linear = mode == "linear"

    def __call__(self, img: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if self.target is None:
            return img
        if not isinstance(img, MetaTensor):
            raise TypeError("IsotropicResample needs a MetaTensor with an affine")
        if img.ndim != 4:
            raise ValueError(f"expected [C, X, Y, Z], got shape {tuple(img.shape)}")
        from ..transforms.volume_views import isotropic_size

        spacing = affine_to_spacing(img.affine, r=3).tolist()
        self.spatial_size = isotropic_size(img.shape[1:], spacing, self.target)
        mode = "trilinear" if self.linear else "nearest"
        return super().__call__(img, mode=mode, align_corners=False if self.linear else None)


class IsotropicResampled(InPlaneResampled):
    """Dictionary version of :class:`IsotropicResample` (same arguments as
    :class:`InPlaneResampled`)."""

    def __init__(
        self,
        keys: KeysCollection,
        spacing: float | Sequence[float] | None,
        mode: str | Sequence[str] = "linear",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        if len(modes) != len(self.keys):
            raise ValueError(f"got {len(modes)} modes for {len(self.keys)} keys")
        self.resamplers = {k: IsotropicResample(spacing, m) for k, m in zip(self.keys, modes)}
