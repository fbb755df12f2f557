"""Mixed precision: when bf16/fp16 autocast pays off, and the autocast context itself."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AVX512-BF16 / AMX), where bf16 autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - old or non-x86 builds
        return False


def cpu_has_amx() -> bool:
    """True on CPUs with AMX tiles (Intel Sapphire Rapids and later).

    That is where bf16 autocast pays off on a CPU: AMX runs bf16 convolutions and matmuls
    several times faster than fp32. AVX512-BF16 alone does not: on this project's AMD EPYC
    (AVX512-BF16, no AMX) bf16 autocast trained at 1.03–1.07× fp32 and slowed channels-last
    training (1.19–1.24× vs 1.29–1.32× the plain loop), and bf16 inference ran at 0.86–1.0×
    eager fp32 (BENCHMARKS.md).
    """
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - old or non-x86 builds
        return False


def resolve_amp(amp: str | bool | None, device: torch.device) -> str | None:
    """Autocast dtype name for ``amp`` on ``device`` (YAML turns ``off``/``on`` into bools)."""
    if amp is True:
        amp = "auto"
    if amp in ("off", "none", None, False):
        return None
    if amp == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_amx() and cpu_has_native_bf16() else None
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    return amp


def autocast_context(device: torch.device | str, amp: str | None):
    """``torch.autocast`` for ``amp in {"bf16", "fp16"}``, else a no-op context."""
    device = torch.device(device)
    if amp in (None, "off", "none", False):
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device.type, dtype=dtype)


__all__ = ["autocast_context", "cpu_has_amx", "cpu_has_native_bf16", "resolve_amp"]
