from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medseg.data.cityscapes import CityscapesDataset


def _write_tree(root, split="val", city="leuven", n=2, seed=0):
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        stem = f"{city}_{i:06d}_000019"
        img_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)).save(
            img_dir / f"{stem}_leftImg8bit.png"
        )
        lab = rng.integers(0, 34, (6, 10)).astype(np.uint8)  # every official labelId 0..33
        Image.fromarray(lab).save(gt_dir / f"{stem}_gtFine_labelIds.png")
        ids.append(lab)
    return ids


def test_label_ids_map_to_official_train_ids(tmp_path):
    from cityscapesscripts.helpers.labels import id2label  # the official table

    label_ids = _write_tree(tmp_path)
    ds = CityscapesDataset(tmp_path, "val")
    assert len(ds) == 2
    for i, lab in enumerate(label_ids):
        img, target = ds[i]
        assert img.shape == (6, 10, 3) and img.dtype == np.uint8
        expected = np.vectorize(lambda v: id2label[int(v)].trainId)(lab)
        expected[expected < 0] = 255  # official trainId -1 (license plate) / 255 = ignore
        np.testing.assert_array_equal(target, expected.astype(np.uint8))


def test_transforms_are_applied(tmp_path):
    _write_tree(tmp_path, n=1)
    ds = CityscapesDataset(tmp_path, "val", transforms=lambda im, t: (im.sum(), t.max()))
    s, m = ds[0]
    assert m <= 255 and s > 0


def test_missing_split_and_labels_give_actionable_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="official layout"):
        CityscapesDataset(tmp_path, "train")
    _write_tree(tmp_path, n=1)
    next((tmp_path / "gtFine").rglob("*_labelIds.png")).unlink()
    with pytest.raises(FileNotFoundError, match="label file"):
        CityscapesDataset(tmp_path, "val")
