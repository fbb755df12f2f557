"""Video tab: run the street-video pipeline (:func:`medseg.video.process_video`) on an upload.

The output is a VP8 ``.webm`` (browsers play it; VP8 encodes ~8× faster than VP9 here, see
DESIGN.md). Long uploads are cut to :data:`MAX_FRAMES` frames so one request cannot hold the
server for minutes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .common import (
    VIDEO_EXTS,
    AppError,
    as_paths,
    get_predictor,
    require_attr,
    safe_name,
    temp_dir,
)

DEFAULT_MODEL = "lraspp_mobilenet_v3"
MAX_FRAMES = 300
_PATH_KEYS = {"input", "output", "input_path", "output_path", "masks_dir", "json_path"}


def _probe(path) -> tuple[int, float, int, int]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise AppError(f"{safe_name(path.name)} is not a video OpenCV can decode")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        ok, _ = cap.read()
        if not ok or w <= 0 or h <= 0:
            raise AppError(f"{safe_name(path.name)} has no decodable frames")
        if w * h > 4096 * 2160:
            raise AppError(f"video frames are {w}×{h}; at most 4096×2160 is accepted")
    finally:
        cap.release()
    return n, fps, w, h


def video_process(
    video: Any,
    model: str = DEFAULT_MODEL,
    backend: str = "PyTorch",
    max_frames: int = MAX_FRAMES,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Segment a video; returns the output ``.webm`` path and the pipeline's summary.

    Args:
        video: path of the uploaded video.
        model: registry name of a street model.
        backend: ``"PyTorch"`` or ``"ONNX Runtime"``.
        max_frames: stop after this many frames (capped at :data:`MAX_FRAMES`).
        progress: ``progress(fraction, message)`` called while frames are processed.
    """
    from ..models import get_model_cfg, list_models

    paths = as_paths(video)
    if not paths:
        raise AppError("no video uploaded: choose a video (or click the example) first")
    path = paths[0]
    if not path.name.lower().endswith(VIDEO_EXTS):
        raise AppError(f"{safe_name(path.name)} is not a video; accepted: {', '.join(VIDEO_EXTS)}")
    if model not in list_models(task="street"):
        raise AppError(f"unknown street model {model!r}")
    try:
        max_frames = int(max_frames)
    except (TypeError, ValueError):
        raise AppError(f"max frames must be a whole number, got {max_frames!r}") from None
    max_frames = max(1, min(max_frames, MAX_FRAMES))
    n, _fps, w, h = _probe(path)
    total = min(n, max_frames) if n > 0 else max_frames
    process_video = require_attr(
        "medseg.video", "process_video", "The video pipeline (medseg.video)", 9
    )
    predictor, trained = get_predictor(model, backend)
    out = temp_dir("video-") / "segmented.webm"

    def cb(*args: Any, **kwargs: Any) -> None:
        if progress is None:
            return
        # medseg.video calls progress_callback(done, total, fps)
        done = args[0] if args else 0
        tot = args[1] if len(args) > 1 and args[1] else total
        fps = args[2] if len(args) > 2 else None
        try:
            frac = min(1.0, float(done) / max(1, min(int(tot), total)))
        except (TypeError, ValueError):
            return
        msg = f"frame {int(done)} / {min(int(tot), total)}"
        progress(frac, msg + (f" ({float(fps):.1f} frames/s)" if fps else ""))

    kwargs: dict[str, Any] = {"progress_callback": cb}
    params = inspect.signature(process_video).parameters
    if "max_frames" in params:
        kwargs["max_frames"] = max_frames
    if "codec" in params:
        kwargs["codec"] = "vp8"
    ih, iw = get_model_cfg(model).input_size
    if "size" in params and w * h > ih * iw:
        kwargs["size"] = (ih, iw)  # large frames: infer at the model's size, draw at full size
    summary = process_video(str(path), str(out), predictor, **kwargs)
    if not out.is_file() or out.stat().st_size == 0:
        raise AppError("the video pipeline produced no output")
    info = _summary_dict(summary)
    info.update({"model": model, "trained_weights": bool(trained)})
    return str(out), info


def _summary_dict(summary: Any) -> dict[str, Any]:
    if summary is None:
        return {}
    if isinstance(summary, dict):
        d = dict(summary)
    elif hasattr(summary, "to_dict"):
        d = summary.to_dict()
    elif hasattr(summary, "__dataclass_fields__"):
        import dataclasses

        d = dataclasses.asdict(summary)
    else:
        d = {k: v for k, v in vars(summary).items() if not k.startswith("_")}
    out = {}
    for k, v in d.items():
        if k in _PATH_KEYS:
            continue  # server paths (and upload names) stay on the server
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = round(v, 3) if isinstance(v, float) else v
    return out
