"""Per-frame stages of the video pipeline: reading, inference + smoothing, drawing + writing.

Shared by the threaded and the sequential runner in :mod:`medseg.video.pipeline`, which is
why both produce identical output.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .draw import bgr_lut, blend, draw_hud, draw_legend, side_by_side, upsample_labels
from .io import VideoInfo
from .temporal import FlickerMeter, TemporalEMA


@dataclass
class Frame:
    """One frame on its way through the pipeline (read → inferred → drawn → written)."""

    index: int  # position in the output
    source_index: int  # position in the input video
    bgr: np.ndarray  # original frame, [H, W, 3] uint8 BGR
    rgb: np.ndarray | None  # model input, [h, w, 3] uint8 RGB at the inference size
    t_read: float
    labels: np.ndarray | None = None  # [h, w] uint8 at the inference size


def auto_size(height: int, width: int, cfg) -> tuple[int, int]:
    """Inference ``(H, W)`` for a frame: the model's input height, the frame's aspect ratio.

    Frames no taller than ``cfg.input_size[0]`` keep their size (no upscaling); taller ones
    are scaled to that height with the width rounded to a multiple of ``cfg.divisor``, so a
    4:3 camera is not squeezed into the 1:2 training crop.
    """
    target = int(cfg.input_size[0])
    if height <= target:
        return height, width
    d = max(1, int(getattr(cfg, "divisor", 1)))
    w = max(d, int(round(width * target / height / d)) * d)
    return target, w


def output_size(output_height: int | None, info: VideoInfo) -> tuple[int, int]:
    """``(W, H)`` of the written frames: the video's, or ``output_height`` at its aspect."""
    if output_height is None or output_height >= info.height:
        return info.width, info.height
    if output_height < 8:
        raise ValueError(f"output_height must be at least 8, got {output_height}")
    w = max(8, int(round(info.width * output_height / info.height)))
    return w, int(output_height)


def parse_size(size, info: VideoInfo, cfg) -> tuple[int, int]:
    """Inference ``(H, W)`` from the ``size`` option: ``None`` (the frame's), ``"auto"``
    (:func:`auto_size`) or ``(H, W)`` (at least 8×8)."""
    if size is None:
        return info.height, info.width
    if isinstance(size, str):
        if size != "auto":
            raise ValueError(f"size must be (H, W), 'auto' or None, got {size!r}")
        return auto_size(info.height, info.width, cfg)
    h, w = (int(v) for v in size)
    if h < 8 or w < 8:
        raise ValueError(f"inference size must be at least 8x8 (HxW), got {h}x{w}")
    return h, w


def read_frames(cap, first: np.ndarray, info: VideoInfo, size_hw, stride: int, max_frames, out_wh):
    """Yield :class:`Frame` s: every ``stride``-th frame, at most ``max_frames``."""
    import cv2

    h, w = size_hw
    native = (info.width, info.height)
    frame, src, out = first, 0, 0
    while frame is not None and (max_frames is None or out < max_frames):
        t = time.perf_counter()
        if frame.shape[:2] != (info.height, info.width):
            raise ValueError(
                f"frame {src} of {info.source} is {frame.shape[1]}x{frame.shape[0]}, the video "
                f"started at {info.width}x{info.height}; re-encode it at one size"
            )
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if (h, w) != rgb.shape[:2]:
            shrink = h * w < rgb.shape[0] * rgb.shape[1]
            rgb = cv2.resize(
                rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        if out_wh != native:  # smaller output: resize once here, overlay and encode less
            frame = cv2.resize(frame, out_wh, interpolation=cv2.INTER_AREA)
        yield Frame(out, src, frame, rgb, t)
        out += 1
        for _ in range(stride - 1):  # grab() skips the colour conversion of dropped frames
            if not cap.grab():
                return
            src += 1
        ok, frame = cap.read()
        src += 1
        if not ok:
            frame = None


@dataclass
class _Stats:
    # 8 bytes per frame (an hour at 30 fps: under 1 MB), kept whole for exact percentiles
    latencies: array = field(default_factory=lambda: array("d"))
    written: deque = field(default_factory=lambda: deque(maxlen=30))


def _labels(scores: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` scores → ``[H, W]`` uint8 labels (first maximum), single-threaded numpy:
    the pipeline's other threads need the cores (torch's argmax over dim 1 was ~4x slower)."""
    from ..models.outputs import scores_to_labels

    return scores_to_labels(np.ascontiguousarray(scores), axis=0)


class Stages:
    """The per-frame work, shared by the threaded and the sequential runner."""

    def __init__(self, seg, *, smooth, alpha, side, legend, hud, masks_dir, json_path, sink, fps):
        self.seg = seg
        self.names = tuple(seg.cfg.class_names)
        self.palette = tuple(seg.cfg.palette)
        self.lut = bgr_lut(self.palette)
        self.ema = TemporalEMA(smooth)
        self.flicker = FlickerMeter()
        self.flicker_raw = FlickerMeter() if smooth > 0 else None
        self.alpha, self.side, self.legend, self.hud = alpha, side, legend, hud
        self.masks_dir = Path(masks_dir) if masks_dir else None
        self.json = open(json_path, "w") if json_path else None  # noqa: SIM115 - closed in close()
        self.sink, self.fps = sink, fps
        self.stats = _Stats()

    def infer(self, batch: list[Frame]) -> None:
        rgb = np.stack([f.rgb for f in batch])
        smoothing = self.ema.alpha > 0
        # without smoothing only the argmax matters: logits give it without a softmax
        fn = self.seg.scores if (self.seg.scores is not None and not smoothing) else self.seg.infer
        probs = np.asarray(fn(rgb))
        h, w = rgb.shape[1:3]
        if probs.ndim != 4 or probs.shape[0] != len(batch) or probs.shape[2:] != (h, w):
            raise ValueError(
                f"{self.seg.name} returned probabilities of shape {probs.shape}, expected "
                f"[{len(batch)}, C, {h}, {w}]"
            )
        for f, p in zip(batch, probs):
            if self.flicker_raw is not None:
                self.flicker_raw.update(_labels(p))
            f.labels = _labels(self.ema.update(p) if smoothing else p)
            self.flicker.update(f.labels)
            f.rgb = None  # the model input is no longer needed: free it early

    def write(self, f: Frame) -> None:
        import cv2

        H, W = f.bgr.shape[:2]
        labels = upsample_labels(f.labels, W, H)
        out = blend(f.bgr, labels, self.lut, self.alpha)
        if self.legend:
            out = draw_legend(np.ascontiguousarray(out), labels, self.names, self.palette)
        if self.hud:
            now = time.perf_counter()
            w = self.stats.written
            rate = (len(w) - 1) / (w[-1] - w[0]) if len(w) > 1 and w[-1] > w[0] else 0.0
            draw_hud(out, rate, (now - f.t_read) * 1e3)
        if self.side:
            out = side_by_side(f.bgr, out)
        if self.sink is not None:
            self.sink.write(out)
        if self.masks_dir is not None:
            path = self.masks_dir / f"frame_{f.index:06d}.png"
            if not cv2.imwrite(str(path), labels):
                raise OSError(f"cannot write mask {path}")
        if self.json is not None:
            counts = np.bincount(labels.ravel(), minlength=len(self.names))
            shares = {
                self.names[c]: round(float(counts[c]) / labels.size, 6)
                for c in np.flatnonzero(counts[: len(self.names)])
            }
            rec = {
                "frame": f.index,
                "source_frame": f.source_index,
                "time_s": round(f.source_index / self.fps, 4),
                "shares": shares,
            }
            self.json.write(json.dumps(rec) + "\n")
        t = time.perf_counter()
        self.stats.latencies.append(t - f.t_read)
        self.stats.written.append(t)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
        if self.json is not None:
            self.json.close()
            self.json = None
