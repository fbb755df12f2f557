"""The one exception type medical I/O raises for bad input."""

from __future__ import annotations

import os


class MedsegIOError(ValueError):
    """A file (or folder) could not be read as asked.

    The message starts with the file's base name (never the full path, which may hold a
    patient name) and says what was wrong and what is accepted.

    Attributes:
        filename: base name of the offending file or folder ("" when not about one file).
        problem: the problem, without the file name.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.filename = os.path.basename(os.path.normpath(os.fspath(path))) if path else ""
        if path:
            # Library messages may quote the full path; keep only the base name.
            full = os.path.normpath(os.path.abspath(os.fspath(path)))
            for p in {full, os.fspath(path)}:
                problem = problem.replace(p, self.filename)
        self.problem = problem
        super().__init__(f"{self.filename}: {problem}" if self.filename else problem)


def require_nonempty_file(path: str | os.PathLike) -> str:
    """Return ``path`` as a string, or raise :class:`MedsegIOError` if it is missing or empty."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MedsegIOError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise MedsegIOError(path, "empty file (0 bytes)")
    return path
