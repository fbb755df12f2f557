"""Streaming video segmentation (decode → infer → draw → encode in overlapping threads).

Example:
    >>> from medseg.models import create_model
    >>> from medseg.video import process_video
    >>> model = create_model("lraspp_mobilenet_v3")
    >>> summary = process_video("street.avi", "out.webm", model, size=(256, 512), smooth=0.6)
    >>> print(summary.format())
"""

from __future__ import annotations

from .infer import (
    Segmenter,
    as_segmenter,
    load_segmenter,
    predictor_segmenter,
    torch_segmenter,
    video_predictor,
)
from .io import CODECS, VideoInfo, VideoSink, open_capture, resolve_codec
from .pipeline import process_video
from .stages import auto_size
from .summary import VideoInterrupted, VideoSummary
from .temporal import FlickerMeter, TemporalEMA, flicker_rate

__all__ = [
    "CODECS",
    "FlickerMeter",
    "Segmenter",
    "TemporalEMA",
    "VideoInfo",
    "VideoInterrupted",
    "VideoSink",
    "VideoSummary",
    "as_segmenter",
    "auto_size",
    "flicker_rate",
    "load_segmenter",
    "open_capture",
    "predictor_segmenter",
    "process_video",
    "resolve_codec",
    "torch_segmenter",
    "video_predictor",
]
