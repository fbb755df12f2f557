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

from ..io import (
    MedsegIOError,
    Volume,
    extract_slice,
    read_dataset,
    read_dicom_seg,
    to_canonical,
)
from ..io.inputs import Case, cases_from_files, load_case
from . import common
from .common import (
    AppError,
    as_paths,
    expand_uploads,
    extract_zip,
    file_kind,
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
_CASES: OrderedDict[tuple, tuple[list[Case], int]] = OrderedDict()


def _key(files: Any) -> tuple:
    raw = as_paths(files)
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in raw)


def upload_cases(files: Any) -> tuple[list[Case], int]:
    """The cases of an upload (:mod:`medseg.io.inputs`) and how many stray files were left out.

    Zips are extracted once per upload (cached by the uploaded files); inside a zip that holds
    a DICOM series, files of other kinds (a README, thumbnails) are left out and counted —
    only their number is ever shown, as a file name can carry a patient's name. Files uploaded
    one by one are taken as given: a wrong one is an error. DICOM files are grouped by series.

    Raises:
        AppError: nothing uploaded, or an unsupported / unreadable file (named safely).
    """
    raw = as_paths(files)
    if not raw:
        raise AppError("no file uploaded: choose a file (or click an example) first")
    key = _key(raw)
    with _CACHE_LOCK:
        if key in _CASES:
            _CASES.move_to_end(key)
            return _CASES[key]
    notes = {"skipped_files": 0}
    loose: list[Path] = []
    cases: list[Case] = []
    for p in raw:
        if file_kind(p) == "zip":
            cases.extend(cases_from_files(extract_zip(p), skip_strays=True, notes=notes))
        else:
            loose.append(p)
    if loose:
        cases.extend(cases_from_files(loose))
    bad = [c for c in cases if c.kind == "invalid"]
    if bad:
        c = bad[0]
        if "video" in c.problem:
            raise AppError("this is a video; use the Video tab")
        raise AppError(f"{safe_name(Path(c.source).name)}: {clean_message(c.problem, raw)}")
    if not cases:
        raise AppError("the upload holds no scan or image")
    out = (cases, int(notes.get("skipped_files", 0)))
    with _CACHE_LOCK:
        _CASES[key] = out
        while len(_CASES) > 8:
            _CASES.popitem(last=False)
    return out


def dicom_series(files: Any) -> list[Case]:
    """The DICOM series of an upload, largest first (for the series picker)."""
    cases, _ = upload_cases(files)
    series = [c for c in cases if c.kind == "dicom"]
    return sorted(series, key=lambda c: (-int(c.info.get("n_frames") or 0), c.case_id))


def load_scan(files: Any) -> Scan:
    """Read uploaded DICOM file(s) / zip, NIfTI or a 2-D image into a :class:`Scan`.

    Loads are cached per set of uploaded files (zips included, keyed before they are
    extracted), so moving the slider does not re-read or re-extract them. Size limits are
    checked from the headers before any pixel is decoded (:mod:`medseg.io.limits`).

    Raises:
        AppError: several series (pick one: :func:`dicom_series`), mixed kinds, several files
            where one is expected, or anything the reader refuses (said without paths).
    """
    raw = as_paths(files)
    if not raw:
        raise AppError("no file uploaded: choose a file (or click an example) first")
    key = _key(raw)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    cases, skipped = upload_cases(raw)
    kinds = {c.kind for c in cases}
    if len(kinds) > 1:
        raise AppError(
            "mixed file types uploaded (" + ", ".join(sorted(kinds)) + "); upload one scan: "
            "DICOM files of one series, one NIfTI file, or one image"
        )
    kind = kinds.pop()
    if len(cases) > 1:
        if kind == "dicom":
            listing = "; ".join(c.label for c in dicom_series(raw))
            raise AppError(
                f"this upload holds {len(cases)} DICOM series ({listing}): choose one with the "
                "series picker, or upload one series"
            )
        raise AppError(f"upload one {kind} file at a time (got {len(cases)})")
    case = cases[0]
    try:
        data = load_case(
            case, max_bytes=common.MAX_VOLUME_BYTES, max_pixels=common.MAX_IMAGE_PIXELS
        )
    except (MedsegIOError, ValueError, FileNotFoundError, IndexError) as e:
        raise AppError(clean_message(str(e), raw)) from None
    volume = image_volume(data) if kind == "image" else data
    canon = to_canonical(volume)
    scan = Scan(
        volume=volume,
        kind=kind,
        n_files=len(case.files) or 1,
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
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    arr = np.ascontiguousarray(img.T[..., None])
    meta = {"source": "image", "spacing_note": "image files carry no spacing: 1 mm assumed"}
    return Volume(
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
    sl = extract_slice(scan.volume, int(index), plane)
    return np.asarray(sl, dtype=np.float32)


def slice_indices(scan: Scan, index: int, plane: str) -> np.ndarray:
    # Where each displayed pixel lives in the volume: extract the same slice from a volume
    # of flat indices, so any transpose/flip extract_slice applies is inverted exactly.
    arr = np.asarray(scan.volume.array)
    idx = np.arange(arr.size, dtype=np.int64).reshape(arr.shape)
    vol = dataclasses.replace(scan.volume, array=idx)
    return np.asarray(extract_slice(vol, int(index), plane)).astype(np.int64)


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
        try:
            modality = read_dataset(paths[0], stop_before_pixels=True).get("Modality")
        except MedsegIOError:
            modality = None
        if modality == "SEG":
            if scan.kind != "dicom":
                raise AppError("a DICOM SEG ground truth needs the DICOM series it segments")
            try:
                return np.asarray(read_dicom_seg(str(paths[0]), scan.volume))
            except (MedsegIOError, ValueError) as e:
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
