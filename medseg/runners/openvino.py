"""OpenVINO runner (CPU plug-in), with an explicit inference precision: ``fp32`` or ``bf16``.

OpenVINO's CPU plug-in picks its own precision when none is given: bf16 on CPUs with
AVX512-BF16 or AMX, fp32 elsewhere. medseg never relies on that default: the precision is an
argument, passed to ``compile_model`` as ``INFERENCE_PRECISION_HINT``, and read back from the
compiled model; asking for bf16 on a CPU without bf16 support is an error, not a fallback.

The graph is compiled once with dynamic shapes, and once more for each input shape seen (up to
``max_static_shapes``, least recently used first out): a shape-specialised compile takes a
fraction of a second and OpenVINO then plans its memory and kernels for that shape.

``openvino`` is imported only when a runner is built.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import Runner
from .ort import default_threads

#: medseg precision name -> OpenVINO's INFERENCE_PRECISION_HINT value
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
#: how the compiled model reports them back
_TYPE_NAMES = {"fp32": "'float32'", "bf16": "'bfloat16'"}

_CORE = None
_CORE_LOCK = threading.Lock()


def ov_core():
    """The process' one ``openvino.Core`` (creating a Core loads the plug-ins: do it once)."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            import openvino as ov

            _CORE = ov.Core()
        return _CORE


def cpu_supports_bf16() -> bool:
    """True when OpenVINO's CPU plug-in reports native bf16 (AVX512-BF16 or AMX)."""
    try:
        caps = ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no plug-in: no bf16 either
        return False
    return "BF16" in [str(c).upper() for c in caps]


def read_ov_model(source: Any):
    """An ``openvino.Model`` from itself, an IR ``.xml`` (with its ``.bin``) or an ``.onnx`` file."""
    import openvino as ov

    if isinstance(source, ov.Model):
        return source
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix.lower() not in (".xml", ".onnx"):
        raise ValueError(
            f"{path.name}: OpenVINO reads an IR (.xml + .bin, `medseg export --format openvino`) "
            "or an ONNX graph (.onnx)"
        )
    return ov_core().read_model(str(path))


class OpenVinoRunner(Runner):
    """OpenVINO CPU inference over a graph with input ``[N, C, H, W]`` float32, logits out.

    Args:
        model: an IR ``.xml`` path, an ``.onnx`` path, or an ``openvino.Model``.
        precision: ``"fp32"`` or ``"bf16"`` (required to be one of them: no silent default
            of the plug-in's). bf16 needs a CPU with AVX512-BF16 or AMX.
        threads: inference threads (default: torch's thread count, as ONNX Runtime).
        max_static_shapes: shape-specialised compiles kept (0: dynamic shapes only).
        name: back-end name reported by the runner (default ``openvino-<precision>``).

    Thread-safe: calls are serialised per compiled shape (an infer request is not re-entrant).
    """

    def __init__(
        self,
        model: Any,
        *,
        precision: str = "fp32",
        threads: int | None = None,
        max_static_shapes: int = 4,
        name: str | None = None,
    ):
        if precision not in PRECISIONS:
            raise ValueError(
                f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        if precision == "bf16" and not cpu_supports_bf16():
            raise RuntimeError(
                "OpenVINO bf16 needs a CPU with AVX512-BF16 or AMX, and this one has neither; "
                "use precision='fp32' (backend openvino-fp32)"
            )
        self.precision = precision
        self.threads = int(threads or default_threads())
        self.path = None if not isinstance(model, (str, Path)) else Path(model)
        self.model = read_ov_model(model)
        self.max_static_shapes = int(max_static_shapes)
        self.name = name or f"openvino-{precision}"
        self.config = {
            "INFERENCE_PRECISION_HINT": PRECISIONS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": 1,
        }
        self._dynamic = self._compile(self.model)
        self._static: OrderedDict[tuple, tuple[Any, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def _compile(self, model) -> tuple[Any, threading.Lock]:
        compiled = ov_core().compile_model(model, "CPU", self.config)
        got = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()  # "<Type: 'bfloat16'>"
        if _TYPE_NAMES[self.precision] not in got:
            raise RuntimeError(
                f"OpenVINO compiled the model with precision {got}, not {self.precision} as asked"
            )
        return compiled.create_infer_request(), threading.Lock()

    def _request(self, shape: tuple) -> tuple[Any, threading.Lock]:
        if self.max_static_shapes <= 0:
            return self._dynamic
        with self._lock:
            hit = self._static.get(shape)
            if hit is not None:
                self._static.move_to_end(shape)
                return hit
        m = self.model.clone()
        m.reshape({m.inputs[0].any_name: list(shape)})
        req = self._compile(m)
        with self._lock:
            self._static[shape] = req
            while len(self._static) > self.max_static_shapes:
                self._static.popitem(last=False)
        return req

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        """``[N, C, H, W]`` float32 array → logits array (a copy the caller owns)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        req, lock = self._request(tuple(x.shape))
        with lock:
            # share_inputs: no copy of the input (x lives until infer returns);
            # outputs are copied (the request reuses its buffers on the next call).
            out = req.infer({0: x}, share_inputs=True, share_outputs=False)
        return np.asarray(out[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).numpy()
        return torch.from_numpy(self.run_numpy(arr))
