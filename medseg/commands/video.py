"""``medseg video``: segment a street video (the pipeline behind ``python -m driving_demo``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_backend_argument, hw_size

HELP = "segment a video: overlay video (.webm/.avi), masks, class shares, FPS and flicker"


def _size(text: str):
    if text in ("auto", "native"):
        return text
    try:
        return hw_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--size wants HxW (e.g. 256x512), 'auto' or 'native', got {text!r}"
        ) from None


def _alpha(text: str) -> float:
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"--smooth wants a number in [0, 1), got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser, *, legend_default: bool = False) -> None:
    """Options of ``medseg video`` (``python -m driving_demo`` turns the legend on)."""
    p.add_argument("input", help="video file OpenCV can decode, or a camera index (0, 1, ...)")
    p.add_argument(
        "-o",
        "--output",
        help="output video: .webm (VP8 default, browsers play it) or .avi (MJPG); "
        "default <input name>.seg.webm in the current folder",
    )
    p.add_argument("--model", default="lraspp_mobilenet_v3", help="street model (medseg models)")

    add_backend_argument(p, default="auto", ran="the summary")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", help="checkpoint to load instead of the shipped weights")
    w.add_argument(
        "--random-weights",
        action="store_true",
        help="random initialisation (the default only when no weights ship with the model)",
    )
    p.add_argument("--max-frames", type=int, help="stop after this many output frames")
    p.add_argument("--stride", type=int, default=1, help="keep every k-th frame (default 1)")
    p.add_argument(
        "--size",
        type=_size,
        default="auto",
        help="inference size HxW; 'auto' (default) = model input height at the video's "
        "aspect ratio; 'native' = the frame size",
    )
    p.add_argument("--batch-size", type=int, default=4, help="frames per inference call")
    p.add_argument(
        "--smooth",
        type=_alpha,
        default=0.0,
        metavar="ALPHA",
        help="temporal EMA of probabilities: weight of the past in [0, 1) (0 = off; try 0.6)",
    )
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity in [0, 1]")
    p.add_argument("--side-by-side", action="store_true", help="write original | overlay")
    if legend_default:
        p.add_argument("--no-legend", dest="legend", action="store_false", help="no legend")
    else:
        p.add_argument("--legend", action="store_true", help="draw a legend of the classes shown")
    p.add_argument("--no-hud", action="store_true", help="no FPS / latency counter on frames")
    p.add_argument("--codec", choices=("vp8", "vp9", "mjpg"), help="default from the extension")
    p.add_argument(
        "--output-height",
        type=int,
        help="write overlays/masks at this height (aspect kept) when the video is taller; "
        "encoding HD frames costs more than segmenting them",
    )
    p.add_argument("--masks-dir", help="write per-frame label maps (uint8 PNG, train IDs)")
    p.add_argument("--json", help="write per-frame class pixel shares (JSON Lines)")
    p.add_argument("--summary-json", help="write the final summary as JSON")
    p.add_argument(
        "--sequential",
        action="store_true",
        help="no reader/writer threads (slower; same output)",
    )
    p.add_argument("--threads", type=int, help="intra-op threads for the model")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _source(text: str):
    return int(text) if text.isdigit() and not Path(text).exists() else text


def run(args: argparse.Namespace) -> int:
    from ..video import VideoInterrupted, process_video, video_predictor

    source = _source(args.input)
    output = args.output
    if output is None:
        stem = f"camera{source}" if isinstance(source, int) else Path(source).stem
        output = f"{stem}.seg.webm"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not isinstance(source, int):
        # check the video before spending seconds on loading/converting the model
        from ..video import open_capture

        cap, _, _ = open_capture(source)
        cap.release()
    seg = video_predictor(
        args.model,
        backend=args.backend,
        pretrained=False if args.random_weights else None,
        weights=args.weights,
    )
    if not (args.weights or seg.cfg.has_pretrained) or args.random_weights:
        print(
            f"note: {args.model} runs with random weights (no trained weights found); "
            "the overlay shows the pipeline, not a meaningful segmentation",
            file=sys.stderr,
        )
    bar = None
    callback = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(unit="frame", desc="segmenting", dynamic_ncols=True)

        def callback(done: int, total: int, fps: float) -> None:
            if total > 0 and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{fps:.1f} fps")

    size = None if args.size == "native" else args.size
    code = 0
    try:
        summary = process_video(
            source,
            output,
            seg,
            size=size,
            batch_size=args.batch_size,
            smooth=args.smooth,
            stride=args.stride,
            max_frames=args.max_frames,
            alpha=args.alpha,
            side_by_side=args.side_by_side,
            legend=args.legend,
            hud=not args.no_hud,
            codec=args.codec,
            output_height=args.output_height,
            masks_dir=args.masks_dir,
            json_path=args.json,
            threaded=not args.sequential,
            progress_callback=callback,
        )
    except VideoInterrupted as e:
        from ..interrupts import exit_code

        summary = e.summary
        code = exit_code()  # 130 after Ctrl-C, 143 after SIGTERM
    finally:
        if bar is not None:
            bar.close()
    print(summary.format())
    if code:
        print("interrupted: the partial output above is a playable video", file=sys.stderr)
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return code
