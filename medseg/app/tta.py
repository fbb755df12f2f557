"""TTA tab: one image with and without test-time augmentation, side by side.

Uses :func:`medseg.engine.tta.compare_tta`; this module only turns its result into images
(overlays, an uncertainty heat map, changed pixels in magenta) and a JSON summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import AppError, as_paths, ensure_rgb_array, get_predictor, require_attr, safe_name

DEFAULT_MODEL = "lraspp_mobilenet_v3"
CHANGED_COLOR = (255, 0, 255)


def _pick(d: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in d and d[n] is not None:
            return d[n]
    return None


def _read_gt(gt: Any, shape: tuple[int, int]) -> np.ndarray | None:
    paths = as_paths(gt)
    if not paths:
        return None
    from PIL import Image

    from .common import check_image_header

    check_image_header(paths[0])
    with Image.open(paths[0]) as im:
        if im.size != (shape[1], shape[0]):
            im = im.resize((shape[1], shape[0]), Image.NEAREST)
        a = np.asarray(im)
    if a.ndim == 3:
        raise AppError(
            f"ground truth {safe_name(paths[0].name)} must be a single-channel label PNG "
            "(pixel value = class index, 255 = ignore)"
        )
    return a.astype(np.uint8)


def heatmap(x: np.ndarray) -> np.ndarray:
    """Map ``[H, W]`` values to an RGB heat map (matplotlib ``inferno``, scaled to its max)."""
    from matplotlib import colormaps

    x = np.asarray(x, dtype=np.float32)
    m = float(np.nanmax(x)) if x.size else 0.0
    n = x / m if m > 0 else np.zeros_like(x)
    return (colormaps["inferno"](np.nan_to_num(n))[..., :3] * 255 + 0.5).astype(np.uint8)


def tta_compare(
    image: Any, gt: Any = None, model: str = DEFAULT_MODEL, backend: str = "PyTorch"
) -> dict[str, Any]:
    """Run a model with and without TTA on one image.

    Args:
        image: path of a PNG/JPEG (or an RGB array).
        gt: optional label PNG (class index per pixel, 255 = ignore), resized with nearest
            neighbour to the image if needed.
        model: registry name (street or medical).
        backend: ``"PyTorch"`` or ``"ONNX Runtime"``.

    Returns:
        dict with ``plain`` / ``tta`` overlays, ``uncertainty`` and ``changed`` images
        (``[H, W, 3]`` uint8) and ``summary`` (latency of each, changed-pixel share,
        mIoU / Dice of each when ``gt`` is given).
    """
    from ..models import get_model_cfg, list_models
    from ..viz import overlay

    if model not in list_models():
        raise AppError(f"unknown model {model!r}; choose one of {', '.join(list_models())}")
    rgb = ensure_rgb_array(image)
    cfg = get_model_cfg(model)
    inp: np.ndarray = rgb if cfg.in_channels == 3 else rgb.astype(np.float32).mean(axis=2)
    gt_arr = _read_gt(gt, rgb.shape[:2]) if gt is not None else None
    compare_tta = require_attr(
        "medseg.engine.tta", "compare_tta", "Test-time augmentation (medseg.engine.tta)", 7
    )
    predictor, trained = get_predictor(model, backend)
    res = dict(compare_tta(predictor, inp, gt=gt_arr))
    plain = np.asarray(_pick(res, "labels", "plain_labels", "labels_plain")).astype(np.uint8)
    tta = np.asarray(_pick(res, "tta_labels", "labels_tta")).astype(np.uint8)
    unc = _pick(res, "uncertainty", "tta_uncertainty")
    changed = plain != tta
    changed_img = (rgb.astype(np.float32) * 0.35).astype(np.uint8)
    changed_img[changed] = CHANGED_COLOR
    summary: dict[str, Any] = {
        "model": model,
        "trained_weights": bool(trained),
        "changed_pixels_percent": round(100.0 * float(changed.mean()), 3),
    }
    for k, v in res.items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            summary[k] = round(v, 4) if isinstance(v, float) else v
        elif isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            summary[k] = {kk: round(float(x), 4) for kk, x in v.items()}
    return {
        "plain": overlay(rgb, plain, cfg.palette, 0.5),
        "tta": overlay(rgb, tta, cfg.palette, 0.5),
        "uncertainty": heatmap(unc) if unc is not None else np.zeros_like(rgb),
        "changed": changed_img,
        "summary": summary,
    }
