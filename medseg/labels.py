"""Label tables shared by datasets, metrics, palettes and the app (one place for these facts).

The Cityscapes table follows the official ``cityscapesscripts.helpers.labels`` definition
(34 label IDs, 19 train IDs, 255 = ignore); ``tests/test_labels.py`` checks it against the
official package.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

IGNORE_INDEX = 255


class CityscapesLabel(NamedTuple):
    name: str
    id: int
    train_id: int
    category: str
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


# fmt: off
CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    CityscapesLabel("unlabeled",             0, 255, "void",         False, True,  (0, 0, 0)),
    CityscapesLabel("ego vehicle",           1, 255, "void",         False, True,  (0, 0, 0)),
    CityscapesLabel("rectification border",  2, 255, "void",         False, True,  (0, 0, 0)),
    CityscapesLabel("out of roi",            3, 255, "void",         False, True,  (0, 0, 0)),
    CityscapesLabel("static",                4, 255, "void",         False, True,  (0, 0, 0)),
    CityscapesLabel("dynamic",               5, 255, "void",         False, True,  (111, 74, 0)),
    CityscapesLabel("ground",                6, 255, "void",         False, True,  (81, 0, 81)),
    CityscapesLabel("road",                  7,   0, "flat",         False, False, (128, 64, 128)),
    CityscapesLabel("sidewalk",              8,   1, "flat",         False, False, (244, 35, 232)),
    CityscapesLabel("parking",               9, 255, "flat",         False, True,  (250, 170, 160)),
    CityscapesLabel("rail track",           10, 255, "flat",         False, True,  (230, 150, 140)),
    CityscapesLabel("building",             11,   2, "construction", False, False, (70, 70, 70)),
    CityscapesLabel("wall",                 12,   3, "construction", False, False, (102, 102, 156)),
    CityscapesLabel("fence",                13,   4, "construction", False, False, (190, 153, 153)),
    CityscapesLabel("guard rail",           14, 255, "construction", False, True,  (180, 165, 180)),
    CityscapesLabel("bridge",               15, 255, "construction", False, True,  (150, 100, 100)),
    CityscapesLabel("tunnel",               16, 255, "construction", False, True,  (150, 120, 90)),
    CityscapesLabel("pole",                 17,   5, "object",       False, False, (153, 153, 153)),
    CityscapesLabel("polegroup",            18, 255, "object",       False, True,  (153, 153, 153)),
    CityscapesLabel("traffic light",        19,   6, "object",       False, False, (250, 170, 30)),
    CityscapesLabel("traffic sign",         20,   7, "object",       False, False, (220, 220, 0)),
    CityscapesLabel("vegetation",           21,   8, "nature",       False, False, (107, 142, 35)),
    CityscapesLabel("terrain",              22,   9, "nature",       False, False, (152, 251, 152)),
    CityscapesLabel("sky",                  23,  10, "sky",          False, False, (70, 130, 180)),
    CityscapesLabel("person",               24,  11, "human",        True,  False, (220, 20, 60)),
    CityscapesLabel("rider",                25,  12, "human",        True,  False, (255, 0, 0)),
    CityscapesLabel("car",                  26,  13, "vehicle",      True,  False, (0, 0, 142)),
    CityscapesLabel("truck",                27,  14, "vehicle",      True,  False, (0, 0, 70)),
    CityscapesLabel("bus",                  28,  15, "vehicle",      True,  False, (0, 60, 100)),
    CityscapesLabel("caravan",              29, 255, "vehicle",      True,  True,  (0, 0, 90)),
    CityscapesLabel("trailer",              30, 255, "vehicle",      True,  True,  (0, 0, 110)),
    CityscapesLabel("train",                31,  16, "vehicle",      True,  False, (0, 80, 100)),
    CityscapesLabel("motorcycle",           32,  17, "vehicle",      True,  False, (0, 0, 230)),
    CityscapesLabel("bicycle",              33,  18, "vehicle",      True,  False, (119, 11, 32)),
)
# fmt: on

CITYSCAPES_TRAIN_LABELS = tuple(
    sorted(
        (lb for lb in CITYSCAPES_LABELS if lb.train_id != IGNORE_INDEX), key=lambda lb: lb.train_id
    )
)
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(lb.name for lb in CITYSCAPES_TRAIN_LABELS)
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    lb.color for lb in CITYSCAPES_TRAIN_LABELS
)
#: train IDs of the 8 classes with instances (person .. bicycle), used by iIoU.
CITYSCAPES_INSTANCE_TRAIN_IDS: tuple[int, ...] = tuple(
    lb.train_id for lb in CITYSCAPES_TRAIN_LABELS if lb.has_instances
)

_ID_TO_TRAIN = np.full(256, IGNORE_INDEX, dtype=np.uint8)
for _lb in CITYSCAPES_LABELS:
    _ID_TO_TRAIN[_lb.id] = _lb.train_id
_TRAIN_TO_ID = np.zeros(256, dtype=np.uint8)  # ignore (255) maps back to 0 = unlabeled
for _lb in CITYSCAPES_TRAIN_LABELS:
    _TRAIN_TO_ID[_lb.train_id] = _lb.id


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map Cityscapes ``*_labelIds.png`` values (0..33, -1) to train IDs (0..18, 255 = ignore).

    Args:
        label_ids: integer array of any shape. Values outside 0..255 (e.g. -1, license plate)
            map to 255.

    Returns:
        ``uint8`` array of the same shape.
    """
    a = np.asarray(label_ids)
    out = np.full(a.shape, IGNORE_INDEX, dtype=np.uint8)
    valid = (a >= 0) & (a < 256)
    out[valid] = _ID_TO_TRAIN[a[valid].astype(np.intp)]
    return out


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Inverse of :func:`label_ids_to_train_ids` (for writing official-format predictions).

    Ignore (255) and any value that is not a train ID map to 0 (``unlabeled``).
    """
    a = np.asarray(train_ids).astype(np.intp)
    return _TRAIN_TO_ID[np.clip(a, 0, 255)]


#: Medical label names/colours for the brain-extraction model (background, brain).
MEDICAL_CLASSES: tuple[str, ...] = ("background", "brain")
MEDICAL_PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (255, 64, 64))
