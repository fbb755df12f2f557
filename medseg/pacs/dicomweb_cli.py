"""The ``medseg predict`` side of DICOMweb: its flags, their checks, and the run.

``medseg/commands/predict.py`` adds these flags to its parser (one argument group) and, when
``--dicomweb`` is given, hands over to :func:`run_dicomweb`; the work is
:func:`medseg.pacs.dicomweb.predict_from_dicomweb`.
"""

from __future__ import annotations

from .dicomweb import (
    ENV_PASSWORD,
    ENV_TOKEN,
    ENV_USER,
    DicomwebAuth,
    DicomwebError,
    predict_from_dicomweb,
)


def add_dicomweb_arguments(p) -> None:
    """The ``medseg predict`` flags for a DICOMweb source (one argument group)."""
    g = p.add_argument_group(
        "DICOMweb source (instead of INPUT files)",
        "Segment a study held by a DICOMweb server (QIDO-RS/WADO-RS) and, with --store, send "
        f"the SEGs back (STOW-RS). Credentials: the flags below or {ENV_USER}, "
        f"{ENV_PASSWORD}, {ENV_TOKEN} (prefer these: flags show in the process list). Never "
        "printed.",
    )
    g.add_argument(
        "--dicomweb",
        metavar="URL",
        default=None,
        help="DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web (default: none)",
    )
    g.add_argument(
        "--study",
        metavar="UID",
        default=None,
        help="StudyInstanceUID to segment (required with --dicomweb)",
    )
    g.add_argument(
        "--series",
        metavar="UID",
        default=None,
        help="only this SeriesInstanceUID of the study (default: every image series)",
    )
    g.add_argument(
        "--store",
        action="store_true",
        help="send each DICOM SEG back to the same server with STOW-RS (default: off)",
    )
    g.add_argument(
        "--dicomweb-user",
        metavar="USER",
        default=None,
        help=f"HTTP basic auth user (default: ${ENV_USER})",
    )
    g.add_argument(
        "--dicomweb-password",
        metavar="PASSWORD",
        default=None,
        help=f"HTTP basic auth password (default: ${ENV_PASSWORD})",
    )
    g.add_argument(
        "--dicomweb-token",
        metavar="TOKEN",
        default=None,
        help=f"bearer token (default: ${ENV_TOKEN})",
    )
    g.add_argument(
        "--store-attempts",
        type=int,
        default=4,
        metavar="N",
        help="tries per SEG, waiting 1, 2, 4 ... s in between (default: 4)",
    )
    g.add_argument(
        "--dicomweb-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="per HTTP request (default: 60)",
    )


def check_dicomweb_arguments(args) -> None:
    """Reject mixes of INPUT files and DICOMweb flags before any model is loaded."""
    if getattr(args, "dicomweb", None):
        if args.inputs:
            raise ValueError("give INPUT files or --dicomweb URL, not both")
        if not args.study:
            raise ValueError("--dicomweb needs --study UID (the study to segment)")
        if args.store and args.fmt == "nifti":
            raise ValueError("--store sends DICOM SEGs: add --format seg (or both)")
        if args.resume:
            raise ValueError(
                "--resume is implied with --dicomweb: a second run with the same -o resumes"
            )
        DicomwebAuth.resolve(args.dicomweb_user, args.dicomweb_password, args.dicomweb_token)
        return
    if not args.inputs:
        raise ValueError("give at least one INPUT (file or folder), or --dicomweb URL --study UID")
    for flag in ("study", "series", "dicomweb_user", "dicomweb_password", "dicomweb_token"):
        if getattr(args, flag, None):
            raise ValueError(f"--{flag.replace('_', '-')} needs --dicomweb URL")
    if getattr(args, "store", False):
        raise ValueError("--store needs --dicomweb URL (it sends SEGs back to that server)")


def run_dicomweb(args, predictor) -> int:
    """``medseg predict --dicomweb``: run, print a summary, exit 0 only if all went through."""
    import logging
    import sys

    auth = DicomwebAuth.resolve(args.dicomweb_user, args.dicomweb_password, args.dicomweb_token)
    red = auth.redactor()
    # dicomweb-client logs request headers (the Authorization header too) at DEBUG level.
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)

    def log(msg: str) -> None:
        if not args.quiet:
            print(red(msg), file=sys.stderr)

    try:
        summary = predict_from_dicomweb(
            args.dicomweb,
            args.study,
            args.output,
            predictor,
            model_name=args.model or predictor.cfg.name,
            series_uid=args.series,
            fmt=args.fmt,
            store=args.store,
            auth=auth,
            store_attempts=args.store_attempts,
            timeout=args.dicomweb_timeout,
            log=log,
        )
    except DicomwebError as e:
        print(f"medseg predict: error: {red(e)}", file=sys.stderr)
        return 2
    stored = ""
    if args.store:
        n_stored = sum(r.get("stored") is True for r in summary["series"])
        stored = f", {n_stored} SEG(s) stored, {summary['not_stored']} NOT delivered"
    print(
        f"{summary['ok']} series ok, {summary['failed']} failed{stored}; "
        f"report: {summary['report']}"
    )
    for r in summary["series"]:
        if r.get("status") != "ok":
            print(f"  series {r['series']}: {r['error']}", file=sys.stderr)
        elif r.get("stored") is False:
            print(f"  series {r['series']}: not delivered: {r['store_error']}", file=sys.stderr)
    return 0 if summary["failed"] == 0 and summary["not_stored"] == 0 else 1
