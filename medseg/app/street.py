"""Street tab: segment a photo with a street model; re-blend the cached prediction.

:func:`street_segment` is plain Python (testable without a browser); the Blocks wiring is
:mod:`medseg.app.ui_street`. Photos run at the model's training scale (long side = the long
side of ``cfg.input_size``) and the labels are resized back to the photo. Changing the
opacity or highlighting a class re-blends the labels already computed (:func:`blend`): the
model does not run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io import read_dataset
from ..models import get_model_cfg, list_models
from ..models.compat import InputMismatchError, check_input
from .backends import DEFAULT_BACKEND, backend_id, ran_backend
from .common import (
    AppError,
    as_paths,
    class_shares,
    ensure_rgb_array,
    file_kind,
    get_predictor,
    inference_size,
    safe_name,
)

DEFAULT_MODEL = "lraspp_mobilenet_v3"
#: how much of the photo's brightness is kept outside a highlighted class
DIM = 0.35


def _check_not_a_scan(image: Any, cfg: Any) -> None:
    """A DICOM or NIfTI upload gets the model check's words instead of a decoding error."""
    if isinstance(image, np.ndarray):
        return
    paths = as_paths(image)
    if not paths:
        return
    kind = file_kind(paths[0])
    if kind not in ("dicom", "nifti"):
        return
    modality = ""
    if kind == "dicom":
        try:
            modality = str(read_dataset(paths[0], stop_before_pixels=True).get("Modality", ""))
        except Exception:  # unreadable: the message below still applies
            modality = ""
    try:
        check_input(cfg, kind="volume", modality=modality)
    except InputMismatchError as e:
        problem = e.problem
        raise AppError(
            f"{safe_name(Path(paths[0]).name)} is not a photo: {problem}. Use the Medical tab "
            "for scans; this tab takes PNG, JPEG, BMP or TIFF photos."
        ) from None


def legend_rows(labels: np.ndarray, cfg: Any) -> list[dict[str, Any]]:
    """The classes present in ``labels``, largest share first: id, name, colour, share (%)."""
    n = len(cfg.class_names)
    counts = np.bincount(np.asarray(labels).ravel(), minlength=n)[:n]
    total = max(1, int(counts.sum()))
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    return [
        {
            "id": c,
            "name": cfg.class_names[c],
            "color": [int(v) for v in cfg.palette[c]],
            "share": round(100.0 * int(counts[c]) / total, 2),
        }
        for c in order
    ]


def blend(
    rgb: np.ndarray,
    labels: np.ndarray,
    palette: Any,
    alpha: float = 0.5,
    highlight: int | None = None,
) -> np.ndarray:
    """The overlay of ``labels`` on ``rgb``; with ``highlight`` only that class is coloured
    (at least at opacity 0.6) and the rest of the photo is dimmed.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    from ..viz import overlay

    if highlight is None:
        return overlay(rgb, labels, palette, alpha)
    sel = np.asarray(labels) == int(highlight)
    out = (rgb.astype(np.float32) * DIM).astype(np.uint8)
    a = max(float(alpha), 0.6)
    col = np.asarray(palette[int(highlight)], dtype=np.float32)
    out[sel] = np.clip((1 - a) * rgb[sel].astype(np.float32) + a * col + 0.5, 0, 255).astype(
        np.uint8
    )
    return out


def _alpha(alpha: Any) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise AppError(f"overlay opacity must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= a <= 1.0:
        raise AppError(f"overlay opacity must be in [0, 1], got {a}")
    return a


def street_segment(
    image: Any, model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, alpha: float = 0.5
) -> dict[str, Any]:
    """Segment a street photo.

    Args:
        image: a path to a PNG/JPEG (or an ``[H, W, 3]`` uint8 array); photos larger than
            1024 px on the long side are scaled down for display.
        model: registry name of a street model.
        backend: ``"ONNX Runtime"`` or ``"PyTorch"`` (or ``"onnxruntime"`` / ``"torch"``).
        alpha: overlay opacity in [0, 1].

    Returns:
        dict with ``overlay`` ``[H, W, 3]`` uint8, ``legend`` image of the classes present
        (largest first), ``rows`` (the same as data: id, name, colour, share %), ``rgb``
        (the photo as shown), ``labels`` ``[H, W]`` uint8, ``shares`` (% of pixels per class,
        largest first) and ``info`` (model, back-end id, trained weights, inference seconds,
        sizes, ``warnings``).
    """
    from ..viz import legend

    if model not in list_models(task="street"):
        raise AppError(
            f"unknown street model {model!r}; choose one of {', '.join(list_models(task='street'))}"
        )
    alpha = _alpha(alpha)
    cfg = get_model_cfg(model)
    _check_not_a_scan(image, cfg)
    rgb = ensure_rgb_array(image)
    predictor, trained = get_predictor(model, backend_id(backend))
    size = inference_size(rgb.shape[0], rgb.shape[1], cfg)
    pred = predictor.predict_image(rgb, size=size)
    labels = np.asarray(pred.labels).astype(np.uint8)
    rows = legend_rows(labels, cfg)
    info: dict[str, Any] = {
        "model": model,
        "backend": backend_id(backend),
        "backend_ran": ran_backend(predictor),
        "trained_weights": bool(trained),
        "inference_seconds": round(float(pred.seconds), 4),
        "image_size": [int(labels.shape[0]), int(labels.shape[1])],
        "model_input_size": [int(size[0]), int(size[1])],
        "warnings": [],
    }
    if not trained:
        info["note"] = "untrained model (random weights): the classes are not meaningful"
        info["warnings"].append(
            f"{model} has no trained weights installed: its classes are random."
        )
    return {
        "overlay": blend(rgb, labels, cfg.palette, alpha),
        "legend": legend(
            cfg.class_names,
            cfg.palette,
            classes=[r["id"] for r in rows] or None,
            swatch=20,
            width=240,
        ),
        "rows": rows,
        "rgb": rgb,
        "labels": labels,
        "shares": class_shares(labels, cfg.class_names),
        "info": info,
    }


def warm_up(model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND) -> None:
    """Run the whole street path once on a synthetic photo (model, overlay, PNG encoder)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (384, 512, 3), dtype=np.uint8)
    r = street_segment(photo, model, backend)
    Image.fromarray(r["overlay"]).save(io.BytesIO(), "png", compress_level=3)


def model_card(model: str) -> str:
    """One sentence on what a street model segments, from its cfg."""
    cfg = get_model_cfg(model)
    card = (
        f"**{model}** labels every pixel of an RGB street photo with one of "
        f"{len(cfg.class_names)} Cityscapes classes (road, car, person, …); it runs at "
        f"{max(cfg.input_size)} px on the long side."
    )
    if not cfg.has_pretrained:
        card += " No trained weights are installed: its labels are random."
    elif "synthetic" in cfg.notes.lower():
        card += " Trained on synthetic street scenes only: expect rough results on real photos."
    return card
