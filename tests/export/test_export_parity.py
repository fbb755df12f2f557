"""Exported graphs agree with eager PyTorch at sizes other than the export example."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from medseg_export_models import HEAVY, SMALL_KW, small_model

from medseg.export import export_onnx, export_torchscript
from medseg.models import list_models

# torch.jit's deprecation notice (TorchScript is still exported on purpose)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

ATOL = 1e-4


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def _ort(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_every_registered_model_is_covered():
    assert set(list_models()) <= set(SMALL_KW), (
        "add new models to tests/export/medseg_export_models.py"
    )


@pytest.mark.parametrize("name", _params(sorted(SMALL_KW)))
def test_onnx_and_torchscript_parity(name, tmp_path):
    m = small_model(name)
    cin = m.cfg.in_channels
    # verify=False: this test does its own check below, at two other shapes
    export_onnx(m, tmp_path / "m.onnx", input_size=(32, 64), exporter="legacy", verify=False)
    model_proto = onnx.load(str(tmp_path / "m.onnx"))
    assert model_proto.opset_import[0].version >= 17
    assert not list((tmp_path).glob("*.data"))  # single file, no external data
    sess = _ort(tmp_path / "m.onnx")
    ts = export_torchscript(m, tmp_path / "m.pt", input_size=(32, 64))
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    for shape in [(1, cin, 32, 64), (3, cin, 45, 29)]:  # dynamic batch, odd H and W
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = m(x)
            ts_out = loaded(x)
        got = sess.run(None, {"input": x.numpy()})[0]
        assert got.shape == tuple(ref.shape)
        d_onnx = float(np.abs(got - ref.numpy()).max())
        d_ts = float((ts_out - ref).abs().max())
        print(f"{name} {shape}: onnx {d_onnx:.2e}  torchscript {d_ts:.2e}")
        assert d_onnx <= ATOL and d_ts <= ATOL
    assert ts["max_abs_diff"] <= ATOL


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet"])
def test_dynamo_exporter_parity(name, tmp_path):
    m = small_model(name)
    info = export_onnx(m, tmp_path / "d.onnx", input_size=(32, 48), exporter="dynamo")
    assert info["opset"] >= 18
    sess = _ort(tmp_path / "d.onnx")
    x = torch.randn(2, 3, 37, 21)
    with torch.no_grad():
        ref = m(x).numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    print(f"dynamo {name}: {np.abs(got - ref).max():.2e}")
    assert np.abs(got - ref).max() <= ATOL


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_with_preprocessing_matches_python_predictor(layout, tmp_path):
    from medseg.engine.predictor import Predictor

    m = small_model("unet")
    export_onnx(
        m,
        tmp_path / "p.onnx",
        input_size=(32, 32),
        exporter="legacy",
        with_preprocessing=True,
        layout=layout,
    )
    sess = _ort(tmp_path / "p.onnx")
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (2, 27, 41, 3), dtype=np.uint8)
    feed = imgs if layout == "nhwc" else imgs.transpose(0, 3, 1, 2)
    labels, probs = sess.run(None, {"image": np.ascontiguousarray(feed)})
    assert labels.dtype == np.uint8 and labels.shape == (2, 27, 41)
    preds = Predictor.from_model(m).predict_batch(list(imgs))
    for i, p in enumerate(preds):
        np.testing.assert_allclose(probs[i], p.probs, atol=1e-4)
        # argmax may differ only where two classes tie within float noise
        top2 = np.sort(p.probs, 0)[-2:]
        differ = labels[i] != p.labels
        assert (top2[1] - top2[0])[differ].max(initial=0) < 1e-4


def test_ct_window_preprocessing_in_graph(tmp_path):
    m = small_model("unet_medical")
    m.cfg = m.cfg.replace(normalization="ct_window", window=(40.0, 400.0))
    export_onnx(
        m,
        tmp_path / "ct.onnx",
        input_size=(32, 32),
        exporter="legacy",
        with_preprocessing=True,
        layout="nchw",
    )
    sess = _ort(tmp_path / "ct.onnx")
    c = m.cfg.in_channels
    img = np.random.default_rng(1).integers(0, 256, (1, c, 20, 24), dtype=np.uint8)
    _, probs = sess.run(None, {"image": img})
    x = np.clip((img.astype(np.float32) - (40 - 200)) / 400, 0, 1)
    with torch.no_grad():
        ref = torch.softmax(m(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-5)


def test_export_leaves_model_mode_and_rejects_bad_args(tmp_path):
    m = small_model("unet").train()
    export_onnx(m, tmp_path / "a.onnx", input_size=(16, 16), exporter="legacy", verify=False)
    assert m.training
    with pytest.raises(ValueError, match="opset"):
        export_onnx(m, tmp_path / "b.onnx", input_size=(16, 16), exporter="legacy", opset=13)
    with pytest.raises(ValueError, match="exporter"):
        export_onnx(m, tmp_path / "b.onnx", exporter="tf")
    assert not (tmp_path / "b.onnx").exists()
