"""Video tab: run the street-video pipeline (:func:`medseg.video.process_video`) on an upload.

The output is a VP8 ``.webm`` (browsers play it; VP8 encodes ~8× faster than VP9 here, see
DESIGN.md). One request processes at most :data:`MAX_FRAMES` frames, and says so when it
stops there. ONNX Runtime is the default back-end (several times the frames/s of eager
PyTorch here); its threads do not spin-wait in the pipeline, which runs decode and encode
threads beside inference. Uploads a browser cannot play (AVI, MPEG-4 part 2, ...) get a
VP8 preview (:func:`browser_preview`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine.backends import OrtRunner
from ..engine.predictor import Predictor
from ..models import get_model_cfg, list_models
from ..video import process_video
from .backends import DEFAULT_BACKEND, backend_id, ran_backend
from .common import VIDEO_EXTS, AppError, as_paths, get_predictor, safe_name, temp_dir

DEFAULT_MODEL = "lraspp_mobilenet_v3"
MAX_FRAMES = 300
#: codecs every current browser plays (in .webm or .mp4)
BROWSER_CODECS = {"avc1", "h264", "vp80", "vp90", "av01"}
#: the preview of an upload: at most this wide and this many frames (it is only for looking
#: at; ~2 s to make here)
PREVIEW_WIDTH = 480
PREVIEW_FRAMES = 120
_PATH_KEYS = {"input", "output", "input_path", "output_path", "masks_dir", "json_path"}

_VIDEO_PREDICTORS: dict[tuple[str, str, bool], Predictor] = {}
_LOCK = threading.Lock()


def _probe(path: Path) -> tuple[int, float, int, int, str]:
    """``(frames, fps, width, height, fourcc)`` of a video, refusing undecodable ones."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise AppError(f"{safe_name(path.name)} is not a video OpenCV can decode")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        fourcc = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ").lower()
        ok, _ = cap.read()
        if not ok or w <= 0 or h <= 0:
            raise AppError(f"{safe_name(path.name)} has no decodable frames")
        if w * h > 4096 * 2160:
            raise AppError(f"video frames are {w}×{h}; at most 4096×2160 is accepted")
    finally:
        cap.release()
    return n, fps, w, h, fourcc


def _video_path(video: Any) -> Path:
    paths = as_paths(video)
    if not paths:
        raise AppError("no video uploaded: choose a video (or click an example) first")
    path = paths[0]
    if not path.name.lower().endswith(VIDEO_EXTS):
        raise AppError(f"{safe_name(path.name)} is not a video; accepted: {', '.join(VIDEO_EXTS)}")
    return path


def needs_preview(video: Any) -> bool:
    """True when a browser cannot play the upload as it is (codec or container)."""
    path = _video_path(video)
    *_, fourcc = _probe(path)
    container_ok = path.suffix.lower() in (".webm", ".mp4", ".m4v")
    return not (container_ok and fourcc in BROWSER_CODECS)


def browser_preview(video: Any, max_frames: int = PREVIEW_FRAMES) -> str:
    """A VP8 ``.webm`` of the first ``max_frames`` frames, at most :data:`PREVIEW_WIDTH` wide,
    for a browser to show an upload it cannot play (e.g. an MJPG or XVID ``.avi``)."""
    import cv2

    path = _video_path(video)
    _n, fps, w, h, _ = _probe(path)
    s = min(1.0, PREVIEW_WIDTH / w)
    size = (max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2))
    out = temp_dir("preview-") / "preview.webm"
    cap = cv2.VideoCapture(str(path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"VP80"), fps or 25.0, size)
    try:
        if not writer.isOpened():
            raise AppError("this server's OpenCV cannot write a VP8 preview")
        for _ in range(int(max_frames)):
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    finally:
        cap.release()
        writer.release()
    return str(out)


def video_predictor(model: str, backend: str) -> tuple[Predictor, bool]:
    """The predictor for the pipeline: the app's cached one, except that ONNX Runtime gets a
    session of its own on the same exported graph whose threads do not spin-wait (they
    would take the cores the decode and encode threads need)."""
    predictor, trained = get_predictor(model, backend)
    if backend != "onnxruntime":
        return predictor, trained
    key = (model, backend, trained)
    with _LOCK:
        if key not in _VIDEO_PREDICTORS:
            runner = OrtRunner(predictor.runner.path, spin=False)
            _VIDEO_PREDICTORS[key] = Predictor(runner, predictor.cfg, model=predictor.model)
        return _VIDEO_PREDICTORS[key], trained


def video_process(
    video: Any,
    model: str = DEFAULT_MODEL,
    backend: str = DEFAULT_BACKEND,
    max_frames: int = 120,
    progress: Callable[[float, str], None] | None = None,
    stop_event: threading.Event | None = None,
) -> tuple[str, dict[str, Any]]:
    """Segment a video; returns the output ``.webm`` path and a summary.

    Args:
        video: path of the uploaded video.
        model: registry name of a street model.
        backend: ``"ONNX Runtime"`` or ``"PyTorch"`` (or the ids).
        max_frames: stop after this many frames; above :data:`MAX_FRAMES` the limit applies
            and the summary's ``warnings`` say so.
        progress: ``progress(fraction, message)`` called while frames are processed.
        stop_event: set it to stop early (the video so far is kept and playable).

    Returns:
        ``(path, summary)``: the summary has the pipeline's numbers (``frames``,
        ``mean_fps``, ``elapsed_s``, ...), ``source_frames``, ``backend`` (id), ``model``,
        ``trained_weights`` and ``warnings`` in plain words.
    """
    path = _video_path(video)
    if model not in list_models(task="street"):
        raise AppError(f"unknown street model {model!r}")
    try:
        asked = int(max_frames)
    except (TypeError, ValueError):
        raise AppError(f"max frames must be a whole number, got {max_frames!r}") from None
    limit = max(1, min(asked, MAX_FRAMES))
    n, _fps, w, h, _ = _probe(path)
    total = min(n, limit) if n > 0 else limit
    bid = backend_id(backend)
    predictor, trained = video_predictor(model, bid)
    out = temp_dir("video-") / "segmented.webm"

    def cb(done: int, tot: int | None = None, fps: float | None = None, *_: Any) -> None:
        if progress is None:
            return
        msg = f"frame {int(done)} / {total}" + (f" ({float(fps):.1f} frames/s)" if fps else "")
        progress(min(1.0, float(done) / max(1, total)), msg)

    ih, iw = get_model_cfg(model).input_size
    summary = process_video(
        str(path),
        str(out),
        predictor,
        max_frames=limit,
        codec="vp8",
        size=(ih, iw) if w * h > ih * iw else None,  # large frames: infer at the model's size
        progress_callback=cb,
        stop_event=stop_event,
    )
    if not out.is_file() or out.stat().st_size == 0:
        raise AppError("the video pipeline produced no output")
    info = _summary_dict(summary)
    info.update(
        {
            "model": model,
            "backend": bid,
            "backend_ran": ran_backend(predictor),
            "trained_weights": bool(trained),
            "source_frames": int(n),
            "width": int(w),
            "height": int(h),
        }
    )
    warnings = []
    if asked > MAX_FRAMES:
        warnings.append(
            f"At most {MAX_FRAMES} frames are processed per request (asked for {asked})."
        )
    if n > limit and not info.get("interrupted"):
        warnings.append(
            f"The video has {n} frames: the first {info.get('frames', limit)} were processed."
        )
    if info.get("interrupted"):
        warnings.append(
            f"Cancelled after {info.get('frames', 0)} frames; the video so far is kept."
        )
    if not trained:
        warnings.append(f"{model} has no trained weights installed: its classes are random.")
    info["warnings"] = warnings
    return str(out), info


def _summary_dict(summary: Any) -> dict[str, Any]:
    import dataclasses

    d = dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else dict(summary or {})
    out = {}
    for k, v in d.items():
        if k in _PATH_KEYS:
            continue  # server paths (and upload names) stay on the server
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = round(v, 3) if isinstance(v, float) else v
        elif isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
            out[k] = list(v)
    return out
