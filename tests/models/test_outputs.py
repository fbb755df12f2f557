"""medseg.models.outputs: one logits -> probabilities -> labels rule, checked against torch's
own softmax/sigmoid/argmax (independent of the implementation's max().indices)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.models.outputs import (
    labels_dtype,
    logits_to_labels,
    logits_to_probs,
    probs_to_labels,
    scores_to_labels,
    two_class_probs,
)


@pytest.mark.parametrize("k", [2, 5, 19])
def test_multiclass_matches_softmax_argmax(k):
    g = torch.Generator().manual_seed(k)
    x = torch.randn(2, k, 13, 17, generator=g)
    p = logits_to_probs(x)
    torch.testing.assert_close(p, torch.softmax(x, 1))
    assert torch.equal(probs_to_labels(p), p.argmax(1))
    assert torch.equal(logits_to_labels(x), x.argmax(1))


def test_ties_resolve_to_the_first_class_like_argmax():
    x = torch.randint(0, 2, (3, 7, 20, 20)).float()  # many exact ties
    assert torch.equal(logits_to_labels(x), x.argmax(1))


def test_binary_head_sigmoid_and_threshold():
    x = torch.tensor([[[[-2.0, -0.1, 0.1, 3.0]]]])  # [1, 1, 1, 4]
    p = logits_to_probs(x)
    torch.testing.assert_close(p, 1 / (1 + torch.exp(-x)))
    assert probs_to_labels(p).tolist() == [[[0, 0, 1, 1]]]
    assert logits_to_labels(x).tolist() == [[[0, 0, 1, 1]]]
    two = two_class_probs(p)
    assert two.shape == (1, 2, 1, 4)
    torch.testing.assert_close(two.sum(1), torch.ones(1, 1, 4))
    assert torch.equal(two.argmax(1), probs_to_labels(p))


def test_scores_to_labels_numpy_class_axis_first():
    a = np.random.default_rng(0).random((19, 8, 9)).astype(np.float32)
    got = scores_to_labels(a, axis=0)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, a.argmax(0))


def test_labels_dtype():
    assert labels_dtype(1) is np.uint8 and labels_dtype(255) is np.uint8
    assert labels_dtype(256) is np.int64


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
def test_binary_labels_dtype_and_ties(k, dtype):
    """Two classes (or a binary head) take one comparison: same as argmax, first max on ties."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-1, 2, (3, k, 9, 11), generator=g).float()  # full of ties
    ref = x.argmax(1) if k == 2 else (x[:, 0] > 0).long()
    got = logits_to_labels(x, dtype=dtype)
    assert got.dtype == dtype and torch.equal(got.long(), ref)
    assert torch.equal(probs_to_labels(logits_to_probs(x), dtype=dtype).long(), ref)
    # strided views (a class axis that is not the first) work the same
    xt = x.permute(0, 2, 1, 3)
    assert torch.equal(logits_to_labels(xt, dim=2).long(), ref)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_labels_inside_a_traced_graph_stay_torch_ops():
    def f(x):
        return probs_to_labels(x, dtype=torch.uint8)

    tr = torch.jit.trace(f, torch.randn(1, 2, 4, 4))
    x = torch.randn(2, 2, 6, 5)
    assert torch.equal(tr(x), x.argmax(1).to(torch.uint8))


@pytest.mark.parametrize(
    "shape,size",
    [
        ((1, 19, 48, 64), (71, 95)),  # up, non-integer scale
        ((2, 5, 37, 53), (16, 16)),  # down
        ((1, 7, 1, 9), (4, 30)),  # a single source row
        ((3, 4, 8, 8), (8, 8)),  # same size
        ((2, 2, 9, 11), (20, 13)),  # two classes: the plain resize
        ((1, 1, 9, 11), (20, 13)),  # binary head
    ],
)
@pytest.mark.parametrize("smooth", [False, True])
def test_resized_labels_equal_resize_then_argmax(shape, size, smooth):
    import torch.nn.functional as F

    from medseg.models.outputs import resized_labels

    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=g)
    if smooth:  # class regions, like a network's output
        n, k, h, w = shape
        coarse = torch.randn(n, k, max(1, h // 4), max(1, w // 4), generator=g) * 3
        x = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    ref = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    ref = (ref[:, 0] > 0).long() if shape[1] == 1 else ref.argmax(1)
    got = resized_labels(x, size, dtype=torch.uint8)
    assert got.dtype == torch.uint8 and got.shape == ref.shape
    assert torch.equal(got.long(), ref)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_scores_to_labels_first_maximum_on_ties_any_axis(axis):
    a = np.random.default_rng(axis).integers(0, 3, (5, 6, 7)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(scores_to_labels(a, axis=axis), a.argmax(axis))
    assert scores_to_labels(torch.from_numpy(a), axis=axis).dtype == np.uint8
