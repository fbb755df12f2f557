"""OpenVINO runner against eager PyTorch (an independent computation), fp32 and bf16."""

from __future__ import annotations

import threading

import pytest
import torch

from medseg.export.onnx import export_onnx
from medseg.models import create_model
from medseg.models.outputs import logits_to_labels
from medseg.runners.openvino import OpenVinoRunner, cpu_supports_bf16

pytest.importorskip("openvino")

needs_bf16 = pytest.mark.skipif(
    not cpu_supports_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 / AMX)"
)


@pytest.fixture(scope="module")
def medical_onnx(tmp_path_factory):
    torch.manual_seed(0)
    # one input channel: a plain slice model (the shipped one takes 5, a slice and 2+2 neighbours)
    model = create_model("unet_medical", base_channels=8, in_channels=1).eval()
    path = tmp_path_factory.mktemp("ov") / "m.onnx"
    export_onnx(model, path, input_size=(32, 32), exporter="legacy", verify=False)
    return model, path


def _eager(model, x):
    with torch.no_grad():
        return model(x)


def test_fp32_matches_eager_at_several_sizes(medical_onnx):
    model, path = medical_onnx
    r = OpenVinoRunner(path, precision="fp32", threads=1)
    assert r.name == "openvino-fp32"
    for shape in [(2, 1, 27, 38), (1, 1, 64, 64), (3, 1, 17, 9)]:
        x = torch.randn(*shape)
        got, ref = r(x), _eager(model, x)
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert float((got - ref).abs().max()) <= 1e-4


def test_static_shape_compiles_are_bounded_and_reused(medical_onnx):
    model, path = medical_onnx
    r = OpenVinoRunner(path, precision="fp32", threads=1, max_static_shapes=2)
    xs = [torch.randn(1, 1, 16 + 8 * i, 24) for i in range(3)]
    for x in xs:
        r(x)
    assert len(r._static) == 2  # the oldest shape was dropped
    x = xs[-1]
    assert float((r(x) - _eager(model, x)).abs().max()) <= 1e-4
    dyn = OpenVinoRunner(path, precision="fp32", threads=1, max_static_shapes=0)
    assert float((dyn(x) - _eager(model, x)).abs().max()) <= 1e-4 and not dyn._static


@needs_bf16
def test_bf16_is_close_and_agrees_on_labels(medical_onnx):
    model, path = medical_onnx
    r = OpenVinoRunner(path, precision="bf16", threads=1)
    assert r.name == "openvino-bf16"
    x = torch.randn(2, 1, 40, 48)
    got, ref = r(x), _eager(model, x)
    scale = float(ref.abs().max())
    assert float((got - ref).abs().max()) <= 0.05 * scale  # bf16: 8-bit mantissa
    agree = (logits_to_labels(got) == logits_to_labels(ref)).double().mean()
    assert agree >= 0.95


def test_precision_is_explicit(medical_onnx):
    _, path = medical_onnx
    with pytest.raises(ValueError, match="fp32, bf16"):
        OpenVinoRunner(path, precision="f16")


def test_bf16_without_cpu_support_is_an_error_not_a_fallback(medical_onnx, monkeypatch):
    from medseg.runners import openvino as ovr

    monkeypatch.setattr(ovr, "cpu_supports_bf16", lambda: False)
    with pytest.raises(RuntimeError, match="openvino-fp32"):
        ovr.OpenVinoRunner(medical_onnx[1], precision="bf16")


def test_missing_or_wrong_file_is_actionable(tmp_path):
    with pytest.raises(FileNotFoundError):
        OpenVinoRunner(tmp_path / "nope.xml")
    p = tmp_path / "model.pt"
    p.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.xml"):
        OpenVinoRunner(p)


def test_concurrent_calls_give_the_single_thread_result(medical_onnx):
    model, path = medical_onnx
    r = OpenVinoRunner(path, precision="fp32", threads=1)
    xs = [torch.randn(1, 1, 32, 32) for _ in range(6)]
    refs = [_eager(model, x) for x in xs]
    out: dict[int, torch.Tensor] = {}

    def work(i):
        for _ in range(3):
            out[i] = r(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, ref in enumerate(refs):
        assert float((out[i] - ref).abs().max()) <= 1e-4
