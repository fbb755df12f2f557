"""Completion records: what each case's last run produced, and with what.

``<out>/.medseg-done/<case>.json`` holds the case's report row: status, outputs, and the
provenance of the result (model, weights file and checksum, back-end, medseg version, output
options). A record is written with status ``"writing"`` before a case's outputs are renamed into
place and rewritten with the final status after, so every file medseg put in the output folder
is listed by some record — that is how medseg tells its own files from a user's.

``--resume`` skips a case only when its record says ``ok``, its provenance equals the current
run's and its outputs are all there; failed cases and cases made by another model, weights,
back-end or format run again.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.files import write_json
from ..io.inputs import OUTPUT_MARKER, medseg_outputs_in

#: the provenance keys two runs must share for ``--resume`` to reuse a result.
RESUME_KEYS = ("model", "weights_sha256", "backend_requested", "format", "postprocess")


def records_dir(out: Path) -> Path:
    return out / OUTPUT_MARKER


def read_record(out: Path, case_id: str) -> dict | None:
    p = records_dir(out) / f"{case_id}.json"
    if not p.is_file():
        return None
    try:
        row = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def write_record(out: Path, case_id: str, row: dict) -> None:
    write_json(records_dir(out) / f"{case_id}.json", row)


def all_records(out: Path) -> list[dict]:
    d = records_dir(out)
    rows = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            row = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def owned_outputs(out: Path) -> set[str]:
    """File names in ``out`` that some record says medseg wrote (and its reports)."""
    return medseg_outputs_in(out)


def can_skip(record: dict | None, provenance: dict, out: Path) -> bool:
    """Whether ``--resume`` may keep a case's earlier result (see the module docstring)."""
    if not record or record.get("status") != "ok":
        return False
    if any(record.get(k) != provenance.get(k) for k in RESUME_KEYS):
        return False
    return all((out / o).is_file() for o in record.get("outputs") or [])


__all__ = [
    "RESUME_KEYS",
    "all_records",
    "can_skip",
    "owned_outputs",
    "read_record",
    "records_dir",
    "write_record",
]
