"""The CUDA paths: inference, TTA, sliding window, training with AMP, losses and metrics.

Each test runs the same work on the accelerator and on the CPU and compares the two (the CPU
result is the independent reference). CI has no GPU, so these skip there; they passed on an
NVIDIA H100 (``docs/gpu-tests-h100.log``; ``docs/inference.md``, section GPU).
``MEDSEG_GPU_TEST_DEVICE=cpu`` runs them on the CPU instead, a dry run that checks the test
code itself (the comparisons are then trivially equal).

TF32 is switched off where numbers are compared to 1e-4: with it on, cuDNN convolutions round
their inputs to 10 mantissa bits and logits differ by ~1e-3 (checked separately, on labels).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch

DEV = os.environ.get("MEDSEG_GPU_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEV is None, reason="no CUDA device (MEDSEG_GPU_TEST_DEVICE=cpu dry-runs these)"
    ),
]


SHIPPED = {"lraspp_mobilenet_v3", "unet_medical"}  # models with weights in the package


@contextmanager
def no_tf32():
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _street_image(seed: int = 3, size=(256, 512)):
    from medseg.data.synthetic_streets import render_scene

    return render_scene(seed, size)


def _brain_slice():
    """A real T1 slice (ITK's BrainProtonDensity, 8-bit) when installed, else a phantom."""
    from medseg.io import load_volume  # noqa: F401 - import check on the device as well

    g = np.random.default_rng(0)
    yy, xx = np.mgrid[:181, :217]
    head = ((yy - 90) / 80.0) ** 2 + ((xx - 108) / 95.0) ** 2 < 1
    img = (head * 120 + g.normal(0, 8, head.shape)).clip(0, 255).astype(np.uint8)
    return img


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3", "unet_medical", "deeplabv3_resnet50"])
def test_predictor_on_device_matches_cpu(name):
    from medseg.engine.predictor import Predictor

    pretrained = name in SHIPPED
    img = _brain_slice() if name == "unet_medical" else _street_image()[0]
    # eager on both: this compares devices, not back-ends (auto has its own tests)
    cpu = Predictor.from_name(name, pretrained=pretrained, device="cpu", backend="torch")
    torch.manual_seed(0)
    dev = Predictor.from_name(name, pretrained=pretrained, device=DEV, backend="torch")
    if not pretrained:  # same random weights on both
        dev.runner.model.load_state_dict(cpu.runner.model.state_dict())
    a = cpu.predict_image(img)
    with no_tf32():
        b = dev.predict_image(img)
    assert b.labels.shape == a.labels.shape == img.shape[:2]
    assert b.probs.dtype == np.float32 and b.probs.shape == a.probs.shape
    np.testing.assert_allclose(b.probs, a.probs, atol=1e-4, rtol=0)
    assert (b.labels == a.labels).mean() > 0.999
    c = dev.predict_image(img)  # TF32 on (the default for convolutions): labels still agree
    assert (c.labels == a.labels).mean() > 0.99


def test_bf16_and_channels_last_runners_on_device():
    from medseg.engine.backends import make_runner
    from medseg.models import create_model

    m = create_model("lraspp_mobilenet_v3", pretrained=True).eval()
    x = torch.randn(2, 3, 128, 256, generator=torch.Generator().manual_seed(0))
    ref = make_runner(m, "torch")(x)
    with no_tf32():
        cl = make_runner(m, "channels_last", device=DEV)(x).cpu()
    torch.testing.assert_close(cl, ref, atol=1e-4, rtol=0)
    bf = make_runner(m, "bf16", device=DEV)(x).cpu().float()
    assert bf.shape == ref.shape and torch.isfinite(bf).all()
    assert (bf.argmax(1) == ref.argmax(1)).float().mean() > 0.95


def test_torchscript_on_device(tmp_path):
    from medseg.engine.backends import TorchScriptRunner
    from medseg.export.torchscript import export_torchscript
    from medseg.models import create_model

    m = create_model("lraspp_mobilenet_v3", pretrained=True).eval()
    path = export_torchscript(m, tmp_path / "m.pt", input_size=(128, 256))["path"]
    x = torch.randn(1, 3, 96, 160, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = m(x)
    y = TorchScriptRunner(path, device=DEV)(x).cpu()
    # The trace records each convolution's allow_tf32 flag (True, PyTorch's default) as a
    # constant, so the loaded module uses TF32 on the GPU whatever the runtime flags say:
    # logits differ by ~1e-2 (measured 9e-3 on an H100), labels barely.
    torch.testing.assert_close(y, ref, atol=3e-2, rtol=0)
    assert (y.argmax(1) == ref.argmax(1)).float().mean() > 0.99


def test_tta_on_device_batched_equals_loop_and_cpu():
    from medseg.engine.predictor import Predictor
    from medseg.engine.tta import tta_predict, tta_predict_loop
    from medseg.models import create_model

    m = create_model("lraspp_mobilenet_v3", pretrained=True).eval().to(DEV)
    x = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(2)).to(DEV)
    with no_tf32(), torch.no_grad():
        a, ua = tta_predict(m, x)
        b, ub = tta_predict_loop(m, x)
    assert a.device.type == torch.device(DEV).type
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(ua, ub, atol=1e-5, rtol=0)

    img = _street_image(5, (128, 256))[0]
    cpu = Predictor.from_name("lraspp_mobilenet_v3", device="cpu").predict_image(img, tta=True)
    with no_tf32():
        dev = Predictor.from_name("lraspp_mobilenet_v3", device=DEV).predict_image(img, tta=True)
    assert isinstance(dev.probs, np.ndarray) and isinstance(dev.uncertainty, np.ndarray)
    np.testing.assert_allclose(dev.probs, cpu.probs, atol=1e-4, rtol=0)
    np.testing.assert_allclose(dev.uncertainty, cpu.uncertainty, atol=1e-4, rtol=0)


def test_sliding_window_on_device_matches_cpu():
    from medseg.engine.sliding import sliding_window_predict
    from medseg.models import create_model

    m = create_model("unet_medical", pretrained=True).eval()
    x = torch.randn(1, m.cfg.in_channels, 300, 260, generator=torch.Generator().manual_seed(3))
    ref = sliding_window_predict(m, x, roi_size=(128, 128), overlap=0.25)
    md = create_model("unet_medical", pretrained=True).eval().to(DEV)
    with no_tf32():
        y = sliding_window_predict(md, x.to(DEV), roi_size=(128, 128), overlap=0.25)
    assert y.device.type == torch.device(DEV).type
    torch.testing.assert_close(y.cpu(), ref, atol=1e-4, rtol=0)


def test_predict_volume_on_device_matches_cpu():
    from medseg.engine.predictor import Predictor

    g = np.random.default_rng(1)
    zz, yy, xx = np.mgrid[:40, :64, :24]
    ball = ((zz - 20) / 16.0) ** 2 + ((yy - 32) / 26.0) ** 2 + ((xx - 12) / 10.0) ** 2 < 1
    vol = (ball * 300 + g.normal(0, 20, ball.shape)).astype(np.float32)
    a = Predictor.from_name("unet_medical", device="cpu").predict_volume(vol, (1.0, 1.0, 1.0))
    with no_tf32():
        b = Predictor.from_name("unet_medical", device=DEV).predict_volume(vol, (1.0, 1.0, 1.0))
    assert a.shape == b.shape == vol.shape and b.dtype == np.uint8
    assert (a == b).mean() > 0.999


def _tiny_loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 32, 32, generator=g)
    y = (x[:, 0] > 0).long()
    y[:, :6, :6] = 2
    y[:, -1] = 255
    ds = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    val = torch.utils.data.DataLoader(ds, batch_size=8)
    return train, val


@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_trainer_on_device_with_amp(tmp_path, amp):
    from medseg.engine.trainer import TrainConfig, Trainer
    from medseg.losses import SegmentationLoss
    from medseg.models import create_model

    if amp == "fp16" and torch.device(DEV).type != "cuda":
        pytest.skip("fp16 autocast with a GradScaler is a CUDA path")
    torch.manual_seed(0)
    model = create_model("unet", num_classes=3, base_channels=8)
    train, val = _tiny_loaders()
    cfg = TrainConfig(
        num_classes=3,
        epochs=4,
        lr=1e-2,
        out_dir=str(tmp_path),
        progress=False,
        amp=amp,
        device=DEV,
    )
    t = Trainer(model, SegmentationLoss(3, ce_weight=1.0, dice_weight=0.5), train, val, cfg)
    assert t.device.type == torch.device(DEV).type
    hist = t.fit()
    losses = [r["train_loss"] for r in hist]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert 0.0 <= hist[-1]["val_miou"] <= 1.0 and hist[-1]["val_miou"] > hist[0]["val_miou"]
    ck = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    assert (ck.get("scaler") is not None) == (amp == "fp16")
    assert all(v.device.type == "cpu" for v in ck["model"].values())
    # Resuming on the device continues from the saved epoch.
    t2 = Trainer(
        create_model("unet", num_classes=3, base_channels=8),
        SegmentationLoss(3, ce_weight=1.0, dice_weight=0.5),
        train,
        val,
        TrainConfig(**{**cfg.__dict__, "epochs": 5}),
    )
    t2.resume(tmp_path / "last.pt")
    assert t2.epoch == 4 and len(t2.fit()) == 5
    if torch.device(DEV).type == "cuda":
        assert len(ck["rng"]["cuda"]) == torch.cuda.device_count()  # GPU RNG saved too


def test_losses_on_device_under_autocast_match_cpu():
    from medseg.losses import SegmentationLoss

    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 19, 40, 48, generator=g)
    target = torch.randint(0, 19, (2, 40, 48), generator=g)
    target[:, :5] = 255
    loss = SegmentationLoss(19, ce_weight=1.0, dice_weight=1.0, focal_weight=0.5)
    ref = loss(logits, target)
    ld = logits.to(DEV).requires_grad_(True)
    dtype = torch.float16 if torch.device(DEV).type == "cuda" else torch.bfloat16
    with torch.autocast(torch.device(DEV).type, dtype=dtype):
        out = loss.to(DEV)(ld * 1.0, target.to(DEV))
    assert out.dtype == torch.float32  # the loss is computed in fp32 under autocast
    torch.testing.assert_close(out.detach().cpu(), ref, atol=1e-2, rtol=1e-2)
    out.backward()
    assert torch.isfinite(ld.grad).all()
    assert float(ld.grad[:, :, :5].abs().max()) == 0.0  # ignored rows get no gradient


def test_confusion_matrix_on_device_equals_cpu():
    from medseg.metrics import ConfusionMatrix

    g = torch.Generator().manual_seed(5)
    pred = torch.randint(0, 19, (4, 64, 128), generator=g)
    target = torch.randint(0, 19, (4, 64, 128), generator=g)
    target[target == 3] = 255
    a = ConfusionMatrix(19).update(pred, target)
    b = ConfusionMatrix(19).update(pred.to(DEV), target.to(DEV).to(torch.uint8))
    np.testing.assert_array_equal(b.confusion, a.confusion)
    sa, sb = a.compute(), b.compute()
    assert sa.miou == pytest.approx(sb.miou)


def test_evaluate_on_device_matches_cpu():
    from medseg.engine.evaluator import evaluate
    from medseg.models import create_model

    m = create_model("unet", num_classes=3, base_channels=8).eval()
    _, val = _tiny_loaders()
    a = evaluate(m, val, 3, device="cpu")
    with no_tf32():
        b = evaluate(m, val, 3, device=DEV)  # moves the model there and back
    assert next(m.parameters()).device.type == "cpu"
    assert b["miou"] == pytest.approx(a["miou"], abs=1e-6)
    np.testing.assert_array_equal(np.array(b["confusion"]), np.array(a["confusion"]))
