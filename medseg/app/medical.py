"""Medical tab: window a slice, segment it or the volume, score it, export the mask.

Processing functions here are plain Python (no gradio) and raise :class:`AppError` for bad
input; :func:`medseg.app.ui.build_medical_tab` wires them into Blocks. Scans come from
:mod:`.scans` (via :mod:`medseg.io`), models run through the cached predictor, Dice comes
from :mod:`medseg.metrics`. Nothing shown or returned carries patient identifiers: only the
PHI-free metadata of the loaded volume.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..transforms.intensity import apply_window
from .common import AppError, get_predictor, require_attr, temp_dir
from .scans import (
    PLANES,  # noqa: F401  (the tab's plane choices, used by the UI and API docs)
    binary_mask,
    get_slice,
    gt_slice_mask,
    io_module,
    load_ground_truth,
    load_scan,
    n_slices,
    native_plane,
    pixel_spacing,
    scan_info,
    slice_indices,
)

AUTO_WINDOW = "auto (1–99 percentile)"
CUSTOM_WINDOW = "custom (center / width)"
DEFAULT_MODEL = "unet_medical"
SCOPES = ("this slice", "whole volume")
#: ONNX Runtime runs the medical U-Net ~1.8x faster than eager PyTorch on CPU (same labels).
DEFAULT_BACKEND = "ONNX Runtime"
#: upper bound of the slice slider before a scan is loaded (API calls are checked against it)
MAX_SLICE_INDEX = 4095


def window_presets() -> dict[str, tuple[float, float]]:
    """Named CT windows ``{name: (center, width)}`` from :mod:`medseg.transforms.windows`."""
    try:
        from ..transforms import windows  # type: ignore[attr-defined]
    except ImportError:
        return {}
    out = {}
    for name, val in dict(windows.WINDOW_PRESETS).items():
        c = getattr(val, "center", None)
        w = getattr(val, "width", None)
        if c is None:
            c, w = val[0], val[1]
        out[str(name)] = (float(c), float(w))
    return out


def window_choices() -> list[str]:
    return [AUTO_WINDOW, *window_presets(), CUSTOM_WINDOW]


def resolve_window(
    image: np.ndarray, preset: str | None, center: float | None, width: float | None
) -> tuple[float, float]:
    """``(center, width)`` for a preset name, the custom values, or auto percentiles."""
    preset = preset or AUTO_WINDOW
    if preset == CUSTOM_WINDOW:
        if center is None or width is None or not np.isfinite([center, width]).all():
            raise AppError("enter a window center and width for the custom window")
        if width <= 0:
            raise AppError(f"window width must be > 0, got {width}")
        return float(center), float(width)
    if preset == AUTO_WINDOW:
        lo, hi = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = float(image.min()), float(image.max()) + 1.0
        return float((lo + hi) / 2), float(hi - lo)
    presets = window_presets()
    if preset not in presets:
        raise AppError(f"unknown window preset {preset!r}; choose one of {', '.join(presets)}")
    return presets[preset]


def windowed_uint8(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Window a slice for display: ``[H, W]`` uint8."""
    return (apply_window(image, center, width) * 255.0 + 0.5).astype(np.uint8)


def model_input_size(
    shape: tuple[int, ...], spacing: tuple[float, float], cfg: Any
) -> tuple[int, int] | None:
    """``(h, w)`` that puts a slice of ``spacing`` (row, column mm) at the model's spacing.

    ``None`` when the model has no spacing (pixels are used as they are) or when the slice
    is already at it.
    """
    if cfg.spacing is None:
        return None
    h, w = int(shape[0]), int(shape[1])
    size = (
        max(int(cfg.divisor), round(h * spacing[0] / float(cfg.spacing[0]))),
        max(int(cfg.divisor), round(w * spacing[1] / float(cfg.spacing[1]))),
    )
    return None if size == (h, w) else size


def medical_load(files: Any, plane: str | None = None) -> tuple[dict[str, Any], int, np.ndarray]:
    """Load an upload: ``(info, middle slice index, windowed middle slice)``.

    ``plane=None`` picks the plane the slices were stored in (``info["plane"]``).
    """
    scan = load_scan(files)
    plane = plane or native_plane(scan)
    idx = n_slices(scan, plane) // 2
    img = get_slice(scan, idx, plane)
    c, w = resolve_window(img, AUTO_WINDOW, None, None)
    info = scan_info(scan)
    info["plane"] = plane
    return info, idx, windowed_uint8(img, c, w)


def medical_preview(
    files: Any,
    plane: str = "axial",
    index: int = 0,
    preset: str | None = AUTO_WINDOW,
    center: float | None = None,
    width: float | None = None,
) -> tuple[np.ndarray, float, float]:
    """The windowed slice and the ``(center, width)`` used."""
    scan = load_scan(files)
    img = get_slice(scan, int(index), plane)
    c, w = resolve_window(img, preset, center, width)
    return windowed_uint8(img, c, w), c, w


def medical_segment(
    files: Any,
    gt_files: Any = None,
    plane: str = "axial",
    index: int = 0,
    preset: str | None = AUTO_WINDOW,
    center: float | None = None,
    width: float | None = None,
    model: str = DEFAULT_MODEL,
    scope: str = SCOPES[0],
    backend: str = DEFAULT_BACKEND,
) -> dict[str, Any]:
    """Segment one slice (or the whole volume) and package everything the tab shows.

    Returns:
        dict with ``windowed`` ``[H, W]`` uint8, ``overlay`` and ``mask_rgb`` ``[H, W, 3]``
        uint8, ``labels`` ``[H, W]`` of the shown slice, ``summary`` (JSON-able: model, seconds,
        foreground area mm², volume mL when the whole volume ran, Dice when a ground truth
        was given), ``nifti`` path and ``dicom_seg`` path (DICOM input only, else ``None``).
    """
    from ..models import get_model_cfg, list_models
    from ..viz import overlay as overlay_fn
    from ..viz.overlay import colorize

    if model not in list_models(task="medical"):
        raise AppError(
            f"unknown medical model {model!r}; choose one of {', '.join(list_models(task='medical'))}"
        )
    if scope not in SCOPES:
        raise AppError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    scan = load_scan(files)
    img = get_slice(scan, int(index), plane)
    c, w = resolve_window(img, preset, center, width)
    shown = windowed_uint8(img, c, w)
    predictor, trained = get_predictor(model, backend)
    cfg = get_model_cfg(model)
    arr = np.asarray(scan.volume.array)
    spacing = pixel_spacing(scan, plane)
    if scope == "whole volume" and arr.ndim == 3:
        t0 = time.perf_counter()
        out = predictor.predict_volume(scan.volume)
        seconds = time.perf_counter() - t0
        vol_labels = np.asarray(out[0] if isinstance(out, tuple) else out).reshape(arr.shape)
        labels = vol_labels.reshape(-1)[slice_indices(scan, int(index), plane)]
    else:
        # As volumes are (and as the model was trained): run at the model's pixel spacing,
        # then clean the mask (largest component per class, holes filled).
        pred = predictor.predict_image(img, size=model_input_size(img.shape, spacing, cfg))
        seconds = float(pred.seconds)
        labels = np.asarray(pred.labels)
        if cfg.task == "medical":
            from ..engine.postprocess import clean_mask

            labels = clean_mask(labels)
        vol_labels = np.zeros(arr.shape, dtype=np.uint8)
        vol_labels.reshape(-1)[slice_indices(scan, int(index), plane)] = labels
    labels = labels.astype(np.uint8)
    sx, sy = spacing
    fg = binary_mask(labels)
    summary: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "trained_weights": bool(trained),
        "scope": scope,
        "plane": plane,
        "slice": int(index),
        "window": [round(c, 2), round(w, 2)],
        "seconds": round(seconds, 4),
        "foreground_pixels": int(fg.sum()),
        "foreground_area_mm2": round(float(fg.sum()) * sx * sy, 2),
    }
    if scope == "whole volume" and arr.ndim == 3:
        voxel_ml = float(np.prod([float(s) for s in np.ravel(scan.volume.spacing)][:3])) / 1000.0
        summary["foreground_volume_ml"] = round(float(binary_mask(vol_labels).sum()) * voxel_ml, 3)
    if not trained:
        summary["note"] = "untrained model (random weights): the mask is not meaningful"
    if gt_files:
        dice = require_attr("medseg.metrics", "dice_coefficient", "Dice (medseg.metrics)", 4)
        gt_vol = load_ground_truth(gt_files, scan)
        if gt_vol is not None:
            gt = binary_mask(gt_vol.reshape(-1)[slice_indices(scan, int(index), plane)])
            if scope == "whole volume" and arr.ndim == 3:
                summary["dice_volume"] = round(
                    float(dice(binary_mask(vol_labels), binary_mask(gt_vol))), 4
                )
        else:
            gt = gt_slice_mask(gt_files, scan, int(index), plane, labels.shape)
        summary["dice"] = round(float(dice(fg, gt)), 4)
    out_dir = temp_dir("mask-")
    nifti = out_dir / "mask.nii.gz"
    io_module().save_mask_like(vol_labels.astype(np.uint8), scan.volume, str(nifti))
    seg = None
    if scan.kind == "dicom":
        seg_path = out_dir / "mask_seg.dcm"
        if fg.any() or vol_labels.any():
            io_module().write_dicom_seg(
                vol_labels.astype(np.uint8),
                scan.volume,
                str(seg_path),
                segment_labels=list(cfg.class_names[1:]),
                algorithm_name=f"medseg {model}",
            )
            seg = str(seg_path)
        else:
            summary["dicom_seg"] = "not written: the mask is empty"
    # the numbers a reader looks for first, then the settings
    first = ("dice", "dice_volume", "foreground_area_mm2", "foreground_volume_ml", "seconds")
    summary = {k: summary[k] for k in first if k in summary} | {
        k: v for k, v in summary.items() if k not in first
    }
    return {
        "windowed": shown,
        "overlay": overlay_fn(shown, labels, cfg.palette, 0.45, skip_classes=(0, 255)),
        "mask_rgb": colorize(labels, cfg.palette),
        "labels": labels,
        "summary": summary,
        "nifti": str(nifti),
        "dicom_seg": seg,
    }
