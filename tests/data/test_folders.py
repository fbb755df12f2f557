from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medseg.data.folders import ImageMaskFolder, read_mask


def _voc_palette():
    # Pascal VOC colour map (bit-interleaved), the standard definition.
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def test_voc_palette_png_reads_indices_and_keeps_255(tmp_path):
    idx = np.array([[0, 1, 2], [15, 255, 20]], np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette(_voc_palette())
    im.save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), idx)


def test_rgb_mask_mapped_through_palette(tmp_path):
    palette = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 0], [9, 9, 9]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", palette), [[1, 2], [0, 255]])
    with pytest.raises(ValueError, match="palette"):
        read_mask(tmp_path / "m.png")


def test_folder_pairs_by_stem(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    rng = np.random.default_rng(0)
    for name in ("b", "a"):
        Image.fromarray(rng.integers(0, 255, (4, 5, 3), dtype=np.uint8)).save(
            tmp_path / "img" / f"{name}.jpg"
        )
        Image.fromarray(np.full((4, 5), ord(name) - 96, np.uint8)).save(
            tmp_path / "msk" / f"{name}.png"
        )
    ds = ImageMaskFolder(tmp_path / "img", tmp_path / "msk")
    assert len(ds) == 2
    assert [int(ds[i][1][0, 0]) for i in range(2)] == [1, 2]  # sorted stems a, b
    (tmp_path / "msk" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match="lack an image or a mask"):
        ImageMaskFolder(tmp_path / "img", tmp_path / "msk")


def test_voc_layout(tmp_path):
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (tmp_path / d).mkdir(parents=True)
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "JPEGImages" / "x1.jpg")
    m = Image.fromarray(np.array([[1, 1, 255]] * 3, np.uint8), mode="P")
    m.putpalette(_voc_palette())
    m.save(tmp_path / "SegmentationClass" / "x1.png")
    (tmp_path / "ImageSets/Segmentation/train.txt").write_text("x1\n")
    img, mask = ImageMaskFolder.voc(tmp_path, "train")[0]
    assert img.shape == (3, 3, 3)
    np.testing.assert_array_equal(mask[0], [1, 1, 255])
