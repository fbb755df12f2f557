"""Back-ends: their names, and :func:`make_runner`, which builds a runner for a model on one.

A runner (:mod:`medseg.runners`) takes a normalised float32 batch ``[N, C, H, W]`` (any H, W:
the exported graphs pad to the model's divisor and crop back, like
:meth:`SegmentationModel.forward`) and returns float32 logits ``[N, K, H, W]`` on the CPU (or
the torch device for torch runners). :data:`BACKENDS` is the one list of back-end names and
their labels; the CLI, the app, the video pipeline and the benchmarks read it.

ONNX Runtime is imported only when an ONNX runner is built.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..runners import OrtRunner, Runner, TorchRunner, TorchScriptRunner, as_runner


@dataclass(frozen=True)
class Backend:
    """A back-end: its ``name`` (what APIs and ``--backend`` take) and ``label`` (what people
    read in the app and reports)."""

    name: str
    label: str
    description: str


#: Every back-end, in the order menus show them.
BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("torch", "PyTorch", "eager PyTorch, fp32"),
        Backend("channels_last", "PyTorch channels-last", "eager PyTorch, NHWC memory format"),
        Backend("bf16", "PyTorch bf16", "eager PyTorch under bf16 autocast (CPU or GPU)"),
        Backend("torchscript", "TorchScript", "traced TorchScript module"),
        Backend("onnxruntime", "ONNX Runtime", "ONNX Runtime CPU, fp32"),
        Backend("ort-int8", "ONNX Runtime int8", "ONNX Runtime, static QDQ int8 (calibrated)"),
    )
}


def backend_label(name: str) -> str:
    """The label people read for a back-end name (``"onnxruntime"`` → ``"ONNX Runtime"``)."""
    return BACKENDS[resolve_backend(name)].label


def resolve_backend(name_or_label: str) -> str:
    """A back-end name from a name or a label, case-insensitive (``"ONNX Runtime"`` →
    ``"onnxruntime"``); raises ``ValueError`` listing the accepted names otherwise."""
    key = str(name_or_label).strip().lower()
    for b in BACKENDS.values():
        if key in (b.name, b.label.lower()):
            return b.name
    raise ValueError(f"unknown backend {name_or_label!r}; choose one of {', '.join(BACKENDS)}")


def as_predict_fn(
    f: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Deprecated name of :func:`medseg.runners.as_runner`."""
    warnings.warn(
        "medseg.engine.backends.as_predict_fn is deprecated; use medseg.runners.as_runner",
        DeprecationWarning,
        stacklevel=2,
    )
    return as_runner(f)


def make_runner(
    model: nn.Module,
    backend: str = "torch",
    *,
    device: str = "cpu",
    workdir: str | Path | None = None,
    example_size: Sequence[int] | None = None,
    calibration: Sequence[np.ndarray] | None = None,
    exporter: str = "legacy",
    ort_spin: bool = True,
) -> Runner:
    """Build a runner for ``model`` on ``backend`` (see :data:`BACKENDS`).

    Args:
        model: a medseg model (``model.cfg`` required for the ONNX / int8 paths).
        backend: one of :data:`BACKENDS`.
        device: torch device for the torch back-ends (ONNX Runtime runs on the CPU).
        workdir: folder for exported files (default: a fresh temporary folder kept for the
            runner's lifetime).
        example_size: ``(H, W)`` used for tracing/export (default ``model.cfg.input_size``
            shrunk to at most 128 px per side: export traces shapes, not sizes).
        calibration: images (``[H, W, 3]`` uint8 or ``[H, W]``) for int8 calibration; default
            synthetic images (see :func:`medseg.export.quantize.synthetic_calibration`).
        exporter: ``"legacy"`` (TorchScript-based ONNX exporter, ~0.3 s) or ``"dynamo"``
            (``torch.export`` based, ~10 s); both are verified equal in the tests. The
            predictor converts on the fly, so the fast one is the default here.
        ort_spin: let ONNX Runtime threads spin-wait (lowest latency when nothing else runs);
            ``False`` for pipelines that run other threads beside inference.
    """
    backend = resolve_backend(backend)
    if backend in ("torch", "channels_last", "bf16"):
        return TorchRunner(
            model, device=device, channels_last=backend == "channels_last", bf16=backend == "bf16"
        )
    cfg = model.cfg
    if example_size is None:
        h, w = cfg.input_size
        s = min(1.0, 128 / max(h, w))
        example_size = (max(cfg.divisor, int(h * s)), max(cfg.divisor, int(w * s)))
    if backend == "torchscript":
        from ..export.torchscript import trace_model

        return TorchScriptRunner(trace_model(model, example_size), device=device)
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="medseg-ort-")
        workdir = tmp.name
    else:
        tmp = None
        os.makedirs(workdir, exist_ok=True)
    from ..export.onnx import export_onnx

    fp32 = Path(workdir) / f"{cfg.name}.onnx"
    export_onnx(model, fp32, input_size=example_size, exporter=exporter, verify=False)
    if backend == "onnxruntime":
        runner = OrtRunner(fp32, spin=ort_spin)
    else:
        from ..export.quantize import quantize_onnx_int8, synthetic_calibration

        calib = calibration if calibration is not None else synthetic_calibration(cfg)
        q = Path(workdir) / f"{cfg.name}.int8.onnx"
        quantize_onnx_int8(fp32, q, calib, cfg=cfg)
        runner = OrtRunner(q, name="ort-int8", spin=ort_spin)
    runner._tmp = tmp  # keep the temporary folder alive as long as the runner
    return runner


__all__ = [
    "BACKENDS",
    "Backend",
    "OrtRunner",
    "Runner",
    "TorchRunner",
    "TorchScriptRunner",
    "as_runner",
    "backend_label",
    "make_runner",
    "resolve_backend",
]
