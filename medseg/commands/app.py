"""``medseg app``: start the Gradio web app (placeholder until the app lands)."""

from __future__ import annotations

import argparse

HELP = "start the web app on http://127.0.0.1:7860"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        from ..app import main as app_main
    except ImportError:
        print("The medseg web app is not built yet (see the app issue); try `medseg models`.")
        return 0
    return app_main(args)
