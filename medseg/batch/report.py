"""``report.json`` / ``report.csv``: one row per case, with what produced it."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from ..io.files import atomic_write, write_json

#: report columns, in order. ``outputs`` lists every file written for the case (names inside
#: the output folder); the provenance columns say which model, weights (file and SHA-256),
#: back-end and medseg version produced them: ``backend`` is the one that ran (what ``auto``
#: chose), ``backend_note`` why, ``backend_requested`` what the run asked for.
REPORT_FIELDS = (
    "case_id",
    "kind",
    "status",
    "shape",
    "spacing",
    "foreground_ml",
    "foreground_fraction",
    "seconds",
    "error",
    "warnings",
    "outputs",
    "model",
    "weights",
    "weights_sha256",
    "backend",
    "backend_note",
    "backend_requested",
    "medseg_version",
    "format",
    "postprocess",
)


def summarize(rows: list[dict]) -> dict:
    """``{"cases", "ok", "errors"}`` counts."""
    return {
        "cases": len(rows),
        "ok": sum(r.get("status") == "ok" for r in rows),
        "errors": sum(r.get("status") == "error" for r in rows),
    }


def write_report(
    rows: list[dict], outdir: str | os.PathLike, extra: dict | None = None
) -> tuple[str, str]:
    """Write ``report.json`` (summary + rows) and ``report.csv`` atomically; return their paths."""
    out = Path(outdir)
    summary = {**summarize(rows), **(extra or {})}
    write_json(out / "report.json", {"summary": summary, "cases": rows})

    def w(t: str) -> None:
        with open(t, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(REPORT_FIELDS))
            wr.writeheader()
            for r in rows:
                wr.writerow(
                    {
                        k: (json.dumps(r.get(k)) if isinstance(r.get(k), list) else r.get(k))
                        for k in REPORT_FIELDS
                    }
                )

    atomic_write(out / "report.csv", w)
    return str(out / "report.json"), str(out / "report.csv")


__all__ = ["REPORT_FIELDS", "summarize", "write_report"]
