"""Predictor: preprocessing from cfg, original-size outputs, batches, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medseg.engine.predictor import Predictor
from medseg.models import create_model

# torch.jit's deprecation notice (TorchScript is still exported on purpose)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _manual_probs(model, image, size=None):
    # Independent path: the ImageNet formula written out, then the model, then softmax.
    cfg = model.cfg
    x = image.astype(np.float64) / 255.0
    x = (x - np.array(cfg.mean)) / np.array(cfg.std)
    t = torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None]
    h, w = image.shape[:2]
    if size is not None:
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    with torch.no_grad():
        y = model(t)
    y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
    return torch.softmax(y, 1)[0].numpy()


@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (1, 7), (65, 31)])
def test_predict_image_odd_sizes_match_manual(small_unet, hw):
    img = np.random.default_rng(1).integers(0, 256, (*hw, 3), dtype=np.uint8)
    pred = Predictor.from_model(small_unet).predict_image(img)
    assert pred.labels.shape == hw and pred.labels.dtype == np.uint8
    assert pred.probs.shape == (5, *hw) and pred.probs.dtype == np.float32
    ref = _manual_probs(small_unet, img)
    np.testing.assert_allclose(pred.probs, ref, atol=1e-5)
    np.testing.assert_array_equal(pred.labels, ref.argmax(0))
    np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-5)
    assert pred.seconds > 0


def test_predict_image_resized_input(small_unet, rgb_image):
    pred = Predictor.from_model(small_unet).predict_image(rgb_image, size=(32, 48))
    assert pred.labels.shape == rgb_image.shape[:2]
    np.testing.assert_allclose(
        pred.probs, _manual_probs(small_unet, rgb_image, (32, 48)), atol=1e-5
    )


def test_grayscale_to_rgb_model_and_rgba(small_unet):
    p = Predictor.from_model(small_unet)
    g = np.random.default_rng(2).integers(0, 256, (20, 30), dtype=np.uint8)
    a = p.predict_image(g)
    b = p.predict_image(np.stack([g, g, g], -1))
    np.testing.assert_array_equal(a.probs, b.probs)
    rgba = np.concatenate([np.stack([g] * 3, -1), np.full((20, 30, 1), 7, np.uint8)], -1)
    np.testing.assert_array_equal(p.predict_image(rgba).probs, b.probs)


def test_medical_slice_zscore_and_rgb_upload(small_medical):
    p = Predictor.from_model(small_medical)
    s = np.random.default_rng(3).normal(100, 20, (40, 36)).astype(np.float32)
    pred = p.predict_image(s)
    assert pred.probs.shape == (2, 40, 36)
    # reference: percentile clip + z-score written out here
    lo, hi = np.percentile(s, [0.5, 99.5])
    c = np.clip(s, lo, hi)
    z = (c - c.mean()) / c.std()
    with torch.no_grad():
        ref = torch.softmax(small_medical(torch.tensor(z, dtype=torch.float32)[None, None]), 1)[0]
    np.testing.assert_allclose(pred.probs, ref.numpy(), atol=1e-4)
    rgb = np.random.default_rng(4).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    assert p.predict_image(rgb).labels.shape == (24, 24)


def test_predict_batch_equals_single(small_unet):
    rng = np.random.default_rng(5)
    imgs = [
        rng.integers(0, 256, s, dtype=np.uint8) for s in [(30, 40, 3), (17, 23, 3), (30, 40, 3)]
    ]
    p = Predictor.from_model(small_unet, batch_size=2)
    batch = p.predict_batch(imgs)
    for im, b in zip(imgs, batch):
        single = p.predict_image(im)
        np.testing.assert_allclose(b.probs, single.probs, atol=1e-5)
        np.testing.assert_array_equal(b.labels, single.labels)
    arr = np.stack([imgs[0], imgs[2]])
    assert [r.labels.shape for r in p.predict_batch(arr)] == [(30, 40), (30, 40)]


def test_batch_shares_forward_passes(small_unet):
    p = Predictor.from_model(small_unet, batch_size=8)
    calls = []
    inner = p.runner
    p.runner = lambda x: calls.append(x.shape[0]) or inner(x)
    p.predict_batch([np.zeros((16, 16, 3), np.uint8)] * 5 + [np.zeros((8, 8, 3), np.uint8)])
    assert sorted(calls) == [1, 5]


def test_binary_model_sigmoid():
    torch.manual_seed(0)
    m = create_model("unet_medical", num_classes=1, base_channels=8).eval()
    p = Predictor.from_model(m)
    s = np.random.default_rng(6).normal(size=(20, 20)).astype(np.float32)
    pred = p.predict_image(s)
    assert pred.probs.shape == (1, 20, 20)
    np.testing.assert_array_equal(pred.labels, (pred.probs[0] > 0.5).astype(np.uint8))


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 5, 2)), np.zeros((3,)), np.zeros((0, 5, 3)), np.zeros((2, 4, 5, 3))]
)
def test_bad_images_raise(small_unet, bad):
    with pytest.raises(ValueError):
        Predictor.from_model(small_unet).predict_image(bad)


def test_from_checkpoint_roundtrip(small_unet, tmp_path, rgb_image):
    path = tmp_path / "ck.pt"
    torch.save({"model": small_unet.state_dict()}, path)
    p = Predictor.from_checkpoint("unet", path, num_classes=5, base_channels=8)
    ref = Predictor.from_model(small_unet).predict_image(rgb_image)
    np.testing.assert_allclose(p.predict_image(rgb_image).probs, ref.probs, atol=1e-6)


def test_from_name_pretrained_missing_weights_is_actionable():
    from medseg.models import get_model_cfg

    if get_model_cfg("unet").weights:
        pytest.skip("unet now ships weights")
    with pytest.raises(ValueError, match="no shipped weights"):
        Predictor.from_name("unet", pretrained=True)


def test_from_onnx_and_torchscript_files(small_unet, tmp_path, rgb_image):
    from medseg.export import export_onnx, export_torchscript

    export_onnx(small_unet, tmp_path / "m.onnx", input_size=(32, 32), exporter="legacy")
    export_torchscript(small_unet, tmp_path / "m.pt", input_size=(32, 32))
    ref = Predictor.from_model(small_unet).predict_image(rgb_image).probs
    for p in (
        Predictor.from_onnx(tmp_path / "m.onnx", small_unet.cfg),
        Predictor.from_torchscript(tmp_path / "m.pt", small_unet.cfg),
    ):
        np.testing.assert_allclose(p.predict_image(rgb_image).probs, ref, atol=1e-4)


def test_sliding_window_in_predict_image(small_unet):
    img = np.random.default_rng(7).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    pred = Predictor.from_model(small_unet).predict_image(img, window=(32, 32))
    assert pred.labels.shape == (50, 70) and pred.probs.shape == (5, 50, 70)
    np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-5)


def test_from_onnx_with_cfg_json_and_preprocessing_graph_refused(small_unet, tmp_path, rgb_image):
    import dataclasses
    import json

    from medseg.export import export_onnx

    export_onnx(small_unet, tmp_path / "m.onnx", input_size=(32, 32), exporter="legacy")
    (tmp_path / "m.cfg.json").write_text(json.dumps(dataclasses.asdict(small_unet.cfg)))
    p = Predictor.from_onnx(tmp_path / "m.onnx", tmp_path / "m.cfg.json")
    assert p.cfg == small_unet.cfg
    ref = Predictor.from_model(small_unet).predict_image(rgb_image).probs
    np.testing.assert_allclose(p.predict_image(rgb_image).probs, ref, atol=1e-4)
    export_onnx(
        small_unet,
        tmp_path / "pre.onnx",
        input_size=(32, 32),
        exporter="legacy",
        with_preprocessing=True,
    )
    with pytest.raises(ValueError, match="preprocessing"):
        Predictor.from_onnx(tmp_path / "pre.onnx", small_unet.cfg)


def test_16bit_image_to_rgb_model_is_stretched(small_unet):
    p = Predictor.from_model(small_unet)
    g8 = np.random.default_rng(8).integers(0, 256, (12, 14), dtype=np.uint8)
    g16 = g8.astype(np.uint16) * 257  # the same picture, 16-bit
    a = p.predict_image(g16).probs
    lo, hi = g8.min(), g8.max()
    stretched = (g8.astype(np.float32) - lo) / (hi - lo)  # what the model should see, in [0, 1]
    b = p.predict_image(np.stack([stretched] * 3, -1)).probs
    np.testing.assert_allclose(a, b, atol=1e-5)
