"""Whole-pipeline video benchmark: decode + infer + overlay + encode, frames per second.

Usage: python scripts/bench_video.py [--backends auto,onnxruntime] [--frames 80] [--repeats 3]
       [--threads 2] [--out docs/bench_video.md]

Compares, on the same model, backend, input video and output codec (VP8 .webm):

* **pipeline** — :func:`medseg.video.process_video`: reader / inference / writer threads with
  bounded queues, batches of 4 frames, cv2 palette blend, FPS counter drawn on each frame;
* **sequential** — the tutorial-style loop: read a frame, preprocess it, run the model on it
  alone, argmax, colour it class by class, blend, write, repeat.

The input is a 256×512 street video made from the opencv-doc Leuven photos
(:func:`medseg.video.samples.make_sample_video`), so the model runs at 256×512 in both. After a
short warm-up the runs alternate ``--repeats`` times in one process and medians are reported,
so a change in the load of a shared machine hits both sides.
Absolute FPS depend on the load of the machine (say so when you quote them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def tutorial_loop(src: Path, dst: Path, runner, cfg, size: tuple[int, int], max_frames=None):
    """The sequential baseline: one frame at a time through every step. Returns (frames, s)."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(str(dst), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"VP80"), fps, (w, h))
    mean = np.asarray(cfg.mean, np.float32)
    std = np.asarray(cfg.std, np.float32)
    colours = np.asarray(cfg.palette, np.uint8)[:, ::-1]  # BGR
    n = 0
    t0 = time.perf_counter()
    while max_frames is None or n < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        x = (cv2.resize(rgb, (size[1], size[0])).astype(np.float32) / 255.0 - mean) / std
        with torch.inference_mode():
            logits = runner(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))
        pred = logits.argmax(1)[0].numpy().astype(np.uint8)
        pred = cv2.resize(pred, (w, h), interpolation=cv2.INTER_NEAREST)
        coloured = np.zeros_like(frame)
        for c in range(len(colours)):
            coloured[pred == c] = colours[c]
        out.write(cv2.addWeighted(frame, 0.5, coloured, 0.5, 0))
        n += 1
    dt_ = time.perf_counter() - t0
    cap.release()
    out.release()
    return n, dt_


def _model_only_fps(runner, size, iters: int = 20) -> float:
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        for _ in range(3):
            runner(x)
        ts = []
        for _ in range(iters):
            t = time.perf_counter()
            runner(x)
            ts.append(time.perf_counter() - t)
    return 1.0 / statistics.median(ts)


def _load() -> float:
    try:
        import os

        return round(os.getloadavg()[0], 1)
    except (OSError, AttributeError):
        return float("nan")


def _cpu() -> str:
    from medseg.engine.machine import cpu_info

    info = cpu_info()
    return f"{info['model']} (flags: {' '.join(info['relevant_flags'])})"


VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _flicker_run(model: str, pretrained: bool, backend: str, tmp: Path, frames: int) -> dict:
    """Flicker with and without EMA smoothing (alpha 0.6), from one run on a real video."""
    from medseg.engine.predictor import Predictor
    from medseg.video import process_video

    src = VTEST if VTEST.is_file() else tmp / "street.webm"
    pred = Predictor.from_name(model, pretrained=pretrained, backend=backend, ort_spin=False)
    s = process_video(src, None, pred, smooth=0.6, max_frames=frames)
    return {
        "video": src.name,
        "frames": s.frames,
        "inference_size": f"{s.inference_hw[0]}x{s.inference_hw[1]}",
        "smooth": 0.6,
        "flicker_raw": s.flicker_raw,
        "flicker_smoothed": s.flicker,
    }


def run(
    *,
    model: str = "lraspp_mobilenet_v3",
    backends: tuple[str, ...] = ("auto", "onnxruntime"),
    frames: int = 80,
    size: tuple[int, int] = (256, 512),
    threads: int = 2,
    batch_size: int = 4,
    workdir: str | Path | None = None,
    smooth_check: bool = True,
    repeats: int = 3,
) -> dict:
    """Run the benchmark; returns ``{"rows": [...], "meta": {...}}`` (FPS, ratios)."""
    import cv2

    from medseg.engine.predictor import Predictor
    from medseg.models import get_model_cfg
    from medseg.video import process_video
    from medseg.video.samples import make_sample_video

    load_start = _load()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    tmp = Path(workdir or tempfile.mkdtemp(prefix="bench_video_"))
    tmp.mkdir(parents=True, exist_ok=True)
    src = make_sample_video(tmp / "street.webm", frames=frames, size=size, fps=20)
    pretrained = get_model_cfg(model).has_pretrained
    rows = []
    for backend in backends:
        pred = Predictor.from_name(model, pretrained=pretrained, backend=backend, ort_spin=False)
        seg = pred
        cfg = pred.cfg
        pred.prepare(*size)  # auto decides at this size before anything is timed
        # warm-up: graph optimisation, allocators, codec start-up
        tutorial_loop(src, tmp / "warm_seq.webm", pred.runner, cfg, size, max_frames=8)
        process_video(src, tmp / "warm_pipe.webm", seg, size=size, max_frames=8)
        model_fps = _model_only_fps(pred.runner, size)
        # `repeats` alternations of the three runs, back to back, so a change in the load of
        # the shared machine hits all of them; medians are reported
        seq, pipe, pipe1, cpu_ms = [], [], [], []
        for r in range(repeats):
            n_seq, t_seq = tutorial_loop(src, tmp / f"seq_{backend}.webm", pred.runner, cfg, size)
            seq.append(n_seq / t_seq)
            c0 = time.process_time()
            pipe.append(
                process_video(
                    src,
                    tmp / f"pipe_{backend}.webm",
                    seg,
                    size=size,
                    batch_size=batch_size,
                    hud=True,
                )
            )
            # CPU time of all threads per frame: what a frame costs whatever else runs
            cpu_ms.append(1e3 * (time.process_time() - c0) / max(1, pipe[-1].frames))
            # batch 1: does batching pay on this backend, and what latency without it
            pipe1.append(
                process_video(
                    src, tmp / f"pipe1_{backend}.webm", seg, size=size, batch_size=1, hud=True
                )
            )
            print(
                f"{backend} run {r + 1}/{repeats}: sequential {seq[-1]:.1f} fps, pipeline "
                f"{pipe[-1].mean_fps:.1f} fps (batch 1: {pipe1[-1].mean_fps:.1f})",
                flush=True,
            )
        seq_fps = statistics.median(seq)
        pipe_fps = statistics.median(s.mean_fps for s in pipe)
        rows.append(
            {
                "backend": backend,
                "ran": pred.backend_info()["backend"],
                "frames": pipe[0].frames,
                "runs": repeats,
                "model_only_fps": round(model_fps, 1),
                "sequential_fps": round(seq_fps, 1),
                "pipeline_fps": round(pipe_fps, 1),
                "speedup": round(pipe_fps / seq_fps, 2),
                "speedup_per_run": [round(p.mean_fps / q, 2) for p, q in zip(pipe, seq)],
                "latency_ms_p50": statistics.median(s.latency_ms_p50 for s in pipe),
                "latency_ms_p90": statistics.median(s.latency_ms_p90 for s in pipe),
                "pipeline_b1_fps": round(statistics.median(s.mean_fps for s in pipe1), 1),
                "cpu_ms_per_frame": round(statistics.median(cpu_ms), 1),
                "cpu_bound_fps": round(threads * 1e3 / statistics.median(cpu_ms), 1),
                "latency_b1_ms_p50": statistics.median(s.latency_ms_p50 for s in pipe1),
            }
        )
        print(rows[-1], flush=True)
    flicker = _flicker_run(model, pretrained, backends[0], tmp, frames) if smooth_check else None
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu(),
        "threads": threads,
        "model": model,
        "pretrained": pretrained,
        "size": f"{size[0]}x{size[1]}",
        "codec": "vp8",
        "batch_size": batch_size,
        "loadavg_1min_start": load_start,
        "loadavg_1min_end": _load(),
        "torch": torch.__version__,
    }
    return {"rows": rows, "meta": meta, "flicker": flicker}


def to_markdown(result: dict) -> str:
    m = result["meta"]
    lines = [
        f"Measured {m['date']} on {m['cpu']}, {m['threads']} threads (1-min load average "
        f"{m['loadavg_1min_start']} at the start, {m['loadavg_1min_end']} at the end: the "
        "machine was shared with other jobs: absolute FPS vary with the load, the ratios "
        "are the robust part), model "
        f"`{m['model']}` ({'trained' if m['pretrained'] else 'random'} weights), "
        f"{m['size']} input and output, VP8 .webm, pipeline batch {m['batch_size']}. "
        "Medians of `runs` back-to-back alternations (sequential, pipeline, pipeline batch 1); "
        "`sequential` = tutorial-style per-frame loop on the same backend; speed-up = "
        "median pipeline / median sequential (per-run ratios in brackets). `CPU ms / frame`: "
        "process CPU time (all threads: decode, inference, overlay, encode) per frame of the "
        "batch-4 pipeline, and the frame rate those cores could sustain at that cost when "
        "nothing else runs: the load-independent figure on a shared machine.",
        "",
        "| backend | ran | frames × runs | model only, batch 1 (fps) | sequential loop (fps) | "
        f"pipeline, batch {m['batch_size']} (fps) | speed-up | latency p50 / p90 (ms) | "
        "pipeline, batch 1 (fps) | latency p50, batch 1 (ms) | CPU ms / frame (pipeline) | "
        f"{m['threads']} cores / CPU per frame (fps) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r.get('ran', r['backend'])} | {r['frames']} × {r['runs']} | "
            f"{r['model_only_fps']} | {r['sequential_fps']} "
            f"| {r['pipeline_fps']} | {r['speedup']}× ({', '.join(map(str, r['speedup_per_run']))}) "
            f"| {r['latency_ms_p50']:.0f} / "
            f"{r['latency_ms_p90']:.0f} | {r['pipeline_b1_fps']} | {r['latency_b1_ms_p50']:.0f} | "
            f"{r.get('cpu_ms_per_frame', '–')} | {r.get('cpu_bound_fps', '–')} |"
        )
    f = result.get("flicker")
    if f:
        lines += [
            "",
            f"Flicker (fraction of pixels whose label changes between consecutive frames) on "
            f"`{f['video']}`, {f['frames']} frames at {f['inference_size']}, one run, "
            f"{'trained' if m['pretrained'] else 'random (meaningless for flicker)'} weights:",
            "",
            "| labels | flicker |",
            "|---|---:|",
            f"| raw (no smoothing) | {f['flicker_raw']:.4f} |",
            f"| EMA alpha {f['smooth']} | {f['flicker_smoothed']:.4f} |",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lraspp_mobilenet_v3")
    ap.add_argument(
        "--backends", default="auto,onnxruntime", help="comma-separated, e.g. auto,onnxruntime"
    )
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3, help="alternations (medians reported)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--out", help="write the markdown table here (e.g. docs/bench_video.md)")
    args = ap.parse_args()
    result = run(
        model=args.model,
        backends=tuple(args.backends.split(",")),
        frames=args.frames,
        threads=args.threads,
        batch_size=args.batch_size,
        repeats=args.repeats,
    )
    md = to_markdown(result)
    print(md)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("# Video pipeline benchmark\n\n" + md)


if __name__ == "__main__":
    main()
