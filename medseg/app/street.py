"""Street tab: segment a photo with a street model on PyTorch or ONNX Runtime.

:func:`street_segment` is plain Python (testable without a browser); the Blocks wiring is
:func:`medseg.app.ui.build_street_tab`. Photos run at the model's training scale (long
side = the long side of ``cfg.input_size``) and the labels are resized back to the photo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import (
    BACKENDS,
    AppError,
    class_shares,
    ensure_rgb_array,
    get_predictor,
    inference_size,
)

DEFAULT_MODEL = "lraspp_mobilenet_v3"


def street_segment(
    image: Any, model: str = DEFAULT_MODEL, backend: str = "PyTorch", alpha: float = 0.5
) -> dict[str, Any]:
    """Segment a street photo.

    Args:
        image: a path to a PNG/JPEG (or an ``[H, W, 3]`` uint8 array); photos larger than
            1024 px on the long side are scaled down for display.
        model: registry name of a street model.
        backend: ``"PyTorch"`` or ``"ONNX Runtime"`` (or ``"torch"`` / ``"onnxruntime"``).
        alpha: overlay opacity in [0, 1].

    Returns:
        dict with ``overlay`` ``[H, W, 3]`` uint8, ``legend`` image of the classes present
        (largest first),
        ``labels`` ``[H, W]`` uint8, ``shares`` (% of pixels per class, largest first) and
        ``info`` (model, backend, trained weights, inference seconds, size).
    """
    from ..models import get_model_cfg, list_models
    from ..viz import legend, overlay

    if model not in list_models(task="street"):
        raise AppError(
            f"unknown street model {model!r}; choose one of {', '.join(list_models(task='street'))}"
        )
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise AppError(f"overlay opacity must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= alpha <= 1.0:
        raise AppError(f"overlay opacity must be in [0, 1], got {alpha}")
    rgb = ensure_rgb_array(image)
    predictor, trained = get_predictor(model, backend)
    cfg = get_model_cfg(model)
    size = inference_size(rgb.shape[0], rgb.shape[1], cfg)
    pred = predictor.predict_image(rgb, size=size)
    labels = np.asarray(pred.labels).astype(np.uint8)
    counts = np.bincount(labels.ravel(), minlength=len(cfg.class_names))[: len(cfg.class_names)]
    present = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    info = {
        "model": model,
        "backend": BACKENDS.get(backend, backend),
        "trained_weights": bool(trained),
        "inference_seconds": round(float(pred.seconds), 4),
        "image_size": [int(labels.shape[0]), int(labels.shape[1])],
        "model_input_size": [int(size[0]), int(size[1])],
    }
    if not trained:
        info["note"] = "untrained model (random weights): the classes are not meaningful"
    return {
        "overlay": overlay(rgb, labels, cfg.palette, alpha),
        "legend": legend(
            cfg.class_names, cfg.palette, classes=present or None, swatch=20, width=240
        ),
        "labels": labels,
        "shares": class_shares(labels, cfg.class_names),
        "info": info,
    }
