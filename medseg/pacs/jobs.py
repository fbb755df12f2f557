"""The listener's state on disk: received instances, jobs, answered series. Survives SIGKILL.

Layout of the state folder::

    lock                         held (flock) by the one listener using this folder
    tmp/                         instances being written (deleted at start)
    incoming/series_<key>/       instances of series still arriving, <instance key>.dcm
    jobs/<job id>/job.json       one job per sealed series: state, times, errors
    jobs/<job id>/input/series_<key>/   its instances
    jobs/<job id>/out/           the batch job's outputs (the SEG) and report
    answered/<key>__<model>.json one record per series answered with a model
    ignored.jsonl                non-image and corrupt objects, one line each
    report.json, report.csv      every job: state, delivered or not, seconds

Every change is a file written under a temporary name and renamed, or a folder rename, so
a listener killed at any point restarts into a consistent state: a job that was running is
queued again; a SEG produced but not confirmed delivered is sent again with the same SOP
Instance UID, which a PACS stores once; a series that was still arriving may be incomplete
(its sender's association died with the listener), so it waits for its sender to send again:
once any instance of it arrives, the usual ``stable_seconds`` rule applies, and if none comes
within ``resume_grace`` seconds of the restart it runs with what was received. Keys are hashes of UIDs (:func:`uid_key`); nothing
here is named after a patient.

Job states: ``queued`` → ``running`` → ``inferred`` (SEG on disk) → ``delivered``, or
``failed`` (inference error), ``undeliverable`` (the destination refused it for good; tried
again at the next start), ``skipped`` (series already answered for this model).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

ACTIVE = ("queued", "running", "inferred", "delivered", "undeliverable")
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
)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StateBusy(RuntimeError):
    """Another listener holds this state folder."""


class StateDir:
    """Thread-safe access to a listener's state folder (see module docstring).

    Args:
        root: the folder (created).
        model: the model key answers are recorded under.
        stable_seconds: a series is ready when no instance arrived for this long.
        force: answer series again even when already answered with ``model``.
        resume_grace: after a restart, how long a series that was arriving waits for its
            sender to send again before it runs with what was received.
    """

    def __init__(
        self,
        root,
        model: str,
        *,
        stable_seconds: float = 10.0,
        force: bool = False,
        resume_grace: float = 30.0,
    ):
        self.root = Path(root)
        self.model = model
        self.stable_seconds = float(stable_seconds)
        self.force = force
        self.resume_grace = float(resume_grace)
        self._recovered: dict[str, float] = {}  # series folder -> restart time
        self._lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        self._last_seen: dict[str, float] = {}
        self._lockfile = None
        self.dirty = True
        for sub in ("tmp", "incoming", "jobs", "answered"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ start / stop
    def acquire(self) -> None:
        """Take the folder's lock (raises :class:`StateBusy` if another listener has it)."""
        f = open(self.root / "lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise StateBusy(f"{self.root} is in use by another medseg listen") from None
        self._lockfile = f

    def release(self) -> None:
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    def recover(self) -> dict:
        """Bring the folder back to a consistent state after any stop; returns counts."""
        counts = {"requeued": 0, "resend": 0, "pending_series": 0}
        with self._lock:
            shutil.rmtree(self.root / "tmp", ignore_errors=True)
            (self.root / "tmp").mkdir()
            jobs = self.root / "jobs"
            for d in sorted(jobs.iterdir()):
                if d.name.endswith(".new"):  # killed while sealing
                    inputs = list((d / "input").glob("series_*")) if (d / "input").is_dir() else []
                    if inputs and (d / "job.json").is_file():
                        os.replace(d, d.with_name(d.name[: -len(".new")]))
                    else:
                        shutil.rmtree(d, ignore_errors=True)
            for d in sorted(jobs.iterdir()):
                job = _read_json(d / "job.json")
                if job is None:
                    continue
                if job["state"] == "running":  # killed mid-inference: run it again
                    job["state"] = "queued"
                    counts["requeued"] += 1
                    self._save(job)
                elif job["state"] in ("inferred", "undeliverable"):
                    job.update(state="inferred", next_attempt=0.0)
                    counts["resend"] += 1
                    self._save(job)
                self._jobs[job["id"]] = job
            now = time.time()
            for d in (self.root / "incoming").iterdir():
                if d.is_dir():
                    # Maybe incomplete: wait for the sender (see the module docstring).
                    self._last_seen[d.name] = now
                    self._recovered[d.name] = now
                    counts["pending_series"] += 1
            self.dirty = True
        return counts

    # ------------------------------------------------------------------ receiving
    def new_tmp(self) -> Path:
        return self.root / "tmp" / f"{uuid.uuid4().hex}.dcm"

    def add_instance(self, tmp: Path, series_key: str, instance_key: str) -> bool:
        """Move a received file into its series; True when it is the series' first."""
        with self._lock:
            folder = self.root / "incoming" / f"series_{series_key}"
            first = not folder.is_dir()
            folder.mkdir(exist_ok=True)
            os.replace(tmp, folder / f"{instance_key}.dcm")  # a resent instance replaces itself
            self._last_seen[folder.name] = time.time()
            self._recovered.pop(folder.name, None)  # its sender is back: the usual rule
            return first

    def record_ignored(self, entry: dict) -> None:
        with self._lock, open(self.root / "ignored.jsonl", "a") as f:
            f.write(json.dumps({"time": time.time(), **entry}) + "\n")

    # ------------------------------------------------------------------ sealing
    def _due(self, name: str, last: float) -> float:
        due = last + self.stable_seconds
        restarted = self._recovered.get(name)
        return due if restarted is None else max(due, restarted + self.resume_grace)

    def stable_series(self, now: float | None = None) -> list[str]:
        """Receiving series whose time has come, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            return [
                name
                for name, t in sorted(self._last_seen.items(), key=lambda kv: kv[1])
                if now >= self._due(name, t)
            ]

    def seconds_to_next_stable(self, now: float | None = None) -> float:
        """Seconds until the next receiving series becomes stable (inf if none)."""
        now = time.time() if now is None else now
        with self._lock:
            if not self._last_seen:
                return float("inf")
            return min(self._due(n, t) for n, t in self._last_seen.items()) - now

    def _answered_path(self, key: str) -> Path:
        return self.root / "answered" / f"{key}__{self.model}.json"

    def seal(self, folder_name: str) -> tuple[str, dict | None]:
        """Turn a stable incoming series into a job.

        Returns ``("queued", job)``, ``("merged", job)`` (added to a job that has not
        started), or ``("skipped", job)`` (already answered or being answered for this model
        and not ``force``); ``("gone", None)`` if the folder vanished.
        """
        key = folder_name.removeprefix("series_")
        with self._lock:
            src = self.root / "incoming" / folder_name
            last = self._last_seen.pop(folder_name, time.time())
            self._recovered.pop(folder_name, None)
            if not src.is_dir():
                return "gone", None
            files = sorted(src.glob("*.dcm"))
            mine = [
                j for j in self._jobs.values() if j["series"] == key and j["model"] == self.model
            ]
            queued = [j for j in mine if j["state"] == "queued"]
            if queued:
                job = queued[-1]
                dest = self._job_dir(job) / "input" / folder_name
                for f in files:
                    os.replace(f, dest / f.name)
                shutil.rmtree(src, ignore_errors=True)
                job["n_instances"] = len(list(dest.glob("*.dcm")))
                job["received_last"] = max(job["received_last"], last)
                self._save(job)
                return "merged", job
            answered = self._answered_path(key).is_file() or any(j["state"] in ACTIVE for j in mine)
            job = self._new_job(key, len(files), last)
            if answered and not self.force:
                shutil.rmtree(src, ignore_errors=True)
                job.update(state="skipped", error="already answered for this model (--force)")
                d = self.root / "jobs" / job["id"]
                d.mkdir()
                self._save(job)
                self._jobs[job["id"]] = job
                return "skipped", job
            new = self.root / "jobs" / f"{job['id']}.new"
            (new / "input").mkdir(parents=True)
            _write_json(new / "job.json", job)
            os.replace(src, new / "input" / folder_name)
            os.replace(new, self.root / "jobs" / job["id"])
            self._jobs[job["id"]] = job
            self.dirty = True
            return "queued", job

    def _new_job(self, key: str, n: int, last: float) -> dict:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        jid = f"{stamp}-{key}-{uuid.uuid4().hex[:6]}"
        return {
            "id": jid,
            "series": key,
            "model": self.model,
            "state": "queued",
            "n_instances": n,
            "received_last": last,
            "sealed_at": time.time(),
            "started_at": None,
            "inferred_at": None,
            "delivered_at": None,
            "attempts": 0,
            "next_attempt": 0.0,
            "error": "",
            "delivery_error": "",
            "seg": [],
        }

    # ------------------------------------------------------------------ jobs
    def _job_dir(self, job: dict) -> Path:
        return self.root / "jobs" / job["id"]

    def input_folder(self, job: dict) -> Path:
        return self._job_dir(job) / "input" / f"series_{job['series']}"

    def out_folder(self, job: dict) -> Path:
        return self._job_dir(job) / "out"

    def _save(self, job: dict) -> None:
        _write_json(self._job_dir(job) / "job.json", job)
        self.dirty = True

    def claim(self) -> dict | None:
        """The oldest queued job, now marked running (None if there is none)."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j["state"] == "queued"]
            if not queued:
                return None
            job = min(queued, key=lambda j: j["sealed_at"])
            job.update(state="running", started_at=time.time())
            self._save(job)
            return dict(job)

    def inferred(self, job: dict, seg_files: list[Path]) -> None:
        with self._lock:
            j = self._jobs[job["id"]]
            j.update(
                state="inferred",
                inferred_at=time.time(),
                seg=[str(p.relative_to(self._job_dir(j))) for p in seg_files],
                next_attempt=0.0,
                error="",
            )
            self._save(j)
            _write_json(self._answered_path(j["series"]), {"job": j["id"], "time": time.time()})

    def failed(self, job: dict, error: str) -> None:
        with self._lock:
            j = self._jobs[job["id"]]
            j.update(state="failed", error=error[:500], inferred_at=time.time())
            self._save(j)

    def next_delivery(self, now: float | None = None) -> dict | None:
        now = time.time() if now is None else now
        with self._lock:
            due = [
                j
                for j in self._jobs.values()
                if j["state"] == "inferred" and j.get("next_attempt", 0.0) <= now
            ]
            return dict(min(due, key=lambda j: j["inferred_at"] or 0)) if due else None

    def seg_paths(self, job: dict) -> list[Path]:
        return [self._job_dir(job) / s for s in job.get("seg", [])]

    def delivered(self, job: dict) -> None:
        with self._lock:
            j = self._jobs[job["id"]]
            j.update(state="delivered", delivered_at=time.time(), delivery_error="")
            j["attempts"] += 1
            self._save(j)

    def delivery_failed(self, job: dict, error: str, *, retry_in: float | None) -> dict:
        """Record a failed attempt; ``retry_in=None`` gives up (state ``undeliverable``)."""
        with self._lock:
            j = self._jobs[job["id"]]
            j["attempts"] += 1
            j["delivery_error"] = error[:500]
            if retry_in is None:
                j["state"] = "undeliverable"
            else:
                j["next_attempt"] = time.time() + retry_in
            self._save(j)
            return dict(j)

    def cleanup_inputs(self, job: dict) -> None:
        """Delete a finished job's received instances (copies; the sender keeps its own)."""
        shutil.rmtree(self._job_dir(job) / "input", ignore_errors=True)

    # ------------------------------------------------------------------ reporting
    def jobs(self) -> list[dict]:
        with self._lock:
            return [dict(j) for j in sorted(self._jobs.values(), key=lambda j: j["id"])]

    def counts(self) -> dict:
        out: dict[str, int] = {}
        for j in self.jobs():
            out[j["state"]] = out.get(j["state"], 0) + 1
        with self._lock:
            out["receiving"] = len(self._last_seen)
        return out

    def write_report(self) -> Path:
        """``report.json`` and ``report.csv``: every job; undelivered ones listed first."""
        rows = []
        for j in self.jobs():
            row = {k: j.get(k) for k in REPORT_FIELDS}
            if j.get("delivered_at") and j.get("received_last"):
                row["seconds_to_delivery"] = round(j["delivered_at"] - j["received_last"], 3)
            row["seg"] = [str(self._job_dir(j) / s) for s in j.get("seg", [])]
            rows.append(row)
        undelivered = [r for r in rows if r["state"] in ("inferred", "undeliverable")]
        summary = {**self.counts(), "undelivered": len(undelivered)}
        _write_json(
            self.root / "report.json",
            {"summary": summary, "undelivered": undelivered, "jobs": rows},
        )
        tmp = self.root / f".report.csv.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(REPORT_FIELDS))
            w.writeheader()
            for r in rows:
                w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
        os.replace(tmp, self.root / "report.csv")
        self.dirty = False
        return self.root / "report.json"
