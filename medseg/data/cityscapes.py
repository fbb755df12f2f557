"""Cityscapes on its official folder layout, labelIds mapped to the 19 train IDs.

Layout (as downloaded from cityscapes-dataset.com)::

    root/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    root/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png

Targets are the train IDs (0..18) with 255 = ignore, mapped from ``*_labelIds.png`` with
:func:`medseg.labels.label_ids_to_train_ids` (``*_labelTrainIds.png`` from the official
``createTrainIdLabelImgs`` script is not required, and is used directly when asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..labels import label_ids_to_train_ids

_SUFFIX = {"semantic": "_gtFine_labelIds.png", "train_ids": "_gtFine_labelTrainIds.png"}


def _read_png(path: Path, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert(mode)) if mode == "RGB" else np.asarray(im)


class CityscapesDataset:
    """Map-style dataset of ``(image, target)`` pairs (a ``torch.utils.data.Dataset``).

    Args:
        root: folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``"train"``, ``"val"`` or ``"test"`` (test labels are all ignore upstream).
        transforms: optional ``callable(image, target) -> (x, y)`` (e.g.
            :func:`medseg.transforms.joint.train_transforms`); without it items are numpy
            ``uint8 [H, W, 3]`` RGB and ``uint8 [H, W]`` train IDs.
        target_type: ``"semantic"`` (read ``*_labelIds.png`` and map to train IDs) or
            ``"train_ids"`` (read ``*_labelTrainIds.png`` as they are).

    Raises:
        FileNotFoundError: the split folder is missing or an image has no label file.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transforms: Callable | None = None,
        target_type: str = "semantic",
    ):
        if target_type not in _SUFFIX:
            raise ValueError(f"target_type must be one of {sorted(_SUFFIX)}, got {target_type!r}")
        self.root, self.split = Path(root), split
        self.transforms, self.target_type = transforms, target_type
        img_dir = self.root / "leftImg8bit" / split
        if not img_dir.is_dir():
            raise FileNotFoundError(
                f"{img_dir} not found: expected the official layout "
                "root/leftImg8bit/{split}/{city}/*_leftImg8bit.png and root/gtFine/..."
            )
        self.images = sorted(img_dir.glob("*/*_leftImg8bit.png"))
        if not self.images:
            raise FileNotFoundError(f"no *_leftImg8bit.png files under {img_dir}/<city>/")
        self.targets = []
        for p in self.images:
            stem = p.name[: -len("_leftImg8bit.png")]
            t = self.root / "gtFine" / split / p.parent.name / (stem + _SUFFIX[target_type])
            if not t.is_file():
                raise FileNotFoundError(f"label file {t} missing for image {p}")
            self.targets.append(t)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = _read_png(self.images[i], "RGB")
        lab = _read_png(self.targets[i], "L")
        if self.target_type == "semantic":
            lab = label_ids_to_train_ids(lab)
        if self.transforms is not None:
            return self.transforms(img, lab)
        return img, lab
