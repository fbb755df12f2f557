"""medseg: a MONAI plugin for medical segmentation and a street-scene segmentation zoo.

``import medseg`` is kept light: subpackages (``medseg.models``, ``medseg.io``,
``medseg.metrics`` ...) are imported on first attribute access, and heavy optional
dependencies (gradio, onnxruntime, cv2, highdicom) only inside the modules that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "app",
    "data",
    "engine",
    "export",
    "io",
    "labels",
    "losses",
    "metrics",
    "models",
    "monai",
    "transforms",
    "viz",
    "video",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("create_model", "list_models"):
        return getattr(importlib.import_module(f"{__name__}.models"), name)
    raise AttributeError(f"module 'medseg' has no attribute {name!r}")
