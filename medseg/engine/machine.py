"""What machine this is, for choosing back-ends and for benchmark headers.

The fastest correct inference path depends on the CPU (bf16 pays on CPUs with AMX or
AVX512-BF16 and not elsewhere) and on the library versions, so :func:`machine_fingerprint`
collects both and :func:`machine_key` hashes them: the key under which ``backend="auto"``
caches its decisions (:mod:`medseg.engine.autotune`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform

#: CPU flags that change which back-end is fastest (vector width, bf16 / int8 units)
RELEVANT_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)

#: libraries whose versions change kernels, hence timings and sometimes results
LIBRARIES = ("torch", "onnxruntime", "openvino", "numpy")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """``{"model": str, "flags": [all flags], "relevant_flags": [...], "cores": int}``.

    Read from ``/proc/cpuinfo`` on Linux; elsewhere the model is ``platform.processor()``
    and the flags are empty.
    """
    model, flags = "", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware") and not model:
                    model = val.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = val.split()
                if model and flags:
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return {
        "model": model,
        "flags": flags,
        "relevant_flags": [f for f in RELEVANT_FLAGS if f in flags],
        "cores": os.cpu_count() or 1,
    }


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16).

    Without it, bf16 is emulated and slower than fp32, so it is no candidate for ``auto``.
    Where /proc/cpuinfo is missing, asks oneDNN through torch.
    """
    flags = set(cpu_info()["flags"])
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - unknown: say no
        return False


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES` (``None`` when not installed), without importing
    them."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_fingerprint(threads: int | None = None) -> dict:
    """CPU model, relevant flags, cores, inference threads and library versions."""
    import torch

    info = cpu_info()
    return {
        "cpu": info["model"],
        "flags": info["relevant_flags"],
        "cores": info["cores"],
        "threads": int(threads or torch.get_num_threads()),
        "python": platform.python_version(),
        **library_versions(),
    }


def machine_key(fingerprint: dict | None = None) -> str:
    """A short stable hash of :func:`machine_fingerprint` (file names, cache keys)."""
    fp = fingerprint if fingerprint is not None else machine_fingerprint()
    return hashlib.sha1(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def describe_machine() -> str:
    """One line for benchmark headers: CPU model, relevant flags, cores/threads, load."""
    import torch

    from .timing import load_average

    info = cpu_info()
    la = load_average()
    flags = " ".join(info["relevant_flags"]) or "(none of the relevant ones)"
    load = f"; load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}" if la else ""
    return (
        f"{info['model']} ({info['cores']} cores visible, {torch.get_num_threads()} torch "
        f"threads); flags: {flags}{load}"
    )
