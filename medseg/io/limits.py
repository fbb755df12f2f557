"""Size limits checked from headers, before any pixel is decoded or allocated.

A 200 KB ``.nii.gz`` can declare 4000×4000×400 voxels; decoding it first and failing later
costs gigabytes of memory (measured: 7.4 GB and 14 s before this check). Every reader compares
what a header declares with :data:`MAX_VOLUME_BYTES` (the float32 array medseg would build) and
with what the file really holds, and says both numbers when it refuses. The CLI
(``--max-volume-gb``) and the app (``medseg app --max-volume-gb``) set the limit;
``MEDSEG_MAX_VOLUME_GB`` sets the default for every process.
"""

from __future__ import annotations

import os

#: default largest volume, in bytes of the float32 array a reader builds (4 GiB: a 1024³ CT).
DEFAULT_MAX_VOLUME_BYTES = 4 << 30


def max_volume_bytes() -> int:
    """The limit in force: ``MEDSEG_MAX_VOLUME_GB`` if set (GiB, may be fractional), else
    :data:`DEFAULT_MAX_VOLUME_BYTES`."""
    env = os.environ.get("MEDSEG_MAX_VOLUME_GB", "").strip()
    if not env:
        return DEFAULT_MAX_VOLUME_BYTES
    try:
        gb = float(env)
    except ValueError:
        raise ValueError(f"MEDSEG_MAX_VOLUME_GB must be a number of GiB, got {env!r}") from None
    if not gb > 0:
        raise ValueError(f"MEDSEG_MAX_VOLUME_GB must be positive, got {env!r}")
    return int(gb * (1 << 30))


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``; ``5 << 30`` → ``"5.0 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"  # pragma: no cover


def check_declared_size(shape, limit: int | None, what: str = "the header") -> str | None:
    """A refusal message when ``shape`` voxels as float32 exceed ``limit`` bytes, else None."""
    limit = max_volume_bytes() if limit is None else int(limit)
    n = 1
    for s in shape:
        n *= int(s)
    need = n * 4
    if need > limit:
        dims = "×".join(str(int(s)) for s in shape)
        return (
            f"{what} declare{'s' if what == 'the header' else ''} {dims} voxels "
            f"({human_bytes(need)} as float32): too large, over the limit of "
            f"{human_bytes(limit)}; raise it with --max-volume-gb (or MEDSEG_MAX_VOLUME_GB) "
            "if the scan is real"
        )
    return None


__all__ = ["DEFAULT_MAX_VOLUME_BYTES", "check_declared_size", "human_bytes", "max_volume_bytes"]
