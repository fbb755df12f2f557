"""Process-wide settings for fast CPU inference (glibc malloc).

PyTorch's CPU tensors come from plain ``malloc``. With glibc's defaults, blocks above the
(dynamic, at most 32 MiB) *mmap threshold* get fresh ``mmap`` pages that ``free`` unmaps
again, and free memory at the top of the heap beyond the *trim threshold* goes back to the
OS, so every forward pass of a segmentation network at 512×1024 and up faults all of its
activation memory in again. Measured here (2 cores, LR-ASPP MobileNetV3, batch 1): 512×1024
115 ms and 31 000 minor page faults per forward with the defaults, 71 ms and ~400 faults
tuned; 1024×2048 959 ms → 329 ms. It is also why batching used to *hurt* on this machine.
``scripts/bench_allocator.py`` measures it in fresh processes (``BENCHMARKS.md``).

:func:`tune_allocator` sets ``M_MMAP_MAX = 0`` (every block comes from the heap, none from its
own ``mmap``) and ``M_TRIM_THRESHOLD = 1 GiB`` (freed memory stays for reuse). Raising only
the mmap threshold is not enough: tensors above its 32 MiB cap (a 19-class 512×1024 logit map
is 40 MB) are still mapped and unmapped on every call.

The price: freed memory stays with the process (up to 1 GiB at the top of the heap, and freed
blocks in the middle of it) instead of going back to the OS, so a server's RSS stays near its
high-water mark, and mixed sizes fragment the heap: peak RSS was 2 % lower for one model at
fixed sizes but 10–28 % higher for the benchmark process (three models, six sizes up to
1024×2048). Same idea as LD_PRELOADing jemalloc/tcmalloc, which PyTorch's CPU
performance guide recommends, without a dependency.

``medseg`` commands (and ``app.py``) call :func:`tune_allocator` at start; ``import medseg``
does not (a library must not change its host process). Set ``MEDSEG_TUNE_MALLOC=0`` to opt out;
glibc's own ``MALLOC_MMAP_MAX_`` / ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
variables, when set, win.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_GLIBC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: dict[str, int] | None = None


def tune_allocator(trim_threshold: int = 1 << 30, mmap_max: int = 0) -> dict[str, int] | None:
    """Keep freed tensor memory in the heap for reuse (glibc only; idempotent).

    Args:
        trim_threshold: free memory at the top of the heap kept before returning it to the OS
            (bytes, below 2 GiB).
        mmap_max: how many blocks may have their own ``mmap`` at once (0: none).

    Returns:
        The settings applied (``{"trim_threshold", "mmap_max"}``), or ``None`` when nothing
        was changed: not glibc, opted out with ``MEDSEG_TUNE_MALLOC=0``, or glibc's own
        environment variables already set.
    """
    global _applied
    if not 0 < trim_threshold < 2**31:
        raise ValueError("trim_threshold must be in (0, 2 GiB)")
    if mmap_max < 0:
        raise ValueError("mmap_max must be >= 0")
    if _applied is not None:
        return _applied
    if os.environ.get("MEDSEG_TUNE_MALLOC", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if any(k in os.environ for k in _GLIBC_ENV):
        return None  # the user tuned glibc already
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) != 1:
        return None
    if mallopt(M_MMAP_MAX, int(mmap_max)) != 1:
        return None
    _applied = {"trim_threshold": int(trim_threshold), "mmap_max": int(mmap_max)}
    return _applied


def allocator_settings() -> dict[str, int] | None:
    """What :func:`tune_allocator` applied in this process, or ``None``."""
    return _applied
