"""``medseg models``: list the registry."""

from __future__ import annotations

import argparse
import json

HELP = "list registered models (name, task, params, input size, pretrained)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=["street", "medical"], help="only models of this task")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..models import create_model, get_model_cfg, list_models
    from ..models.zoo import model_description

    rows = []
    for name in list_models(args.task):
        cfg = get_model_cfg(name)
        model = create_model(name)
        params = sum(p.numel() for p in model.parameters())
        rows.append(
            {
                "name": name,
                "task": cfg.task,
                "params_m": round(params / 1e6, 2),
                "input_size": f"{cfg.input_size[0]}x{cfg.input_size[1]}",
                "in_channels": cfg.in_channels,
                "classes": cfg.num_classes,
                "pretrained": cfg.has_pretrained,
                "description": model_description(name),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<22}{'task':<9}{'params':>9}  {'input':<9}{'in':>3}{'cls':>5}  pretrained")
    for r in rows:
        print(
            f"{r['name']:<22}{r['task']:<9}{r['params_m']:>8.2f}M  {r['input_size']:<9}"
            f"{r['in_channels']:>3}{r['classes']:>5}  {'yes' if r['pretrained'] else 'no'}"
        )
    return 0
