"""Command line of the driving demo: ``medseg video`` with a legend by default."""

from __future__ import annotations

import argparse
import sys

from medseg.commands import video as video_command


def build_parser() -> argparse.ArgumentParser:
    from medseg.cli import HelpFormatter

    p = argparse.ArgumentParser(
        prog="python -m driving_demo",
        formatter_class=HelpFormatter,
        description="Segment a street video (file or camera index) in real time on the CPU: "
        "Cityscapes-palette overlay, legend, FPS counter; writes a browser-playable .webm.",
        epilog="example: python -m driving_demo /usr/share/doc/opencv-doc/examples/data/"
        "vtest.avi -o vtest.seg.webm --backend onnxruntime --smooth 0.6",
    )
    video_command.add_arguments(p, legend_default=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from medseg.runtime import tune_allocator

    tune_allocator()  # as the medseg commands do (see medseg/runtime.py)
    from medseg.interrupts import exit_code, interrupts_as_keyboard_interrupt

    try:
        # SIGINT (also when inherited as ignored by a background job) and SIGTERM finish
        # the video file and exit 130 / 143
        with interrupts_as_keyboard_interrupt():
            return video_command.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"driving_demo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_code()
