"""ConfusionMatrix against brute-force pixel loops and sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from medseg.metrics import ConfusionMatrix, scores_from_confusion


def brute_matrix(preds, targets, C, ignore=255):
    m = np.zeros((C, C), dtype=np.int64)
    for p_img, t_img in zip(preds, targets):
        for p, t in zip(np.ravel(p_img).tolist(), np.ravel(t_img).tolist()):
            if t == ignore:
                continue
            m[t][p] += 1
    return m


def brute_scores(m):
    """Scores by explicit per-class set arithmetic on the counts (independent formulas)."""
    C = len(m)
    out = {"iou": [], "dice": [], "acc": []}
    for c in range(C):
        tp = m[c][c]
        fn = sum(m[c][j] for j in range(C) if j != c)
        fp = sum(m[i][c] for i in range(C) if i != c)
        out["iou"].append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
        out["dice"].append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan)
        out["acc"].append(tp / (tp + fn) if tp + fn else math.nan)
    total = sum(sum(r) for r in m)
    out["pixel_accuracy"] = sum(m[c][c] for c in range(C)) / total
    valid = [v for v in out["iou"] if not math.isnan(v)]
    out["miou"] = sum(valid) / len(valid)
    vd = [v for v in out["dice"] if not math.isnan(v)]
    out["mean_dice"] = sum(vd) / len(vd)
    va = [v for v in out["acc"] if not math.isnan(v)]
    out["mean_accuracy"] = sum(va) / len(va)
    out["fwiou"] = sum(sum(m[c]) / total * out["iou"][c] for c in range(C) if sum(m[c]) > 0)
    return out


def test_matches_brute_force_on_random_maps_with_holes(rng, make_labels):
    C = 6
    cm = ConfusionMatrix(C)
    preds, targets = [], []
    for _ in range(3):  # three batches of different sizes
        n = int(rng.integers(1, 4))
        t = make_labels(rng, (n, 7, 9), C)
        p = rng.integers(0, C, size=(n, 7, 9))
        cm.update(torch.from_numpy(p), torch.from_numpy(t))
        preds.extend(p)
        targets.extend(t)
    m = brute_matrix(preds, targets, C)
    np.testing.assert_array_equal(cm.confusion, m)
    s = cm.compute()
    b = brute_scores(m.tolist())
    np.testing.assert_allclose(s.iou, b["iou"], equal_nan=True)
    np.testing.assert_allclose(s.dice, b["dice"], equal_nan=True)
    np.testing.assert_allclose(s.accuracy, b["acc"], equal_nan=True)
    for k in ("pixel_accuracy", "miou", "mean_dice", "mean_accuracy", "fwiou"):
        assert s[k] == pytest.approx(b[k]), k


def test_matches_sklearn_confusion_matrix(rng, make_labels):
    C = 5
    t = make_labels(rng, (4, 16, 16), C)
    p = rng.integers(0, C, size=t.shape)
    cm = ConfusionMatrix(C).update(p, t)
    keep = t != 255
    ref = sk_confusion_matrix(t[keep], p[keep], labels=list(range(C)))
    np.testing.assert_array_equal(cm.confusion, ref)


def test_logits_numpy_and_dtypes_give_the_same_matrix(rng, make_labels):
    C = 4
    t = make_labels(rng, (2, 6, 5), C)
    logits = rng.normal(size=(2, C, 6, 5)).astype(np.float32)
    labels = logits.argmax(1)
    ref = brute_matrix(labels, t, C)
    for pred in (
        logits,
        torch.from_numpy(logits),
        labels.astype(np.uint8),
        torch.from_numpy(labels),
    ):
        for tgt in (t.astype(np.uint8), t.astype(np.int32), torch.from_numpy(t)):
            np.testing.assert_array_equal(ConfusionMatrix(C).update(pred, tgt).confusion, ref)


@pytest.mark.parametrize("shape", [(11,), (5, 7), (2, 3, 4, 5)])
def test_any_batch_shape(rng, shape, make_labels):
    C = 3
    t = make_labels(rng, shape, C)
    p = rng.integers(0, C, size=shape)
    np.testing.assert_array_equal(
        ConfusionMatrix(C).update(p, t).confusion, brute_matrix([p], [t], C)
    )


def test_other_ignore_values(rng, make_labels):
    C = 3
    t = make_labels(rng, (3, 8), C, ignore=-1)
    p = rng.integers(0, C, size=t.shape)
    np.testing.assert_array_equal(
        ConfusionMatrix(C, ignore_index=-1).update(p, t).confusion, brute_matrix([p], [t], C, -1)
    )
    t2 = rng.integers(0, C, size=(3, 8))
    np.testing.assert_array_equal(
        ConfusionMatrix(C, ignore_index=None).update(p, t2).confusion,
        brute_matrix([p], [t2], C, ignore=None),
    )


def test_bad_labels_raise_with_a_useful_message():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="neither a class"):
        cm.update(np.zeros((2, 2), int), np.array([[0, 7], [1, 255]]))
    with pytest.raises(ValueError, match="pred contains label 5"):
        cm.update(np.array([[0, 5]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="does not match"):
        cm.update(np.zeros((2, 3), int), np.zeros((3, 2), int))


def test_dataset_level_differs_from_mean_of_per_image_scores():
    # image A: large, class 1 mostly right; image B: tiny, class 1 fully wrong.
    # dataset IoU(1) = 90 / (100 + 0 + 10) ... computed by hand below.
    tA = np.ones((10, 10), int)
    pA = np.ones((10, 10), int)
    pA[0, :] = 0  # 10 pixels of class 1 predicted as 0
    tB = np.array([[1, 0]])
    pB = np.array([[0, 0]])
    cm = ConfusionMatrix(2)
    cm.update(pA[None], tA[None]).update(pB[None], tB[None])
    s = cm.compute()
    # by hand: class 1: tp = 90, fn = 10 + 1, fp = 0 -> 90 / 101
    #          class 0: tp = 1 (image B), fp = 10 + 1, fn = 0 -> 1 / 12
    assert s.iou[1] == pytest.approx(90 / 101)
    assert s.iou[0] == pytest.approx(1 / 12)
    assert s.miou == pytest.approx((90 / 101 + 1 / 12) / 2)
    # per-image averaging (the tutorial's) gives: A: iou1 = 0.9, iou0 = 0;  B: iou1 = 0, iou0 = 0.5
    per_image_miou = np.nanmean([np.nanmean([0.0, 0.9]), np.nanmean([0.5, 0.0])])
    assert abs(s.miou - per_image_miou) > 0.03


def test_absent_classes_are_nan_and_excluded_from_means():
    t = np.array([[0, 0, 1, 255]])
    p = np.array([[0, 2, 1, 3]])  # class 2 only predicted, class 3 predicted on an ignored pixel
    s = ConfusionMatrix(5).update(p, t).compute()
    assert s.iou.tolist()[:3] == [0.5, 1.0, 0.0]
    assert math.isnan(s.iou[3]) and math.isnan(s.iou[4])  # 3: only on ignored pixel -> absent
    assert s.miou == pytest.approx(0.5)
    assert s.pixel_accuracy == pytest.approx(2 / 3)  # ignored pixel excluded
    assert math.isnan(s.accuracy[2])  # recall undefined without GT
    d = s.to_dict()
    assert d["per_class"]["3"]["iou"] is None and d["miou"] == pytest.approx(0.5)


def test_reset_and_empty():
    cm = ConfusionMatrix(3).update(np.array([0, 1]), np.array([0, 1]))
    cm.reset()
    assert cm.confusion.sum() == 0
    s = cm.compute()
    assert math.isnan(s.miou) and math.isnan(s.pixel_accuracy)
    cm.update(np.zeros((0,), int), np.zeros((0,), int))  # empty batch is a no-op
    assert cm.confusion.sum() == 0


def test_format_table_lists_every_class():
    s = scores_from_confusion(np.array([[3, 1], [0, 4]]))
    table = s.format_table(["road", "sky"])
    assert "road" in table and "sky" in table and "mIoU" in table
    # road: tp 3, fp 0, fn 1 -> 75.00 ; sky: tp 4, fp 1, fn 0 -> 80.00
    assert "75.00" in table and "80.00" in table
    with pytest.raises(ValueError):
        s.format_table(["one"])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_update_leaves_inputs_untouched(dtype):
    p = torch.tensor([[0, 1, 2, 1]], dtype=dtype)
    t = torch.tensor([[0, 2, 2, 255 if dtype != torch.int8 else 0]], dtype=dtype)
    p0, t0 = p.clone(), t.clone()
    cm = ConfusionMatrix(3).update(p, t)
    assert torch.equal(p, p0) and torch.equal(t, t0)
    np.testing.assert_array_equal(cm.confusion, [[1, 0, 0], [0, 0, 0], [0, 1, 1]])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64])
def test_negative_labels_are_caught(dtype):
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="pred contains label -1"):
        cm.update(np.array([0, -1], dtype=dtype), np.array([0, 1], dtype=dtype))
    with pytest.raises(ValueError, match="target contains label -2"):
        cm.update(np.array([0, 1], dtype=dtype), np.array([-2, 1], dtype=dtype))
    assert cm.confusion.sum() == 0


def _sk_matrix(p, t, C, ignore):
    keep = np.ravel(t) != ignore
    return sk_confusion_matrix(np.ravel(t)[keep], np.ravel(p)[keep], labels=list(range(C)))


@pytest.mark.parametrize(
    "pdt,tdt",
    [
        (np.int64, np.int64),
        (np.int32, np.int32),
        (np.int16, np.int64),
        (np.int64, np.uint8),
        (np.uint8, np.int32),
    ],
)
def test_wide_labels_across_chunks_match_sklearn(pdt, tdt):
    """Wide labels take the chunked path (several chunks here): same matrix as sklearn."""
    from medseg.metrics.confusion import _CHUNK

    rng = np.random.default_rng(7)
    C, n = 19, 3 * _CHUNK + 123
    t = rng.integers(0, C, n)
    t[rng.random(n) < 0.1] = 255
    p = rng.integers(0, C, n)
    got = ConfusionMatrix(C).update(p.astype(pdt), t.astype(tdt)).confusion
    np.testing.assert_array_equal(got, _sk_matrix(p, t, C, 255))
    # torch tensors of the same values give the same matrix
    got_t = ConfusionMatrix(C).update(
        torch.from_numpy(p.astype(pdt)), torch.from_numpy(t.astype(tdt))
    )
    np.testing.assert_array_equal(got_t.confusion, got)


@pytest.mark.parametrize("bad_t", [300, -3, 7, 2**40])
def test_wide_labels_stray_target_in_a_late_chunk_is_caught(bad_t):
    from medseg.metrics.confusion import _CHUNK

    C, n = 5, 2 * _CHUNK + 10
    t = np.zeros(n, np.int64)
    t[-3] = bad_t
    cm = ConfusionMatrix(C)
    with pytest.raises(ValueError, match=f"target contains label {bad_t}"):
        cm.update(np.zeros(n, np.int64), t)
    assert cm.confusion.sum() == 0


@pytest.mark.parametrize("bad_p", [5, 255, -1, 2**33])
def test_wide_labels_stray_prediction_in_a_late_chunk_is_caught(bad_p):
    from medseg.metrics.confusion import _CHUNK

    C, n = 5, 2 * _CHUNK + 10
    p = np.zeros(n, np.int64)
    p[-2] = bad_p
    with pytest.raises(ValueError, match=f"pred contains label {bad_p}"):
        ConfusionMatrix(C).update(p, np.zeros(n, np.int64))


def test_wide_labels_with_an_ignore_value_outside_a_byte():
    from medseg.metrics.confusion import _CHUNK

    rng = np.random.default_rng(3)
    C, n = 4, _CHUNK + 77
    t = rng.integers(0, C, n)
    t[rng.random(n) < 0.2] = -1
    p = rng.integers(0, C, n)
    got = ConfusionMatrix(C, ignore_index=-1).update(p, t).confusion
    np.testing.assert_array_equal(got, _sk_matrix(p, t, C, -1))


def test_wide_labels_split_over_threads_give_the_same_matrix():
    from medseg.metrics.confusion import _CHUNK

    rng = np.random.default_rng(11)
    C, n = 19, 17 * _CHUNK + 5  # large enough to be split in two
    t = rng.integers(0, C, n)
    t[rng.random(n) < 0.1] = 255
    p = rng.integers(0, C, n)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = ConfusionMatrix(C).update(p, t).confusion
        bad = t.copy()
        bad[-1] = 300  # a stray label in the second half is still caught
        with pytest.raises(ValueError, match="target contains label 300"):
            ConfusionMatrix(C).update(p, bad)
    finally:
        torch.set_num_threads(old)
    np.testing.assert_array_equal(got, _sk_matrix(p, t, C, 255))
