"""Every back-end behind the one runner interface agrees with eager PyTorch."""

from __future__ import annotations

import pytest
import torch

from medseg.engine.backends import BACKENDS, make_runner
from medseg.engine.predictor import Predictor

# torch.jit's deprecation notice (TorchScript is still exported on purpose)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.mark.parametrize("backend", BACKENDS)
def test_runner_matches_eager(small_unet, backend):
    if backend == "openvino-bf16":
        from medseg.runners.openvino import cpu_supports_bf16

        if not cpu_supports_bf16():
            pytest.skip("this CPU has no native bf16 (AVX512-BF16 / AMX)")
    x = torch.randn(2, 3, 27, 38)
    with torch.no_grad():
        ref = small_unet(x)
    r = make_runner(small_unet, backend, example_size=(32, 32))
    got = r(x)
    assert got.shape == ref.shape and got.dtype == torch.float32
    err = float((got - ref).abs().max())
    scale = float(ref.abs().max())
    print(f"{backend}: max |Δ| {err:.2e} (logit scale {scale:.2f})")
    # auto: the test session limits its candidates to eager (tests/conftest.py)
    if backend in ("torch", "channels_last", "torchscript", "onnxruntime", "openvino-fp32", "auto"):
        assert err <= 1e-4
    else:  # bf16 (8-bit mantissa) and int8 approximate; bounded relative to the logits
        assert err <= 0.1 * scale
        assert (got.argmax(1) == ref.argmax(1)).float().mean() > 0.8


def test_channels_last_does_not_touch_the_callers_model(small_unet):
    make_runner(small_unet, "channels_last")
    w = small_unet.inc[0].weight
    assert w.is_contiguous() and not w.is_contiguous(memory_format=torch.channels_last)


def test_unknown_backend_is_actionable(small_unet):
    with pytest.raises(ValueError, match="onnxruntime"):
        make_runner(small_unet, "tensorrt")


def test_predictor_backends_agree_on_labels(small_medical):
    import numpy as np

    img = np.random.default_rng(0).normal(size=(33, 29)).astype(np.float32)
    ref = Predictor.from_model(small_medical).predict_image(img)
    for be in ("torchscript", "onnxruntime"):
        got = Predictor.from_model(small_medical, backend=be).predict_image(img)
        np.testing.assert_allclose(got.probs, ref.probs, atol=1e-5)
