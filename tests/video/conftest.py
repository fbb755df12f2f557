from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

W, H, N = 97, 61, 12  # odd sizes on purpose


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write BGR frames with OpenCV itself (MJPG .avi keeps odd sizes; VP8 for .webm)."""
    import cv2

    h, w = frames[0].shape[:2]
    if path.suffix == ".avi":
        wr = cv2.VideoWriter(
            str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h)
        )
    else:
        wr = cv2.VideoWriter(
            str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"VP80"), fps, (w, h)
        )
    assert wr.isOpened()
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def shapes_frames(n: int = N, w: int = W, h: int = H, noise: float = 0.0, seed: int = 0):
    """Moving coloured shapes on a gradient; optional per-frame Gaussian noise."""
    import cv2

    rng = np.random.default_rng(seed)
    base = np.zeros((h, w, 3), np.uint8)
    base[:] = np.linspace(30, 160, w, dtype=np.uint8)[None, :, None]
    out = []
    for i in range(n):
        f = base.copy()
        cv2.circle(f, (8 + 6 * i, h // 2), 12, (0, 200, 255), -1)
        cv2.rectangle(f, (w - 30 - 3 * i, 5), (w - 10 - 3 * i, 25), (200, 40, 40), -1)
        if noise:
            f = np.clip(f + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8)
        out.append(f)
    return out


def read_video(path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


@pytest.fixture
def shapes_video(tmp_path) -> Path:
    return write_video(tmp_path / "shapes.avi", shapes_frames())


@pytest.fixture(scope="session")
def tiny_model():
    import torch

    from medseg.models import create_model

    torch.manual_seed(0)
    return create_model("unet", base_channels=4).eval()


@pytest.fixture(scope="session")
def vt():
    """The helpers above, for test modules (tests/video is not a package)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        write_video=write_video, shapes_frames=shapes_frames, read_video=read_video, W=W, H=H, N=N
    )
