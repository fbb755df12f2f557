"""OpenVINO IR export: ``<name>.xml`` + ``<name>.bin`` converted from the ONNX export.

The IR is converted with ``openvino.convert_model`` from the graph :func:`export_onnx` writes
(dynamic batch, height and width; padding to the divisor inside the graph), saved with fp32
weights (``compress_to_fp16=False``: the inference precision is chosen when the model is
compiled, see :class:`medseg.runners.OpenVinoRunner`, not baked into the file). The model's
:class:`~medseg.models.ModelCfg` is stored twice: in the IR's ``rt_info`` (``medseg/cfg``, so the
``.xml`` alone is enough) and as ``<name>.cfg.json`` beside it (readable without OpenVINO).
:func:`read_openvino_cfg` reads it back for :meth:`Predictor.from_openvino` and
``medseg predict --weights model.xml``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

#: where the ModelCfg JSON lives in the IR's runtime info
RT_INFO_KEY = ["medseg", "cfg"]


def cfg_json_path(xml_path: str | Path) -> Path:
    """``model.xml`` → ``model.cfg.json`` (the sibling file holding the ModelCfg)."""
    p = Path(xml_path)
    return p.with_name(p.stem + ".cfg.json")


def export_openvino(
    model: nn.Module,
    path: str | Path,
    *,
    onnx_path: str | Path | None = None,
    input_size: Sequence[int] | None = None,
    exporter: str = "legacy",
    verify: bool = True,
    atol: float = 1e-4,
) -> dict:
    """Write an OpenVINO IR of ``model`` and check it against eager PyTorch.

    Args:
        model: a medseg model (needs ``model.cfg``).
        path: output ``.xml`` (the weights go to the ``.bin`` of the same stem).
        onnx_path: an ONNX graph of this model already written by :func:`export_onnx`
            (without in-graph preprocessing); default: export one into a temporary folder.
        input_size: ``(H, W)`` of the ONNX export example (default ``model.cfg.input_size``).
        exporter: ONNX exporter when exporting here (``"legacy"`` or ``"dynamo"``).
        verify: run the IR with OpenVINO in fp32 on an input of another size (batch 2) and
            compare with eager PyTorch; on a CPU with native bf16 also report the bf16
            difference and label agreement (random input: not an accuracy figure).
        atol: raise ``RuntimeError`` if the fp32 max abs difference exceeds it.

    Returns:
        ``{"path", "bin", "cfg_json", "max_abs_diff"}`` (fp32) plus, where bf16 was checked,
        ``"bf16_max_abs_diff"`` and ``"bf16_label_agreement"``.
    """
    import openvino as ov

    from .onnx import export_onnx

    cfg = model.cfg
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise ValueError(f"an OpenVINO IR is written as <name>.xml (+ .bin), got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="medseg-ov-") as tmp:
        src = Path(onnx_path) if onnx_path is not None else Path(tmp) / f"{cfg.name}.onnx"
        if onnx_path is None:
            export_onnx(model, src, input_size=input_size, exporter=exporter, verify=False)
        ov_model = ov.convert_model(str(src))
        ov_model.set_rt_info(json.dumps(cfg.to_dict()), RT_INFO_KEY)
        # write under temporary names, then rename: a killed export leaves no half IR
        part = path.with_name(path.stem + ".part.xml")
        ov.save_model(ov_model, str(part), compress_to_fp16=False)
        part.with_suffix(".bin").replace(path.with_suffix(".bin"))
        part.replace(path)
    cfg_json = cfg_json_path(path)
    cfg_json.write_text(json.dumps(cfg.to_dict(), indent=1))
    out: dict = {
        "path": str(path),
        "bin": str(path.with_suffix(".bin")),
        "cfg_json": str(cfg_json),
        "max_abs_diff": None,
    }
    if verify:
        out.update(verify_openvino(model, path))
        if out["max_abs_diff"] > atol:
            raise RuntimeError(
                f"OpenVINO fp32 output differs from PyTorch by {out['max_abs_diff']:.3g} > {atol}"
            )
    return out


def verify_openvino(model: nn.Module, path: str | Path) -> dict:
    """Max abs logit difference of the IR (OpenVINO fp32, and bf16 where the CPU has it) vs
    eager PyTorch on a batch of 2 at an odd size; bf16 also gets its label agreement."""
    from ..models.outputs import logits_to_labels
    from ..runners.openvino import OpenVinoRunner, cpu_supports_bf16
    from .verify import parity_input, torch_logits

    x = parity_input(model.cfg, model.cfg.input_size)
    ref = torch_logits(model, x)
    res = {"max_abs_diff": float((OpenVinoRunner(path, precision="fp32")(x) - ref).abs().max())}
    if cpu_supports_bf16():
        got = OpenVinoRunner(path, precision="bf16")(x)
        res["bf16_max_abs_diff"] = float((got - ref).abs().max())
        res["bf16_label_agreement"] = float(
            (logits_to_labels(got) == logits_to_labels(ref)).to(torch.float64).mean()
        )
    return res


def read_openvino_cfg(path: str | Path):
    """The :class:`ModelCfg` stored with an IR by :func:`export_openvino`, or ``None``.

    Reads the IR's ``rt_info`` first, then the sibling ``<name>.cfg.json``.
    """
    from ..models import ModelCfg

    path = Path(path)
    try:
        from ..runners.openvino import read_ov_model

        m = read_ov_model(path)
        if m.has_rt_info(RT_INFO_KEY):
            return ModelCfg.from_dict(json.loads(m.get_rt_info(RT_INFO_KEY).astype(str)))
    except ImportError:  # no openvino: the sibling file still tells
        pass
    side = cfg_json_path(path)
    if side.is_file():
        return ModelCfg.from_dict(json.loads(side.read_text()))
    return None
