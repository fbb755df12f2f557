"""Ctrl-C and SIGTERM for long-running commands: finish cleanly, exit 130 or 143.

A process started from a non-interactive shell's background job (``cmd &`` in a script)
inherits SIGINT as *ignored*, so Python never turns Ctrl-C into ``KeyboardInterrupt``; and
SIGTERM — what ``timeout``, ``docker stop`` and systemd send — kills a Python process without
running any ``finally``. :func:`interrupts_as_keyboard_interrupt` installs handlers for both
that raise ``KeyboardInterrupt`` in the main thread, so the usual clean-up paths run (the video
pipeline finishes its file, the batch job leaves no half file), and :func:`exit_code` gives
the conventional status (128 + the signal number).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_received: list[int] = []


def _handler(signum, frame):  # noqa: ARG001 - signal handler signature
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread
    (also when SIGINT was inherited as ignored); the previous handlers come back after it.
    Outside the main thread it does nothing (Python allows handlers only there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def exit_code(default: int = 130) -> int:
    """128 + the last signal received inside the block (130 for SIGINT, 143 for SIGTERM), or
    ``default`` when the interrupt came some other way."""
    return 128 + _received[-1] if _received else default


__all__ = ["exit_code", "interrupts_as_keyboard_interrupt"]
