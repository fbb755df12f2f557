"""Medical tab: load a scan, window a slice, segment it, score it, export the mask.

Processing functions here are plain Python (no gradio) and raise :class:`AppError` for bad
input; :func:`build_tab` wires them into Blocks. Volumes are read by :mod:`medseg.io`, models
run through the cached predictor, Dice comes from :mod:`medseg.metrics`. Nothing shown or
returned carries patient identifiers: only the PHI-free metadata of the loaded volume.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..transforms.intensity import apply_window
from .common import (
    MAX_VOLUME_VOXELS,
    AppError,
    check_image_header,
    expand_uploads,
    file_kind,
    get_predictor,
    require,
    require_attr,
    safe_name,
    temp_dir,
)

PLANES = ("axial", "coronal", "sagittal")
#: volume axis that indexes slices of each plane (MONAI / RAS array layout: x, y, z).
PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
AUTO_WINDOW = "auto (1–99 percentile)"
CUSTOM_WINDOW = "custom (center / width)"
DEFAULT_MODEL = "unet_medical"
SCOPES = ("this slice", "whole volume")
#: ONNX Runtime runs the medical U-Net ~2x faster than eager PyTorch on CPU (same labels).
DEFAULT_BACKEND = "ONNX Runtime"
#: upper bound of the slice slider before a scan is loaded (API calls are checked against it)
MAX_SLICE_INDEX = 4095


@dataclass
class Scan:
    """A loaded upload: the :mod:`medseg.io` volume plus what kind of files it came from."""

    volume: Any
    kind: str
    n_files: int
    #: shape and spacing after reorientation to RAS (what slice indices count along)
    canonical_shape: tuple[int, ...] = ()
    canonical_spacing: tuple[float, ...] = ()


_CACHE: OrderedDict[tuple, Scan] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _io():
    return require("medseg.io", "Medical image reading (medseg.io)", 5)


def _io_errors() -> tuple[type[BaseException], ...]:
    try:
        from ..io import MedsegIOError  # type: ignore[attr-defined]

        return (MedsegIOError,)
    except ImportError:
        return ()


def _precheck(paths: list[Path], kind: str) -> None:
    # Refuse huge inputs from their headers, before any pixel data is decoded.
    if kind == "image":
        for p in paths:
            check_image_header(p)
    elif kind == "nifti":
        import nibabel as nib

        try:
            shape = nib.load(str(paths[0])).shape
        except Exception as e:
            raise AppError(
                f"{safe_name(paths[0].name)} is not a readable NIfTI file ({e})"
            ) from None
        if int(np.prod(shape)) > MAX_VOLUME_VOXELS:
            raise AppError(f"volume of shape {shape} is too large for the web app")
    elif kind == "dicom":
        import pydicom

        voxels = 0
        for p in paths:
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
                voxels += (
                    int(ds.get("Rows", 0))
                    * int(ds.get("Columns", 0))
                    * int(ds.get("NumberOfFrames", 1) or 1)
                )
            except Exception:
                continue  # the reader gives the precise error for unreadable files
        if voxels > MAX_VOLUME_VOXELS:
            raise AppError("DICOM series is too large for the web app; use `medseg predict`")


def load_scan(files: Any) -> Scan:
    """Read uploaded DICOM file(s) / zip, NIfTI or a 2-D image into a :class:`Scan`.

    Loads are cached per set of uploaded files, so moving the slider does not re-read them.
    """
    paths = expand_uploads(files)
    kinds = {file_kind(p) for p in paths}
    if len(kinds) > 1:
        raise AppError(
            "mixed file types uploaded (" + ", ".join(sorted(kinds)) + "); upload one scan: "
            "DICOM files of one series, one NIfTI file, or one image"
        )
    kind = kinds.pop()
    if kind == "video":
        raise AppError("this is a video; use the Video tab")
    if kind in ("nifti", "image") and len(paths) > 1:
        raise AppError(f"upload one {kind} file at a time (got {len(paths)})")
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    _precheck(paths, kind)
    io = _io()
    arg: Any = [str(p) for p in paths] if len(paths) > 1 else str(paths[0])
    try:
        volume = image_volume(io.load_image(arg)) if kind == "image" else io.load_volume(arg)
    except _io_errors() + (ValueError, FileNotFoundError, IndexError) as e:
        raise AppError(_clean(str(e), paths)) from None
    canon = io.to_canonical(volume)
    scan = Scan(
        volume=volume,
        kind=kind,
        n_files=len(paths),
        canonical_shape=tuple(int(n) for n in canon.array.shape),
        canonical_spacing=tuple(float(x) for x in canon.spacing),
    )
    with _CACHE_LOCK:
        _CACHE[key] = scan
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    return scan


def image_volume(image: np.ndarray) -> Any:
    """Wrap a 2-D image ``(H, W[, 3])`` as a one-slice :class:`~medseg.io.Volume`.

    The array becomes ``(X = W, Y = H, Z = 1)`` with an LPS affine (like a DICOM slice), so
    :func:`~medseg.io.extract_slice` shows it exactly as the file does. Pixel spacing is
    unknown for image files: 1 mm is assumed and said so in the scan info.
    """
    io = _io()
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    arr = np.ascontiguousarray(img.T[..., None])
    meta = {"source": "image", "spacing_note": "image files carry no spacing: 1 mm assumed"}
    return io.Volume(
        array=arr, affine=np.diag([-1.0, -1.0, 1.0, 1.0]), spacing=(1.0, 1.0, 1.0), meta=meta
    )


def _clean(msg: str, paths: list[Path]) -> str:
    # The reader names files by their temp path; show the sanitised base name only.
    for p in paths:
        msg = msg.replace(str(p), safe_name(p.name)).replace(str(p.parent), "")
    return msg


def n_slices(scan: Scan, plane: str) -> int:
    """Number of slices along ``plane`` (1 for a 2-D image)."""
    _check_plane(plane)
    return int(canonical_shape(scan)[PLANE_AXIS[plane]])


def canonical_shape(scan: Scan) -> tuple[int, ...]:
    """Array shape after reorientation to RAS (the layout slice indices count in)."""
    return scan.canonical_shape


def _check_plane(plane: str) -> None:
    if plane not in PLANES:
        raise AppError(f"unknown plane {plane!r}; choose one of {', '.join(PLANES)}")


def get_slice(scan: Scan, index: int, plane: str) -> np.ndarray:
    """The 2-D slice ``index`` of ``plane`` as float32, oriented for display."""
    n = n_slices(scan, plane)
    if not 0 <= int(index) < n:
        raise AppError(f"slice {index} is out of range; the {plane} plane has slices 0..{n - 1}")
    sl = _io().extract_slice(scan.volume, int(index), plane)
    return np.asarray(sl, dtype=np.float32)


def _slice_indices(scan: Scan, index: int, plane: str) -> np.ndarray:
    # Where each displayed pixel lives in the volume: extract the same slice from a volume
    # of flat indices, so any transpose/flip extract_slice applies is inverted exactly.
    arr = np.asarray(scan.volume.array)
    idx = np.arange(arr.size, dtype=np.int64).reshape(arr.shape)
    vol = dataclasses.replace(scan.volume, array=idx)
    return np.asarray(_io().extract_slice(vol, int(index), plane)).astype(np.int64)


def pixel_spacing(scan: Scan, plane: str) -> tuple[float, float]:
    """In-plane spacing (mm) of a ``plane`` slice (product is what the area needs)."""
    sp = scan.canonical_spacing
    keep = [a for a in range(3) if a != PLANE_AXIS[plane]]
    return sp[keep[0]], sp[keep[1]]


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


def scan_info(scan: Scan) -> dict[str, Any]:
    """PHI-free facts for display: kind, shape, spacing, modality, slices per plane."""
    meta = dict(getattr(scan.volume, "meta", {}) or {})
    keep = (
        "modality",
        "series_description",
        "units",
        "orientation",
        "uneven_spacing",
        "spacing_note",
    )
    info: dict[str, Any] = {
        "kind": scan.kind,
        "files": scan.n_files,
        "shape": [int(s) for s in np.shape(scan.volume.array)],
        "spacing_mm": [round(float(s), 4) for s in np.ravel(scan.volume.spacing)],
    }
    info.update({k: meta[k] for k in keep if k in meta and meta[k] not in (None, "")})
    info["slices"] = {p: n_slices(scan, p) for p in PLANES}
    return info


def native_plane(scan: Scan) -> str:
    """The plane of the stored slices (the last array axis), e.g. coronal for a coronal scan."""
    from nibabel.orientations import io_orientation

    axis = int(io_orientation(np.asarray(scan.volume.affine))[2][0])
    return {0: "sagittal", 1: "coronal", 2: "axial"}[axis]


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


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask) > 0


def _gt_slice(gt_files: Any, scan: Scan, index: int, plane: str, shape: tuple) -> np.ndarray:
    gt = load_scan(gt_files)
    g = get_slice(gt, min(int(index), n_slices(gt, plane) - 1), plane)
    if g.ndim == 3:
        g = g[..., 0]
    if g.shape != shape:
        raise AppError(
            f"ground-truth mask slice is {g.shape[0]}×{g.shape[1]} but the scan slice is "
            f"{shape[0]}×{shape[1]}; upload a mask with the scan's geometry"
        )
    return _binary(g)


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
    if scope == "whole volume" and arr.ndim == 3:
        t0 = time.perf_counter()
        out = predictor.predict_volume(scan.volume)
        seconds = time.perf_counter() - t0
        vol_labels = np.asarray(out[0] if isinstance(out, tuple) else out).reshape(arr.shape)
        labels = vol_labels.reshape(-1)[_slice_indices(scan, int(index), plane)]
    else:
        pred = predictor.predict_image(img)
        seconds = float(pred.seconds)
        labels = np.asarray(pred.labels)
        vol_labels = np.zeros(arr.shape, dtype=np.uint8)
        vol_labels.reshape(-1)[_slice_indices(scan, int(index), plane)] = labels
    labels = labels.astype(np.uint8)
    sx, sy = pixel_spacing(scan, plane)
    fg = _binary(labels)
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
        summary["foreground_volume_ml"] = round(float(_binary(vol_labels).sum()) * voxel_ml, 3)
    if not trained:
        summary["note"] = "untrained model (random weights): the mask is not meaningful"
    if gt_files:
        gt = _gt_slice(gt_files, scan, int(index), plane, labels.shape)
        dice = require_attr("medseg.metrics", "dice_coefficient", "Dice (medseg.metrics)", 4)
        summary["dice"] = round(float(dice(fg, gt)), 4)
    out_dir = temp_dir("mask-")
    nifti = out_dir / "mask.nii.gz"
    _io().save_mask_like(vol_labels.astype(np.uint8), scan.volume, str(nifti))
    seg = None
    if scan.kind == "dicom":
        seg_path = out_dir / "mask_seg.dcm"
        if fg.any() or vol_labels.any():
            _io().write_dicom_seg(
                vol_labels.astype(np.uint8),
                scan.volume,
                str(seg_path),
                segment_labels=list(cfg.class_names[1:]),
                algorithm_name=f"medseg {model}",
            )
            seg = str(seg_path)
        else:
            summary["dicom_seg"] = "not written: the mask is empty"
    return {
        "windowed": shown,
        "overlay": overlay_fn(shown, labels, cfg.palette, 0.45, skip_classes=(0, 255)),
        "mask_rgb": colorize(labels, cfg.palette),
        "labels": labels,
        "summary": summary,
        "nifti": str(nifti),
        "dicom_seg": seg,
    }
