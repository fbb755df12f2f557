"""TTA tab: one image with and without test-time augmentation, side by side.

Uses :func:`medseg.engine.tta.compare_tta`; this module only turns its result into images
(overlays, an uncertainty heat map with its colour scale, changed pixels in magenta), a
legend of the classes present and a JSON summary. The model runs at its training scale;
the results are shown at the photo's own size (labels resized nearest, uncertainty
bilinear).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.tta import compare_tta
from ..models import get_model_cfg, list_models
from .backends import DEFAULT_BACKEND, backend_id, ran_backend
from .common import (
    AppError,
    as_paths,
    check_image_header,
    ensure_rgb_array,
    get_predictor,
    resize_rgb,
    safe_name,
)
from .progress import Job, tracked
from .street import legend_rows

DEFAULT_MODEL = "lraspp_mobilenet_v3"
CHANGED_COLOR = (255, 0, 255)
#: colour map of the uncertainty (fixed 0..1 scale)
COLORMAP = "inferno"


def _read_gt(gt: Any, shape: tuple[int, int]) -> np.ndarray | None:
    paths = as_paths(gt)
    if not paths:
        return None
    from PIL import Image

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
    return (colormaps[COLORMAP](n)[..., :3] * 255 + 0.5).astype(np.uint8)


def colorbar(width: int = 256, height: int = 46, vmax: float = 1.0) -> np.ndarray:
    """The uncertainty colour scale: a horizontal ramp with ticks at 0, 0.5 and 1.

    Returns:
        ``[height, width, 3]`` uint8 (white background, black ticks and numbers).
    """
    from PIL import Image, ImageDraw

    bar_h = height // 2
    ramp = heatmap(np.tile(np.linspace(0, vmax, width - 16)[None], (bar_h, 1)), vmax)
    im = Image.new("RGB", (width, height), (255, 255, 255))
    im.paste(Image.fromarray(ramp), (8, 2))
    d = ImageDraw.Draw(im)
    for frac, text in ((0.0, "0 (sure)"), (0.5, f"{vmax / 2:g}"), (1.0, f"{vmax:g} (unsure)")):
        x = 8 + round(frac * (width - 17))
        d.line([x, bar_h + 2, x, bar_h + 6], fill=(0, 0, 0))
        tw = d.textlength(text)
        d.text((min(max(0, x - tw / 2), width - tw), bar_h + 8), text, fill=(0, 0, 0))
    return np.asarray(im)


def _resize_nearest(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if a.shape[:2] == tuple(shape):
        return a
    from PIL import Image

    return np.asarray(Image.fromarray(a).resize((shape[1], shape[0]), Image.NEAREST))


def _resize_bilinear(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if a.shape[:2] == tuple(shape):
        return a
    from PIL import Image

    return np.asarray(
        Image.fromarray(a.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR)
    )


def tta_compare(
    image: Any,
    gt: Any = None,
    model: str = DEFAULT_MODEL,
    backend: str = DEFAULT_BACKEND,
    job: Job | None = None,
) -> dict[str, Any]:
    """Run a model with and without TTA on one image.

    Args:
        image: path of a PNG/JPEG (or an RGB array).
        gt: optional label PNG (class index per pixel, 255 = ignore), resized with nearest
            neighbour to the model's working size for the scores.
        model: registry name (street or medical).
        backend: ``"ONNX Runtime"`` or ``"PyTorch"`` (or the ids).
        job: progress (forward passes) and cancellation.

    Returns:
        dict with ``plain`` / ``tta`` overlays, ``uncertainty`` and ``changed`` images
        (``[H, W, 3]`` uint8 at the photo's size), ``colorbar`` (the uncertainty scale),
        ``rows`` (legend of the classes present with TTA, largest first) and ``summary``
        (latency of each, changed-pixel share, mIoU / Dice of each when ``gt`` is given).
    """
    from ..viz import overlay

    if model not in list_models():
        raise AppError(f"unknown model {model!r}; choose one of {', '.join(list_models())}")
    cfg = get_model_cfg(model)
    photo = ensure_rgb_array(image)
    # TTA runs several views at several scales: work at the model's training scale, show
    # the results at the photo's size.
    rgb = resize_rgb(photo, max(cfg.input_size))
    gt_arr = _read_gt(gt, rgb.shape[:2]) if gt is not None else None
    predictor, trained = get_predictor(model, backend_id(backend))
    if job is not None:
        job.total = 7  # the plain pass and the six TTA views (batched or not)
        predictor = tracked(predictor, job)
    res = dict(compare_tta(predictor, rgb, gt=gt_arr))  # grey models: luma
    plain = np.asarray(res["labels"]).astype(np.uint8)
    with_tta = np.asarray(res["labels_tta"]).astype(np.uint8)
    shape = photo.shape[:2]
    plain_big = _resize_nearest(plain, shape)
    tta_big = _resize_nearest(with_tta, shape)
    changed = plain_big != tta_big
    changed_img = (photo.astype(np.float32) * 0.35).astype(np.uint8)
    changed_img[changed] = CHANGED_COLOR
    summary: dict[str, Any] = {
        "model": model,
        "backend": backend_id(backend),
        "backend_ran": ran_backend(predictor),
        "trained_weights": bool(trained),
        "image_size": [int(shape[0]), int(shape[1])],
        "model_input_size": [int(rgb.shape[0]), int(rgb.shape[1])],
        "changed_pixels_percent": round(100.0 * float(changed.mean()), 3),
    }
    for k in ("seconds", "seconds_tta", "views", "miou", "miou_tta", "dice", "dice_tta"):
        v = res.get(k)
        if isinstance(v, (int, float, np.floating, np.integer)):
            summary[k] = round(float(v), 4) if k != "views" else int(v)
    summary["warnings"] = []
    if not trained:
        summary["note"] = "untrained model (random weights): labels are not meaningful"
        summary["warnings"].append(f"{model} has no trained weights installed: labels are random.")
    unc = res.get("uncertainty")
    unc_img = (
        heatmap(_resize_bilinear(np.asarray(unc, np.float32), shape))
        if unc is not None
        else np.zeros_like(photo)
    )
    return {
        "plain": overlay(photo, plain_big, cfg.palette, 0.5),
        "tta": overlay(photo, tta_big, cfg.palette, 0.5),
        "uncertainty": unc_img,
        "changed": changed_img,
        "colorbar": colorbar(),
        "rows": legend_rows(with_tta, cfg),
        "summary": summary,
    }
