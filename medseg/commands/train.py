"""``medseg train --config configs/<name>.yaml [key=value ...]``: train from a YAML recipe.

A recipe has four sections (see ``configs/*.yaml`` and ``docs/training.md``)::

    model: {name: lraspp_mobilenet_v3, pretrained: false, kwargs: {}}
    data:  {kind: synthetic_streets | cityscapes | folder | medical, ...}
    loss:  {ce_weight: 1.0, dice_weight: 0.0, ...}       # medseg.losses.SegmentationLoss
    train: {epochs: 10, lr: 1e-3, ...}                    # medseg.engine.trainer.TrainConfig
    loader: {batch_size: 8, num_workers: 0}

Overrides use dotted keys and YAML values: ``train.epochs=2 data.train_length=64``.
Multi-process: ``torchrun --nproc_per_node=2 -m medseg.cli train --config ...``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

HELP = "train a model from a YAML recipe (configs/*.yaml), optionally under torchrun"
DESCRIPTION = """\
Train a model from a YAML recipe (configs/*.yaml), optionally under torchrun.

Overrides use dotted keys and YAML values. The ones a quick run needs:
  train.epochs=1                 epochs
  train.max_steps_per_epoch=5    cap batches per epoch (a smoke run in seconds)
  data.train_length=32           synthetic recipes: scenes per epoch
  data.val_length=8              synthetic recipes: validation scenes
  loader.batch_size=2            batch size
  train.out_dir=runs/quick       where checkpoints, logs and plots go
Every key of the recipe's train: section is a medseg.engine.trainer.TrainConfig field
(docs/training.md lists them).

Example: medseg train --config configs/street_synthetic.yaml train.epochs=1 \\
           train.max_steps_per_epoch=2 data.train_length=8 data.val_length=4 train.out_dir=runs/quick
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True, help="YAML recipe, e.g. configs/street_synthetic.yaml"
    )
    p.add_argument("--resume", help="checkpoint (last.pt) to continue from")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.epochs=2")


# ----------------------------------------------------------------------- recipe
def load_recipe(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a YAML recipe and apply ``a.b=value`` overrides (values parsed as YAML)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config {path} not found (recipes live in configs/*.yaml)")
    recipe = yaml.safe_load(path.read_text()) or {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value (e.g. train.epochs=2)")
        key, value = item.split("=", 1)
        node = recipe
        parts = key.split(".")
        for k in parts[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {k!r} is not a section")
        node[parts[-1]] = yaml.safe_load(value)
    for section in ("model", "data"):
        if section not in recipe:
            raise ValueError(f"{path}: missing section {section!r}")
    return recipe


def build_model(recipe: dict[str, Any], weights: str | None = None, pretrained: bool | None = None):
    from ..models import create_model

    m = copy.deepcopy(recipe["model"])
    name = m.pop("name")
    pre = bool(m.pop("pretrained", False)) if pretrained is None else pretrained
    kwargs = m.pop("kwargs", {}) or {}
    return create_model(name, pretrained=pre, weights=weights, **m, **kwargs)


def build_datasets(data: dict[str, Any], cfg) -> tuple[Any, Any]:
    """``(train_dataset, val_dataset)`` for a recipe's ``data`` section and a model cfg."""
    from ..transforms.joint import eval_transforms, train_transforms

    d = dict(data)
    kind = d.pop("kind")
    crop = tuple(d.get("crop_size", cfg.input_size))
    scales = tuple(d.get("scales", (0.5, 0.75, 1.0, 1.25, 1.5)))
    jitter = d.get("color_jitter", (0.3, 0.3, 0.3, 0.03))
    if kind in ("synthetic_streets", "cityscapes", "folder"):
        ttf = train_transforms(
            cfg, crop, scales, color_jitter=None if jitter is None else tuple(jitter)
        )
        vsize = d.get("val_size")
        vtf = eval_transforms(cfg, None if vsize is None else tuple(vsize))
    if kind == "synthetic_streets":
        from ..data.synthetic_streets import SyntheticStreets

        size = tuple(d.get("size", (256, 512)))
        return (
            SyntheticStreets(d.get("train_length", 2000), d.get("train_seed", 0), size, ttf),
            SyntheticStreets(d.get("val_length", 100), d.get("val_seed", 1), size, vtf),
        )
    if kind == "cityscapes":
        from ..data.cityscapes import CityscapesDataset

        root = d["root"]
        tt = d.get("target_type", "semantic")
        return (
            CityscapesDataset(root, d.get("train_split", "train"), ttf, tt),
            CityscapesDataset(root, d.get("val_split", "val"), vtf, tt),
        )
    if kind == "folder":
        from ..data.folders import ImageMaskFolder

        return (
            ImageMaskFolder(d["train_images"], d["train_masks"], ttf, d.get("palette")),
            ImageMaskFolder(d["val_images"], d["val_masks"], vtf, d.get("palette")),
        )
    if kind == "medical":
        from ..data.medical import MedicalSliceDataset
        from ..transforms.medical_aug import medical_slice_augmentation

        aug = medical_slice_augmentation(
            tuple(d.get("crop_size", (128, 128))), seed=d.get("seed", 0)
        )
        common = {
            "cfg": cfg,
            "neighbours": d.get("neighbours", 0),
            "binarize": d.get("binarize", True),
            "fg_weight": d.get("fg_weight", 4.0),
        }
        return (
            MedicalSliceDataset([tuple(p) for p in d["train_pairs"]], transforms=aug, **common),
            MedicalSliceDataset([tuple(p) for p in d["val_pairs"]], **common),
        )
    raise ValueError(
        f"data.kind must be synthetic_streets, cityscapes, folder or medical, got {kind!r}"
    )


def build_loaders(recipe: dict[str, Any], train_ds, val_ds, seed: int = 0):
    import torch

    from ..engine import distributed as D

    ld = recipe.get("loader", {}) or {}
    bs = int(ld.get("batch_size", 8))
    workers = int(ld.get("num_workers", 0))
    g = torch.Generator().manual_seed(seed)
    sampler = D.make_sampler(train_ds, shuffle=True, seed=seed, drop_last=True)
    weighted = getattr(train_ds, "sampler", None) if sampler is None else None
    train_sampler = sampler or (weighted(generator=g) if callable(weighted) else None)
    train = torch.utils.data.DataLoader(
        train_ds,
        batch_size=bs,
        shuffle=train_sampler is None,
        sampler=train_sampler,
        num_workers=workers,
        drop_last=True,
        generator=g,
        persistent_workers=workers > 0,
    )
    # Medical validation slices differ in size: one per batch.
    vbs = 1 if recipe["data"]["kind"] == "medical" else int(ld.get("val_batch_size", bs))
    val = torch.utils.data.DataLoader(
        val_ds,
        batch_size=vbs,
        sampler=D.make_sampler(val_ds, shuffle=False, pad=False),
        num_workers=workers,
    )
    return train, val


def build_loss(recipe: dict[str, Any], num_classes: int):
    from ..losses import SegmentationLoss

    opts = dict(recipe.get("loss", {}) or {})
    opts.setdefault("ignore_index", recipe.get("train", {}).get("ignore_index", 255))
    return SegmentationLoss(num_classes, **opts)


def run(args: argparse.Namespace) -> int:

    import torch

    from ..engine import distributed as D
    from ..engine.trainer import TrainConfig, Trainer, seed_all

    recipe = load_recipe(args.config, args.overrides)
    D.init_distributed()
    try:
        model = build_model(recipe)
        tcfg = TrainConfig.from_dict(
            {"num_classes": model.cfg.num_classes, **(recipe.get("train") or {})}
        )
        if "threads" in recipe:
            torch.set_num_threads(int(recipe["threads"]))
        seed_all(tcfg.seed)
        train_ds, val_ds = build_datasets(recipe["data"], model.cfg)
        train_dl, val_dl = build_loaders(recipe, train_ds, val_ds, tcfg.seed)
        trainer = Trainer(
            model,
            build_loss(recipe, model.cfg.num_classes),
            train_dl,
            val_dl,
            tcfg,
            class_names=list(model.cfg.class_names),
        )
        if args.resume:
            trainer.resume(args.resume)
        history = trainer.fit()
        if D.is_main_process() and history:
            last = history[-1]
            print(
                f"[train] {len(history)} epoch(s); best {tcfg.monitor} {trainer.best:.4f}; "
                f"last train_loss {last['train_loss']:.4f}; outputs in {tcfg.out_dir}"
            )
    finally:
        D.cleanup()
    return 0
