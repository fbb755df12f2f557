"""Intensity normalisation shared by training, inference, export and the app.

One implementation per normalisation named in :class:`medseg.models.ModelCfg`:

* ``imagenet``: RGB uint8 (or float in [0, 1]) → ``(x/255 - mean) / std``;
* ``zscore``: percentile clip then z-score (MR; statistics over the array given: pass a whole
  volume to normalise it once, or a single slice for a 2-D upload);
* ``ct_window``: HU → window (center, width) → [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def apply_window(x: ArrayLike, center: float, width: float) -> ArrayLike:
    """Linear window: ``center - width/2 → 0``, ``center + width/2 → 1``, clipped.

    Args:
        x: array of any shape (e.g. Hounsfield units); numpy or torch.
        center, width: window level and width (``width > 0``).

    Returns:
        float32 array of the same shape, values in [0, 1].
    """
    if width <= 0:
        raise ValueError(f"window width must be > 0, got {width}")
    lo = center - width / 2.0
    if isinstance(x, torch.Tensor):
        return ((x.float() - lo) / width).clamp_(0.0, 1.0)
    return np.clip((np.asarray(x, dtype=np.float32) - lo) / np.float32(width), 0.0, 1.0).astype(
        np.float32
    )


def zscore_normalize(
    x: ArrayLike,
    lower_percentile: float = 0.5,
    upper_percentile: float = 99.5,
    eps: float = 1e-6,
) -> ArrayLike:
    """Clip to percentiles of ``x`` then subtract the mean and divide by the std (of the clipped array).

    Statistics are taken over the whole array given. Constant inputs map to zeros.
    """
    is_t = isinstance(x, torch.Tensor)
    a = x.detach().cpu().numpy() if is_t else np.asarray(x)
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError("image contains NaN or Inf values")
    if a.size == 0:
        raise ValueError("image is empty")
    lo, hi = np.percentile(a, [lower_percentile, upper_percentile])
    c = np.clip(a, lo, hi)
    std = float(c.std())
    out = (c - float(c.mean())) / std if std > eps else np.zeros_like(c)
    out = out.astype(np.float32)
    return torch.from_numpy(out).to(x.device) if is_t else out


def imagenet_normalize(
    x: ArrayLike, mean: Sequence[float], std: Sequence[float], channel_axis: int = -1
) -> ArrayLike:
    """uint8 (0..255) or float (0..1) RGB → ``(x - mean) / std`` per channel (float32)."""
    is_t = isinstance(x, torch.Tensor)
    if is_t:
        f = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    else:
        f = np.asarray(x)
        f = f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32)
    shape = [1] * f.ndim
    shape[channel_axis] = len(mean)
    if f.shape[channel_axis] != len(mean):
        raise ValueError(
            f"expected {len(mean)} channels on axis {channel_axis}, got shape {tuple(f.shape)}"
        )
    if is_t:
        m = torch.tensor(mean, dtype=torch.float32, device=f.device).reshape(shape)
        s = torch.tensor(std, dtype=torch.float32, device=f.device).reshape(shape)
    else:
        m = np.asarray(mean, np.float32).reshape(shape)
        s = np.asarray(std, np.float32).reshape(shape)
    return (f - m) / s


def normalize_for_model(x: ArrayLike, cfg, channel_axis: int = -1) -> ArrayLike:
    """Apply the normalisation a model's ``cfg`` names (see module docstring)."""
    if cfg.normalization == "imagenet":
        return imagenet_normalize(x, cfg.mean, cfg.std, channel_axis=channel_axis)
    if cfg.normalization == "zscore":
        return zscore_normalize(x)
    if cfg.normalization == "ct_window":
        if cfg.window is None:
            raise ValueError(f"model {cfg.name} uses ct_window normalisation but has no window")
        return apply_window(x, *cfg.window)
    raise ValueError(f"unknown normalisation {cfg.normalization!r}")
