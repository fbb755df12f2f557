"""``medseg export MODEL``: TorchScript / ONNX / ORT int8 / OpenVINO IR, each checked against
PyTorch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import hw_size

HELP = (
    "export a model to TorchScript, ONNX (optionally with preprocessing), ORT int8 and OpenVINO "
    "IR, verified"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered model name (see `medseg models`)")
    p.add_argument("-o", "--output", default="exported", help="output folder (default ./exported)")
    p.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        default=["onnx"],
        choices=["onnx", "torchscript", "int8", "openvino", "all"],
        help="what to write (default onnx); openvino: <name>.xml + .bin converted from the ONNX "
        "export, fp32 weights (the inference precision, fp32 or bf16, is chosen when it runs: "
        "medseg predict --weights <name>.xml --backend openvino-bf16|openvino-fp32|auto)",
    )
    p.add_argument("--weights", help="checkpoint instead of the shipped weights")
    p.add_argument("--no-pretrained", action="store_true", help="random weights (testing only)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="architecture option")
    p.add_argument(
        "--size", type=hw_size, help="example input HxW (default: the model's input size)"
    )
    p.add_argument("--static", action="store_true", help="fixed batch/H/W instead of dynamic axes")
    p.add_argument(
        "--with-preprocessing",
        action="store_true",
        help="ONNX graph takes a uint8 image and returns labels + probabilities",
    )
    p.add_argument("--layout", default="nhwc", choices=["nhwc", "nchw"], help="uint8 image layout")
    p.add_argument(
        "--exporter", default="dynamo", choices=["dynamo", "legacy"], help="ONNX exporter"
    )
    p.add_argument(
        "--opset",
        type=int,
        help="ONNX opset, >= 17 (default: 18 with the dynamo exporter, 17 with legacy)",
    )
    p.add_argument(
        "--calibration", help="folder of images for int8 calibration (default: synthetic)"
    )
    p.add_argument("--calibration-count", type=int, default=32, help="max calibration images")


def _calibration(folder: str | None, cfg, n: int):
    from ..export.quantize import synthetic_calibration

    if not folder:
        return synthetic_calibration(cfg, n=min(n, 16))
    from ..io import is_image_file, load_image

    files = sorted(f for f in Path(folder).rglob("*") if f.is_file() and is_image_file(f))[:n]
    if not files:
        raise ValueError(f"no images found in {folder} for calibration")
    return [load_image(f) for f in files]


def run(args: argparse.Namespace) -> int:
    import torch

    from ..export import export_onnx, export_torchscript, quantize_onnx_int8
    from ..models import create_model
    from . import model_kwargs

    fm = set(args.formats)
    if "all" in fm:
        fm = {"onnx", "torchscript", "int8", "openvino"}
    kw = model_kwargs(args.model_arg)
    model = create_model(
        args.model,
        pretrained=not args.no_pretrained and not args.weights,
        weights=args.weights,
        **kw,
    ).eval()
    cfg = model.cfg
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    size = args.size or cfg.input_size
    results = {}
    card = cfg.to_dict()
    (out / f"{cfg.name}.cfg.json").write_text(json.dumps(card, indent=1))
    if "torchscript" in fm:
        r = export_torchscript(model, out / f"{cfg.name}.pt", input_size=size)
        results["torchscript"] = r
        print(f"TorchScript  {r['path']}  max |Δ| vs PyTorch {r['max_abs_diff']:.2e}")
    if "onnx" in fm or "int8" in fm or "openvino" in fm:
        common = {
            "input_size": size,
            "dynamic": not args.static,
            "exporter": args.exporter,
            "opset": args.opset,
        }
        r = export_onnx(model, out / f"{cfg.name}.onnx", **common)
        results["onnx"] = r
        print(
            f"ONNX         {r['path']}  opset {r['opset']} ({r['exporter']})  max |Δ| vs PyTorch {r['max_abs_diff']:.2e}"
        )
        if args.with_preprocessing:
            r = export_onnx(
                model,
                out / f"{cfg.name}.pre.onnx",
                with_preprocessing=True,
                layout=args.layout,
                **common,
            )
            results["onnx_preprocessing"] = r
            print(
                f"ONNX (uint8 {args.layout} in, labels out)  {r['path']}  max |Δ| probs {r['max_abs_diff']:.2e}"
            )
    if "openvino" in fm:
        from ..export import export_openvino

        r = export_openvino(model, out / f"{cfg.name}.xml", onnx_path=out / f"{cfg.name}.onnx")
        results["openvino"] = r
        msg = f"OpenVINO IR  {r['path']}  fp32 max |Δ| vs PyTorch {r['max_abs_diff']:.2e}"
        if "bf16_max_abs_diff" in r:
            msg += (
                f"; bf16 (this CPU has it) max |Δ| {r['bf16_max_abs_diff']:.2e}, label "
                f"agreement {100 * r['bf16_label_agreement']:.2f}% (random input)"
            )
        print(msg)
    if "int8" in fm:
        from ..export.verify import parity_input, torch_logits
        from ..models.outputs import logits_to_labels
        from ..runners import OrtRunner

        calib = _calibration(args.calibration, cfg, args.calibration_count)
        r = quantize_onnx_int8(
            out / f"{cfg.name}.onnx", out / f"{cfg.name}.int8.onnx", calib, cfg=cfg
        )
        x = parity_input(cfg, size)
        ref = torch_logits(model, x)
        got = OrtRunner(r["path"])(x)
        r["max_abs_diff"] = float((got - ref).abs().max())
        r["label_agreement"] = float(
            (logits_to_labels(got) == logits_to_labels(ref)).to(torch.float64).mean()
        )
        results["int8"] = r
        print(
            f"ORT int8     {r['path']}  {r['size_mb_fp32']:.1f} MB -> {r['size_mb_int8']:.1f} MB, "
            f"{r['calibration_images']} calibration images; max |Δ| logits {r['max_abs_diff']:.3f}, "
            f"label agreement {100 * r['label_agreement']:.2f}% (random input; measure accuracy with `medseg bench int8`)"
        )
    (out / "export.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}/export.json", file=sys.stderr)
    return 0
