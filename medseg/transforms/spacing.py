"""The in-plane resampling rule shared by training, volume inference, the app and MONAI.

A medical model is trained at ``cfg.spacing`` (mm per pixel, in-plane). A slice of ``n`` pixels
at ``s`` mm is resampled to ``round(n * s / t)`` pixels (at least 1) at target spacing ``t``,
bilinearly with ``align_corners=False`` for images and nearest for masks; the slice axis is left
alone. Every caller uses these two functions, so a model sees at inference what it saw in
training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def inplane_size(
    shape: Sequence[int], spacing: Sequence[float], target: Sequence[float]
) -> tuple[int, int]:
    """Size of the first two axes after resampling from ``spacing`` to ``target`` mm.

    Args:
        shape: at least two sizes; only ``shape[:2]`` is used.
        spacing: current spacing of those axes (mm).
        target: wanted spacing (mm).

    Returns:
        ``(n0, n1)`` with ``n = max(1, round(size * spacing / target))``.

    Example:
        >>> inplane_size((181, 217), (1.0, 1.0), (2.0, 2.0))
        (90, 108)
    """
    for v in (*spacing[:2], *target[:2]):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"spacings must be positive numbers (mm), got {spacing} -> {target}")
    return tuple(  # type: ignore[return-value]
        max(1, round(int(n) * float(s) / float(t)))
        for n, s, t in zip(shape[:2], spacing[:2], target[:2])
    )


def resample_inplane(
    array: np.ndarray | torch.Tensor,
    spacing: Sequence[float],
    target: Sequence[float] | None,
    *,
    mode: str = "bilinear",
) -> np.ndarray | torch.Tensor:
    """Resample ``array [X, Y, Z]`` (numpy or torch) in-plane from ``spacing`` to ``target`` mm.

    Args:
        array: a volume in ``(x, y, z)`` layout; ``z`` is left untouched.
        spacing: ``(sx, sy[, sz])`` mm.
        target: ``(tx, ty)`` mm, or ``None`` to return ``array`` unchanged.
        mode: ``"bilinear"`` for images, ``"nearest"`` for label masks.

    Returns:
        float32 array (same type as given) of shape ``(*inplane_size(...), Z)``; ``array``
        itself when nothing changes.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    if target is None:
        return array
    size = inplane_size(array.shape, spacing, target)
    if size == tuple(array.shape[:2]):
        return array
    is_np = isinstance(array, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(array, np.float32)) if is_np else array.float()
    t = t.permute(2, 0, 1)[:, None]  # [Z, 1, X, Y]
    kw = {"align_corners": False} if mode == "bilinear" else {}
    t = F.interpolate(t, size=size, mode=mode, **kw)[:, 0].permute(1, 2, 0)
    return t.numpy() if is_np else t


__all__ = ["inplane_size", "resample_inplane"]
