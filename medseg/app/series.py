"""Several DICOM series in one upload: list them for a picker, and give the files of one.

Today :func:`medseg.app.scans.load_scan` refuses an upload holding several series (the
reader lists their UIDs and asks for ``series_uid=``, a field the page does not have). The
tab instead shows a picker (description, modality, slice count) and loads the files of the
chosen series. This module is the stop-gap until the shared input layer in ``medseg.io``
offers ``list_series``/``load_scan(..., series_uid=...)`` for uploads; then it shrinks to
calls of those.

Nothing identifying leaves here: series are numbered ``"1"``, ``"2"``, … (largest first);
UIDs stay on the server.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..io import MedsegIOError, read_dataset
from .common import AppError, as_paths, expand_uploads, file_kind

#: DICOM objects without pixel data of their own (skipped when grouping a series)
NON_IMAGE_MODALITIES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "SR", "KO", "PR", "REG"}

_CACHE: OrderedDict[tuple, tuple[list[dict[str, Any]], dict[str, list[Path]]]] = OrderedDict()
_LOCK = threading.Lock()


def _key(files: Any) -> tuple:
    raw = as_paths(files)
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in raw)


def _scan(files: Any) -> tuple[list[dict[str, Any]], dict[str, list[Path]]]:
    """``(listing, {number: paths})`` of the image series in an upload (cached per upload)."""
    key = _key(files)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    groups: dict[str, list[tuple[Path, Any]]] = {}
    paths = expand_uploads(files)
    for p in paths:
        try:
            if file_kind(p) != "dicom":
                continue
            ds = read_dataset(p, stop_before_pixels=True)
        except (AppError, MedsegIOError):
            continue  # the loader reports unreadable files precisely
        if "Rows" not in ds or str(ds.get("Modality", "")) in NON_IMAGE_MODALITIES:
            continue
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((p, ds))
    ordered = sorted(
        groups.values(),
        key=lambda items: (-sum(int(d.get("NumberOfFrames", 1) or 1) for _, d in items),
                           str(items[0][1].get("SeriesNumber", ""))),
    )  # fmt: skip
    listing, files_of = [], {}
    for i, items in enumerate(ordered, start=1):
        ds = items[0][1]
        n = sum(int(d.get("NumberOfFrames", 1) or 1) for _, d in items)
        desc = str(ds.get("SeriesDescription", "") or "").strip()
        modality = str(ds.get("Modality", "") or "")
        listing.append(
            {
                "number": str(i),
                "description": desc,
                "modality": modality,
                "slices": n,
                "label": f"{desc or 'no description'} · {modality or '?'} · "
                f"{n} slice{'s' if n != 1 else ''}",
            }
        )
        files_of[str(i)] = [p for p, _ in items]
    out = (listing, files_of)
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return out


def upload_series(files: Any) -> list[dict[str, Any]]:
    """The image series of an upload, largest first (empty when it holds no DICOM).

    Each: ``number`` (what :func:`series_files` takes), ``description``, ``modality``,
    ``slices`` and ``label`` (for a picker), e.g. ``"T1 SAG · MR · 176 slices"``.
    """
    return _scan(files)[0]


def series_files(files: Any, number: str | None) -> Any:
    """The files to load: those of series ``number`` when the upload holds several series,
    else the upload as it is (``number`` ignored)."""
    listing, files_of = _scan(files)
    if len(listing) <= 1:
        return files
    if number not in files_of:
        number = listing[0]["number"]
    return [str(p) for p in files_of[number]]
