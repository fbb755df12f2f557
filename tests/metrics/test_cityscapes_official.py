"""Agreement with the official Cityscapes pixel-level evaluation (cityscapesscripts).

A tiny synthetic set of label PNGs is written in the official layout and evaluated by
``evalPixelLevelSemanticLabeling.evaluateImgLists``; our ConfusionMatrix and InstanceIoU on
the same data (labelIds mapped through ``medseg.labels``) must give the same per-class IoU
and iIoU.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from medseg.labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    label_ids_to_train_ids,
    train_ids_to_label_ids,
)
from medseg.metrics import CITYSCAPES_AVG_INSTANCE_SIZE, ConfusionMatrix, InstanceIoU

ev = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")

H, W = 24, 40
_INSTANCE_LABEL_IDS = [lb.id for lb in CITYSCAPES_LABELS if lb.has_instances]  # 24..33


def _make_pair(rng):
    """GT labelIds / instanceIds and a prediction (labelIds of evaluated classes)."""
    gt = rng.integers(0, 34, size=(H, W)).astype(np.uint8)  # every id, void ones included
    inst = gt.astype(np.int32).copy()
    for k in range(4):  # a few rectangular instances of instance classes (caravan included)
        lid = int(rng.choice(_INSTANCE_LABEL_IDS))
        y, x = rng.integers(0, H - 6), rng.integers(0, W - 8)
        h, w = rng.integers(2, 7), rng.integers(2, 9)
        gt[y : y + h, x : x + w] = lid
        inst[y : y + h, x : x + w] = lid * 1000 + k
    train = label_ids_to_train_ids(gt)
    pred_train = np.where(rng.random((H, W)) < 0.6, train, rng.integers(0, 19, size=(H, W)))
    pred_train = np.where(pred_train == 255, rng.integers(0, 19, size=(H, W)), pred_train)
    pred = train_ids_to_label_ids(pred_train).astype(np.uint8)
    return gt, inst.astype(np.uint16), pred


def test_avg_instance_sizes_match_official():
    for name, size in CITYSCAPES_AVG_INSTANCE_SIZE.items():
        assert ev.args.avgClassSize[name] == pytest.approx(size)


@pytest.mark.timeout(120)
def test_iou_and_iiou_match_official_evaluation(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    gt_files, pred_files = [], []
    cm = ConfusionMatrix(19)
    inst_metric = InstanceIoU()
    for i in range(3):
        gt, inst, pred = _make_pair(rng)
        stem = f"frankfurt_000000_{i:06d}"
        gdir = tmp_path / "gtFine" / "val" / "frankfurt"
        rdir = tmp_path / "results"
        gdir.mkdir(parents=True, exist_ok=True)
        rdir.mkdir(exist_ok=True)
        Image.fromarray(gt).save(gdir / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(inst).save(gdir / f"{stem}_gtFine_instanceIds.png")
        Image.fromarray(pred).save(rdir / f"{stem}_leftImg8bit.png")
        gt_files.append(str(gdir / f"{stem}_gtFine_labelIds.png"))
        pred_files.append(str(rdir / f"{stem}_leftImg8bit.png"))
        # ours, from what was written to disk
        gt_rt = np.array(Image.open(gt_files[-1]))
        inst_rt = np.array(Image.open(str(gdir / f"{stem}_gtFine_instanceIds.png")))
        pred_rt = label_ids_to_train_ids(np.array(Image.open(pred_files[-1])))
        target = label_ids_to_train_ids(gt_rt)
        cm.update(pred_rt[None], target[None])
        inst_metric.update(pred_rt[None], target[None], inst_rt[None])

    monkeypatch.setenv("CITYSCAPES_DATASET", str(tmp_path))
    monkeypatch.setenv("CITYSCAPES_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(ev.args, "quiet", True)
    monkeypatch.setattr(ev.args, "JSONOutput", False)
    monkeypatch.setattr(ev.args, "evalInstLevelScore", True)
    monkeypatch.setattr(ev.args, "colorized", False)
    if not hasattr(np, "in1d"):  # removed in NumPy 2.4; the official script still calls it
        monkeypatch.setattr(
            np,
            "in1d",
            lambda a, b, invert=False: np.isin(a, b, invert=invert).ravel(),
            raising=False,
        )
    official = ev.evaluateImgLists(pred_files, gt_files, ev.args)

    ours = cm.compute()
    ours_inst = inst_metric.compute()
    for c, name in enumerate(CITYSCAPES_CLASSES):
        ref = official["classScores"][name]
        assert (math.isnan(ref) and math.isnan(ours.iou[c])) or ours.iou[c] == pytest.approx(ref), (
            name
        )
        ref_i = official["classInstScores"][name]
        got_i = ours_inst.iiou[c]
        assert (math.isnan(ref_i) and math.isnan(got_i)) or got_i == pytest.approx(ref_i), name
    assert ours.miou == pytest.approx(official["averageScoreClasses"])
    assert ours_inst.mean_iiou == pytest.approx(official["averageScoreInstClasses"])
    # at least some instance classes were really scored
    assert np.isfinite(ours_inst.iiou).sum() >= 3
