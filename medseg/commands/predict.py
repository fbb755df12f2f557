"""``medseg predict INPUT... -o OUTDIR``: batch inference on DICOM / NIfTI / image inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_backend_argument, model_kwargs

HELP = "batch inference: DICOM folders, NIfTI files, images -> masks, DICOM SEG, overlays, report"
DESCRIPTION = """\
Batch inference. Each DICOM series, NIfTI file and image found in the inputs is a case.
Outputs go to OUTDIR, never over or inside an input:
  volumes  <case>_mask.nii.gz (mask with the source affine) and/or <case>_seg.dcm (DICOM SEG)
  images   <case>_mask.png, <case>_overlay.png (with a legend)
  report.json / report.csv: status, warnings, outputs and the model, weights checksum,
  back-end and medseg version that made each case.
A model refuses inputs it was not trained for (e.g. CT into the MR brain model, a colour
photo into a grayscale model) unless --allow-modality-mismatch is given.
"""

DEFAULT_MODEL = "unet_medical"


def add_arguments(p: argparse.ArgumentParser) -> None:

    p.add_argument(
        "inputs",
        nargs="*",  # none with --dicomweb (PACS block below)
        metavar="INPUT",
        help="DICOM file or folder (one case per series), NIfTI file, image file, zip, or a "
        "folder of them",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (never an input folder)")
    p.add_argument(
        "--model",
        default=None,
        help=f"registered model (medseg models); default {DEFAULT_MODEL}, or the model an "
        ".onnx --weights file holds",
    )
    p.add_argument(
        "--weights",
        help="weights instead of the shipped ones: a PyTorch state dict (.pt), or a model "
        "exported by `medseg export` (.onnx, OpenVINO .xml; its model config is read from the "
        "file)",
    )
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

    add_backend_argument(p, default="auto", ran="report.csv")
    p.add_argument(
        "--format",
        dest="fmt",
        default="nifti",
        choices=["nifti", "seg", "both"],
        help="volume output: NIfTI mask with the source affine; DICOM SEG (DICOM sources "
        "only); both = NIfTI for every volume and a SEG where the source is DICOM",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep results of an earlier run into OUTDIR made with the same model, weights, "
        "back-end and options; failed cases run again",
    )
    p.add_argument("--workers", type=int, default=1, help="threads loading cases ahead")
    p.add_argument(
        "--no-postprocess",
        action="store_true",
        help="keep the raw labels (no largest component / hole filling)",
    )
    p.add_argument(
        "--allow-modality-mismatch",
        action="store_true",
        help="run inputs of another kind than the model was trained for (a warning goes "
        "into the report instead of refusing the case)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files in OUTDIR that medseg did not write (inputs are never replaced)",
    )
    p.add_argument(
        "--max-volume-gb",
        type=float,
        default=None,
        help="largest volume accepted, in GiB of float32 voxels, checked from the headers "
        "before reading (default: MEDSEG_MAX_VOLUME_GB or 4)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # --- PACS (issue 16): a study on a DICOMweb server instead of INPUT files -------------
    from ..pacs.dicomweb_cli import add_dicomweb_arguments

    add_dicomweb_arguments(p)
    # --- end PACS ---------------------------------------------------------------------


def build_predictor(args: argparse.Namespace):
    """The Predictor the options ask for (shipped weights, a checkpoint, an ONNX file)."""
    from ..engine.predictor import EXPORT_SUFFIXES, Predictor

    kw = model_kwargs(args.model_arg)
    if args.weights:
        w = Path(args.weights)
        if not w.is_file():
            raise FileNotFoundError(f"--weights: no such file: {w}")
        if w.suffix.lower() in EXPORT_SUFFIXES:
            return Predictor.from_export(w, backend=args.backend, expected_name=args.model)
        return Predictor.from_checkpoint(args.model or DEFAULT_MODEL, w, backend=args.backend, **kw)
    return Predictor.from_name(
        args.model or DEFAULT_MODEL, pretrained=not args.no_pretrained, backend=args.backend, **kw
    )


def run(args: argparse.Namespace) -> int:
    from ..batch import run_batch
    from ..engine import distributed as D

    if args.max_volume_gb is not None and not args.max_volume_gb > 0:
        raise ValueError(f"--max-volume-gb must be positive, got {args.max_volume_gb}")
    # --- PACS (issue 16) ---
    from ..pacs.dicomweb_cli import check_dicomweb_arguments, run_dicomweb

    check_dicomweb_arguments(args)
    if args.dicomweb:
        return run_dicomweb(args, build_predictor(args))
    # --- end PACS ---
    pred = build_predictor(args)
    rows = run_batch(
        args.inputs,
        args.output,
        pred,
        fmt=args.fmt,
        resume=args.resume,
        workers=args.workers,
        postprocess=not args.no_postprocess,
        progress=not args.quiet,
        allow_mismatch=args.allow_modality_mismatch,
        overwrite=args.overwrite,
        max_bytes=None if args.max_volume_gb is None else int(args.max_volume_gb * (1 << 30)),
        log=lambda m: print(m, file=sys.stderr),
    )
    ok = sum(r["status"] == "ok" for r in rows)
    bad = [r for r in rows if r["status"] != "ok"]
    rank = D.rank()
    D.cleanup()  # every rank has reported (run_batch ends on a barrier)
    if rank != 0:
        return 0  # rank 0 prints the one summary and carries the exit status
    report = Path(args.output) / "report.csv"
    print(f"{ok} case(s) ok, {len(bad)} failed; report: {report}")
    for r in rows:
        for w in r.get("warnings") or []:
            print(f"  {r['case_id']}: warning: {w}", file=sys.stderr)
    for r in bad:
        print(f"  {r['case_id']}: {r['error']}", file=sys.stderr)
    return 0 if not bad else 1
