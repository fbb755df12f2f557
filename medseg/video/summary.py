"""What a video run reports: :class:`VideoSummary`, and the interrupt that carries one."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from .io import VideoInfo


@dataclass
class VideoSummary:
    """Result of :func:`medseg.video.process_video`.

    Attributes:
        input, output: source and written video (``output`` is ``None`` when none was written).
        codec: ``vp8`` / ``vp9`` / ``mjpg`` (``None`` without output).
        frames: frames segmented and written.
        frame_hw: ``(height, width)`` of the input frames.
        output_hw: ``(height, width)`` stored in the output (odd sizes are padded by one
            pixel for VP8/VP9; side-by-side doubles the width).
        inference_hw: ``(height, width)`` the model saw.

    Every size is height × width, as the ``--size`` option takes it; the keys say so.
        source_fps, output_fps: frame rates of the input and the output (``/ stride``).
        elapsed_s: wall time from the first decoded frame to the last written one.
        mean_fps: ``frames / elapsed_s`` (the whole pipeline, end to end).
        latency_ms_p50, latency_ms_p90: per-frame time from decoded to written.
        flicker: mean fraction of pixels whose label changes between consecutive output
            frames (at the inference size).
        flicker_raw: the same for the unsmoothed labels (only when ``smooth > 0``).
        smooth: EMA weight used; backend: what ran the model.
        interrupted: stopped early (Ctrl-C or ``stop_event``); the output is still playable.
    """

    input: str
    output: str | None
    codec: str | None
    frames: int
    frame_hw: tuple[int, int]
    output_hw: tuple[int, int] | None
    inference_hw: tuple[int, int]
    source_fps: float
    output_fps: float
    stride: int
    elapsed_s: float
    mean_fps: float
    latency_ms_p50: float
    latency_ms_p90: float
    flicker: float
    flicker_raw: float | None
    smooth: float
    backend: str
    interrupted: bool
    masks_dir: str | None = None
    json_path: str | None = None

    @classmethod
    def build(
        cls,
        *,
        info: VideoInfo,
        output,
        codec,
        out_size,
        size_hw,
        stride,
        out_fps,
        elapsed,
        latencies,
        flicker,
        flicker_raw,
        smooth,
        backend,
        interrupted,
        masks_dir,
        json_path,
    ) -> VideoSummary:
        lat = np.asarray(latencies, dtype=np.float64) * 1e3
        n = len(latencies)
        return cls(
            input=info.source,
            output=os.fspath(output) if output is not None else None,
            codec=codec,
            frames=n,
            frame_hw=(info.height, info.width),
            output_hw=(int(out_size[1]), int(out_size[0])) if out_size else None,
            inference_hw=tuple(int(v) for v in size_hw),
            source_fps=round(info.fps, 3),
            output_fps=round(out_fps, 3),
            stride=stride,
            elapsed_s=round(elapsed, 4),
            mean_fps=round(n / elapsed, 2) if elapsed > 0 else 0.0,
            latency_ms_p50=round(float(np.percentile(lat, 50)), 2) if n else 0.0,
            latency_ms_p90=round(float(np.percentile(lat, 90)), 2) if n else 0.0,
            flicker=round(flicker, 6),
            flicker_raw=round(flicker_raw, 6) if flicker_raw is not None else None,
            smooth=smooth,
            backend=backend,
            interrupted=interrupted,
            masks_dir=os.fspath(masks_dir) if masks_dir is not None else None,
            json_path=os.fspath(json_path) if json_path is not None else None,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    # Deprecated (width, height) names of the sizes; the *_hw fields replace them.
    @property
    def frame_size(self) -> tuple[int, int]:
        _deprecated("frame_size", "frame_hw")
        return self.frame_hw[::-1]

    @property
    def output_size(self) -> tuple[int, int] | None:
        _deprecated("output_size", "output_hw")
        return None if self.output_hw is None else self.output_hw[::-1]

    @property
    def inference_size(self) -> tuple[int, int]:
        _deprecated("inference_size", "inference_hw (same order, height x width)")
        return self.inference_hw

    def format(self) -> str:
        """A few human-readable lines for the console (sizes height × width)."""
        h, w = self.frame_hw
        ih, iw = self.inference_hw
        lines = [
            f"frames      {self.frames}{'  (interrupted: partial output)' if self.interrupted else ''}",
            f"video       {h}x{w} (HxW) @ {self.source_fps:g} fps, inference at {ih}x{iw} "
            f"({self.backend})",
            f"speed       {self.mean_fps:.1f} frames/s end to end; latency p50 "
            f"{self.latency_ms_p50:.0f} ms, p90 {self.latency_ms_p90:.0f} ms",
        ]
        fl = f"flicker     {self.flicker:.4f}"
        if self.flicker_raw is not None:
            fl += f" (without smoothing {self.flicker_raw:.4f}, EMA alpha {self.smooth:g})"
        lines.append(fl)
        if self.output:
            oh, ow = self.output_hw or (0, 0)
            lines.append(
                f"output      {self.output} ({self.codec}, {oh}x{ow} @ {self.output_fps:g} fps)"
            )
        if self.masks_dir:
            lines.append(f"masks       {self.masks_dir}")
        if self.json_path:
            lines.append(f"class JSON  {self.json_path}")
        return "\n".join(lines)


def _deprecated(old: str, new: str) -> None:
    import warnings

    warnings.warn(
        f"VideoSummary.{old} (width, height) is deprecated; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`process_video`; ``.summary`` describes the partial output."""

    def __init__(self, summary: VideoSummary):
        super().__init__("video processing interrupted")
        self.summary = summary
