"""Train the shipped street model (``lraspp_mobilenet_v3``) on procedural synthetic scenes.

Data: :mod:`medseg.data.synthetic_streets` — training scenes from dataset seed 0, held-out
evaluation scenes from dataset seed 1 (disjoint seeds; never used for training).
Augmentation: :func:`medseg.transforms.joint.train_transforms` (multi-scale, crop with
255-padding, flip, colour jitter, ImageNet normalisation from the model's cfg).

The shipped weights (see medseg/models/weights/lraspp_mobilenet_v3.md) came from three stages:
  python scripts/train_street.py --out runs/street --steps 600 --threads 1 --minutes 55
  python scripts/train_street.py --out runs/street2 --init runs/street/last.pt --steps 500 \
      --lr 1e-3 --threads 1 --minutes 30
  python scripts/train_street.py --out runs/street3 --init runs/street2/last.pt --train-seed 3 \
      --steps 600 --lr 8e-4 --threads 1 --minutes 16
Held-out scenes: dataset seed 1 (reported only); seed 2 chooses between runs.
Evaluate only:  python scripts/train_street.py --out runs/street3 --eval-only
The evaluation writes ``result.json`` (held-out mIoU, per-class IoU) and the figure of
predictions on the real Leuven photos (``--figure docs/img/street_leuven.png``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medseg.data.synthetic_streets import SyntheticStreets
from medseg.engine.trainer import seed_all
from medseg.labels import CITYSCAPES_CLASSES, IGNORE_INDEX
from medseg.models import create_model, get_model_cfg
from medseg.transforms.joint import eval_transforms, train_transforms

LEUVEN = [f"/usr/share/doc/opencv-doc/examples/data/leuven{c}.jpg" for c in "AB"]


def class_weights(n_scenes: int = 100, seed: int = 0) -> torch.Tensor:
    """ENet-style weights ``1 / ln(1.1 + p_c)`` from class frequencies of training scenes."""
    ds = SyntheticStreets(n_scenes, seed=seed)
    cnt = np.zeros(256)
    for i in range(n_scenes):
        cnt += np.bincount(ds[i][1].ravel(), minlength=256)
    p = cnt[:19] / max(cnt[:19].sum(), 1)
    return torch.tensor(1.0 / np.log(1.1 + p), dtype=torch.float32)


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int = 19) -> torch.Tensor:
    """Local bincount confusion matrix (rows = truth); pixels with target 255 are skipped."""
    k = target != IGNORE_INDEX
    return torch.bincount(target[k] * n + pred[k], minlength=n * n).reshape(n, n)


def miou(cm: torch.Tensor) -> tuple[float, list[float]]:
    cm = cm.double()
    tp = cm.diag()
    denom = cm.sum(0) + cm.sum(1) - tp
    iou = torch.where(denom > 0, tp / denom.clamp(min=1), torch.nan)
    return float(np.nanmean(iou.numpy())), iou.tolist()


@torch.no_grad()
def evaluate(model, n: int, seed: int = 1, batch: int = 8) -> dict:
    cfg = model.cfg
    ds = SyntheticStreets(n, seed=seed, transforms=eval_transforms(cfg))
    model.eval()
    cm = torch.zeros(19, 19, dtype=torch.long)
    for i in range(0, n, batch):
        xs, ys = zip(*(ds[j] for j in range(i, min(i + batch, n))))
        pred = model(torch.stack(xs)).argmax(1)
        cm += confusion(pred.flatten(), torch.stack(ys).flatten())
    m, iou = miou(cm)
    return {"miou": m, "iou": dict(zip(CITYSCAPES_CLASSES, iou)), "n_scenes": n, "seed": seed}


@torch.no_grad()
def leuven_figure(model, path: Path) -> None:
    """Real photos (unlabelled) → image | overlay rows + legend, saved as PNG."""
    import cv2

    from medseg.viz import colorize, legend

    cfg = model.cfg
    rows = []
    for f in LEUVEN:
        bgr = cv2.imread(f)
        if bgr is None:
            raise FileNotFoundError(f"{f} (Debian package opencv-doc)")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h = 256
        w = round(rgb.shape[1] * h / rgb.shape[0])
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        x, _ = eval_transforms(cfg)(small, np.zeros((h, w), np.uint8))
        pred = model(x[None]).argmax(1)[0].numpy().astype(np.uint8)
        col = colorize(pred, cfg.palette)
        blend = (0.5 * small + 0.5 * col).astype(np.uint8)
        rows.append(np.concatenate([small, np.full((h, 4, 3), 255, np.uint8), blend], 1))
    fig = np.concatenate(
        [np.concatenate([r, np.full((4, r.shape[1], 3), 255, np.uint8)]) for r in rows]
    )
    leg = legend(cfg.class_names, cfg.palette, swatch=10, width=150)
    canvas = np.full(
        (max(fig.shape[0], leg.shape[0]), fig.shape[1] + leg.shape[1], 3), 255, np.uint8
    )
    canvas[: fig.shape[0], : fig.shape[1]] = fig
    canvas[: leg.shape[0], fig.shape[1] :] = leg
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/street")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=60.0, help="hard wall-time cap")
    ap.add_argument("--eval-scenes", type=int, default=100)
    ap.add_argument("--train-seed", type=int, default=0, help="dataset seed of training scenes")
    ap.add_argument(
        "--select-seed",
        type=int,
        default=2,
        help="dataset seed of the scenes used to choose between runs (seed 1 is only reported)",
    )
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--init", help="start from these weights (a state dict): stage-2 training")
    ap.add_argument("--figure", default="docs/img/street_leuven.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = get_model_cfg("lraspp_mobilenet_v3")
    model = create_model("lraspp_mobilenet_v3")
    log: list[dict] = []
    if args.eval_only:
        model.load_state_dict(torch.load(out / "last.pt", weights_only=True))
    else:
        tf = train_transforms(cfg, crop_size=tuple(args.crop), scales=(0.5, 0.75, 1.0, 1.25))
        ds = SyntheticStreets(args.steps * args.batch, seed=args.train_seed, transforms=tf)
        g = torch.Generator().manual_seed(args.seed)
        dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, generator=g)
        if args.init:
            model.load_state_dict(torch.load(args.init, weights_only=True))
        weight = class_weights()
        model = model.to(memory_format=torch.channels_last).train()
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / 20) * (1 - min(s, args.steps - 1) / args.steps) ** 0.9
        )
        t0 = time.time()
        step = 0
        for step, (x, y) in enumerate(dl, 1):
            logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y, weight=weight, ignore_index=IGNORE_INDEX)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            if step % 20 == 0:
                el = (time.time() - t0) / 60
                log.append({"step": step, "loss": loss.item(), "minutes": round(el, 2)})
                print(f"step {step} loss {loss.item():.4f} {el:.1f} min", flush=True)
                torch.save(model.state_dict(), out / "last.pt")
            if time.time() - t0 > args.minutes * 60:
                print("wall-time cap reached", flush=True)
                break
        torch.save(model.state_dict(), out / "last.pt")
        (out / "train_log.json").write_text(
            json.dumps({"steps": step, "minutes": (time.time() - t0) / 60, "log": log}, indent=1)
        )
    model = model.to(memory_format=torch.contiguous_format)
    res = evaluate(model, args.eval_scenes)
    res["selection_miou"] = evaluate(model, args.eval_scenes, seed=args.select_seed)["miou"]
    print(
        f"held-out synthetic mIoU {res['miou']:.4f} (seed 1); "
        f"selection mIoU {res['selection_miou']:.4f} (seed {args.select_seed})",
        flush=True,
    )
    (out / "result.json").write_text(json.dumps(res, indent=1))
    if args.figure:
        leuven_figure(model, Path(args.figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
