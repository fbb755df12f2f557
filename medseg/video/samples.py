"""A short real street video made from the photos Debian's ``opencv-doc`` ships.

``leuvenA.jpg`` / ``leuvenB.jpg`` are two photos of the same Leuven street. The sample pans
and slowly zooms across one, then cross-fades to the other, like a camera moving along the
street: enough motion to show overlays, smoothing and flicker without shipping a video.
(``vtest.avi`` in the same folder is a real 768×576 pedestrian video for longer runs.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.samples import OPENCV_DATA

STREET_PHOTOS = ("leuvenA.jpg", "leuvenB.jpg")


def make_sample_video(
    path: str | os.PathLike,
    *,
    frames: int = 48,
    size: tuple[int, int] = (256, 512),
    fps: float = 12.0,
    photos: tuple[str | os.PathLike, ...] | None = None,
    codec: str | None = None,
) -> Path:
    """Write a pan-and-zoom street video.

    Args:
        path: output ``.webm`` (VP8) or ``.avi`` (MJPG).
        frames: number of frames.
        size: ``(H, W)`` of the video.
        fps: frame rate stored in the file.
        photos: street photos to move across (default: the two Leuven photos of opencv-doc).
        codec: see :class:`~medseg.video.VideoSink`.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: the photos are missing (install the Debian package ``opencv-doc``
            or pass ``photos``).
    """
    import cv2

    from .io import VideoSink

    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    paths = [Path(p) for p in photos] if photos else [OPENCV_DATA / n for n in STREET_PHOTOS]
    images = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(
                f"street photo {p} not found or unreadable (Debian package opencv-doc ships it)"
            )
        images.append(img)
    h, w = size
    half = max(1, frames // len(images))
    out = Path(path)
    with VideoSink(out, (w, h), fps, codec) as sink:
        prev = None
        for i in range(frames):
            k = min(i // half, len(images) - 1)
            t = (i - k * half) / max(1, half - 1)  # 0 → 1 within each photo
            frame = _view(images[k], t, h, w)
            fade = 4  # frames of cross-fade between photos
            if prev is not None and k > 0 and i - k * half < fade:
                a = (i - k * half + 1) / (fade + 1)
                frame = cv2.addWeighted(_view(images[k - 1], 1.0, h, w), 1 - a, frame, a, 0)
            sink.write(frame)
            prev = frame
    return out


def _view(img: np.ndarray, t: float, h: int, w: int) -> np.ndarray:
    """Crop with the output's aspect ratio, panning left→right and zooming in as ``t`` grows."""
    import cv2

    ih, iw = img.shape[:2]
    aspect = w / h
    zoom = 1.0 + 0.25 * t
    ch = min(ih, iw / aspect) / zoom
    cw = ch * aspect
    x0 = (iw - cw) * t
    y0 = (ih - ch) * (0.5 + 0.1 * t)  # drift down a little, like a camera on a car
    y0 = min(max(0.0, y0), ih - ch)
    # affine map of the crop onto the output (sub-pixel panning, no jitter)
    m = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]], dtype=np.float64)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
