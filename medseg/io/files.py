"""Writing outputs without ever leaving a half file: temporary names, then one rename each.

A temporary file is ``.<name>.<pid>.part<suffix>`` next to its target, so the final
``os.replace`` is atomic on every POSIX file system, and a file left by a killed run is
recognised (its writer's pid is gone) and removed on the next run. `medseg predict`
(:mod:`medseg.batch`) and the DICOM node (:mod:`medseg.pacs`) write through it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

_PART_RE = re.compile(r"^\..+\.(\d+)\.part(\.[A-Za-z0-9.]+)?$")


def part_path(path: Path) -> Path:
    """The temporary name :func:`atomic_write` writes ``path`` under."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    return path.with_name(f".{path.name}.{os.getpid()}.part{suffix}")


def atomic_write(path: Path, write: Callable[[str], object]) -> str:
    """Call ``write(tmp_path)`` then rename onto ``path`` (same folder: atomic)."""
    tmp = part_path(path)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)


def write_json(path: Path, obj) -> str:
    """``obj`` as indented JSON, written atomically."""

    def w(t: str) -> None:
        with open(t, "w") as f:
            json.dump(obj, f, indent=1)

    return atomic_write(path, w)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_parts(out: Path) -> int:
    """Delete temporary files left by runs that were killed; returns how many.

    Only files whose writer process is gone are removed, so ranks of a running ``torchrun``
    job never lose each other's files in progress.
    """
    n = 0
    for p in out.rglob(".*.part*"):
        m = _PART_RE.match(p.name)
        if m and p.is_file() and not _pid_alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            n += 1
    return n


__all__ = ["atomic_write", "part_path", "remove_stale_parts", "write_json"]
