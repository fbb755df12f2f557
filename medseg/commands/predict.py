"""``medseg predict INPUT... -o OUTDIR``: batch inference on DICOM / NIfTI / image inputs."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "batch inference: DICOM folders, NIfTI files, images -> masks, DICOM SEG, overlays, report"


def _model_kwargs(items: list[str] | None) -> dict:
    out = {}
    for it in items or []:
        k, _, v = it.partition("=")
        if not _:
            raise ValueError(f"--model-arg expects KEY=VALUE, got {it!r}")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="DICOM folder (one case per series), NIfTI file, image file, or a folder of them",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--model", default="unet_medical", help="registered model (default: unet_medical)"
    )
    p.add_argument("--weights", help="checkpoint to load instead of the shipped weights")
    p.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random weights (for smoke tests; results are meaningless)",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        metavar="KEY=VALUE",
        help="architecture option, e.g. base_channels=8 (JSON values)",
    )
    from ..engine.backends import BACKENDS  # issue 18: the one list of back-ends

    p.add_argument(
        "--backend",
        default="auto",
        choices=list(BACKENDS),
        help="inference back-end (default auto: the fastest here whose labels agree with eager "
        "PyTorch fp32, measured once per machine and cached; report.csv records which ran). "
        "--weights may also name an exported model.xml (OpenVINO) or model.onnx",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        default="nifti",
        choices=["nifti", "seg", "both"],
        help="volume output: NIfTI mask with the source affine, DICOM SEG, or both",
    )
    p.add_argument("--resume", action="store_true", help="skip cases completed by an earlier run")
    p.add_argument("--workers", type=int, default=1, help="threads loading cases ahead (default 1)")
    p.add_argument(
        "--no-postprocess",
        action="store_true",
        help="keep the raw argmax (no largest component / hole filling)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..engine.batch import run_batch
    from ..engine.predictor import Predictor

    kw = _model_kwargs(args.model_arg)
    if args.weights:
        pred = Predictor.from_checkpoint(args.model, args.weights, backend=args.backend, **kw)
    else:
        pred = Predictor.from_name(
            args.model, pretrained=not args.no_pretrained, backend=args.backend, **kw
        )
    rows = run_batch(
        args.inputs,
        args.output,
        pred,
        fmt=args.fmt,
        resume=args.resume,
        workers=args.workers,
        postprocess=not args.no_postprocess,
        progress=not args.quiet,
        log=lambda m: print(m, file=sys.stderr),
    )
    ok = sum(r["status"] == "ok" for r in rows)
    bad = [r for r in rows if r["status"] != "ok"]
    print(f"{ok} case(s) ok, {len(bad)} failed; report: {args.output}/report.csv")
    for r in bad:
        print(f"  {r['case_id']}: {r['error']}", file=sys.stderr)
    return 0 if not bad else 1
