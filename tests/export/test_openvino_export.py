"""OpenVINO IR export: verified against eager PyTorch, ModelCfg kept with the IR, usable by the
Predictor and ``medseg predict --weights model.xml``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from medseg.engine.predictor import Predictor
from medseg.export import export_openvino, read_openvino_cfg
from medseg.models import create_model

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("unet_medical", base_channels=8).eval()
    d = tmp_path_factory.mktemp("ir")
    res = export_openvino(model, d / "brain.xml", input_size=(32, 32))
    return model, d / "brain.xml", res


def test_export_is_verified_and_writes_ir_and_cfg(exported):
    model, xml, res = exported
    assert res["max_abs_diff"] < 1e-4
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    assert json.loads((xml.parent / "brain.cfg.json").read_text()) == json.loads(
        json.dumps(model.cfg.to_dict())
    )
    assert not list(xml.parent.glob("*.part.*"))  # written atomically


def test_cfg_read_back_from_rt_info_and_from_the_sidecar(exported, tmp_path):
    import openvino as ov

    model, xml, _ = exported
    assert read_openvino_cfg(xml) == model.cfg
    # an IR without medseg rt_info: the .cfg.json beside it is enough
    bare = ov.convert_model(str(_onnx_of(model, tmp_path)))
    ov.save_model(bare, str(tmp_path / "bare.xml"), compress_to_fp16=False)
    assert read_openvino_cfg(tmp_path / "bare.xml") is None
    (tmp_path / "bare.cfg.json").write_text(json.dumps(model.cfg.to_dict()))
    assert read_openvino_cfg(tmp_path / "bare.xml") == model.cfg


def _onnx_of(model, d):
    from medseg.export.onnx import export_onnx

    p = d / "bare.onnx"
    export_onnx(model, p, input_size=(32, 32), exporter="legacy", verify=False)
    import onnx

    m = onnx.load(str(p))
    del m.metadata_props[:]  # no medseg metadata at all
    onnx.save(m, str(p))
    return p


def test_predictor_from_openvino_matches_eager(exported):
    model, xml, _ = exported
    img = np.random.default_rng(0).normal(100, 30, (41, 37)).astype(np.float32)
    ref = Predictor.from_model(model).predict_image(img)
    got = Predictor.from_openvino(xml).predict_image(img)
    assert got.labels.dtype == ref.labels.dtype
    np.testing.assert_allclose(got.probs, ref.probs, atol=1e-5)
    np.testing.assert_array_equal(got.labels, ref.labels)
    info = Predictor.from_openvino(xml).backend_info()
    assert info["backend"] == "openvino-fp32" and not info["auto"]


def test_from_openvino_rejects_backends_that_cannot_run_an_ir(exported):
    with pytest.raises(ValueError, match="openvino-fp32"):
        Predictor.from_openvino(exported[1], backend="onnxruntime")
    with pytest.raises(ValueError, match="explicit precision"):
        Predictor.from_openvino(exported[1], backend="openvino")


def test_from_checkpoint_takes_an_ir_and_warns_on_another_name(exported):
    model, xml, _ = exported
    p = Predictor.from_checkpoint("unet_medical", xml, backend="openvino-fp32")
    assert p.cfg == model.cfg
    with pytest.warns(UserWarning, match="unet_medical"):
        Predictor.from_checkpoint("unet", xml, backend="openvino-fp32")


def test_predict_cli_with_an_ir_records_the_backend(exported, tmp_path):
    from PIL import Image

    from medseg.cli import main

    model, xml, _ = exported
    img = (np.random.default_rng(1).random((40, 44)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "slice.png")
    rc = main(
        [
            "predict",
            str(tmp_path / "slice.png"),
            "-o",
            str(tmp_path / "out"),
            "--weights",
            str(xml),
            "--backend",
            "openvino-fp32",
            "--quiet",
        ]
    )
    assert rc == 0
    with open(tmp_path / "out" / "report.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["status"] == "ok" and row["backend"] == "openvino-fp32"
    mask = np.asarray(Image.open(tmp_path / "out" / "slice_mask.png"))
    ref = Predictor.from_model(model).predict_image(img).labels
    np.testing.assert_array_equal(mask, ref)
