"""DICOM reading with pydicom: one file or one series' files → :class:`Volume`.

(Folders, grouping by series and the public ``load_dicom`` are in :mod:`medseg.io.series`.)

* Slices are sorted by their position along the slice normal (``ImagePositionPatient · (row × column direction)``), never by file name or
  ``InstanceNumber``.
* Pixel values go through pydicom's ``apply_modality_lut`` (RescaleSlope/Intercept or a
  Modality LUT; per frame for enhanced multi-frame files), so CT comes out in Hounsfield units.
* The array layout and RAS affine follow MONAI's ``PydicomReader`` (``swap_ij=True``): axes
  ``(x = column, y = row, z = slice)``; see :mod:`medseg.io.volume`.

Every problem with the input raises :class:`~medseg.io.errors.MedsegIOError` naming the file.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import MedsegIOError, require_nonempty_file
from .volume import Volume, check_spacing, orientation_code, spacing_from_affine

PathLike = str | os.PathLike

# Non-image objects that can sit in a series folder next to the images (our own SEG output,
# structure sets, reports, presentation states): skipped when scanning a folder.
NON_IMAGE_MODALITIES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "SR", "PR", "KO", "REG", "DOC"}
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- reading
def read_dataset(path: PathLike, *, stop_before_pixels: bool = False):
    """``pydicom.dcmread`` with every failure turned into a :class:`MedsegIOError`."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = require_nonempty_file(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        pass
    except Exception as e:  # pydicom raises many types on damaged files
        raise MedsegIOError(path, f"damaged or truncated DICOM file ({type(e).__name__})") from None
    # Some real files (ACR-NEMA style) lack the 128-byte preamble and 'DICM' marker; accept
    # them only when they start like a dataset (group 0002 or 0008, little endian) and a
    # forced read finds the attributes every image object has. The first check keeps a
    # forced parse away from large non-DICOM files (videos, archives) in scanned folders.
    with open(path, "rb") as f:
        head = f.read(2)
    if head not in (b"\x02\x00", b"\x08\x00"):
        raise MedsegIOError(path, "not a DICOM file (no DICOM header found)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
            ok = "SOPClassUID" in ds and ("Rows" in ds or "Modality" in ds)
    except Exception:
        ok = False
    if not ok:
        raise MedsegIOError(path, "not a DICOM file (no DICOM header found)")
    return ds


def is_image_header(ds) -> bool:
    """True for a dataset with pixel rows/columns that is not a non-image object (SEG, SR,
    RTSTRUCT, presentation state, ...; see :data:`NON_IMAGE_MODALITIES`)."""
    return "Rows" in ds and "Columns" in ds and ds.get("Modality", "") not in NON_IMAGE_MODALITIES


def n_frames(ds) -> int:
    """NumberOfFrames of a dataset (1 when absent or unreadable)."""
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


# ----------------------------------------------------------------------------- pixels
def decode_pixels(ds, path: str) -> np.ndarray:
    """Decoded stored values, ``(frames, rows, cols)``; clear errors for what cannot decode."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
        kind = getattr(kind, "name", "") or str(ds.get("Modality", "non-image"))
        if "Rows" in ds:
            raise MedsegIOError(path, f"no pixel data in this {kind} file (truncated?)")
        raise MedsegIOError(path, f"no pixel data (a {kind} object): pass an image file")
    _check_grayscale(ds, path)
    if int(ds.get("Rows") or 0) == 0 or int(ds.get("Columns") or 0) == 0:
        raise MedsegIOError(path, "image has 0 rows or 0 columns (no pixels)")
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        arr = ds.pixel_array
    except (NotImplementedError, RuntimeError) as e:
        name = getattr(ts, "name", str(ts))
        raise MedsegIOError(
            path,
            f"cannot decode transfer syntax {name!r} with the installed pixel handlers "
            f"(pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-rle, pyjpegls): {str(e).splitlines()[0]}",
        ) from None
    except Exception as e:
        raise MedsegIOError(
            path,
            f"pixel data cannot be read (damaged or truncated file?): "
            f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}",
        ) from None
    return arr.reshape((n_frames(ds), int(ds.Rows), int(ds.Columns)))


def _check_grayscale(ds, path: str) -> None:
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise MedsegIOError(
            path,
            f"colour DICOM ({ds.get('PhotometricInterpretation', '?')}, "
            f"{ds.SamplesPerPixel} samples per pixel): only grayscale volumes are supported",
        )


def _modality_lut(frame: np.ndarray, ds, item=None) -> np.ndarray:
    """pydicom's ``apply_modality_lut``; ``item`` carries per-frame rescale (enhanced files)."""
    from pydicom import Dataset
    from pydicom.pixels import apply_modality_lut

    if item is not None:
        src = Dataset()
        src.RescaleSlope, src.RescaleIntercept = item.RescaleSlope, item.RescaleIntercept
        return apply_modality_lut(frame, src).astype(np.float32)
    return np.asarray(apply_modality_lut(frame, ds), dtype=np.float32)


# ----------------------------------------------------------------------------- geometry
def _float_list(value, n: int, what: str, path: str) -> np.ndarray:
    try:
        out = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise MedsegIOError(path, f"{what} is not numeric: {value!r}") from None
    if out.shape != (n,) or not np.isfinite(out).all():
        raise MedsegIOError(path, f"{what} must hold {n} finite numbers, got {value!r}")
    return out


def _affine(row, col, pixel_spacing, slice_vec, origin) -> np.ndarray:
    """Voxel (col index, row index, slice index) → RAS; matches MONAI's swap_ij layout."""
    lps = np.eye(4)
    lps[:3, 0] = row * pixel_spacing[1]  # moving one column goes along the row direction
    lps[:3, 1] = col * pixel_spacing[0]
    lps[:3, 2] = slice_vec
    lps[:3, 3] = origin
    return _LPS_TO_RAS @ lps


def _slice_step(ds) -> float:
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            v = float(ds.get(key) or 0)
        except (TypeError, ValueError):
            v = 0.0
        if v > 0:
            return v
    return 1.0


def _sort_and_check(positions: np.ndarray, normal: np.ndarray, names: list[str], where: str):
    """Order along the normal, reject duplicates; returns (order, gaps)."""
    proj = positions @ normal
    order = np.argsort(proj, kind="stable")
    gaps = np.diff(proj[order])
    dup = np.flatnonzero(gaps < 1e-3)
    if dup.size:
        a, b = names[order[dup[0]]], names[order[dup[0] + 1]]
        raise MedsegIOError(
            where,
            f"{dup.size + 1} slices share a position (e.g. {a} and {b}): the series holds "
            "several volumes (echoes, phases or time points); split it before loading",
        )
    return order, gaps


def _meta(ds, array, affine, n_slices, gaps, extra) -> dict:
    uneven = False
    if gaps.size > 1:
        mean = float(gaps.mean())
        uneven = bool(np.abs(gaps - mean).max() > max(1e-2, 1e-2 * mean))
    meta = {
        "source": "dicom",
        "modality": str(ds.get("Modality", "")),
        "series_description": str(ds.get("SeriesDescription", "")),
        "units": "HU" if ds.get("Modality") == "CT" else "stored value (modality LUT applied)",
        "shape": list(array.shape),
        "spacing": list(spacing_from_affine(affine)),
        "orientation": orientation_code(affine),
        "n_slices": int(n_slices),
        "uneven_spacing": uneven,
        "slice_gap_min_mm": float(gaps.min()) if gaps.size else None,
        "slice_gap_max_mm": float(gaps.max()) if gaps.size else None,
    }
    meta.update(extra)
    return meta


def _geometry(ds, path: str, require: bool):
    """(row dir, col dir, pixel spacing, position) of a single-frame header, or None."""
    keys = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing")
    missing = [k for k in keys if k not in ds]
    if missing:
        if require:
            raise MedsegIOError(
                path,
                f"missing {', '.join(missing)}: the slice has no position in space; pass "
                "require_geometry=False to load it on a plain voxel grid",
            )
        return None
    iop = _check_orientation(
        _float_list(ds.ImageOrientationPatient, 6, "ImageOrientationPatient", path), path
    )
    return (
        iop[:3],
        iop[3:],
        _check_spacing(_float_list(ds.PixelSpacing, 2, "PixelSpacing", path), path),
        _float_list(ds.ImagePositionPatient, 3, "ImagePositionPatient", path),
    )


def _check_orientation(iop: np.ndarray, path: str) -> np.ndarray:
    row, col = iop[:3], iop[3:]
    ok = abs(np.linalg.norm(row) - 1) < 1e-2 and abs(np.linalg.norm(col) - 1) < 1e-2
    if not ok or abs(float(row @ col)) > 1e-2:
        raise MedsegIOError(
            path, f"ImageOrientationPatient {iop.tolist()} is not two orthogonal unit vectors"
        )
    return iop


def _check_spacing(spacing: np.ndarray, path: str) -> np.ndarray:
    if (spacing <= 0).any():
        raise MedsegIOError(path, f"PixelSpacing {spacing.tolist()} must be positive")
    check_spacing(spacing, path)
    return spacing


def read_single_frame_series(items, where: str, require_geometry: bool) -> Volume:
    """One series of single-frame files, ``items = [(path, header), ...]`` in any order, as a
    :class:`Volume` sorted along the slice normal (see the module docstring)."""
    paths = [p for p, _ in items]
    names = [os.path.basename(p) for p in paths]
    headers = [h for _, h in items]
    shapes = {(int(h.Rows), int(h.Columns)) for h in headers}
    if len(shapes) > 1:
        raise MedsegIOError(where, f"slices have different sizes {sorted(shapes)}")
    for p, h in items:
        _check_grayscale(h, p)
    geo = [_geometry(h, p, require_geometry) for p, h in items]
    if any(g is None for g in geo):
        order = np.array(
            sorted(
                range(len(items)),
                key=lambda i: (int(headers[i].get("InstanceNumber") or 0), names[i]),
            )
        )
        row, col, ps, origin = np.eye(3)[0], np.eye(3)[1], np.ones(2), np.zeros(3)
        gaps = np.ones(len(items) - 1) * _slice_step(headers[0])
        slice_vec = np.cross(row, col) * _slice_step(headers[0])
        geometry = "missing (voxel grid)"
    else:
        iops = np.array([np.r_[g[0], g[1]] for g in geo])
        if np.abs(iops - iops[0]).max() > 1e-3:
            raise MedsegIOError(
                where,
                "slices have different orientations (a localizer or radial series?): "
                "not one volume; choose files of one orientation",
            )
        spacings = np.array([g[2] for g in geo])
        if np.abs(spacings - spacings[0]).max() > 1e-4 * max(1.0, float(spacings[0].max())):
            raise MedsegIOError(
                where,
                f"slices have different PixelSpacing ({sorted({tuple(v) for v in spacings.tolist()})}): "
                "not one volume",
            )
        row, col = geo[0][0], geo[0][1]
        normal = np.cross(row, col)
        positions = np.array([g[3] for g in geo])
        order, gaps = _sort_and_check(positions, normal, names, where)
        ps = geo[order[0]][2]
        origin = positions[order[0]]
        if len(items) > 1:  # as MONAI: mean step from first to last slice (keeps gantry tilt)
            slice_vec = (positions[order[-1]] - origin) / (len(items) - 1)
        else:
            slice_vec = normal * _slice_step(headers[0])
        geometry = "patient"
    frames = []
    for i in order:
        ds = read_dataset(paths[i])
        frames.append(_modality_lut(decode_pixels(ds, paths[i])[0], ds).T)
    array = np.ascontiguousarray(np.stack(frames, axis=-1), dtype=np.float32)
    affine = _affine(row, col, ps, slice_vec, origin)
    ds0 = headers[order[0]]
    meta = _meta(ds0, array, affine, len(items), gaps, {"geometry": geometry, "multiframe": False})
    return Volume(array, affine, spacing_from_affine(affine), meta, [paths[i] for i in order])


def _fg(ds, i: int, seq: str):
    """Functional-group item ``seq`` for frame ``i``: per-frame first, then shared."""
    for groups, idx in (
        ("PerFrameFunctionalGroupsSequence", i),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        g = ds.get(groups)
        if g is not None and len(g) > idx and seq in g[idx] and len(g[idx][seq].value):
            return g[idx][seq][0]
    return None


def read_multi_frame(path: str, require_geometry: bool) -> Volume:
    """One multi-frame (enhanced) file as a :class:`Volume`, frames sorted along the normal."""
    ds = read_dataset(path)
    _check_grayscale(ds, path)
    raw = decode_pixels(ds, path)
    n = raw.shape[0]
    names = [f"frame {i + 1}" for i in range(n)]
    ori = [_fg(ds, i, "PlaneOrientationSequence") for i in range(n)]
    pos = [_fg(ds, i, "PlanePositionSequence") for i in range(n)]
    pix = [_fg(ds, i, "PixelMeasuresSequence") for i in range(n)]
    have = all(o is not None and p is not None and m is not None for o, p, m in zip(ori, pos, pix))
    if have:
        iops = np.array(
            [
                _check_orientation(
                    _float_list(o.ImageOrientationPatient, 6, "ImageOrientationPatient", path),
                    path,
                )
                for o in ori
            ]
        )
        if np.abs(iops - iops[0]).max() > 1e-3:
            raise MedsegIOError(path, "frames have different orientations: not one volume")
        row, col = iops[0, :3], iops[0, 3:]
        positions = np.array(
            [_float_list(p.ImagePositionPatient, 3, "ImagePositionPatient", path) for p in pos]
        )
        order, gaps = _sort_and_check(positions, np.cross(row, col), names, path)
        ps = _check_spacing(_float_list(pix[order[0]].PixelSpacing, 2, "PixelSpacing", path), path)
        origin = positions[order[0]]
        if n > 1:
            slice_vec = (positions[order[-1]] - origin) / (n - 1)
        else:
            slice_vec = np.cross(row, col) * float(getattr(pix[0], "SliceThickness", 0) or 1.0)
        geometry = "patient"
    elif require_geometry:
        raise MedsegIOError(
            path,
            "missing ImagePositionPatient/ImageOrientationPatient for its frames: no position "
            "in space; pass require_geometry=False to load it on a plain voxel grid",
        )
    else:
        order = np.arange(n)
        row, col, ps, origin = np.eye(3)[0], np.eye(3)[1], np.ones(2), np.zeros(3)
        slice_vec = np.cross(row, col) * _slice_step(ds)
        gaps = np.full(n - 1, _slice_step(ds))
        geometry = "missing (voxel grid)"
    frames = []
    for i in order:
        item = _fg(ds, int(i), "PixelValueTransformationSequence")
        use = item if item is not None and "RescaleSlope" in item else None
        frames.append(_modality_lut(raw[i], ds, use).T)
    array = np.ascontiguousarray(np.stack(frames, axis=-1), dtype=np.float32)
    affine = _affine(row, col, ps, slice_vec, origin)
    extra = {"geometry": geometry, "multiframe": True, "frame_order": [int(i) for i in order]}
    meta = _meta(ds, array, affine, n, gaps, extra)
    return Volume(array, affine, spacing_from_affine(affine), meta, [path])
