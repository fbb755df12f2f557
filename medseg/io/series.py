"""DICOM folders and file lists: scan, group by series, choose one, load it.

Grouping is by ``SeriesInstanceUID``; non-DICOM files and non-image objects (SEG, RTSTRUCT,
SR, ...) in a folder are skipped. The chosen series is assembled by :mod:`medseg.io.dicom`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from .dicom import (
    PathLike,
    decode_pixels,
    is_image_header,
    n_frames,
    read_dataset,
    read_multi_frame,
    read_single_frame_series,
)
from .errors import MedsegIOError
from .limits import check_declared_size
from .volume import Volume, check_spacing


def read_headers(paths: Sequence[PathLike]) -> tuple[list[tuple[str, object]], int]:
    """``([(path, header), ...], skipped)``: the DICOM image files among ``paths`` (headers
    only, no pixel data) and how many other files were skipped (READMEs, thumbnails,
    damaged files, non-image objects such as SEG or SR)."""
    found = []
    skipped = 0
    for p in paths:
        try:
            ds = read_dataset(p, stop_before_pixels=True)
        except MedsegIOError:
            skipped += 1
            continue
        if is_image_header(ds):
            found.append((os.fspath(p), ds))
        else:
            skipped += 1
    return found, skipped


def _scan_folder(directory: PathLike) -> list[tuple[str, object]]:
    """(path, header) of every DICOM image file under ``directory`` (recursive)."""
    root = Path(directory)
    if not root.is_dir():
        raise MedsegIOError(directory, "not a folder")
    found, _ = read_headers(sorted(q for q in root.rglob("*") if q.is_file()))
    if not found:
        raise MedsegIOError(directory, "no DICOM image files found in this folder")
    return found


def group_by_series(found: list[tuple[str, object]]) -> dict[str, list[tuple[str, object]]]:
    """``{SeriesInstanceUID: [(path, header), ...]}`` in the order the files came."""
    groups: dict[str, list[tuple[str, object]]] = {}
    for path, ds in found:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    return groups


def describe_series(uid: str, items: list[tuple[str, object]]) -> dict:
    """PHI-free facts about one series (see :func:`list_series`)."""
    ds = items[0][1]
    try:
        number = int(ds.get("SeriesNumber")) if ds.get("SeriesNumber") not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return {
        "uid": uid,
        "number": number,
        "description": str(ds.get("SeriesDescription", "")),
        "modality": str(ds.get("Modality", "")),
        "n_files": len(items),
        "n_frames": sum(n_frames(d) for _, d in items),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
    }


def list_series(directory: PathLike) -> list[dict]:
    """The image series in a folder (searched recursively), largest first.

    Returns:
        One dict per series: ``uid`` (SeriesInstanceUID, to pass as ``series_uid``),
        ``number`` (SeriesNumber or None), ``description``, ``modality``, ``n_files``,
        ``n_frames``, ``rows``, ``columns``.
        No patient, study, date or institution fields.
    """
    groups = group_by_series(_scan_folder(directory))
    out = [describe_series(uid, items) for uid, items in groups.items()]
    return sorted(out, key=lambda d: (-d["n_frames"], d["uid"]))


def _choose(groups: dict, series_uid: str | None, where: PathLike):
    if series_uid == "largest":
        return max(groups.values(), key=lambda items: sum(n_frames(d) for _, d in items))
    if series_uid is not None:
        if series_uid not in groups:
            raise MedsegIOError(
                where, f"series {series_uid!r} not found; present: {_listing(groups)}"
            )
        return groups[series_uid]
    if len(groups) > 1:
        raise MedsegIOError(
            where,
            f"{len(groups)} series found; choose one with series_uid=<uid> (or "
            f'series_uid="largest"): {_listing(groups)}',
        )
    return next(iter(groups.values()))


def _listing(groups: dict) -> str:
    parts = []
    for uid, items in groups.items():
        d = describe_series(uid, items)
        parts.append(f"{uid} ({d['modality']}, {d['n_files']} files, {d['description']!r})")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- public
def load_dicom(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    series_uid: str | None = None,
    require_geometry: bool = True,
    min_slices: int = 1,
    max_bytes: int | None = None,
    _stacklevel: int = 2,
) -> Volume:
    """Read a DICOM file, folder or list of files as one :class:`Volume`.

    Args:
        path_or_paths: one file (single- or multi-frame), a folder (searched recursively;
            non-DICOM files are skipped) or a list of files.
        series_uid: which series when several are present: a SeriesInstanceUID, or
            ``"largest"``. With several series and no choice a :class:`MedsegIOError`
            lists them (see also :func:`list_series`).
        require_geometry: raise when ImagePositionPatient / ImageOrientationPatient /
            PixelSpacing are missing (default). ``False`` loads such data on a plain voxel
            grid (identity orientation), flagged in ``meta["geometry"]``.
        min_slices: raise unless the volume has at least this many slices (use 2 where a
            true 3-D volume is needed).
        max_bytes: largest volume accepted (bytes of the float32 array), checked from the
            headers before any pixel is decoded (default
            :func:`medseg.io.limits.max_volume_bytes`).

    Returns:
        :class:`Volume` with ``array`` ``(columns, rows, slices)`` float32 after the modality
        LUT (Hounsfield units for CT), slices ascending along the slice normal, and the RAS
        affine. ``meta["uneven_spacing"]`` is True (and a warning issued) when the slice
        gaps differ by more than 1 % (or 0.01 mm): the uniform affine is then approximate.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        where = os.fspath(path_or_paths)
        if os.path.isdir(where):
            items = _choose(group_by_series(_scan_folder(where)), series_uid, where)
        else:
            ds = read_dataset(where, stop_before_pixels=True)
            if not is_image_header(ds):
                decode_pixels(read_dataset(where), where)  # raises "no pixel data ..."
                if ds.get("Modality") == "SEG":
                    raise MedsegIOError(
                        where,
                        "a DICOM Segmentation (SEG), not a scan: read it with "
                        "medseg.io.read_dicom_seg(path, volume) or highdicom.seg.segread",
                    )
                raise MedsegIOError(where, f"not an image object (modality {ds.get('Modality')})")
            items = [(where, ds)]
    else:
        paths = [os.fspath(p) for p in path_or_paths]
        if not paths:
            raise MedsegIOError(None, "empty list of DICOM files")
        where = os.path.dirname(paths[0]) or paths[0]
        found = []
        for p in paths:
            ds = read_dataset(p, stop_before_pixels=True)
            if not is_image_header(ds):
                raise MedsegIOError(p, f"no pixel data (modality {ds.get('Modality', '?')})")
            found.append((p, ds))
        items = _choose(group_by_series(found), series_uid, where)
    rows, cols = int(items[0][1].get("Rows") or 0), int(items[0][1].get("Columns") or 0)
    too_big = check_declared_size(
        (cols, rows, sum(n_frames(h) for _, h in items)), max_bytes, "the DICOM headers"
    )
    if too_big:
        raise MedsegIOError(where, too_big)
    multi = [p for p, h in items if n_frames(h) > 1]
    if multi and len(items) > 1:
        raise MedsegIOError(
            multi[0], "a multi-frame file mixed with other files of its series: pass it alone"
        )
    vol = (
        read_multi_frame(items[0][0], require_geometry)
        if multi
        else read_single_frame_series(items, where, require_geometry)
    )
    check_spacing(vol.spacing, where)
    n = vol.array.shape[-1]
    if n < min_slices:
        raise MedsegIOError(
            where, f"{n} slice(s) where a volume of at least {min_slices} slices is needed"
        )
    if vol.meta["uneven_spacing"]:
        warnings.warn(
            f"{os.path.basename(where)}: uneven slice spacing (gaps "
            f"{vol.meta['slice_gap_min_mm']:.3g}-{vol.meta['slice_gap_max_mm']:.3g} mm); the "
            "uniform affine is approximate (resample or check for missing slices)",
            stacklevel=_stacklevel,  # point at the caller's line
        )
    return vol
