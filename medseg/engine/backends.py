"""Inference back-ends behind one small interface: ``runner(x) -> logits``.

Every runner takes a normalised float32 batch ``[N, C, H, W]`` (any H, W: the exported graphs
pad to the model's divisor and crop back, like :meth:`SegmentationModel.forward`) and returns
float32 logits ``[N, K, H, W]`` on the CPU (or the torch device for torch runners).

Back-ends: ``torch`` (eager fp32), ``channels_last``, ``bf16`` (CPU autocast), ``torchscript``,
``onnxruntime`` (fp32) and ``ort-int8`` (static QDQ int8). ONNX Runtime is imported only when
an ONNX runner is built.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

BACKENDS = ("torch", "channels_last", "bf16", "torchscript", "onnxruntime", "ort-int8")


def as_predict_fn(
    f: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A model (put in eval mode, run without gradients) or a callable, as a callable."""
    if isinstance(f, nn.Module):
        model = f.eval()

        def fn(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model(x)

        return fn
    return f


class Runner:
    """Base runner. ``name`` says which back-end; ``__call__`` maps a batch to logits."""

    name = "base"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class TorchRunner(Runner):
    """Eager PyTorch, optionally channels-last memory format and/or bf16 autocast."""

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        bf16: bool = False,
    ):
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.bf16 = bf16
        if channels_last:
            # Module.to() converts in place: work on a copy so that other runners sharing the
            # model (e.g. the eager baseline in a benchmark) keep the default layout.
            model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        self.model = model.eval().to(self.device)
        self.name = "bf16" if bf16 else ("channels_last" if channels_last else "torch")

    @torch.no_grad()  # not inference_mode: MONAI updates outputs in place
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                y = self.model(x)
            return y.float().contiguous()
        return self.model(x).contiguous()


class TorchScriptRunner(Runner):
    """A TorchScript module (traced by :func:`medseg.export.export_torchscript` or loaded)."""

    name = "torchscript"

    def __init__(self, module: torch.jit.ScriptModule | str | Path, device: str = "cpu"):
        self.device = torch.device(device)
        if isinstance(module, (str, Path)):
            with warnings.catch_warnings():  # torch.jit's deprecation notice
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(module), map_location=self.device)
        self.module = module.eval()

    @torch.no_grad()  # not inference_mode: MONAI updates outputs in place
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.device, torch.float32)).float()


def _threads_default() -> int:
    # Respect the process' torch setting (tests pin 1 thread per xdist worker).
    return max(1, torch.get_num_threads())


class OrtRunner(Runner):
    """ONNX Runtime CPU session over a graph with input ``[N, C, H, W]`` float32."""

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        name: str = "onnxruntime",
        spin: bool = True,
    ):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or _threads_default()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # ORT's worker threads spin-wait between ops by default: best single-stream latency on
        # an idle CPU (measured: unet_medical 15 ms with spinning vs 24 ms without), but in a
        # pipeline that overlaps inference with decode/encode threads (video) the spinning
        # steals the cores those threads need (measured: ~40% less CPU per frame without it).
        # So callers that run other threads pass spin=False.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.name = name

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.run_numpy(arr))


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
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
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
