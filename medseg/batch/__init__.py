"""Batch inference (``medseg predict``): cases in, masks, DICOM SEG, overlays and a report out.

* :mod:`.run` — the job: discovery, safety checks, sharding, prefetch, progress, report.
* :mod:`.plan` — output names and the checks that keep outputs off every input.
* :mod:`.process` — one case: input check, prediction, all-or-nothing outputs.
* :mod:`.records` — completion records, provenance, what ``--resume`` may keep.
* :mod:`.report` — ``report.json`` / ``report.csv``.
* atomic writes and the clean-up after killed runs: :mod:`medseg.io.files` (the DICOM node uses them too).

It sits above :mod:`medseg.engine` (it drives a Predictor) beside the app, the video pipeline
and the DICOM node, which use it too.
"""

from __future__ import annotations

from ..io.inputs import Case, discover_cases, sanitize_id
from .plan import UnsafeOutputError, output_names
from .report import REPORT_FIELDS, write_report
from .run import run_batch

__all__ = [
    "REPORT_FIELDS",
    "Case",
    "UnsafeOutputError",
    "discover_cases",
    "output_names",
    "run_batch",
    "sanitize_id",
    "write_report",
]
