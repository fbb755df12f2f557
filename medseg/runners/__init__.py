"""Runners: one model on one back-end, ``runner(x [N, C, H, W] float32) -> logits [N, K, H, W]``.

This package sits below both :mod:`medseg.export` (which runs exported graphs to verify them)
and :mod:`medseg.engine` (which picks and builds a runner for a
:class:`~medseg.engine.predictor.Predictor`). It knows nothing of models' configs,
preprocessing or labels: a runner takes the normalised batch the predictor made.

Vocabulary (used everywhere in medseg):

* **back-end** — how a model runs: ``torch``, ``channels_last``, ``bf16``, ``torchscript``,
  ``onnxruntime``, ``ort-int8``, ``openvino-fp32``, ``openvino-bf16``, ``auto`` (see :data:`medseg.engine.backends.BACKENDS`).
* **runner** — a callable on one back-end: normalised batch → logits (this package).
* **predictor** — a runner plus the model's :class:`~medseg.models.ModelCfg`: images, frames
  and volumes in, labels and probabilities out (:mod:`medseg.engine.predictor`).

ONNX Runtime and OpenVINO are imported only when such a runner is built.
"""

from __future__ import annotations

from .base import Runner, as_runner
from .eager import TorchRunner, TorchScriptRunner
from .openvino import OpenVinoRunner
from .ort import OrtRunner

__all__ = ["OpenVinoRunner", "OrtRunner", "Runner", "TorchRunner", "TorchScriptRunner", "as_runner"]
