"""Every loss against a brute-force per-pixel computation (tests/losses/conftest.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from loss_reference import (  # tests/losses/loss_reference.py (pytest puts the dir on sys.path)
    bf_ce,
    bf_dice,
    bf_focal,
    bf_lovasz_hinge,
    bf_lovasz_softmax,
    bf_tversky,
)

from medseg.losses import (
    DiceLoss,
    FocalLoss,
    LovaszSoftmaxLoss,
    SegmentationLoss,
    TverskyLoss,
    masked_cross_entropy,
)

R = dict(rel=1e-5, abs=1e-6)


def test_cross_entropy(case):
    x, t = case
    w = [0.5, 2.0, 1.0]
    assert float(masked_cross_entropy(x, t)) == pytest.approx(bf_ce(x, t), **R)
    assert float(masked_cross_entropy(x, t, torch.tensor(w))) == pytest.approx(bf_ce(x, t, w), **R)
    # and PyTorch's own ignore_index semantics where they are defined
    ref = F.cross_entropy(x, t, weight=torch.tensor(w), ignore_index=255)
    assert float(masked_cross_entropy(x, t, torch.tensor(w))) == pytest.approx(float(ref), **R)


@pytest.mark.parametrize("smooth", [1.0, 1e-5])
def test_dice(case, smooth):
    x, t = case
    assert float(DiceLoss(3, smooth=smooth)(x, t)) == pytest.approx(bf_dice(x, t, smooth), **R)
    w = [1.0, 3.0, 0.5]
    assert float(DiceLoss(3, smooth=smooth, weight=w)(x, t)) == pytest.approx(
        bf_dice(x, t, smooth, weight=w), **R
    )
    assert float(DiceLoss(3, smooth=smooth, include_background=False)(x, t)) == pytest.approx(
        bf_dice(x, t, smooth, include_background=False), **R
    )


def test_dice_ignore_empty():
    x = torch.randn(1, 3, 3, 3)
    t = torch.zeros(1, 3, 3, dtype=torch.long)
    t[0, 0] = 2  # class 1 absent
    got = float(DiceLoss(3, ignore_empty=True)(x, t))
    assert got == pytest.approx(bf_dice(x, t, ignore_empty=True), **R)
    assert got != pytest.approx(float(DiceLoss(3)(x, t)))


@pytest.mark.parametrize(
    ("alpha", "beta", "gamma"),
    [(0.3, 0.7, 1.0), (0.5, 0.5, 1.0), (0.7, 0.3, 0.75), (0.4, 0.6, 2.0)],
)
def test_tversky(case, alpha, beta, gamma):
    x, t = case
    got = float(TverskyLoss(3, alpha=alpha, beta=beta, gamma=gamma)(x, t))
    assert got == pytest.approx(bf_tversky(x, t, alpha, beta, gamma), **R)


def test_tversky_half_half_is_dice_with_double_smoothing(case):
    x, t = case
    assert float(TverskyLoss(3, 0.5, 0.5, smooth=0.5)(x, t)) == pytest.approx(
        float(DiceLoss(3, smooth=1.0)(x, t)), **R
    )


@pytest.mark.parametrize("alpha", [None, 0.25, [0.2, 0.3, 0.5]])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal(case, alpha, gamma):
    x, t = case
    got = float(FocalLoss(alpha=alpha, gamma=gamma)(x, t))
    assert got == pytest.approx(bf_focal(x, t, alpha, gamma), **R)
    got_sum = float(FocalLoss(alpha=alpha, gamma=gamma, reduction="sum")(x, t))
    assert got_sum == pytest.approx(bf_focal(x, t, alpha, gamma, reduction="sum"), **R)


def test_focal_reduction_none_zero_at_ignored(case):
    x, t = case
    per = FocalLoss(reduction="none")(x, t)
    assert per.shape == t.shape
    assert (per[t == 255] == 0).all() and (per[t != 255] > 0).all()


def test_focal_gamma0_is_cross_entropy(case):
    x, t = case
    assert float(FocalLoss(gamma=0.0)(x, t)) == pytest.approx(bf_ce(x, t), **R)


@pytest.mark.parametrize("classes", ["present", "all"])
def test_lovasz_softmax(case, classes):
    x, t = case
    got = float(LovaszSoftmaxLoss(classes=classes)(x, t))
    assert got == pytest.approx(bf_lovasz_softmax(x, t, classes=classes), **R)


def test_lovasz_softmax_per_image(case):
    x, t = case
    got = float(LovaszSoftmaxLoss(per_image=True)(x, t))
    ref = sum(bf_lovasz_softmax(x[i : i + 1], t[i : i + 1]) for i in range(2)) / 2
    assert got == pytest.approx(ref, **R)


def test_lovasz_on_hard_predictions_equals_one_minus_iou():
    # at the vertices of the cube the Lovász extension equals the set function: 1 - IoU_c
    g = torch.Generator().manual_seed(2)
    pred = torch.randint(0, 3, (1, 6, 6), generator=g)
    t = torch.randint(0, 3, (1, 6, 6), generator=g)
    t[0, 0] = 255
    logits = F.one_hot(pred, 3).permute(0, 3, 1, 2).float() * 200.0
    v = t != 255
    ious = []
    for c in range(3):
        inter = int(((pred == c) & (t == c) & v).sum())
        union = int((((pred == c) | (t == c)) & v).sum())
        if int((t == c).sum()):
            ious.append(inter / union)
    ref = sum(1 - i for i in ious) / len(ious)
    assert float(LovaszSoftmaxLoss()(logits, t)) == pytest.approx(ref, abs=1e-6)


def test_binary_modes(binary_case):
    x, t = binary_case
    assert float(DiceLoss(1)(x, t)) == pytest.approx(bf_dice(x, t), **R)
    assert float(DiceLoss(mode="binary")(x, t)) == pytest.approx(bf_dice(x, t), **R)
    assert float(TverskyLoss(alpha=0.3, beta=0.7)(x, t)) == pytest.approx(
        bf_tversky(x, t, 0.3, 0.7), **R
    )
    assert float(FocalLoss(alpha=0.25)(x, t)) == pytest.approx(bf_focal(x, t, 0.25), **R)
    assert float(masked_cross_entropy(x, t)) == pytest.approx(bf_ce(x, t), **R)
    assert float(LovaszSoftmaxLoss()(x, t)) == pytest.approx(bf_lovasz_hinge(x, t), **R)
    crit = SegmentationLoss(1, ce_weight=1.0, dice_weight=0.5, class_weights=[1.0, 3.0])
    ref = bf_ce(x, t, [1.0, 3.0]) + 0.5 * bf_dice(x, t)
    assert float(crit(x, t)) == pytest.approx(ref, **R)


def test_segmentation_loss_combines_terms(case):
    x, t = case
    w = [0.5, 2.0, 1.0]
    crit = SegmentationLoss(
        3, ce_weight=1.0, dice_weight=0.7, focal_weight=0.3, lovasz_weight=0.2, class_weights=w
    )
    ref_ce = bf_ce(x, t, w)
    ref_dice = bf_dice(x, t, weight=w)
    ref_focal = bf_focal(x, t)
    ref_lov = bf_lovasz_softmax(x, t)
    got = float(crit(x, t))
    assert got == pytest.approx(ref_ce + 0.7 * ref_dice + 0.3 * ref_focal + 0.2 * ref_lov, **R)
    parts = crit.last_components
    assert float(parts["ce"]) == pytest.approx(ref_ce, **R)
    assert float(parts["dice"]) == pytest.approx(ref_dice, **R)
    assert set(parts) == {"ce", "dice", "focal", "lovasz"}
