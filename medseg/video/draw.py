"""Drawing on video frames: palette overlay, legend, FPS/latency counter, side by side.

Frames here are OpenCV's ``[H, W, 3]`` uint8 **BGR**; palettes come from the model's
``cfg.palette`` (RGB, see :mod:`medseg.labels`) through :func:`medseg.viz.palette_array`.
The blend is :func:`medseg.viz.overlay`'s formula done with ``cv2.addWeighted``, which runs
in C without holding the GIL, so it overlaps with decoding and inference in other threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..viz import legend as _legend_image
from ..viz import palette_array


def bgr_lut(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``[256, 3]`` uint8 BGR lookup table for a palette (unlisted labels → black)."""
    return np.ascontiguousarray(palette_array(palette)[:, ::-1])


def upsample_labels(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize of a ``[h, w]`` uint8 label map to ``[height, width]``."""
    import cv2

    if labels.shape == (height, width):
        return labels
    return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)


def blend(
    frame_bgr: np.ndarray, labels: np.ndarray, lut_bgr: np.ndarray, alpha: float
) -> np.ndarray:
    """Colour ``labels`` ``[H, W]`` (uint8) with ``lut_bgr`` and blend them over the frame.

    ``out = (1 - alpha) * frame + alpha * colour``, rounded; ``alpha = 1`` gives the pure
    palette colours (useful to check a video against its masks).
    """
    import cv2

    colour = lut_bgr[labels]
    if alpha >= 1.0:
        return colour
    return cv2.addWeighted(frame_bgr, 1.0 - alpha, colour, alpha, 0.0)


@lru_cache(maxsize=128)
def _legend_bgr(
    names: tuple[str, ...], colours: tuple[tuple[int, int, int], ...], present: tuple[int, ...]
) -> np.ndarray:
    img = _legend_image(list(names), list(colours), classes=list(present), swatch=12, width=150)
    return np.ascontiguousarray(img[:, :, ::-1])


def draw_legend(
    frame_bgr: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    *,
    max_rows: int = 8,
) -> np.ndarray:
    """Paste a legend of the classes present in ``labels`` (largest first) top-right.

    Rows that do not fit the frame are dropped; nothing is drawn on frames narrower than
    the legend. Works in place and returns the frame.
    """
    counts = np.bincount(labels.ravel(), minlength=len(class_names))[: len(class_names)]
    present = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0][:max_rows]
    if not present:
        return frame_bgr
    colours = tuple(tuple(int(v) for v in palette[c]) for c in range(len(class_names)))
    img = _legend_bgr(tuple(class_names), colours, tuple(present))
    h, w = frame_bgr.shape[:2]
    lh, lw = img.shape[:2]
    if lw > w:
        return frame_bgr
    lh = min(lh, h)
    frame_bgr[:lh, w - lw :] = img[:lh]
    return frame_bgr


def draw_hud(frame_bgr: np.ndarray, fps: float, latency_ms: float) -> np.ndarray:
    """Draw ``"<fps> FPS  <latency> ms"`` top-left on a dark box (in place)."""
    import cv2

    text = f"{fps:5.1f} FPS {latency_ms:4.0f} ms"
    h = frame_bgr.shape[0]
    scale = max(0.3, min(0.6, h / 480))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(frame_bgr, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), thickness=-1)
    cv2.putText(
        frame_bgr,
        text,
        (3, th + 3),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
    return frame_bgr


def side_by_side(original_bgr: np.ndarray, overlay_bgr: np.ndarray) -> np.ndarray:
    """``[H, 2W, 3]``: the original frame left, the overlay right."""
    return np.concatenate([original_bgr, overlay_bgr], axis=1)
