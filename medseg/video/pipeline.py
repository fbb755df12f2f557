"""Streaming video segmentation: decode → infer → draw → encode, overlapped in threads.

Three stages run concurrently: a reader thread decodes (and resizes) frames, the calling
thread runs batched inference and the temporal smoothing, a writer thread draws overlays,
encodes and saves masks. Bounded queues between them keep memory flat for any video length
and make the slowest stage set the pace. OpenCV, PyTorch and ONNX Runtime release the GIL
in their heavy calls, so on 2 cores the stages genuinely overlap. ``threaded=False`` runs
the very same stage functions one after another (the reference the tests compare with).

Inference stays on the calling thread so that Ctrl-C (delivered to the main thread) stops
it promptly; the writer then finishes the frames already queued and closes the container,
so an interrupted run leaves a playable partial video.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .infer import as_frame_adapter
from .io import VideoSink, open_capture, resolve_codec
from .stages import Frame, Stages, output_size, parse_size, read_frames
from .summary import VideoInterrupted, VideoSummary

ProgressCallback = Callable[[int, int, float], None]
_END = object()


def _put(q: queue.Queue, item, alive: Callable[[], bool]) -> bool:
    while True:
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            if not alive():
                return False


def process_video(
    input_path: str | os.PathLike | int,
    output_path: str | os.PathLike | None,
    predictor,
    *,
    size: tuple[int, int] | str | None = "auto",
    batch_size: int = 4,
    smooth: float = 0.0,
    stride: int = 1,
    max_frames: int | None = None,
    alpha: float = 0.5,
    side_by_side: bool = False,
    legend: bool = False,
    hud: bool = False,
    codec: str | None = None,
    output_height: int | None = None,
    masks_dir: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    threaded: bool = True,
    queue_size: int = 4,
    progress_callback: ProgressCallback | None = None,
    stop_event: threading.Event | None = None,
) -> VideoSummary:
    """Segment every frame of a video and write the overlay video (and optional masks).

    Args:
        input_path: a video file OpenCV decodes, or a camera index.
        output_path: ``.webm`` (VP8 default, VP9 via ``codec``) or ``.avi`` (MJPG); ``None``
            writes no video (masks/JSON only).
        predictor: a :class:`~medseg.engine.predictor.Predictor` (any back-end) or a medseg
            RGB model (run eagerly).
        size: ``(H, W)`` frames are resized to for inference; ``"auto"`` = the model's input
            height at the frame's aspect ratio (see :func:`auto_size`); ``None`` = the
            frame's own size.
            Masks and overlays are at the video's size (or ``output_height``), labels
            upsampled nearest.
        batch_size: frames per inference call (full batches except the last, so results
            do not depend on timing).
        smooth: EMA weight of the past probabilities in ``[0, 1)``; 0 = off.
        stride: keep every ``stride``-th frame; the output runs at ``fps / stride``.
        max_frames: stop after this many output frames.
        alpha: overlay opacity (1 = pure palette colours).
        side_by_side: write ``original | overlay`` (twice as wide).
        legend: draw the classes present, largest first, top-right.
        hud: draw a live FPS / latency counter top-left.
        codec: ``"vp8"``, ``"vp9"`` or ``"mjpg"``; default from the extension.
        output_height: write overlays (and masks) at this height, keeping the aspect ratio,
            when the video is taller: encoding a 1080p overlay costs far more than
            segmenting it at 256 px. ``None`` = the video's size.
        masks_dir: write each frame's label map as ``frame_000000.png`` (uint8 train IDs).
        json_path: write JSON Lines, one object per frame with its class pixel shares.
        threaded: overlap decoding, inference and encoding (``False``: one after another).
        queue_size: frames buffered between stages (memory bound).
        progress_callback: ``f(frames_done, frames_total_or_-1, fps)`` after each batch.
        stop_event: set it (from another thread) to stop early; the partial output is kept.

    Returns:
        :class:`VideoSummary`: frames, mean FPS, latency percentiles, flicker (also without
        smoothing when it is on), sizes and paths.

    Raises:
        FileNotFoundError: the input does not exist.
        ValueError: unreadable or empty video, bad options, or an unsupported output type.
        VideoInterrupted: on Ctrl-C (a ``KeyboardInterrupt`` carrying the partial summary);
            the output written so far is a valid video.
    """
    if batch_size < 1 or stride < 1 or queue_size < 1:
        raise ValueError("batch_size, stride and queue_size must be >= 1")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (overlay opacity) must be in [0, 1], got {alpha}")
    if output_path is not None:
        codec = resolve_codec(output_path, codec)  # fail before any decoding
        if (
            not isinstance(input_path, int)
            and Path(output_path).resolve() == Path(str(input_path)).resolve()
        ):
            raise ValueError("the output path is the input video; choose another file")
    seg = as_frame_adapter(predictor)
    cap, info, first = open_capture(input_path)
    sink = stages = None
    try:
        size_hw = parse_size(size, info, seg.cfg)
        if seg.prepare is not None:  # e.g. backend="auto" decides before the clock starts
            seg.prepare(*size_hw)
        out_wh = output_size(output_height, info)
        out_fps = info.fps / stride
        if output_path is not None:
            width = out_wh[0] * (2 if side_by_side else 1)
            sink = VideoSink(output_path, (width, out_wh[1]), out_fps, codec)
        if masks_dir is not None:
            Path(masks_dir).mkdir(parents=True, exist_ok=True)
        if json_path is not None:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        stages = Stages(
            seg,
            smooth=smooth,
            alpha=alpha,
            side=side_by_side,
            legend=legend,
            hud=hud,
            masks_dir=masks_dir,
            json_path=json_path,
            sink=sink,
            fps=info.fps,
        )
        total = -1
        if info.frame_count > 0:
            total = -(-info.frame_count // stride)
            total = min(total, max_frames) if max_frames else total
        frames = read_frames(cap, first, info, size_hw, stride, max_frames, out_wh)
        run = _run_threaded if threaded else _run_sequential
        t0 = time.perf_counter()
        interrupted = False
        try:
            interrupted = run(
                frames, stages, batch_size, queue_size, total, progress_callback, stop_event, t0
            )
        except KeyboardInterrupt:
            interrupted = True
            raise_interrupt = True
        else:
            raise_interrupt = False
        elapsed = time.perf_counter() - t0
    finally:
        if stages is not None:
            stages.close()
        elif sink is not None:
            sink.close()
        cap.release()
    summary = VideoSummary.build(
        info=info,
        output=output_path,
        codec=codec if output_path else None,
        out_size=sink.out_size if sink else None,
        size_hw=size_hw,
        stride=stride,
        out_fps=out_fps,
        elapsed=elapsed,
        latencies=stages.stats.latencies,
        flicker=stages.flicker.value,
        flicker_raw=stages.flicker_raw.value if stages.flicker_raw else None,
        smooth=smooth,
        backend=seg.backend_name(),
        interrupted=interrupted,
        masks_dir=masks_dir,
        json_path=json_path,
    )
    if raise_interrupt:
        raise VideoInterrupted(summary)
    return summary


def _batches(frames: Iterator[Frame], n: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for f in frames:
        batch.append(f)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _report(cb, stages: Stages, done: int, total: int, t0: float) -> None:
    if cb is not None:
        dt = time.perf_counter() - t0
        cb(done, total, done / dt if dt > 0 else 0.0)


def _run_sequential(frames, stages, batch_size, _qs, total, cb, stop_event, t0) -> bool:
    done = 0
    for batch in _batches(frames, batch_size):
        stages.infer(batch)
        for f in batch:
            stages.write(f)
        done += len(batch)
        _report(cb, stages, done, total, t0)
        if stop_event is not None and stop_event.is_set():
            return True
    return False


def _run_threaded(frames, stages, batch_size, queue_size, total, cb, stop_event, t0) -> bool:
    in_q: queue.Queue = queue.Queue(maxsize=queue_size)
    out_q: queue.Queue = queue.Queue(maxsize=queue_size)
    stop_reading = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for f in frames:
                if not _put(in_q, f, lambda: not stop_reading.is_set()):
                    return
        except BaseException as e:  # surfaced in the calling thread
            errors.append(e)
        _put(in_q, _END, lambda: not stop_reading.is_set())

    def writer() -> None:
        try:
            while True:
                f = out_q.get()
                if f is _END:
                    return
                stages.write(f)
        except BaseException as e:
            errors.append(e)
            stop_reading.set()

    rt = threading.Thread(target=reader, name="medseg-video-reader", daemon=True)
    wt = threading.Thread(target=writer, name="medseg-video-writer", daemon=True)
    rt.start()
    wt.start()
    interrupted = False
    done = 0
    try:
        batch: list[Frame] = []
        end = False
        while not end:
            try:
                f = in_q.get(timeout=0.1)
            except queue.Empty:
                if errors:
                    break
                continue
            if f is _END:
                end = True
            else:
                batch.append(f)
            if batch and (len(batch) == batch_size or end):
                stages.infer(batch)
                for g in batch:
                    if not _put(out_q, g, wt.is_alive):
                        break
                done += len(batch)
                batch = []
                _report(cb, stages, done, total, t0)
                if stop_event is not None and stop_event.is_set():
                    interrupted = True
                    break
            if errors:
                break
    finally:
        # Stop decoding, let the writer finish what is queued, close the file (in the caller).
        stop_reading.set()
        _put(out_q, _END, wt.is_alive)
        wt.join()
        rt.join(timeout=5)
    if errors:
        raise errors[0]
    return interrupted
