"""The listener's report: ``report.json`` and ``report.csv`` in its state folder.

Every job with its state, times and errors; the SEGs not delivered are also listed first
(``undelivered``), so ``medseg listen --status`` and a person reading the file see at once
what did not reach the destination and why. Series are named by UID hashes only.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..io.files import atomic_write, write_json

REPORT_FIELDS = (
    "id",
    "series",
    "model",
    "state",
    "n_instances",
    "received_last",
    "inferred_at",
    "delivered_at",
    "seconds_to_delivery",
    "attempts",
    "error",
    "delivery_error",
    "seg",
    "ahead",
)


def write_report(state) -> Path:
    """``report.json`` and ``report.csv``: every job; undelivered ones listed first."""
    rows = []
    for j in state.jobs():
        row = {k: j.get(k) for k in REPORT_FIELDS}
        if j.get("delivered_at") and j.get("received_last"):
            row["seconds_to_delivery"] = round(j["delivered_at"] - j["received_last"], 3)
        row["seg"] = [str(state.root / "jobs" / j["id"] / s) for s in j.get("seg", [])]
        rows.append(row)
    undelivered = [r for r in rows if r["state"] in ("inferred", "undeliverable")]
    summary = {**state.counts(), "undelivered": len(undelivered)}
    write_json(
        state.root / "report.json",
        {"summary": summary, "undelivered": undelivered, "jobs": rows},
    )

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(REPORT_FIELDS))
            w.writeheader()
            for r in rows:
                w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})

    atomic_write(state.root / "report.csv", write_csv)
    return state.root / "report.json"
