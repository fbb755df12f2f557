"""Several DICOM series in one upload: list them for a picker, and give the files of one.

The grouping is :mod:`medseg.io.inputs`'s (through :func:`medseg.app.scans.dicom_series`);
this module only numbers the series for the page. Nothing identifying leaves here: series
are numbered ``"1"``, ``"2"``, … (largest first); UIDs stay on the server.
"""

from __future__ import annotations

from typing import Any

from .common import AppError
from .scans import dicom_series


def _series(files: Any):
    try:
        return dicom_series(files)
    except AppError:
        return []  # not a DICOM upload (or unreadable): the loader reports it precisely


def upload_series(files: Any) -> list[dict[str, Any]]:
    """The image series of an upload, largest first (empty when it holds no DICOM).

    Each: ``number`` (what :func:`series_files` takes), ``description``, ``modality``,
    ``slices`` and ``label`` (for a picker), e.g. ``"T1 SAG · MR · 176 slices"``.
    """
    out = []
    for i, c in enumerate(_series(files), start=1):
        n = int(c.info.get("n_frames") or 0)
        desc = str(c.info.get("description") or "").strip()
        modality = str(c.info.get("modality") or "")
        out.append(
            {
                "number": str(i),
                "description": desc,
                "modality": modality,
                "slices": n,
                "label": f"{desc or 'no description'} · {modality or '?'} · "
                f"{n} slice{'s' if n != 1 else ''}",
            }
        )
    return out


def series_files(files: Any, number: str | None) -> Any:
    """The files to load: those of series ``number`` when the upload holds several series,
    else the upload as it is (``number`` ignored)."""
    series = _series(files)
    if len(series) <= 1:
        return files
    i = int(number) - 1 if number and str(number).isdigit() else 0
    i = i if 0 <= i < len(series) else 0
    return list(series[i].files)
