from __future__ import annotations

import numpy as np
import pytest

from medseg.labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_INSTANCE_TRAIN_IDS,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    label_ids_to_train_ids,
    train_ids_to_label_ids,
)
from medseg.viz import colorize, legend, overlay


def test_table_matches_official_cityscapesscripts():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    official = {lb.id: lb for lb in labels.labels if lb.id >= 0}
    assert len(CITYSCAPES_LABELS) == len(official) == 34
    for lb in CITYSCAPES_LABELS:
        ref = official[lb.id]
        assert (lb.name, lb.train_id, lb.color, lb.has_instances, lb.ignore_in_eval) == (
            ref.name,
            ref.trainId,
            tuple(ref.color),
            ref.hasInstances,
            ref.ignoreInEval,
        )


def test_a_few_entries_by_hand():
    # Values from the official label table, typed in independently.
    assert CITYSCAPES_CLASSES[0] == "road" and CITYSCAPES_PALETTE[0] == (128, 64, 128)
    assert CITYSCAPES_CLASSES[10] == "sky" and CITYSCAPES_PALETTE[10] == (70, 130, 180)
    assert CITYSCAPES_CLASSES[13] == "car" and CITYSCAPES_PALETTE[13] == (0, 0, 142)
    assert CITYSCAPES_CLASSES[18] == "bicycle" and CITYSCAPES_PALETTE[18] == (119, 11, 32)
    assert len(CITYSCAPES_CLASSES) == 19
    assert CITYSCAPES_INSTANCE_TRAIN_IDS == (11, 12, 13, 14, 15, 16, 17, 18)


def test_label_id_mapping():
    ids = np.array([[0, 7, 8, 26], [29, 33, 255, 6]])
    np.testing.assert_array_equal(
        label_ids_to_train_ids(ids), [[255, 0, 1, 13], [255, 18, 255, 255]]
    )
    assert label_ids_to_train_ids(np.array([-1]))[0] == 255
    back = train_ids_to_label_ids(np.arange(19))
    np.testing.assert_array_equal(label_ids_to_train_ids(back), np.arange(19))


def test_colorize_and_overlay():
    mask = np.array([[0, 10], [255, 13]])
    col = colorize(mask, CITYSCAPES_PALETTE)
    assert tuple(col[0, 0]) == (128, 64, 128) and tuple(col[0, 1]) == (70, 130, 180)
    assert tuple(col[1, 0]) == (0, 0, 0)
    img = np.full((2, 2, 3), 100, np.uint8)
    out = overlay(img, mask, CITYSCAPES_PALETTE, alpha=0.5)
    assert tuple(out[0, 0]) == (114, 82, 114)  # (100+128)/2, (100+64)/2, (100+128)/2
    assert tuple(out[1, 0]) == (100, 100, 100)  # ignore left unpainted
    with pytest.raises(ValueError, match="does not match"):
        overlay(img, np.zeros((3, 3), int), CITYSCAPES_PALETTE)


def test_legend_has_a_row_per_class():
    im = legend(CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, classes=[0, 13])
    assert im.shape[0] == 2 * 22 + 4 and im.dtype == np.uint8
    assert (im == np.array([128, 64, 128], np.uint8)).all(-1).any()
