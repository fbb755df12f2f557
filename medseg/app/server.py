"""Build the four-tab Blocks app and launch it with safe serving defaults."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any

log = logging.getLogger("medseg.app")

TITLE = "medseg: medical and street-scene segmentation"
SHARE_WARNING = (
    "WARNING: --share publishes this app on a public *.gradio.live link. Anyone with the "
    "link can upload and view data through it: never use it with patient data."
)


def build_app() -> Any:
    """The Gradio ``Blocks`` with the Medical, Street, Video and TTA tabs (not launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from . import ui, viewer

    # the vendored viewer script is served by the app itself (no CDN)
    gr.set_static_paths(viewer.static_paths())
    # delete_cache: Gradio's copies of uploads and results older than an hour are removed
    # every 30 minutes (uploads may be patient data).
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        # the header carries the app's style sheet, so any launch of these Blocks has it
        gr.HTML(
            f"<h1 class='medseg-title'>{TITLE}</h1><p>Results are for research and "
            "demonstration, not for diagnosis. Nothing identifying a patient is shown.</p>",
            head=f"<style>{viewer.app_css()}</style>",
            js_on_load=None,
            elem_id="medseg_header",
        )
        with gr.Tab("Medical", id="medical", elem_id="tab_medical"):
            ui.build_medical_tab()
        with gr.Tab("Street", id="street", elem_id="tab_street"):
            ui.build_street_tab()
        with gr.Tab("Video", id="video", elem_id="tab_video"):
            ui.build_video_tab()
        with gr.Tab("TTA", id="tta", elem_id="tab_tta"):
            ui.build_tta_tab()
    return demo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` → ``(user, password)``; ``None``/empty → no authentication."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth / MEDSEG_AUTH must look like user:password (both non-empty)")
    return user, password


def launch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` from the parsed ``medseg app`` options."""
    auth = parse_auth(getattr(args, "auth", None) or os.environ.get("MEDSEG_AUTH"))
    return {
        "server_name": args.host,
        "server_port": int(args.port),
        "share": bool(args.share),
        "auth": auth,
        "max_file_size": args.max_file_size,
        "show_error": True,
        # Gradio's run history would keep uploads/results of past runs in the browser (and
        # offers to push them to a Hugging Face bucket): off for an app that sees scans.
        "run_history": False,
        "quiet": bool(getattr(args, "quiet", False)),
    }


def configure_queue(demo: Any, concurrency: int = 1, queue_size: int = 64) -> Any:
    """Bound work: ``concurrency`` requests per event at once, ``queue_size`` waiting."""
    if concurrency < 1 or queue_size < 1:
        raise ValueError("--concurrency and --queue-size must be >= 1")
    return demo.queue(default_concurrency_limit=int(concurrency), max_size=int(queue_size))


def warm_up_defaults() -> float:
    """Build the default models on the default back-end and run each once, so the first
    request is as fast as the next ones (ONNX export, session start, first-call allocations
    and lazy imports happen here). Returns the seconds it took; failures are logged only."""
    import time

    t0 = time.perf_counter()
    try:
        from . import medical, street
        from .backends import backend_id
        from .common import default_model

        street.warm_up(default_model("street", street.DEFAULT_MODEL), backend_id(None))
        medical.warm_up(default_model("medical", medical.DEFAULT_MODEL), backend_id(None))
    except Exception as e:  # a missing back-end must not stop the server
        log.warning("warm-up failed: %s", e)
    seconds = time.perf_counter() - t0
    log.info("warm-up of the default models took %.1f s", seconds)
    return seconds


def main(args: argparse.Namespace) -> int:
    """Build and launch the app (blocks until the server stops)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kwargs = launch_kwargs(args)
    if kwargs["share"]:
        print(SHARE_WARNING, file=sys.stderr)
    if kwargs["server_name"] not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"note: listening on {kwargs['server_name']}: other machines can reach this app"
            + ("" if kwargs["auth"] else " and it has no --auth"),
            file=sys.stderr,
        )
    demo = configure_queue(build_app(), args.concurrency, args.queue_size)
    import gradio as gr

    if isinstance(demo, gr.Blocks) and not getattr(args, "no_warm_up", False):
        threading.Thread(target=warm_up_defaults, name="medseg-warm-up", daemon=True).start()
    demo.launch(**kwargs)
    return 0
