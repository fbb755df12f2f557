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


def warm_up_server(
    host: str, port: int, auth: tuple[str, str] | None, timeout: float = 120
) -> bool:
    """Send one small street request through the running server (as a client would).

    The models are warm after :func:`warm_up_defaults`, but the first request through
    Gradio still paid ~1–2 s here (its upload, queue and file-serving paths start lazily);
    this request pays it instead of the first user. Returns whether it succeeded.
    """
    import io
    import socket
    import tempfile
    import time

    import numpy as np
    from PIL import Image

    addr = "127.0.0.1" if host in ("0.0.0.0", "", "::", None) else host
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((addr, int(port)), timeout=1):
                break
        except OSError:
            if time.time() > deadline:
                return False
            time.sleep(0.2)
    try:
        from gradio_client import Client, handle_file

        with tempfile.TemporaryDirectory(prefix="medseg-warm-") as tmp:
            photo = f"{tmp}/warm-up.jpg"  # a JPEG: its decoder loads lazily too
            buf = io.BytesIO()
            Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(buf, "jpeg")
            with open(photo, "wb") as f:
                f.write(buf.getvalue())
            host_url = f"[{addr}]" if ":" in addr else addr
            client = Client(f"http://{host_url}:{int(port)}/", auth=auth, verbose=False)
            client.predict(handle_file(photo), api_name="/street_segment")
        return True
    except Exception as e:  # never let the warm-up fail loudly
        log.warning("warm-up request failed: %s", e)
        return False


def _warm_up(host: str, port: int, auth: tuple[str, str] | None) -> None:
    import time

    t0 = time.perf_counter()
    warm_up_defaults()
    ok = warm_up_server(host, port, auth)
    log.info(
        "warm-up done in %.1f s%s", time.perf_counter() - t0, "" if ok else " (no request sent)"
    )


def auth_required(args: argparse.Namespace) -> bool:
    """Hosted copies must have a login: ``--require-auth``, ``$MEDSEG_REQUIRE_AUTH=1``, or
    running in a Hugging Face Space (which sets ``$SPACE_ID``)."""
    return bool(getattr(args, "require_auth", False) or os.environ.get("SPACE_ID"))


def main(args: argparse.Namespace) -> int:
    """Build and launch the app (blocks until the server stops)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kwargs = launch_kwargs(args)
    if auth_required(args) and not kwargs["auth"]:
        print(
            "error: this server must have a login: pass --auth user:password or set "
            "MEDSEG_AUTH (in a Hugging Face Space: a secret named MEDSEG_AUTH). Never put "
            "patient data behind a public link.",
            file=sys.stderr,
        )
        return 2
    if kwargs["share"]:
        print(SHARE_WARNING, file=sys.stderr)
    if kwargs["server_name"] not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"note: listening on {kwargs['server_name']}: other machines can reach this app"
            + ("" if kwargs["auth"] else " and it has no --auth"),
            file=sys.stderr,
        )
    max_gb = getattr(args, "max_volume_gb", None)
    if max_gb is not None:
        if not max_gb > 0:
            print(f"error: --max-volume-gb must be positive, got {max_gb}", file=sys.stderr)
            return 2
        from . import common

        common.MAX_VOLUME_BYTES = int(max_gb * (1 << 30))
    demo = configure_queue(build_app(), args.concurrency, args.queue_size)
    import gradio as gr

    if isinstance(demo, gr.Blocks) and not getattr(args, "no_warm_up", False):
        threading.Thread(
            target=_warm_up,
            args=(kwargs["server_name"], kwargs["server_port"], kwargs["auth"]),
            name="medseg-warm-up",
            daemon=True,
        ).start()
    demo.launch(**kwargs)
    return 0
