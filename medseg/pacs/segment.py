"""The one place the PACS paths call the batch job: series folders in, SEG files out.

DICOMweb retrieval and the listener both end with DICOM files of one series in a folder of
their own; segmenting them "as for files" means running the same batch job as
``medseg predict FOLDER`` (series selection, sorting, geometry, report). Only the job's
arguments and its returned rows (``case_id``, ``status``, ``error``, ``outputs`` = file
names inside ``outdir``) are relied on, so a change in the batch job is adapted here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SeriesResult:
    """What the batch job made of one input folder."""

    folder: Path
    case_id: str
    status: str  # "ok" | "error"
    error: str = ""
    outputs: list[Path] = field(default_factory=list)

    @property
    def seg_files(self) -> list[Path]:
        """The DICOM SEG file(s) among the outputs."""
        return [p for p in self.outputs if p.name.lower().endswith(".dcm")]


def segment_series(
    folders: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    predictor,
    *,
    fmt: str = "seg",
) -> list[SeriesResult]:
    """Segment each folder (one DICOM series each) with the batch job.

    Args:
        folders: one folder per series; the folder's name becomes the case id.
        outdir: where the job writes its outputs and report.
        predictor: a :class:`~medseg.engine.predictor.Predictor`.
        fmt: ``"seg"``, ``"nifti"`` or ``"both"`` (as ``medseg predict --format``).

    Returns:
        One :class:`SeriesResult` per row the job returned, with absolute output paths.
    """
    from ..batch import run_batch

    out = Path(outdir)
    rows = run_batch([os.fspath(f) for f in folders], out, predictor, fmt=fmt, progress=False)
    by_name = {Path(f).name: Path(f) for f in folders}
    results = []
    for r in rows:
        case = str(r.get("case_id", ""))
        results.append(
            SeriesResult(
                folder=by_name.get(case, Path(case)),
                case_id=case,
                status=str(r.get("status", "error")),
                error=str(r.get("error") or ""),
                outputs=[out / o for o in (r.get("outputs") or [])],
            )
        )
    return results
