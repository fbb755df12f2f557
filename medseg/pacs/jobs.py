"""The listener's state on disk: received instances, jobs, answered series. Survives SIGKILL.

Layout of the state folder::

    lock                         held (flock) by the one listener using this folder
    tmp/                         instances being written (deleted at start)
    incoming/series_<key>/       instances of series still arriving, <instance key>.dcm
    spec/series_<key>-<id>/      a snapshot of a receiving series segmented ahead (below)
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

Ahead of time: while a series waits out ``stable_seconds``, an idle worker may segment a
snapshot of it (hard links to the instances received so far). The result is kept only if the
series, once stable, holds exactly the snapshot's instances: its job then starts as
``inferred``; otherwise it is discarded and the job runs as usual. Nothing is sent before the
series is stable, so the answer is the same, only sooner.

Job states: ``queued`` → ``running`` → ``inferred`` (SEG on disk) → ``delivered``, or
``failed`` (inference error), ``undeliverable`` (the destination refused it for good; tried
again at the next start), ``skipped`` (series already answered for this model).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from .common import read_json, write_json

ACTIVE = ("queued", "running", "inferred", "delivered", "undeliverable")


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
        # series folder -> segmentation ahead of time: files, dir, state, seg, started
        self._ahead: dict[str, dict] = {}
        self.discarded_ahead = 0
        self._lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        self._last_seen: dict[str, float] = {}
        self._lockfile = None
        self.dirty = True
        for sub in ("tmp", "incoming", "jobs", "answered", "spec"):
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
            for sub in ("tmp", "spec"):  # half-written files, results made ahead
                shutil.rmtree(self.root / sub, ignore_errors=True)
                (self.root / sub).mkdir()
            jobs = self.root / "jobs"
            for d in sorted(jobs.iterdir()):
                if d.name.endswith(".new"):  # killed while sealing
                    inputs = list((d / "input").glob("series_*")) if (d / "input").is_dir() else []
                    if inputs and (d / "job.json").is_file():
                        os.replace(d, d.with_name(d.name[: -len(".new")]))
                    else:
                        shutil.rmtree(d, ignore_errors=True)
            for d in sorted(jobs.iterdir()):
                job = read_json(d / "job.json")
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
                self._adopt_ahead(job)
                return "merged", job
            answered = self._is_answered(key)
            job = self._new_job(key, len(files), last)
            if answered and not self.force:
                self._drop_ahead(folder_name)
                shutil.rmtree(src, ignore_errors=True)
                job.update(state="skipped", error="already answered for this model (--force)")
                d = self.root / "jobs" / job["id"]
                d.mkdir()
                self._save(job)
                self._jobs[job["id"]] = job
                return "skipped", job
            new = self.root / "jobs" / f"{job['id']}.new"
            (new / "input").mkdir(parents=True)
            write_json(new / "job.json", job)
            os.replace(src, new / "input" / folder_name)
            os.replace(new, self.root / "jobs" / job["id"])
            self._jobs[job["id"]] = job
            self.dirty = True
            self._adopt_ahead(job)
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
            "ahead": False,
        }

    # ------------------------------------------------------------------ ahead of time
    def _is_answered(self, key: str) -> bool:
        return self._answered_path(key).is_file() or any(
            j["series"] == key and j["model"] == self.model and j["state"] in ACTIVE
            for j in self._jobs.values()
        )

    def ahead_candidate(self, idle_seconds: float, now: float | None = None):
        """Snapshot a receiving series to segment ahead of time, or None.

        A candidate has had no new instance for ``idle_seconds``, is not waiting for its
        sender after a restart, is not answered already, and has no result for exactly its
        current instances. Returns ``(folder name, snapshot dir)``: the instances are in
        ``dir/input/<folder name>``, outputs go to ``dir/out``.
        """
        now = time.time() if now is None else now
        with self._lock:
            for name, t in sorted(self._last_seen.items(), key=lambda kv: kv[1]):
                if now - t < idle_seconds or name in self._recovered:
                    continue
                src = self.root / "incoming" / name
                files = frozenset(p.name for p in src.glob("*.dcm"))
                cur = self._ahead.get(name)
                if not files or (cur is not None and cur["files"] == files):
                    continue
                if self._is_answered(name.removeprefix("series_")) and not self.force:
                    continue
                d = self.root / "spec" / f"{name}-{uuid.uuid4().hex[:8]}"
                (d / "input" / name).mkdir(parents=True)
                for f in files:  # hard links: a re-sent instance replaces its name, not these
                    os.link(src / f, d / "input" / name / f)
                if cur is not None:
                    self._drop_ahead(name)
                self._ahead[name] = {
                    "files": files,
                    "dir": d,
                    "state": "running",
                    "seg": [],
                    "started": now,
                }
                return name, d
            return None

    def ahead_done(self, name: str, d: Path, seg_files: list[Path] | None) -> dict | None:
        """Record a result made ahead (None: it failed). Returns the job it answered, if the
        series was sealed meanwhile with the same instances."""
        with self._lock:
            cur = self._ahead.get(name)
            if cur is None or cur["dir"] != d:  # superseded by a newer snapshot
                self.discarded_ahead += 1
                shutil.rmtree(d, ignore_errors=True)
                return None
            if not seg_files:
                cur["state"] = "failed"
                self._drop_ahead(name)
                return None
            cur.update(state="done", seg=list(seg_files))
            key = name.removeprefix("series_")
            for j in self._jobs.values():
                if j["series"] == key and j["model"] == self.model and j["state"] == "queued":
                    return self._adopt_ahead(j)
            return None

    def _reserved_ahead(self, job: dict) -> bool:
        cur = self._ahead.get(f"series_{job['series']}")
        return bool(
            cur is not None and cur["state"] == "running" and cur["files"] == self._inputs(job)
        )

    def _inputs(self, job: dict) -> frozenset:
        return frozenset(p.name for p in self.input_folder(job).glob("*.dcm"))

    def _drop_ahead(self, name: str) -> None:
        cur = self._ahead.pop(name, None)
        if cur is not None and cur["state"] != "running":  # a running one cleans up itself
            self.discarded_ahead += 1
            shutil.rmtree(cur["dir"], ignore_errors=True)

    def _adopt_ahead(self, job: dict) -> dict | None:
        """Give a queued job the result made ahead for exactly its instances (lock held)."""
        name = f"series_{job['series']}"
        cur = self._ahead.get(name)
        if cur is None or cur["state"] != "done":
            return None
        if cur["files"] != self._inputs(job):
            self._drop_ahead(name)
            return None
        del self._ahead[name]
        out = self.out_folder(job)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(cur["dir"] / "out", out)
        shutil.rmtree(cur["dir"], ignore_errors=True)
        segs = [out / p.relative_to(cur["dir"] / "out") for p in cur["seg"]]
        job.update(started_at=cur["started"], ahead=True)
        self.inferred(job, segs)
        return self._jobs[job["id"]]

    # ------------------------------------------------------------------ jobs
    def _job_dir(self, job: dict) -> Path:
        return self.root / "jobs" / job["id"]

    def input_folder(self, job: dict) -> Path:
        return self._job_dir(job) / "input" / f"series_{job['series']}"

    def out_folder(self, job: dict) -> Path:
        return self._job_dir(job) / "out"

    def _save(self, job: dict) -> None:
        write_json(self._job_dir(job) / "job.json", job)
        self.dirty = True

    def claim(self) -> dict | None:
        """The oldest queued job, now marked running (None if there is none)."""
        with self._lock:
            queued = [
                j
                for j in self._jobs.values()
                if j["state"] == "queued" and not self._reserved_ahead(j)
            ]
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
            write_json(self._answered_path(j["series"]), {"job": j["id"], "time": time.time()})

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
            out["ahead_discarded"] = self.discarded_ahead
        return out

    def write_report(self) -> Path:
        """``report.json`` and ``report.csv`` (see :func:`medseg.pacs.report.write_report`)."""
        from .report import write_report

        path = write_report(self)
        self.dirty = False
        return path
