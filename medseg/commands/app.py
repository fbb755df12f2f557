"""``medseg app``: start the Gradio web app (Medical, Street, Video, TTA tabs)."""

from __future__ import annotations

import argparse
import os

HELP = "start the web app on http://127.0.0.1:7860"


def _env_port() -> int:
    raw = os.environ.get("GRADIO_SERVER_PORT", "7860")
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"GRADIO_SERVER_PORT must be a port number, got {raw!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to bind (default 127.0.0.1, or $GRADIO_SERVER_NAME); 0.0.0.0 "
        "exposes the app to the network",
    )
    p.add_argument(
        "--port", type=int, default=_env_port(), help="port (default 7860 or $GRADIO_SERVER_PORT)"
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="create a public gradio.live link (off by default; never with patient data)",
    )
    p.add_argument(
        "--auth",
        default=None,
        metavar="USER:PASS",
        help="require this login (or set $MEDSEG_AUTH=user:pass)",
    )
    p.add_argument(
        "--max-file-size",
        default="500mb",
        help="largest accepted upload, e.g. 200mb, 1gb (default 500mb)",
    )
    p.add_argument(
        "--max-volume-gb",
        type=float,
        default=1.0,
        help="largest scan accepted, in GiB of float32 voxels, checked from the file headers "
        "before any voxel is read",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests processed at once per endpoint (default 1: CPU-bound models)",
    )
    p.add_argument(
        "--queue-size", type=int, default=64, help="requests allowed to wait (default 64)"
    )
    p.add_argument(
        "--require-auth",
        action="store_true",
        default=os.environ.get("MEDSEG_REQUIRE_AUTH", "") not in ("", "0"),
        help="refuse to start without --auth / $MEDSEG_AUTH (also $MEDSEG_REQUIRE_AUTH=1; "
        "always on in a Hugging Face Space)",
    )
    p.add_argument("--quiet", action="store_true", help="less start-up output")
    p.add_argument(
        "--no-warm-up",
        action="store_true",
        help="do not build the default models in the background at start-up",
    )


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ..app import main as app_main

    return app_main(args)
