"""`medseg export` and `medseg predict` through the console entry point."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from medseg.cli import main
from medseg.models import create_model

# torch.jit's deprecation notice (TorchScript is still exported on purpose)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def test_export_cli_all_formats(tmp_path, capsys):
    rc = main(
        [
            "export",
            "unet",
            "--no-pretrained",
            "--model-arg",
            "base_channels=8",
            "--format",
            "all",
            "--size",
            "32x48",
            "--exporter",
            "legacy",
            "--with-preprocessing",
            "-o",
            str(tmp_path),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "max |Δ| vs PyTorch" in text
    res = json.loads((tmp_path / "export.json").read_text())
    assert res["onnx"]["max_abs_diff"] < 1e-4 and res["torchscript"]["max_abs_diff"] < 1e-4
    assert res["openvino"]["max_abs_diff"] < 1e-4
    for f in (
        "unet.onnx",
        "unet.pre.onnx",
        "unet.int8.onnx",
        "unet.pt",
        "unet.cfg.json",
        "unet.xml",
        "unet.bin",
    ):
        assert (tmp_path / f).is_file()
    cfg = json.loads((tmp_path / "unet.cfg.json").read_text())
    assert cfg["name"] == "unet" and cfg["num_classes"] == 19
    # the exported file is shape-generic: run it at another size than the example
    sess = ort.InferenceSession(str(tmp_path / "unet.pre.onnx"), providers=["CPUExecutionProvider"])
    labels, probs = sess.run(None, {"image": np.zeros((1, 21, 35, 3), np.uint8)})
    assert labels.shape == (1, 21, 35) and probs.shape == (1, 19, 21, 35)


def test_export_cli_with_checkpoint(tmp_path):
    torch.manual_seed(0)
    m = create_model("unet_medical", base_channels=8)
    torch.save(m.state_dict(), tmp_path / "ck.pt")
    rc = main(
        [
            "export",
            "unet_medical",
            "--weights",
            str(tmp_path / "ck.pt"),
            "--model-arg",
            "base_channels=8",
            "--size",
            "32x32",
            "--exporter",
            "legacy",
            "-o",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 0
    sess = ort.InferenceSession(
        str(tmp_path / "o" / "unet_medical.onnx"), providers=["CPUExecutionProvider"]
    )
    x = torch.randn(1, m.cfg.in_channels, 32, 32)
    with torch.no_grad():
        ref = m.eval()(x).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], ref, atol=1e-4)


def test_predict_cli_reports_failure_code(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((12, 14), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.nii.gz").write_bytes(b"not nifti")
    rc = main(
        [
            "predict",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.nii.gz"),
            "-o",
            str(tmp_path / "o"),
            "--no-pretrained",
            "--model-arg",
            "base_channels=8",
            "--quiet",
        ]
    )
    assert rc == 1  # one case failed
    assert "1 case(s) ok, 1 failed" in capsys.readouterr().out
    assert (tmp_path / "o" / "a_mask.png").is_file()
