"""Deployment: TorchScript, ONNX (optionally with in-graph preprocessing), ONNX Runtime int8,
OpenVINO IR.

Each exporter checks its output numerically against eager PyTorch and returns the max abs
difference. Heavy imports (onnxruntime, openvino) happen inside the functions.
"""

from __future__ import annotations

from .onnx import export_onnx, verify_onnx
from .openvino import export_openvino, read_openvino_cfg
from .quantize import quantize_onnx_int8
from .torchscript import export_torchscript, trace_model

__all__ = [
    "export_onnx",
    "export_openvino",
    "export_torchscript",
    "quantize_onnx_int8",
    "read_openvino_cfg",
    "trace_model",
    "verify_onnx",
]
