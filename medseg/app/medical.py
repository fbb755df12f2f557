"""Medical tab: window a slice, segment it or the volume, score it, export the mask.

Processing functions here are plain Python (no gradio) and raise :class:`AppError` for bad
input; :mod:`medseg.app.ui_medical` wires them into Blocks. Scans come from :mod:`.scans`
(via :mod:`medseg.io`), models run through the cached predictor, the input/model check is
:func:`medseg.models.compat.check_input`, Dice comes from :mod:`medseg.metrics`. Nothing
shown or returned carries patient identifiers: only the PHI-free metadata of the volume.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from ..io import save_mask_like, write_dicom_seg
from ..metrics import dice_coefficient
from ..models import get_model_cfg, list_models
from ..transforms.intensity import apply_window
from ..transforms.windows import WINDOW_PRESETS
from .backends import DEFAULT_BACKEND, backend_id, ran_backend
from .checks import (  # noqa: F401  (part of this module's interface: the tab uses them)
    ModelMismatch,
    check_scan,
    geometry_notes,
    is_volume,
    model_card,
    scan_modality,
)
from .common import AppError, get_predictor, temp_dir
from .memo import ObjectCache
from .progress import Job, tracked
from .scans import (
    PLANES,  # noqa: F401  (the tab's plane choices, used by the UI and API docs)
    binary_mask,
    get_slice,
    gt_slice_mask,
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
#: upper bound of the slice slider before a scan is loaded (API calls are checked against it)
MAX_SLICE_INDEX = 4095


# --------------------------------------------------------------------------- windows
def window_presets() -> dict[str, tuple[float, float]]:
    """Named CT windows ``{name: (center, width)}`` in HU (:mod:`medseg.transforms.windows`)."""
    return {name: (float(c), float(w)) for name, (c, w) in WINDOW_PRESETS.items()}


def window_choices(modality: str | None = None) -> list[str]:
    """Window names for a dropdown: the CT presets (in HU) only for CT or an unknown scan."""
    presets = list(window_presets()) if modality in (None, "CT") else []
    return [AUTO_WINDOW, *presets, CUSTOM_WINDOW]


_AUTO_CACHE = ObjectCache(16)


def auto_window(array: np.ndarray) -> tuple[float, float]:
    """``(center, width)`` spanning the 1st to 99th percentile of ``array`` (any shape).

    Large volumes are subsampled (about a million voxels) for speed; the result is the same
    for every slice of a scan, so the numbers shown are the window actually in use.
    """
    a = np.asarray(array)
    if a.size == 0:
        return 0.5, 1.0
    hit = _AUTO_CACHE.get(a)
    if hit is not None:
        return hit
    flat = a.reshape(-1)
    step = max(1, flat.size // 1_000_000)
    lo, hi = (float(v) for v in np.percentile(flat[::step], [1, 99]))
    if hi <= lo:
        lo, hi = float(a.min()), float(a.max()) + 1.0
    return _AUTO_CACHE.put(a, ((lo + hi) / 2, hi - lo))


def resolve_window(
    image: np.ndarray,
    preset: str | None,
    center: float | None,
    width: float | None,
    volume: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(center, width)`` for a preset name, the custom values, or auto percentiles.

    ``auto`` spans the 1–99th percentile of ``volume`` (the whole scan) when given, else of
    ``image``.
    """
    preset = preset or AUTO_WINDOW
    if preset == CUSTOM_WINDOW:
        if center is None or width is None or not np.isfinite([center, width]).all():
            raise AppError("enter a window center and width for the custom window")
        if width <= 0:
            raise AppError(f"window width must be > 0, got {width}")
        return float(center), float(width)
    if preset == AUTO_WINDOW:
        return auto_window(volume if volume is not None else image)
    presets = window_presets()
    if preset not in presets:
        raise AppError(f"unknown window preset {preset!r}; choose one of {', '.join(presets)}")
    return presets[preset]


def windowed_uint8(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Window a slice for display: ``[H, W]`` uint8."""
    return (apply_window(image, center, width) * 255.0 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- scans
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


_IDS = ObjectCache(64)


def scan_id(scan: Any) -> str:
    """A short, PHI-free tag of a loaded scan's content (six hex digits), e.g. ``"3fa2c1"``.

    The same data gives the same tag (a hash of the shape, the affine and a sample of the
    voxels); results carry it so they can be matched with the scan they belong to.
    """
    vol = scan.volume
    hit = _IDS.get(vol)
    if hit is not None:
        return hit
    a = np.ascontiguousarray(np.asarray(vol.array).reshape(-1))
    h = hashlib.sha1(repr((a.shape, np.round(np.asarray(vol.affine), 4).tolist())).encode())
    h.update(np.ascontiguousarray(a[:: max(1, a.size // 262_144)]).tobytes())
    return _IDS.put(vol, h.hexdigest()[:6])


def scan_label(scan: Any, info: dict[str, Any] | None = None) -> str:
    """A one-line, PHI-free name of a scan: modality, size and its tag, e.g.
    ``"MR 181×217×181 · #3fa2c1"``."""
    info = info or scan_info(scan)
    kind = info.get("modality") or {"image": "image", "nifti": "NIfTI"}.get(scan.kind, scan.kind)
    shape = [int(s) for s in info["shape"]]
    if not is_volume(scan):
        shape = [s for s in shape if s > 1] or shape[:2]
    return f"{kind} {'×'.join(str(s) for s in shape)} · #{scan_id(scan)}"


def medical_load(files: Any, plane: str | None = None) -> tuple[dict[str, Any], int, np.ndarray]:
    """Load an upload: ``(info, middle slice index, windowed middle slice)``.

    ``plane=None`` picks the plane the slices were stored in (``info["plane"]``). The slice
    is shown with the automatic window, given in ``info["window"]``.
    """
    scan = load_scan(files)
    plane = plane or native_plane(scan)
    if not is_volume(scan):
        plane = "axial"  # a 2-D image has one plane
    idx = n_slices(scan, plane) // 2
    img = get_slice(scan, idx, plane)
    c, w = resolve_window(img, AUTO_WINDOW, None, None, scan.volume.array)
    info = scan_info(scan)
    info["plane"] = plane
    info["window"] = [round(c, 2), round(w, 2)]
    info["scan"] = scan_label(scan, info)
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
    c, w = resolve_window(img, preset, center, width, scan.volume.array)
    return windowed_uint8(img, c, w), c, w


# --------------------------------------------------------------------------- segment
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
    allow_mismatch: bool = False,
    job: Job | None = None,
) -> dict[str, Any]:
    """Segment one slice (or the whole volume) and package everything the tab shows.

    Args:
        allow_mismatch: run even when the scan is not what the model was trained for
            (otherwise :class:`ModelMismatch`); the mismatch is then reported as a warning.
        job: progress and cancellation (whole-volume runs report slices done).

    Returns:
        dict with ``windowed`` ``[H, W]`` uint8, ``overlay`` and ``mask_rgb`` ``[H, W, 3]``
        uint8, ``labels`` ``[H, W]`` of the shown slice, ``volume_labels`` (the mask in the
        scan's array layout), ``summary`` (JSON-able: model, back-end id, seconds, foreground
        area mm², volume mL when the whole volume ran, Dice when a ground truth was given,
        ``warnings`` in plain words, the ``scan`` it belongs to), ``nifti`` path and
        ``dicom_seg`` path (DICOM input only, else ``None``).
    """
    from ..viz import overlay as overlay_fn
    from ..viz.overlay import colorize

    if model not in list_models(task="medical"):
        raise AppError(
            f"unknown medical model {model!r}; choose one of {', '.join(list_models(task='medical'))}"
        )
    if scope not in SCOPES:
        raise AppError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    scan = load_scan(files)
    cfg = get_model_cfg(model)
    warnings = check_scan(scan, files, model, allow_mismatch)
    img = get_slice(scan, int(index), plane)
    arr = np.asarray(scan.volume.array)
    c, w = resolve_window(img, preset, center, width, arr)
    shown = windowed_uint8(img, c, w)
    predictor, trained = get_predictor(model, backend_id(backend))
    spacing = pixel_spacing(scan, plane)
    whole = scope == "whole volume" and arr.ndim == 3
    if whole:
        job = job or Job(0, "slices")
        job.total = max(1, int(scan.canonical_shape[2]))
        t0 = time.perf_counter()
        vol_labels = np.asarray(tracked(predictor, job).predict_volume(scan.volume))
        seconds = time.perf_counter() - t0
        vol_labels = vol_labels.reshape(arr.shape)
        labels = vol_labels.reshape(-1)[slice_indices(scan, int(index), plane)]
    else:
        # As volumes are (and as the model was trained): run at the model's pixel spacing,
        # then clean the mask (largest component per class, holes filled).
        run = tracked(predictor, job) if job is not None else predictor
        pred = run.predict_image(img, size=model_input_size(img.shape, spacing, cfg))
        seconds = float(pred.seconds)
        from ..engine.postprocess import clean_mask

        labels = clean_mask(np.asarray(pred.labels))
        vol_labels = np.zeros(arr.shape, dtype=np.uint8)
        vol_labels.reshape(-1)[slice_indices(scan, int(index), plane)] = labels
    labels = labels.astype(np.uint8)
    vol_labels = vol_labels.astype(np.uint8)
    sx, sy = spacing
    fg = binary_mask(labels)
    summary: dict[str, Any] = {
        "model": model,
        "backend": backend_id(backend),
        "backend_ran": ran_backend(predictor),
        "trained_weights": bool(trained),
        "scope": scope,
        "plane": plane,
        "slice": int(index),
        "window": [round(c, 2), round(w, 2)],
        "seconds": round(seconds, 4),
        "foreground_pixels": int(fg.sum()),
        "foreground_area_mm2": round(float(fg.sum()) * sx * sy, 2),
        "scan": scan_label(scan),
    }
    if whole:
        voxel_ml = float(np.prod([float(s) for s in np.ravel(scan.volume.spacing)][:3])) / 1000.0
        summary["foreground_volume_ml"] = round(float(binary_mask(vol_labels).sum()) * voxel_ml, 3)
    if not is_volume(scan):
        summary["single_slice"] = True  # (a "volume" in mL means little for one slice)
    if not trained:
        summary["note"] = "untrained model (random weights): the mask is not meaningful"
    if not (vol_labels.any() if whole else fg.any()):
        warnings.append(
            "Empty mask: the model found no "
            + " / ".join(n for n in cfg.class_names if n != "background")
            + (
                " in this volume."
                if whole
                else " on this slice; try another slice or the whole volume."
            )
        )
    warnings += geometry_notes(scan, cfg, scope)
    if gt_files:
        gt_vol = load_ground_truth(gt_files, scan)
        if gt_vol is not None:
            gt = binary_mask(gt_vol.reshape(-1)[slice_indices(scan, int(index), plane)])
            if whole:
                summary["dice_volume"] = round(
                    dice_coefficient(binary_mask(vol_labels), binary_mask(gt_vol)), 4
                )
        else:
            gt = gt_slice_mask(gt_files, scan, int(index), plane, labels.shape)
        summary["dice"] = round(dice_coefficient(fg, gt), 4)
    out_dir = temp_dir("mask-")
    nifti = out_dir / "mask.nii.gz"
    save_mask_like(vol_labels, scan.volume, str(nifti))
    seg = None
    if scan.kind == "dicom":
        seg_path = out_dir / "mask_seg.dcm"
        if vol_labels.any():
            write_dicom_seg(
                vol_labels,
                scan.volume,
                str(seg_path),
                segment_labels=list(cfg.class_names[1:]),
                algorithm_name=f"medseg {model}",
            )
            seg = str(seg_path)
        else:
            summary["dicom_seg"] = "not written: the mask is empty"
    summary["warnings"] = warnings
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
        "volume_labels": vol_labels,
        "summary": summary,
        "nifti": str(nifti),
        "dicom_seg": seg,
    }


def warm_up(model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND) -> None:
    """Run the model once on a synthetic slice and import what a first request needs
    (mask clean-up, NIfTI and DICOM SEG writers), so it is as fast as the next ones."""
    from ..engine.postprocess import clean_mask
    from ..io import seg  # noqa: F401  (imports highdicom, ~1 s the first time)

    predictor, _ = get_predictor(model, backend_id(backend))
    rng = np.random.default_rng(0)
    img = rng.normal(100, 20, (256, 256)).astype(np.float32)
    cfg = get_model_cfg(model)
    pred = predictor.predict_image(img, size=model_input_size(img.shape, (1.0, 1.0), cfg))
    clean_mask(np.asarray(pred.labels))
    # the whole-volume path of the example head: for ``auto`` this makes the measured choice
    # for the slice sizes of a head volume (20–40 s once per machine, cached) here, in the
    # background, instead of in the first user's request
    from ..data.samples import sample_path

    try:
        head = sample_path("t1_head")
    except FileNotFoundError:
        return
    from ..io import load_volume

    predictor.predict_volume(load_volume(head))
