"""Binary dice_coefficient and InstanceIoU against hand-worked and brute-force values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medseg.metrics import InstanceIoU, dice_coefficient, dice_from_confusion, iou_from_confusion


def test_dice_coefficient_hand_worked():
    p = np.array([[1, 1, 0, 0]])
    t = np.array([[1, 0, 1, 0]])
    assert dice_coefficient(p, t) == pytest.approx(2 * 1 / (2 + 2))
    assert dice_coefficient(torch.tensor(p).bool(), torch.tensor(t)) == pytest.approx(0.5)
    assert dice_coefficient(t, t) == 1.0
    assert dice_coefficient(np.zeros((1, 4)), t) == 0.0


def test_dice_coefficient_empty_vs_empty_is_defined():
    z = np.zeros((3, 3))
    assert dice_coefficient(z, z) == 1.0
    assert math.isnan(dice_coefficient(z, z, empty_score=float("nan")))
    with pytest.raises(ValueError, match="shape"):
        dice_coefficient(np.zeros(3), np.zeros(4))


def test_dice_coefficient_agrees_with_monai_ignore_empty_false():
    from monai.metrics import compute_dice

    rng = np.random.default_rng(5)
    cases = [(np.zeros((4, 4)), np.zeros((4, 4)))]  # empty vs empty
    cases += [(rng.random((4, 4)) < 0.5, rng.random((4, 4)) < 0.4) for _ in range(3)]
    cases += [(np.zeros((4, 4)), np.eye(4)), (np.eye(4), np.zeros((4, 4)))]
    for p, t in cases:
        ref = compute_dice(
            torch.tensor(p, dtype=torch.float32)[None, None],
            torch.tensor(t, dtype=torch.float32)[None, None],
            include_background=True,
            ignore_empty=False,
        )
        assert dice_coefficient(p, t) == pytest.approx(float(ref))


def test_iou_and_dice_from_confusion_hand_worked():
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    # class 0: tp 5, fn 1, fp 2 ; class 1: tp 3, fn 2, fp 1 ; class 2 absent -> nan
    np.testing.assert_allclose(iou_from_confusion(cm), [5 / 8, 3 / 6, np.nan])
    np.testing.assert_allclose(dice_from_confusion(cm), [10 / 13, 6 / 9, np.nan])


def _brute_iiou(preds, targets, insts, cls, avg):
    tpw = fnw = 0.0
    fp = 0
    for p, t, ins in zip(preds, targets, insts):
        for inst_id in sorted(set(ins.ravel().tolist())):
            if inst_id <= 1000 or inst_id // 1000 != cls:
                continue
            pix = [
                (i, j)
                for i in range(ins.shape[0])
                for j in range(ins.shape[1])
                if ins[i, j] == inst_id
            ]
            tp = sum(1 for i, j in pix if p[i, j] == cls)
            tpw += tp * avg / len(pix)
            fnw += (len(pix) - tp) * avg / len(pix)
        fp += int(np.sum((p == cls) & (t != cls) & (t != 255)))
    return tpw / (tpw + fp + fnw)


def test_instance_iou_against_brute_force(rng):
    C = 3
    preds, targets, insts = [], [], []
    m = InstanceIoU(
        num_classes=C, instance_classes=(1, 2), avg_instance_size={1: 20.0, 2: 7.0}, label_map=None
    )
    for _ in range(2):
        t = rng.integers(0, C, size=(1, 10, 12))
        t[rng.random(t.shape) < 0.1] = 255
        ins = np.zeros_like(t)
        # instance ids: class * 1000 + k on class-1/2 pixels, split into left/right halves
        for c in (1, 2):
            ins[(t == c)] = c * 1000 + 1
            right = np.zeros_like(t, dtype=bool)
            right[..., 6:] = True
            ins[(t == c) & right] = c * 1000 + 2
        p = np.where(
            rng.random(t.shape) < 0.7, np.clip(t, 0, C - 1), rng.integers(0, C, size=t.shape)
        )
        m.update(torch.from_numpy(p), t, ins)
        preds.append(p[0])
        targets.append(t[0])
        insts.append(ins[0])
    s = m.compute()
    assert s.iiou[1] == pytest.approx(_brute_iiou(preds, targets, insts, 1, 20.0))
    assert s.iiou[2] == pytest.approx(_brute_iiou(preds, targets, insts, 2, 7.0))
    assert math.isnan(s.iiou[0])
    assert s.mean_iiou == pytest.approx((s.iiou[1] + s.iiou[2]) / 2)
