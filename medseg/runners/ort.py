"""ONNX Runtime runner (CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Runner


def default_threads() -> int:
    """Intra-op threads for non-torch runtimes: the process' torch setting (tests pin 1 thread
    per xdist worker, commands use the cores)."""
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
        opts.intra_op_num_threads = threads or default_threads()
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
