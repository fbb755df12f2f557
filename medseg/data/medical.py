"""2-D slices drawn from 3-D medical volumes with their masks (NIfTI or DICOM).

Each volume is read with :func:`medseg.io.load_volume`, reoriented to closest canonical RAS
(:func:`medseg.io.to_canonical`), resampled in-plane to ``cfg.spacing`` when the model has
one, z-scored once per volume (or windowed, per the model's
``cfg``), and cut into axial slices ``array[:, :, k]`` (``[X, Y]``). Optional neighbour
slices become extra channels (2.5-D input); slices past the ends repeat the edge slice.
Sampling is foreground-aware: slices whose mask has foreground are drawn ``fg_weight`` times
as often as empty ones (``weights`` feeds a ``WeightedRandomSampler``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..transforms.spacing import resample_inplane


def _load_canonical(path: str | Path) -> tuple[np.ndarray, tuple[float, ...]]:
    from ..io import load_volume, to_canonical

    vol = to_canonical(load_volume(path))
    return vol.array, tuple(float(s) for s in vol.spacing)


def resample_xy(arr: np.ndarray, spacing, target, mode: str = "bilinear") -> np.ndarray:
    """Resample ``arr [X, Y, Z]`` in-plane from ``spacing[:2]`` to ``target`` mm (z untouched);
    :func:`medseg.transforms.spacing.resample_inplane`, the rule volume inference uses."""
    return resample_inplane(arr, spacing, target, mode=mode)


class MedicalSliceDataset:
    """Axial slices of ``(volume, mask)`` pairs.

    Args:
        pairs: ``[(volume_path, mask_path), ...]``; each a NIfTI file or DICOM file/folder.
            Mask values: class indices (``binarize=True`` maps ``> 0`` to 1).
        cfg: model config for intensity normalisation (``zscore``: whole volume; ``ct_window``:
            HU window); ``None`` keeps raw values.
        neighbours: slices on each side stacked as channels (0: one channel).
        transforms: optional ``callable({"image": [C, X, Y], "label": [1, X, Y]}) -> dict``,
            e.g. :func:`medseg.transforms.medical_aug.medical_slice_augmentation`.
        fg_weight: sampling weight of slices with foreground relative to empty ones.
        binarize: map mask values ``> 0`` to 1 (brain/background style masks).

    Items: ``(image float32 [C, X, Y], label int64 [X, Y])``.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str | Path, str | Path]],
        cfg=None,
        neighbours: int = 0,
        transforms: Callable | None = None,
        fg_weight: float = 4.0,
        binarize: bool = False,
    ):
        from ..transforms.intensity import normalize_for_model

        if not pairs:
            raise ValueError("pairs is empty: pass [(volume_path, mask_path), ...]")
        self.neighbours, self.transforms = int(neighbours), transforms
        self.volumes: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.index: list[tuple[int, int]] = []
        fg: list[bool] = []
        for v, (vp, mp) in enumerate(pairs):
            img, spacing = _load_canonical(vp)
            mask, _ = _load_canonical(mp)
            if img.shape != mask.shape:
                raise ValueError(f"{vp} has shape {img.shape} but its mask {mp} has {mask.shape}")
            if cfg is not None and cfg.spacing is not None:
                img = resample_xy(img, spacing, cfg.spacing)
                mask = resample_xy(mask, spacing, cfg.spacing, mode="nearest")
            if cfg is not None:
                img = np.asarray(normalize_for_model(img, cfg))
            mask = (mask > 0) if binarize else np.rint(mask)
            self.volumes.append(img.astype(np.float32))
            self.masks.append(mask.astype(np.uint8))
            for k in range(img.shape[2]):
                self.index.append((v, k))
                fg.append(bool(self.masks[-1][:, :, k].any()))
        self.has_foreground = np.array(fg)
        self.weights = torch.as_tensor(np.where(self.has_foreground, fg_weight, 1.0))

    def sampler(self, num_samples: int | None = None, generator=None):
        """A ``WeightedRandomSampler`` implementing the foreground-aware sampling."""
        return torch.utils.data.WeightedRandomSampler(
            self.weights, num_samples or len(self), replacement=True, generator=generator
        )

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        v, k = self.index[i]
        vol = self.volumes[v]
        ks = np.clip(np.arange(k - self.neighbours, k + self.neighbours + 1), 0, vol.shape[2] - 1)
        image = np.moveaxis(vol[:, :, ks], -1, 0)  # [C, X, Y]
        label = self.masks[v][None, :, :, k]
        if self.transforms is not None:
            d = self.transforms({"image": image.copy(), "label": label.copy()})
            image, label = d["image"], d["label"]
        return (
            torch.as_tensor(np.asarray(image), dtype=torch.float32),
            torch.as_tensor(np.asarray(label)[0], dtype=torch.long),
        )
