"""Named CT window presets (Hounsfield units) and multi-window stacking.

Source of the values: Radiopaedia, "Windowing (CT)" (https://radiopaedia.org/articles/windowing-ct),
which lists typical width (W) / level (L) pairs; where it gives a range the midpoint is used
(noted per preset in :data:`WINDOW_SOURCES`). Sites tune these; pass ``(center, width)`` for
your own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .intensity import ArrayLike, apply_window

#: name → (center/level, width) in HU.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "temporal_bone": (600.0, 2800.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (40.0, 400.0),
    "soft_tissue": (40.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
}

_RP = "Radiopaedia, Windowing (CT)"
#: name → where the numbers come from.
WINDOW_SOURCES: dict[str, str] = {
    "brain": f"{_RP}: brain W:80 L:40",
    "subdural": f"{_RP}: subdural W:130-300 L:50-100 (midpoints)",
    "stroke": f"{_RP}: stroke W:40 L:40 (alternative W:8 L:32)",
    "temporal_bone": f"{_RP}: temporal bones W:2800 L:600",
    "lung": f"{_RP}: lungs W:1500 L:-600",
    "mediastinum": f"{_RP}: mediastinum W:350 L:50",
    "abdomen": f"{_RP}: soft tissues W:350-400 L:20-60 (W:400 L:40 used)",
    "soft_tissue": f"{_RP}: soft tissues W:350-400 L:20-60 (W:400 L:40 used)",
    "liver": f"{_RP}: liver W:150 L:30",
    "bone": f"{_RP}: bones W:1800 L:400",
}

WindowSpec = str | tuple[float, float] | Sequence[float]


def get_window(preset: WindowSpec) -> tuple[float, float]:
    """``(center, width)`` for a preset name or an explicit pair.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a bad pair.
    """
    if isinstance(preset, str):
        key = preset.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in WINDOW_PRESETS:
            raise ValueError(
                f"unknown window preset {preset!r}; known: {', '.join(sorted(WINDOW_PRESETS))} "
                "(or pass (center, width))"
            )
        return WINDOW_PRESETS[key]
    try:
        center, width = (float(v) for v in preset)
    except (TypeError, ValueError):
        raise ValueError(
            f"window must be a preset name or (center, width), got {preset!r}"
        ) from None
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    return center, width


def apply_window_preset(x: ArrayLike, preset: WindowSpec) -> ArrayLike:
    """Window HU values with a named preset or ``(center, width)``: float32 in [0, 1].

    Args:
        x: array or tensor of any shape in Hounsfield units.
        preset: a name from :data:`WINDOW_PRESETS` or ``(center, width)``.

    Returns:
        Same shape and kind (numpy/torch), float32, ``center - width/2 → 0``,
        ``center + width/2 → 1``, clipped.
    """
    return apply_window(x, *get_window(preset))


def stack_windows(x: ArrayLike, presets: Sequence[WindowSpec], axis: int = 0) -> ArrayLike:
    """Several windows of the same HU data stacked as channels.

    Args:
        x: HU array/tensor, e.g. ``(H, W)`` or ``(X, Y, Z)``.
        presets: names or ``(center, width)`` pairs, one per output channel.
        axis: where the new channel axis goes (0 = channel-first, MONAI style).

    Returns:
        float32 with one more axis of size ``len(presets)``.
    """
    if len(presets) == 0:
        raise ValueError("need at least one window")
    chans = [apply_window_preset(x, p) for p in presets]
    if isinstance(x, torch.Tensor):
        return torch.stack(chans, dim=axis)
    return np.stack(chans, axis=axis)
