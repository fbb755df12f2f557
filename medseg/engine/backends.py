"""Back-ends: their names, and :func:`make_runner`, which builds a runner for a model on one.

A runner (:mod:`medseg.runners`) takes a normalised float32 batch ``[N, C, H, W]`` (any H, W:
the exported graphs pad to the model's divisor and crop back, like
:meth:`SegmentationModel.forward`) and returns float32 logits ``[N, K, H, W]`` on the CPU (or
the torch device for torch runners). :data:`BACKENDS` is the one list of back-end names and
their labels; the CLI, the app, the video pipeline and the benchmarks read it.

``auto`` measures the others on this machine and keeps the fastest whose labels agree with
eager fp32 (:mod:`medseg.engine.autotune`). OpenVINO's precision is part of the back-end name
(``openvino-fp32``, ``openvino-bf16``): never the plug-in's silent default.

ONNX Runtime and OpenVINO are imported only when such a runner is built.
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

from ..runners import OpenVinoRunner, OrtRunner, Runner, TorchRunner, TorchScriptRunner, as_runner


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
        Backend(
            "openvino-fp32",
            "OpenVINO fp32",
            "OpenVINO CPU runtime, fp32 inference precision (IR converted from the ONNX export)",
        ),
        Backend(
            "openvino-bf16",
            "OpenVINO bf16",
            "OpenVINO CPU runtime, bf16 inference precision (CPUs with AVX512-BF16 or AMX)",
        ),
        Backend(
            "auto",
            "Automatic",
            "the fastest back-end on this machine whose labels agree with eager fp32 "
            "(measured once per model and size, cached)",
        ),
    )
}

#: back-ends ``auto`` may choose on a CPU, in menu order (int8 is opt-in only)
AUTO_CPU_CANDIDATES = (
    "torch",
    "channels_last",
    "bf16",
    "onnxruntime",
    "openvino-fp32",
    "openvino-bf16",
)
#: ... and on a GPU (ONNX Runtime and OpenVINO run on the CPU here)
AUTO_GPU_CANDIDATES = ("torch", "channels_last", "bf16")


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
    if key == "openvino":
        raise ValueError(
            "backend 'openvino' needs an explicit precision: choose openvino-fp32 (exact) or "
            "openvino-bf16 (faster on CPUs with AVX512-BF16 or AMX, logits differ by ~1e-2)"
        )
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


def auto_candidates(device: str = "cpu") -> list[str]:
    """Back-ends ``auto`` may choose from on ``device`` on this machine, eager fp32 first.

    CPU: eager, channels-last, bf16 autocast (only where the CPU has AVX512-BF16 or AMX: it is
    emulated, and slow, elsewhere), ONNX Runtime and OpenVINO fp32 (when installed), OpenVINO
    bf16 (when its CPU plug-in reports bf16). GPU: eager, channels-last, bf16 autocast.
    ``$MEDSEG_AUTO_BACKENDS`` (comma-separated names) limits the list further.
    """
    import importlib.util

    from .autotune import limit_candidates
    from .machine import cpu_has_bf16

    if torch.device(device).type != "cpu":
        names = list(AUTO_GPU_CANDIDATES)
    else:
        names = []
        for n in AUTO_CPU_CANDIDATES:
            if n == "bf16" and not cpu_has_bf16():
                continue
            if n == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
                continue
            if n.startswith("openvino") and importlib.util.find_spec("openvino") is None:
                continue
            if n == "openvino-bf16":
                from ..runners.openvino import cpu_supports_bf16

                if not cpu_supports_bf16():
                    continue
            names.append(n)
    return limit_candidates(names, "torch")


def _default_example_size(cfg) -> tuple[int, int]:
    # export traces shapes, not sizes: a small example is enough and quick
    h, w = cfg.input_size
    s = min(1.0, 128 / max(h, w))
    return (max(cfg.divisor, int(h * s)), max(cfg.divisor, int(w * s)))


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
    onnx_path: str | Path | None = None,
    candidates: Sequence[str] | None = None,
) -> Runner:
    """Build a runner for ``model`` on ``backend`` (see :data:`BACKENDS`).

    Args:
        model: a medseg model (``model.cfg`` required for the exported back-ends).
        backend: one of :data:`BACKENDS`; ``"auto"`` returns an
            :class:`~medseg.engine.autotune.AutoRunner` that chooses on first use.
        device: torch device for the torch back-ends (ONNX Runtime and OpenVINO run on the CPU).
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
        onnx_path: an ONNX export of this model to reuse (ONNX Runtime, int8, OpenVINO)
            instead of exporting again.
        candidates: for ``"auto"``: the back-ends to choose from (default
            :func:`auto_candidates`; eager ``torch`` is always the reference).
    """
    backend = resolve_backend(backend)
    if backend == "auto":
        return _auto_runner(model, device, workdir, example_size, exporter, ort_spin, candidates)
    if backend in ("torch", "channels_last", "bf16"):
        return TorchRunner(
            model, device=device, channels_last=backend == "channels_last", bf16=backend == "bf16"
        )
    cfg = model.cfg
    if example_size is None:
        example_size = _default_example_size(cfg)
    if backend == "torchscript":
        from ..export.torchscript import trace_model

        return TorchScriptRunner(trace_model(model, example_size), device=device)
    tmp = None
    if onnx_path is None:
        if workdir is None:
            tmp = tempfile.TemporaryDirectory(prefix="medseg-rt-")
            workdir = tmp.name
        else:
            os.makedirs(workdir, exist_ok=True)
        from ..export.onnx import export_onnx

        onnx_path = Path(workdir) / f"{cfg.name}.onnx"
        export_onnx(model, onnx_path, input_size=example_size, exporter=exporter, verify=False)
    onnx_path = Path(onnx_path)
    if backend == "onnxruntime":
        runner = OrtRunner(onnx_path, spin=ort_spin)
    elif backend in ("openvino-fp32", "openvino-bf16"):
        runner = OpenVinoRunner(onnx_path, precision=backend.split("-")[1])
    else:
        from ..export.quantize import quantize_onnx_int8, synthetic_calibration

        calib = calibration if calibration is not None else synthetic_calibration(cfg)
        if workdir is None:  # a reused export: the int8 graph goes to a folder of our own
            tmp = tempfile.TemporaryDirectory(prefix="medseg-rt-")
            workdir = tmp.name
        q = Path(workdir) / f"{cfg.name}.int8.onnx"
        quantize_onnx_int8(onnx_path, q, calib, cfg=cfg)
        runner = OrtRunner(q, name="ort-int8", spin=ort_spin)
    runner._tmp = tmp  # keep the temporary folder alive as long as the runner
    return runner


def _auto_runner(model, device, workdir, example_size, exporter, ort_spin, candidates):
    """An AutoRunner over ``model``'s candidate back-ends, sharing one ONNX export."""
    from .autotune import AutoRunner
    from .calibration import model_fingerprint

    if candidates is None:
        names = auto_candidates(device)
    else:  # an explicit list wins over $MEDSEG_AUTO_BACKENDS; eager fp32 is the reference
        names = [resolve_backend(c) for c in candidates]
        if {"auto", "ort-int8"} & set(names):
            raise ValueError("auto chooses among fp32/bf16 back-ends: not auto, not int8")
        names = ["torch", *dict.fromkeys(n for n in names if n != "torch")]
    holder: dict = {}

    def onnx() -> Path:
        # one export for ONNX Runtime and both OpenVINO precisions, made when first needed
        if "path" not in holder:
            from ..export.onnx import export_onnx

            d = workdir
            if d is None:
                holder["tmp"] = tempfile.TemporaryDirectory(prefix="medseg-auto-")
                d = holder["tmp"].name
            p = Path(d) / f"{model.cfg.name}.onnx"
            export_onnx(
                model,
                p,
                input_size=example_size or _default_example_size(model.cfg),
                exporter=exporter,
                verify=False,
            )
            holder["path"] = p
        return holder["path"]

    def factory(name: str):
        if name in ("onnxruntime", "openvino-fp32", "openvino-bf16"):
            return lambda: make_runner(model, name, ort_spin=ort_spin, onnx_path=onnx())
        return lambda: make_runner(model, name, device=device)

    runner = AutoRunner(
        {n: factory(n) for n in names},
        reference="torch",
        cfg=model.cfg,
        model_id=model_fingerprint(model),
        device=device,
        context=f"ort_spin={ort_spin}",
    )
    runner._onnx = holder  # keep the exported graph alive as long as the runner
    return runner


__all__ = [
    "AUTO_CPU_CANDIDATES",
    "AUTO_GPU_CANDIDATES",
    "BACKENDS",
    "Backend",
    "OpenVinoRunner",
    "OrtRunner",
    "Runner",
    "TorchRunner",
    "TorchScriptRunner",
    "as_runner",
    "auto_candidates",
    "backend_label",
    "make_runner",
    "resolve_backend",
]
