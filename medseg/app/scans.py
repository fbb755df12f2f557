"""Scans for the Medical tab: reading uploads into volumes, slices, spacing, ground truth.

Plain Python (no gradio). Volumes are read by :mod:`medseg.io` (DICOM files / zip of a
series, NIfTI) or wrapped from a 2-D image; loads are cached per set of uploaded files.
Sizes are checked from headers before pixel data is decoded. Only PHI-free metadata leaves
this module.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    MAX_VOLUME_VOXELS,
    AppError,
    as_paths,
    check_image_header,
    expand_uploads,
    extract_zip,
    file_kind,
    require,
    safe_name,
)

PLANES = ("axial", "coronal", "sagittal")
#: volume axis that indexes slices of each plane (MONAI / RAS array layout: x, y, z).
PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass
class Scan:
    """A loaded upload: the :mod:`medseg.io` volume plus what kind of files it came from."""

    volume: Any
    kind: str
    n_files: int
    #: files in an uploaded zip that were left out (not DICOM, next to a DICOM series)
    n_skipped: int = 0
    #: shape and spacing after reorientation to RAS (what slice indices count along)
    canonical_shape: tuple[int, ...] = ()
    canonical_spacing: tuple[float, ...] = ()


_CACHE: OrderedDict[tuple, Scan] = OrderedDict()
#: memory the cache of loaded scans may hold (slider moves reuse them)
CACHE_BYTES = 1 << 30
_CACHE_LOCK = threading.Lock()


def io_module():
    return require("medseg.io", "Medical image reading (medseg.io)", 5)


def io_errors() -> tuple[type[BaseException], ...]:
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


def _classify(raw: list[Path]) -> tuple[list[tuple[Path, str]], int]:
    """``(path, kind)`` of each uploaded file (zips expanded), without the stray files of a
    zipped DICOM series, and how many of those were left out.

    Zipped series folders often carry a README, a DICOMDIR viewer's files or thumbnails next
    to the slices. When a zip holds DICOM files, its members of any other (or unknown) kind
    are left out and counted; only their number is reported, as a file name can carry a
    patient's name. Files uploaded one by one are taken as given: a wrong one is an error.
    Each file's header is read once.
    """
    out: list[tuple[Path, str]] = []
    skipped = 0
    for p in raw:
        kind = file_kind(p)
        if kind != "zip":
            out.append((p, kind))
            continue
        members = []
        for m in extract_zip(p):
            try:
                members.append((m, file_kind(m)))
            except AppError:
                members.append((m, None))
        keep = [(m, k) for m, k in members if k == "dicom"]
        if keep:
            skipped += len(members) - len(keep)
            out.extend(keep)
        else:  # no series inside: an unsupported member raises its precise error here
            out.extend((m, k if k is not None else file_kind(m)) for m, k in members)
    return out, skipped


def load_scan(files: Any) -> Scan:
    """Read uploaded DICOM file(s) / zip, NIfTI or a 2-D image into a :class:`Scan`.

    Loads are cached per set of uploaded files (zips included, keyed before they are
    extracted), so moving the slider does not re-read or re-extract them.
    """
    raw = as_paths(files)
    if not raw:
        raise AppError("no file uploaded: choose a file (or click an example) first")
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in raw)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    classified, skipped = _classify(raw)
    paths = [p for p, _ in classified]
    kinds = {k for _, k in classified}
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
    _precheck(paths, kind)
    io = io_module()
    arg: Any = [str(p) for p in paths] if len(paths) > 1 else str(paths[0])
    try:
        volume = image_volume(io.load_image(arg)) if kind == "image" else io.load_volume(arg)
    except io_errors() + (ValueError, FileNotFoundError, IndexError) as e:
        raise AppError(clean_message(str(e), paths)) from None
    canon = io.to_canonical(volume)
    scan = Scan(
        volume=volume,
        kind=kind,
        n_files=len(paths),
        n_skipped=skipped,
        canonical_shape=tuple(int(n) for n in canon.array.shape),
        canonical_spacing=tuple(float(x) for x in canon.spacing),
    )
    with _CACHE_LOCK:
        _CACHE[key] = scan
        # keep at most 4 scans and about 1 GiB of voxels (the newest always stays)
        while len(_CACHE) > 1 and (
            len(_CACHE) > 4 or sum(s.volume.array.nbytes for s in _CACHE.values()) > CACHE_BYTES
        ):
            _CACHE.popitem(last=False)
    return scan


def image_volume(image: np.ndarray) -> Any:
    """Wrap a 2-D image ``(H, W[, 3])`` as a one-slice :class:`~medseg.io.Volume`.

    The array becomes ``(X = W, Y = H, Z = 1)`` with an LPS affine (like a DICOM slice), so
    :func:`~medseg.io.extract_slice` shows it exactly as the file does. Pixel spacing is
    unknown for image files: 1 mm is assumed and said so in the scan info.
    """
    io = io_module()
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    arr = np.ascontiguousarray(img.T[..., None])
    meta = {"source": "image", "spacing_note": "image files carry no spacing: 1 mm assumed"}
    return io.Volume(
        array=arr, affine=np.diag([-1.0, -1.0, 1.0, 1.0]), spacing=(1.0, 1.0, 1.0), meta=meta
    )


def clean_message(msg: str, paths: list[Path]) -> str:
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
    sl = io_module().extract_slice(scan.volume, int(index), plane)
    return np.asarray(sl, dtype=np.float32)


def slice_indices(scan: Scan, index: int, plane: str) -> np.ndarray:
    # Where each displayed pixel lives in the volume: extract the same slice from a volume
    # of flat indices, so any transpose/flip extract_slice applies is inverted exactly.
    arr = np.asarray(scan.volume.array)
    idx = np.arange(arr.size, dtype=np.int64).reshape(arr.shape)
    vol = dataclasses.replace(scan.volume, array=idx)
    return np.asarray(io_module().extract_slice(vol, int(index), plane)).astype(np.int64)


def pixel_spacing(scan: Scan, plane: str) -> tuple[float, float]:
    """``(row, column)`` spacing in mm of a displayed ``plane`` slice.

    :func:`medseg.io.extract_slice` keeps the two other canonical axes ``a < b`` and shows
    ``b`` down the rows and ``a`` across the columns.
    """
    sp = scan.canonical_spacing
    a, b = [ax for ax in range(3) if ax != PLANE_AXIS[plane]]
    return sp[b], sp[a]


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
        **({"skipped_files": scan.n_skipped} if scan.n_skipped else {}),
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


def binary_mask(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask) > 0


def load_ground_truth(gt_files: Any, scan: Scan) -> np.ndarray | None:
    """A ground-truth mask in the scan's array layout, or ``None`` if only a slice fits.

    Accepts a DICOM SEG of the scan's series (read with :func:`medseg.io.read_dicom_seg`) or a
    mask volume with the scan's shape (NIfTI, DICOM). Other masks (e.g. a PNG for a PNG
    slice) are compared slice by slice (see :func:`gt_slice_mask`).
    """
    paths = expand_uploads(gt_files)
    if len(paths) == 1 and file_kind(paths[0]) == "dicom":
        import pydicom

        try:
            modality = pydicom.dcmread(paths[0], stop_before_pixels=True, force=True).get(
                "Modality"
            )
        except Exception:
            modality = None
        if modality == "SEG":
            if scan.kind != "dicom":
                raise AppError("a DICOM SEG ground truth needs the DICOM series it segments")
            try:
                return np.asarray(io_module().read_dicom_seg(str(paths[0]), scan.volume))
            except io_errors() + (ValueError,) as e:
                raise AppError(clean_message(str(e), paths)) from None
    gt = load_scan(gt_files)
    same = tuple(np.shape(gt.volume.array)) == tuple(np.shape(scan.volume.array))
    if same and np.allclose(gt.volume.affine, scan.volume.affine, atol=1e-3):
        return np.asarray(gt.volume.array)
    return None


def gt_slice_mask(gt_files: Any, scan: Scan, index: int, plane: str, shape: tuple) -> np.ndarray:
    gt = load_scan(gt_files)
    g = get_slice(gt, min(int(index), n_slices(gt, plane) - 1), plane)
    if g.ndim == 3:
        g = g[..., 0]
    if g.shape != shape:
        raise AppError(
            f"ground-truth mask slice is {g.shape[0]}×{g.shape[1]} but the scan slice is "
            f"{shape[0]}×{shape[1]}; upload a mask with the scan's geometry"
        )
    return binary_mask(g)
