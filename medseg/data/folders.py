"""Generic image/mask folder dataset (also VOC-style palette PNG masks).

Images and masks are paired by file stem: ``images/abc.jpg`` ↔ ``masks/abc.png``. Mask
files are read as class indices:

* palette PNGs (PIL mode ``"P"``, as in Pascal VOC ``SegmentationClass``): the palette
  *indices* are the classes (VOC's 255 border stays 255 = ignore);
* grayscale PNGs (mode ``"L"``/``"I"``): the values are the classes;
* RGB masks: each colour is looked up in ``palette`` (unknown colours → 255).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..io.kinds import IMAGE_SUFFIXES
from ..labels import IGNORE_INDEX


def read_mask(path: str | Path, palette: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Read a mask file as ``uint8 [H, W]`` class indices (see module docstring)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("P", "L", "I", "I;16"):
            a = np.asarray(im)
            if a.max(initial=0) > 255:
                raise ValueError(f"{path}: mask values above 255 cannot be class indices")
            return a.astype(np.uint8)
        rgb = np.asarray(im.convert("RGB"))
    if palette is None:
        raise ValueError(
            f"{path} is a colour ({im.mode}) mask: pass palette=[(r, g, b), ...] to map colours "
            "to classes, or save masks as palette/grayscale PNGs of class indices"
        )
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b in palette], dtype=np.int64)
    out = np.full(code.shape, IGNORE_INDEX, np.uint8)
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], code), 0, len(keys) - 1)
    hit = keys[order][pos] == code
    out[hit] = order[pos[hit]].astype(np.uint8)
    return out


class ImageMaskFolder:
    """Map-style dataset over ``image_dir`` and ``mask_dir`` paired by stem.

    Args:
        image_dir: folder of RGB images.
        mask_dir: folder of masks (same stems, any image extension).
        transforms: optional ``callable(image, mask) -> (x, y)``.
        palette: colour → class table for RGB masks.
        ids: optional list of stems to use (e.g. from VOC ``ImageSets/Segmentation/train.txt``).

    Items without transforms: ``uint8 [H, W, 3]`` RGB and ``uint8 [H, W]`` class indices.
    """

    def __init__(
        self,
        image_dir: str | Path,
        mask_dir: str | Path,
        transforms: Callable | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        ids: Sequence[str] | None = None,
    ):
        image_dir, mask_dir = Path(image_dir), Path(mask_dir)
        for d in (image_dir, mask_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"{d} is not a folder")
        masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        stems = sorted(ids) if ids is not None else sorted(images)
        missing = [s for s in stems if s not in images or s not in masks]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} item(s) lack an image or a mask, e.g. {missing[:3]} "
                f"(images in {image_dir}, masks in {mask_dir}, paired by file stem)"
            )
        if not stems:
            raise FileNotFoundError(f"no images in {image_dir}")
        self.items = [(images[s], masks[s]) for s in stems]
        self.transforms, self.palette = transforms, palette

    @classmethod
    def voc(cls, root: str | Path, split: str = "train", transforms: Callable | None = None):
        """Pascal VOC layout: ``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation``."""
        root = Path(root)
        ids = (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        return cls(root / "JPEGImages", root / "SegmentationClass", transforms, ids=ids)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        from PIL import Image

        img_path, mask_path = self.items[i]
        with Image.open(img_path) as im:
            img = np.asarray(im.convert("RGB"))
        mask = read_mask(mask_path, self.palette)
        if mask.shape != img.shape[:2]:
            raise ValueError(f"{img_path} is {img.shape[:2]} but {mask_path} is {mask.shape}")
        if self.transforms is not None:
            return self.transforms(img, mask)
        return img, mask
