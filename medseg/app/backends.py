"""The back-end choice as the app shows it: one label per back-end, the same in all four tabs.

The radio buttons show (and the API accepts) the labels; summaries and JSON report the
back-end id (``"onnxruntime"``, ``"torch"``), as :mod:`medseg.engine` names them; the labels
are the engine's own (:data:`medseg.engine.backends.BACKENDS`). The first entry is the
default: ``auto`` ("Automatic"), the fastest back-end here whose labels agree with eager fp32.
"""

from __future__ import annotations

from typing import Any

from ..engine.backends import BACKENDS
from .common import AppError

#: back-ends the app offers, the default first: ``auto`` is the fastest back-end on this machine
#: whose labels agree with eager PyTorch fp32, measured once per machine and cached (see
#: :mod:`medseg.engine.autotune`); what really ran is shown next to each result
#: (:func:`backend_note`). int8 is left out: its accuracy change is a deliberate choice.
APP_BACKENDS = ("auto", "onnxruntime", "torch", "openvino-fp32", "openvino-bf16")

#: back-end id -> label shown in the app (the first one is the default).
BACKEND_LABELS: dict[str, str] = {n: BACKENDS[n].label for n in APP_BACKENDS if n in BACKENDS}
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


def ran_backend(predictor: Any) -> str:
    """The back-end id that really ran ``predictor`` (``auto``'s choice once it has run)."""
    info = getattr(predictor, "backend_info", None)
    return str(info()["backend"]) if info else str(getattr(predictor, "backend", "?"))


def backend_shown(info: dict[str, Any]) -> str:
    """The back-end as a result line shows it: the label asked for and, for ``auto``, what
    it chose (``"Automatic → OpenVINO bf16"``)."""
    asked = backend_label(info.get("backend"))
    ran = info.get("backend_ran")
    if ran and ran != backend_id(info.get("backend")):
        ran_label = BACKENDS[ran].label if ran in BACKENDS else str(ran)
        return f"{asked} → {ran_label}"
    return asked


def backend_note(predictor: Any) -> str:
    """What runs ``predictor``, in one line: for ``auto`` its choice and why (speed-up over
    eager fp32, label agreement); else the back-end's label."""
    info = getattr(predictor, "backend_info", None)
    return info()["summary"] if info else str(getattr(predictor, "backend", "?"))
