"""Progress and cancellation for long jobs (whole volume, TTA), without touching the engine.

A :class:`Job` counts forward passes: :func:`tracked` returns a shallow copy of a predictor
whose runner reports each batch to the job, so ``predict_volume``, ``predict_image`` and TTA
report progress however they batch. The job raises :class:`Cancelled` at the next forward
pass once :meth:`Job.cancel` was called (from another request: the app's Cancel button), so
a cancelled job stops within one batch instead of running to the end in its thread.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from .common import AppError

ProgressFn = Callable[[float, str], None]


class Cancelled(AppError):
    """The user cancelled the job."""


class Job:
    """Progress of ``total`` units of work (images through the model), cancellable.

    Args:
        total: units expected (e.g. slices of a volume).
        what: what a unit is, for the progress text (``"slices"``).
        progress: ``progress(fraction, text)``, e.g. a ``gr.Progress``.
    """

    def __init__(self, total: int, what: str, progress: ProgressFn | None = None):
        self.total = max(1, int(total))
        self.what = what
        self.done = 0
        self._progress = progress
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def stop_event(self) -> threading.Event:
        """Set when the job is cancelled (for code that polls an event, e.g. the video
        pipeline's ``stop_event``)."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled("cancelled: the job was stopped before it finished")

    def step(self, n: int = 1) -> None:
        """Record ``n`` units done, report progress, and stop here if cancelled."""
        self.check()
        self.done += int(n)
        if self._progress is not None:
            frac = min(1.0, self.done / self.total)
            self._progress(frac, f"{min(self.done, self.total)} / {self.total} {self.what}")


class _TrackedRunner:
    """A runner that reports each batch to a :class:`Job` (batch size = images done)."""

    def __init__(self, runner: Any, job: Job):
        self._runner = runner
        self._job = job
        self.name = getattr(runner, "name", "runner")

    def __getattr__(self, name: str) -> Any:  # device, session, ...: as the wrapped runner
        return getattr(self._runner, name)

    def __call__(self, x: Any) -> Any:
        self._job.check()
        out = self._runner(x)
        self._job.step(int(x.shape[0]))
        return out


def tracked(predictor: Any, job: Job) -> Any:
    """A shallow copy of ``predictor`` whose forward passes report to ``job``.

    The model, its session and caches are shared with the original (nothing is rebuilt).
    """
    p = copy.copy(predictor)
    p.runner = _TrackedRunner(predictor.runner, job)
    return p


class JobRegistry:
    """The running job of each browser session, so a Cancel click can reach it."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, session: str | None, job: Job) -> Job:
        if session:
            with self._lock:
                old = self._jobs.get(session)
                if old is not None:
                    old.cancel()  # one job per session: a new run replaces the old one
                self._jobs[session] = job
        return job

    def finish(self, session: str | None, job: Job) -> None:
        if session:
            with self._lock:
                if self._jobs.get(session) is job:
                    del self._jobs[session]

    def cancel(self, session: str | None) -> bool:
        """Cancel the session's running job; ``True`` if there was one."""
        if not session:
            return False
        with self._lock:
            job = self._jobs.pop(session, None)
        if job is None:
            return False
        job.cancel()
        return True


#: one registry for the whole app (all tabs)
JOBS = JobRegistry()
