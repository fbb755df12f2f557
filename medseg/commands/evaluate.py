"""``medseg evaluate``: score a model on a recipe's validation data.

    medseg evaluate --config configs/street_synthetic.yaml --pretrained --out runs/eval
    medseg evaluate --config configs/cityscapes_lraspp.yaml --weights runs/city/best.pt

Prints a per-class table, writes ``metrics.json`` (dataset-level scores from one confusion
matrix), ``confusion.png`` and ``per_class_iou.png`` (``medseg.metrics.plots``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "evaluate a model + checkpoint on a dataset: per-class table, JSON and plots"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML recipe whose data/val split to use")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--weights", help="checkpoint: a state dict or a Trainer checkpoint (last.pt/best.pt)"
    )
    g.add_argument("--pretrained", action="store_true", help="the weights shipped in the package")
    g.add_argument(
        "--random-weights",
        action="store_true",
        help="score a randomly initialised model on purpose (a baseline); without it one of "
        "--weights / --pretrained is required",
    )
    p.add_argument("--out", help="folder for metrics.json and plots (default: no files)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per batch (default: the recipe's loader.val_batch_size)",
    )
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides of the recipe")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..engine import distributed as D
    from ..engine.evaluator import evaluate
    from .train import build_datasets, build_loaders, build_model, load_recipe

    if not (args.weights or args.pretrained or args.random_weights):
        raise ValueError(
            "no weights given: pass --weights CHECKPOINT or --pretrained (shipped weights); "
            "--random-weights scores an untrained model on purpose"
        )
    recipe = load_recipe(args.config, args.overrides)
    if args.batch_size:
        recipe.setdefault("loader", {})["batch_size"] = args.batch_size
        recipe["loader"]["val_batch_size"] = args.batch_size
    D.init_distributed()
    try:
        model = build_model(recipe, weights=args.weights, pretrained=bool(args.pretrained))
        _, val_ds = build_datasets(recipe["data"], model.cfg)
        _, val_dl = build_loaders(recipe, val_ds, val_ds)
        names = list(model.cfg.class_names)
        res = evaluate(
            model,
            val_dl,
            model.cfg.num_classes,
            ignore_index=int((recipe.get("train") or {}).get("ignore_index", 255)),
            device="cuda" if torch.cuda.is_available() else "cpu",
            class_names=names,
            progress=D.is_main_process(),
        )
        if not D.is_main_process():
            return 0
        scores = res["scores"]
        print(scores.format_table())
        print(
            f"mIoU {res['miou']:.4f}  mean Dice {res['mean_dice']:.4f}  "
            f"pixel acc {res['pixel_accuracy']:.4f}  ({len(val_ds)} samples)"
        )
        if args.out:
            from ..metrics.plots import plot_confusion_matrix, plot_per_class_iou

            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            doc = {
                "config": str(args.config),
                "weights": args.weights,
                "pretrained": args.pretrained,
                "random_weights": args.random_weights,
                "samples": len(val_ds),
                **scores.to_dict(names),
            }
            (out / "metrics.json").write_text(json.dumps(doc, indent=1))
            plot_confusion_matrix(scores.confusion, names, out / "confusion.png")
            plot_per_class_iou(
                scores.iou, names, out / "per_class_iou.png", colors=model.cfg.palette
            )
            print(f"[evaluate] wrote {out}/metrics.json, confusion.png, per_class_iou.png")
    finally:
        D.cleanup()
    return 0
