"""Opening video sources and writers with errors a user can act on.

OpenCV decodes and encodes (``cv2`` is imported inside the functions so ``import medseg``
stays light). Codec facts measured on this project's 2-core machine (OpenCV pip wheel 5.0):

* ``vp8`` → ``.webm`` (fourcc ``VP80``): ~70-100 frames/s at 512×256, plays in browsers;
  the default.
* ``vp9`` → ``.webm`` (``VP90``): ~11-13 frames/s at 512×256, smaller files; a quality option.
* ``mjpg`` → ``.avi`` (OpenCV's own MJPEG writer): ~500 frames/s, large files, exact odd sizes.

H.264 is not available: the OpenCV pip wheels ship FFmpeg without an H.264 encoder.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: codec name → (fourcc, file extensions it may be written to)
CODECS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vp8": ("VP80", (".webm",)),
    "vp9": ("VP90", (".webm",)),
    "mjpg": ("MJPG", (".avi",)),
}

_EXT_DEFAULT_CODEC = {".webm": "vp8", ".avi": "mjpg"}


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a source (``frame_count`` is -1 when unknown)."""

    source: str
    width: int
    height: int
    fps: float
    frame_count: int


def _quiet_ffmpeg() -> None:
    # keep FFmpeg's own log for real errors
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


#: What OpenCV's FFmpeg writer prints, straight to file descriptor 2, for every VP8/VP9 .webm
#: writer: the "VP80"/"VP90" tag is not WebM's own, so FFmpeg falls back to the codec's tag
#: and writes a correct file. No setting silences it (OPENCV_LOG_LEVEL, OPENCV_FFMPEG_LOGLEVEL
#: and other tags were tried), so this one known line is filtered out of the writer's start.
_KNOWN_WRITER_NOISE = re.compile(rb"^OpenCV: FFMPEG: tag 0x[0-9a-f]+/'VP[89]0' is not supported")


@contextlib.contextmanager
def _without_known_writer_noise():
    """Run the block with fd 2 captured; re-print everything but :data:`_KNOWN_WRITER_NOISE`.

    Only the writer's construction runs inside (milliseconds); output of other threads in
    that time is re-printed after it, not lost.
    """
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().splitlines(True) if not _KNOWN_WRITER_NOISE.match(ln)]
            if kept:
                os.write(2, b"".join(kept))


def open_capture(source: str | os.PathLike | int):
    """Open a video file or a camera index and check that it can be decoded.

    Args:
        source: path of a video file OpenCV can decode, or a camera index (``int`` or a
            string of digits).

    Returns:
        ``(capture, info, first_frame)``: an open ``cv2.VideoCapture``, its
        :class:`VideoInfo`, and the first decoded frame (``[H, W, 3]`` uint8 BGR) — reading
        it up front is the only reliable way to tell a playable file from an empty one.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file cannot be decoded, holds no frames, or is not a colour video.
    """
    import cv2

    _quiet_ffmpeg()
    if isinstance(source, int) or (
        isinstance(source, str) and source.isdigit() and not Path(source).exists()
    ):
        index = int(source)
        cap = cv2.VideoCapture(index)
        name = f"camera {index}"
        if not cap.isOpened():
            raise ValueError(f"cannot open {name}: no such camera or it is busy")
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise FileNotFoundError(f"video not found: {path}")
        if path.is_dir():
            raise ValueError(f"{path} is a folder; pass a video file (e.g. .mp4, .avi, .webm)")
        if path.stat().st_size == 0:
            raise ValueError(f"{path} is empty (0 bytes); it holds no video")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(
                f"cannot decode {path}: OpenCV/FFmpeg does not recognise it as a video "
                "(accepted: files FFmpeg reads, e.g. .mp4/.avi/.webm/.mkv/.mov)"
            )
    ok, frame = cap.read()
    if not ok or frame is None or frame.size == 0:
        cap.release()
        raise ValueError(f"{name} holds no decodable frames (empty or corrupt video)")
    if frame.ndim == 2:  # some decoders hand grayscale frames back as 2-D
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        cap.release()
        raise ValueError(f"{name}: expected colour frames [H, W, 3], got shape {frame.shape}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 25.0  # cameras and some containers report 0: assume a common rate
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or -1)
    info = VideoInfo(name, frame.shape[1], frame.shape[0], fps, count if count > 0 else -1)
    return cap, info, frame


def resolve_codec(path: str | os.PathLike, codec: str | None = None) -> str:
    """Pick the codec for an output path (``.webm`` → vp8, ``.avi`` → mjpg) or check one.

    Raises:
        ValueError: unknown codec or extension, or a codec the container cannot hold.
    """
    ext = Path(path).suffix.lower()
    if codec is None:
        if ext not in _EXT_DEFAULT_CODEC:
            raise ValueError(
                f"cannot write {ext or 'a file without extension'}: use .webm (VP8/VP9, plays "
                "in browsers) or .avi (MJPG); H.264 .mp4 is not available in OpenCV wheels"
            )
        return _EXT_DEFAULT_CODEC[ext]
    codec = codec.lower()
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if ext not in CODECS[codec][1]:
        raise ValueError(
            f"codec {codec} writes {'/'.join(CODECS[codec][1])} files, not {ext or '(none)'}"
        )
    return codec


class VideoSink:
    """A ``cv2.VideoWriter`` that checks it opened and keeps odd frame sizes playable.

    VP8/VP9 store 4:2:0 chroma and FFmpeg silently drops an odd last row/column; here odd
    frames are padded by repeating the edge pixels instead (``out_size`` says the size
    written). OpenCV's own MJPEG writer keeps odd sizes exactly.

    Args:
        path: output file (parent folders are created).
        size: ``(width, height)`` of the frames that will be written.
        fps: frame rate stored in the container.
        codec: ``"vp8"``, ``"vp9"``, ``"mjpg"`` or ``None`` (from the extension).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        size: tuple[int, int],
        fps: float,
        codec: str | None = None,
    ):
        import cv2

        _quiet_ffmpeg()
        self.path = Path(path)
        self.codec = resolve_codec(self.path, codec)
        w, h = int(size[0]), int(size[1])
        if w < 2 or h < 2:
            raise ValueError(f"frames of {w}x{h} are too small to encode")
        self.in_size = (w, h)
        if self.codec == "mjpg":
            self.out_size = (w, h)
            api = cv2.CAP_OPENCV_MJPEG
        else:
            self.out_size = (w + w % 2, h + h % 2)
            api = cv2.CAP_FFMPEG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*CODECS[self.codec][0])
        with _without_known_writer_noise():
            self._writer = cv2.VideoWriter(str(self.path), api, fourcc, float(fps), self.out_size)
        if not self._writer.isOpened():
            raise ValueError(
                f"cannot write {self.path} with codec {self.codec}: OpenCV's video writer did "
                "not open (is the folder writable? try --codec mjpg with an .avi file)"
            )
        self.frames = 0
        # write/close from different threads (a second Ctrl-C while the writer thread still
        # runs) must not release the encoder under a frame being encoded
        self._lock = threading.Lock()

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one ``[H, W, 3]`` uint8 BGR frame of the size given at construction."""
        import cv2

        h, w = frame_bgr.shape[:2]
        if (w, h) != self.in_size:
            raise ValueError(f"frame size {w}x{h} differs from the writer's {self.in_size}")
        if (w, h) != self.out_size:
            frame_bgr = cv2.copyMakeBorder(
                frame_bgr, 0, self.out_size[1] - h, 0, self.out_size[0] - w, cv2.BORDER_REPLICATE
            )
        with self._lock:
            if self._writer is None:
                raise ValueError(f"{self.path} is already closed")
            self._writer.write(np.ascontiguousarray(frame_bgr))
            self.frames += 1

    def close(self) -> None:
        """Finish the container (idempotent); a partial video stays playable."""
        with self._lock:
            if self._writer is not None:
                self._writer.release()
                self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
