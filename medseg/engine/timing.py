"""Timing in rounds of blocks: how medseg compares back-ends (benchmarks and ``backend="auto"``).

Each round runs a block of calls of every entry in turn (one untimed call first, for that
entry's caches and thread pools), three rounds in all. Not call-by-call interleaving: a
back-end's worker threads spin-wait for a while after each call (OpenMP's, ONNX Runtime's,
OpenVINO's), and interleaved that spinning steals the cores from the next entry's call
(measured: ORT 14.3 ms interleaved vs 10.6 ms in blocks on the light model). The rounds still
spread slow drifts of a shared machine over every entry; medians are robust to the odd
preempted call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def timed_rounds(
    calls: dict[str, Callable[[], object]], reps: int | dict[str, int], rounds: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each entry, ``reps`` timed calls each, in ``rounds`` rounds of blocks.

    Args:
        calls: name → zero-argument callable (it must wait for its result: synchronise a GPU).
        reps: timed calls per entry in all (spread over the rounds), or one count per entry
            (fast entries can afford more calls for the same time budget).
        rounds: rounds (each entry gets one untimed call at the start of each round).

    Returns:
        name → list of durations in seconds.
    """
    per = reps if isinstance(reps, dict) else {k: reps for k in calls}
    times: dict[str, list[float]] = {k: [] for k in calls}
    rounds = max(1, min([rounds, *per.values()]))
    for k in range(rounds):
        for key, fn in calls.items():
            n = per[key] // rounds + (1 if k < per[key] % rounds else 0)
            fn()
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
    return times


def median_ms(times: list[float]) -> float:
    """Median of durations in seconds, in milliseconds."""
    return float(np.median(np.asarray(times))) * 1e3


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (``None`` where the OS has none)."""
    import os

    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None
