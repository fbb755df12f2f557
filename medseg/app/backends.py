"""The back-end choice as the app shows it: one label per back-end, the same in all four tabs.

The radio buttons show (and the API accepts) the labels; summaries and JSON report the
back-end id (``"onnxruntime"``, ``"torch"``), as :mod:`medseg.engine` names them. The first
entry is the default: today ONNX Runtime, which runs the app's models ~1.8x faster than eager
PyTorch on this CPU with the same labels. A measured ``"auto"`` back-end becomes the default by
adding one line at the top of :data:`BACKEND_LABELS`.
"""

from __future__ import annotations

from .common import AppError

#: back-end id -> label shown in the app, fastest first (the first one is the default).
BACKEND_LABELS: dict[str, str] = {
    "onnxruntime": "ONNX Runtime",
    "torch": "PyTorch",
}
DEFAULT_BACKEND: str = next(iter(BACKEND_LABELS.values()))


def backend_choices() -> list[str]:
    """The labels for a radio button, default first."""
    return list(BACKEND_LABELS.values())


def backend_id(backend: str | None) -> str:
    """``"ONNX Runtime"`` or ``"onnxruntime"`` -> ``"onnxruntime"``; ``None`` -> the default."""
    if backend is None or backend == "":
        return next(iter(BACKEND_LABELS))
    if backend in BACKEND_LABELS:
        return backend
    for key, label in BACKEND_LABELS.items():
        if backend == label:
            return key
    raise AppError(f"unknown backend {backend!r}; choose one of {', '.join(backend_choices())}")


def backend_label(backend: str | None) -> str:
    """The label of a back-end given by id or label."""
    return BACKEND_LABELS[backend_id(backend)]
