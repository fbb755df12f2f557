"""TTA tab: one image with and without test-time augmentation, side by side.

Uses :func:`medseg.engine.tta.compare_tta`; this module only turns its result into images
(overlays, an uncertainty heat map, changed pixels in magenta) and a JSON summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import (
    AppError,
    as_paths,
    ensure_rgb_array,
    get_predictor,
    require_attr,
    resize_rgb,
    safe_name,
)

DEFAULT_MODEL = "lraspp_mobilenet_v3"
CHANGED_COLOR = (255, 0, 255)


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


def heatmap(x: np.ndarray, vmax: float = 1.0) -> np.ndarray:
    """Map ``[H, W]`` values in ``[0, vmax]`` to RGB (matplotlib ``inferno``; fixed scale)."""
    from matplotlib import colormaps

    n = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float32)) / float(vmax), 0.0, 1.0)
    return (colormaps["inferno"](n)[..., :3] * 255 + 0.5).astype(np.uint8)


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
    # TTA runs several views at several scales: work at the model's training scale.
    cfg = get_model_cfg(model)
    rgb = ensure_rgb_array(image)
    rgb = resize_rgb(rgb, max(cfg.input_size))
    gt_arr = _read_gt(gt, rgb.shape[:2]) if gt is not None else None
    compare_tta = require_attr(
        "medseg.engine.tta", "compare_tta", "Test-time augmentation (medseg.engine.tta)", 7
    )
    predictor, trained = get_predictor(model, backend)
    res = dict(compare_tta(predictor, rgb, gt=gt_arr))  # grey models: luma
    plain = np.asarray(res["labels"]).astype(np.uint8)
    with_tta = np.asarray(res["labels_tta"]).astype(np.uint8)
    changed = plain != with_tta
    changed_img = (rgb.astype(np.float32) * 0.35).astype(np.uint8)
    changed_img[changed] = CHANGED_COLOR
    summary: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "trained_weights": bool(trained),
        "image_size": [int(rgb.shape[0]), int(rgb.shape[1])],
        "changed_pixels_percent": round(100.0 * float(changed.mean()), 3),
    }
    for k in ("seconds", "seconds_tta", "views", "miou", "miou_tta", "dice", "dice_tta"):
        v = res.get(k)
        if isinstance(v, (int, float, np.floating, np.integer)):
            summary[k] = round(float(v), 4) if k != "views" else int(v)
    if not trained:
        summary["note"] = "untrained model (random weights): labels are not meaningful"
    unc = res.get("uncertainty")
    return {
        "plain": overlay(rgb, plain, cfg.palette, 0.5),
        "tta": overlay(rgb, with_tta, cfg.palette, 0.5),
        "uncertainty": heatmap(unc) if unc is not None else np.zeros_like(rgb),
        "changed": changed_img,
        "summary": summary,
    }
