"""``medseg listen``: a DICOM node that segments each series it receives and sends back the SEG."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import add_backend_argument

HELP = "DICOM listener (C-STORE SCP): segment each received series, C-STORE the DICOM SEG back"


def _default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "medseg", "listen")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aet", default="MEDSEG", help="our AE title (default: MEDSEG)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface: "
        "medical data, open it deliberately)",
    )
    p.add_argument(
        "--port", type=int, default=11112, help="DICOM port to listen on (default: 11112)"
    )
    p.add_argument(
        "--model", default="unet_medical", help="registered model (default: unet_medical)"
    )
    p.add_argument(
        "--weights",
        default=None,
        help="weights instead of the shipped ones: a state dict (.pt) or an ONNX file from "
        "`medseg export` (default: none)",
    )

    add_backend_argument(p, default="auto", ran="the report")
    p.add_argument(
        "--send-to",
        metavar="AET@HOST:PORT",
        default=None,
        help="where each SEG is C-STOREd, e.g. ORTHANC@127.0.0.1:4242 (default: none: SEGs "
        "stay in the state folder)",
    )
    p.add_argument(
        "--stable-seconds",
        type=float,
        default=10.0,
        help="a series runs once no instance of it arrived for this long (default: 10)",
    )
    p.add_argument(
        "--ahead-after",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="while a series waits out --stable-seconds, an idle worker segments what has "
        "arrived once no instance came for this long; the result is used only if nothing "
        "else arrives (default: 2)",
    )
    p.add_argument(
        "--no-ahead",
        action="store_true",
        help="never segment ahead of time (saves CPU when series trickle in slowly)",
    )
    p.add_argument(
        "--resume-grace",
        type=float,
        default=30.0,
        help="after a restart, how long a series that was arriving waits for its sender to "
        "send again before it runs with what arrived (default: 30)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="series segmented in parallel (default: 1)"
    )
    p.add_argument(
        "--state-dir",
        default=_default_state_dir(),
        help="on-disk queue, SEGs, log and report; survives restarts (default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="answer a re-sent series again even if it was already answered with this model "
        "(default: off)",
    )
    p.add_argument(
        "--calling-aet",
        action="append",
        default=None,
        metavar="AET",
        help="accept associations only from these AE titles (repeatable; default: any AE)",
    )
    p.add_argument(
        "--keep-inputs",
        action="store_true",
        help="keep received instances after their job (default: off: deleted once the job is "
        "done; the sender keeps its own)",
    )
    p.add_argument(
        "--status",
        action="store_true",
        help="print the state folder's report (jobs, undelivered SEGs) and exit (default: off)",
    )


def _model_key(model: str, weights: str | None) -> str:
    if not weights:
        return model
    from ..models.registry import sha256_file

    h = sha256_file(weights)[:8]
    return f"{model}+{h}"


def _print_status(state_dir: Path) -> int:
    import json

    path = state_dir / "report.json"
    if not path.is_file():
        print(f"no report in {state_dir} (the listener has not run there)", file=sys.stderr)
        return 1
    rep = json.loads(path.read_text())
    print(json.dumps(rep["summary"]))
    for r in rep.get("undelivered", []):
        print(
            f"NOT DELIVERED: series {r['series']} job {r['id']}: {r['delivery_error']}; SEG {r['seg']}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from ..pacs.common import RemoteAE, setup_logging
    from ..pacs.jobs import StateBusy, StateDir
    from .predict import build_predictor

    state_dir = Path(args.state_dir)
    if args.status:
        return _print_status(state_dir)
    send_to = RemoteAE.parse(args.send_to) if args.send_to else None
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1..65535, got {args.port}")
    if args.stable_seconds < 0:
        raise ValueError("--stable-seconds must be >= 0")
    state = StateDir(
        state_dir,
        _model_key(args.model, args.weights),
        stable_seconds=args.stable_seconds,
        force=args.force,
        resume_grace=args.resume_grace,
    )
    try:
        state.acquire()
    except StateBusy as e:
        print(f"medseg listen: error: {e}", file=sys.stderr)
        return 2
    log = setup_logging("medseg.listen", state_dir / "listener.log")
    # Library warnings about odd values (pydicom quotes the value it read, e.g. a name or a
    # date) would put received data into the log: the listener logs its own lines only.
    import warnings

    warnings.simplefilter("ignore")

    predictor = build_predictor(
        argparse.Namespace(
            model=args.model,
            weights=args.weights,
            backend=args.backend,
            model_arg=None,
            no_pretrained=False,
        )
    )
    from ..pacs.listener import Listener, ListenerConfig

    cfg = ListenerConfig(
        aet=args.aet,
        host=args.host,
        port=args.port,
        send_to=send_to,
        stable_seconds=args.stable_seconds,
        workers=args.workers,
        keep_inputs=args.keep_inputs,
        calling_aets=tuple(args.calling_aet or ()),
        ahead_after=None if args.no_ahead else max(0.0, args.ahead_after),
    )
    listener = Listener(cfg, state, predictor, log)
    try:
        listener.start()
    except OSError as e:
        log.error(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        state.release()
        return 2
    # SIGINT and SIGTERM arrive as KeyboardInterrupt (medseg.cli installs the handlers, also
    # when SIGINT was inherited as ignored): stop cleanly, then let the CLI exit 130/143.
    try:
        listener.serve_forever()
    finally:
        log.info("stopping (jobs not finished resume at the next start)")
        listener.stop()
        log.info(f"stopped: {state.counts()}")
        state.release()
    return 0
