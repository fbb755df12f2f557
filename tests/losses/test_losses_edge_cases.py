"""All-ignored and single-class targets, finite gradients, autocast bf16, bad labels."""

from __future__ import annotations

import pytest
import torch
from loss_reference import bf_ce, bf_dice, bf_focal, bf_lovasz_softmax, bf_tversky

from medseg.losses import DiceLoss, FocalLoss, LovaszSoftmaxLoss, SegmentationLoss, TverskyLoss

R = dict(rel=1e-5, abs=1e-6)


def all_losses(C=3):
    return {
        "combo": SegmentationLoss(
            C, focal_weight=0.5, lovasz_weight=0.5, class_weights=[1.0, 2.0, 0.5][:C]
        ),
        "dice": DiceLoss(C),
        "focal": FocalLoss(gamma=2.0),
        "focal_g05": FocalLoss(gamma=0.5),
        "tversky": TverskyLoss(C, gamma=0.75),
        "lovasz": LovaszSoftmaxLoss(),
    }


@pytest.mark.parametrize("name", list(all_losses()))
def test_all_ignored_gives_zero_and_zero_grad(name):
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    t = torch.full((2, 4, 4), 255)
    loss = all_losses()[name](x, t)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("name", list(all_losses()))
def test_ignored_pixels_contribute_nothing(name):
    # the loss with the last two columns ignored equals the loss on the cropped tensors,
    # whatever the logits and labels there are
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 4, 6, generator=g)
    t = torch.randint(0, 3, (2, 4, 6), generator=g)
    t_ign = t.clone()
    t_ign[..., 4:] = 255
    x2 = x.clone()
    x2[..., 4:] = torch.randn(2, 3, 4, 2, generator=g) * 10
    crit = all_losses()[name]
    a = float(crit(x, t_ign))
    b = float(crit(x2, t_ign))
    c = float(crit(x[..., :4].contiguous(), t[..., :4].contiguous()))
    assert a == pytest.approx(c, **R) and b == pytest.approx(c, **R)


def test_single_class_targets_match_brute_force():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(1, 3, 3, 4, generator=g)
    t = torch.ones(1, 3, 4, dtype=torch.long)
    t[0, 0, 0] = 255
    assert float(DiceLoss(3)(x, t)) == pytest.approx(bf_dice(x, t), **R)
    assert float(FocalLoss()(x, t)) == pytest.approx(bf_focal(x, t), **R)
    assert float(TverskyLoss(3)(x, t)) == pytest.approx(bf_tversky(x, t, 0.3, 0.7), **R)
    assert float(LovaszSoftmaxLoss()(x, t)) == pytest.approx(bf_lovasz_softmax(x, t), **R)
    assert float(SegmentationLoss(3)(x, t)) == pytest.approx(bf_ce(x, t) + bf_dice(x, t), **R)


@pytest.mark.parametrize("name", list(all_losses()))
@pytest.mark.parametrize("scale", [1.0, 80.0])
def test_gradients_finite(name, scale):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(2, 3, 5, 5, generator=g) * scale).requires_grad_()
    t = torch.randint(0, 3, (2, 5, 5), generator=g)
    t[0, :2] = 255
    t[1] = 2  # one image with a single class
    loss = all_losses()[name](x, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(all_losses()))
def test_autocast_bf16_cpu_is_finite_and_close_to_fp32(name):
    g = torch.Generator().manual_seed(6)
    conv = torch.nn.Conv2d(4, 3, 3, padding=1)
    inp = torch.randn(2, 4, 8, 8, generator=g) * 3
    t = torch.randint(0, 3, (2, 8, 8), generator=g)
    t[:, 0] = 255
    crit = all_losses()[name]
    ref = crit(conv(inp), t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(inp)
        assert logits.dtype == torch.bfloat16
        loss = crit(logits, t)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=0.05, abs=0.02)


def test_fp16_logits_are_computed_in_float32():
    x = (torch.randn(1, 3, 4, 4) * 30).half()
    t = torch.randint(0, 3, (1, 4, 4))
    for crit in all_losses().values():
        assert torch.isfinite(crit(x, t))


def test_bad_targets_raise_actionable_errors():
    x = torch.randn(1, 3, 2, 2)
    with pytest.raises(ValueError, match="label 7"):
        DiceLoss(3)(x, torch.tensor([[[0, 7], [1, 2]]]))
    with pytest.raises(ValueError, match="does not match"):
        FocalLoss()(x, torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="4 classes"):
        DiceLoss(4)(x, torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        SegmentationLoss(3)(x, torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="label 2"):
        DiceLoss(1)(torch.randn(1, 1, 2, 2), torch.tensor([[[0, 2], [1, 0]]]))  # binary: 0/1


def test_target_with_channel_dim_is_accepted():
    x = torch.randn(2, 3, 4, 4)
    t = torch.randint(0, 3, (2, 4, 4))
    assert float(DiceLoss(3)(x, t[:, None])) == pytest.approx(float(DiceLoss(3)(x, t)))
