"""Temporal smoothing of class probabilities and the flicker metric."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class TemporalEMA:
    """Exponential moving average of per-pixel class probabilities across frames.

    ``s_t = alpha * s_{t-1} + (1 - alpha) * p_t`` with ``s_0 = p_0``. ``alpha`` is the weight
    kept from the past: 0 turns smoothing off, 0.5-0.8 steadies labels that flip between
    near-tied classes from one frame to the next, at the price of a short lag when the
    scene changes (a pixel needs about ``1 / (1 - alpha)`` frames to follow a new class).

    Args:
        alpha: weight of the history, in ``[0, 1)``.
    """

    def __init__(self, alpha: float):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"smoothing alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)
        self._state: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (e.g. at a scene cut or a new video)."""
        self._state = None

    def update(self, probs: np.ndarray) -> np.ndarray:
        """Fold one frame's probabilities ``[C, H, W]`` float in and return the smoothed ones."""
        p = np.asarray(probs, dtype=np.float32)
        if self.alpha == 0.0:
            return p
        if self._state is None or self._state.shape != p.shape:
            self._state = p.copy()
        else:
            # in place: no new [C, H, W] buffer per frame
            self._state *= self.alpha
            self._state += (1.0 - self.alpha) * p
        return self._state


class FlickerMeter:
    """Running flicker: the mean over consecutive frame pairs of the fraction of pixels
    whose label changes.

    A static scene segmented perfectly scores 0; labels redrawn at random score close to
    ``1 - 1/C``. Camera or object motion also changes labels, so compare the same video
    with and without smoothing rather than reading the number on its own.
    """

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._sum = 0.0
        self.pairs = 0

    def update(self, labels: np.ndarray) -> float | None:
        """Add a label map ``[H, W]``; returns the change fraction against the previous one."""
        lab = np.asarray(labels)
        rate = None
        if self._prev is not None:
            if self._prev.shape != lab.shape:
                raise ValueError(f"label map shape changed: {self._prev.shape} -> {lab.shape}")
            rate = float(np.count_nonzero(lab != self._prev)) / lab.size
            self._sum += rate
            self.pairs += 1
        self._prev = lab.copy()
        return rate

    @property
    def value(self) -> float:
        """Mean change fraction so far (0.0 before two frames were seen)."""
        return self._sum / self.pairs if self.pairs else 0.0


def flicker_rate(label_maps: Iterable[np.ndarray]) -> float:
    """Flicker of a sequence of label maps ``[H, W]`` (see :class:`FlickerMeter`)."""
    meter = FlickerMeter()
    for lab in label_maps:
        meter.update(lab)
    return meter.value
