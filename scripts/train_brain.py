"""Train the shipped brain-extraction U-Net (``unet_medical``) on synthetic heads only.

Data (no real image is shown to the network as it is; everything is re-synthesised):
  label maps from the ITK head (``KmeansTest_T1UCharRaw`` + k-means segmentation + skull-strip
  mask, Debian insighttoolkit5-examples, Apache-2.0) and the MNI152 2009 brain (nilearn's
  grey/white-matter maps and T1), turned into endless heads of random contrast by
  ``medseg.data.synthetic_heads.synth_head`` (SynthStrip-style: random intensities per label,
  deformation, bias, gamma, blur, noise, thick slices).
Validation (model selection): 12 synthetic heads from another seed, the real ITK head and the
  real (skull-stripped) MNI152 T1, each through the library's tri-planar volume path.
Held out (never used here): MRIcron ch2 / ch2bet — see scripts/eval_brain.py.

Model: 2.5-D U-Net (base width 16, ``2*context+1`` input slices) trained on slices of all three
planes of a 2 mm isotropic grid; inference averages the three planes
(``medseg.transforms.volume_views``).

Run:  python scripts/train_brain.py --out runs/brain          (≈75 min on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from medseg.data.synthetic_heads import SynthConfig, build_sources, synth_head
from medseg.engine.trainer import seed_all
from medseg.models import create_model
from medseg.transforms.intensity import zscore_normalize
from medseg.transforms.volume_views import predict_views, slice_with_context

PLANES = ("axial", "coronal", "sagittal")
_STOP = []  # set by SIGINT / SIGTERM: finish the step, save, write result.json


def _stop(signum, frame):
    _STOP.append(signum)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


# ---------------------------------------------------------------- batches of 2.5-D slices
def sample_slice(img, mask, gen, context: int, size: int):
    """One training pair: ``[2c+1, size, size]`` float image, ``[size, size]`` long target."""
    axis = int(torch.randint(3, (), generator=gen))
    prof = mask.movedim(axis, 0).flatten(1).any(1)
    brain_idx = torch.nonzero(prof)[:, 0]
    if len(brain_idx) and float(torch.rand((), generator=gen)) < 0.85:
        k = int(brain_idx[torch.randint(len(brain_idx), (), generator=gen)])
    else:
        k = int(torch.randint(img.shape[axis], (), generator=gen))
    x = slice_with_context(img, axis, k, context)
    y = mask.movedim(axis, 0)[k].long()
    if float(torch.rand((), generator=gen)) < 0.1:  # a single 2-D slice, as the app feeds it
        c = x[context]
        if float(torch.rand((), generator=gen)) < 0.5:
            c = torch.from_numpy(zscore_normalize(c.numpy()))
        x = c[None].expand_as(x).clone()
    for d in (1, 2):
        if float(torch.rand((), generator=gen)) < 0.1:
            x, y = x.flip(d), y.flip(d - 1)
    h, w = x.shape[-2:]
    bg = float(img.min())
    oy = int(torch.randint(max(size - h, 0) + 1, (), generator=gen))
    ox = int(torch.randint(max(size - w, 0) + 1, (), generator=gen))
    xp = torch.full((x.shape[0], size, size), bg)
    yp = torch.zeros((size, size), dtype=torch.long)
    hh, ww = min(h, size), min(w, size)
    xp[:, oy : oy + hh, ox : ox + ww] = x[:, :hh, :ww]
    yp[oy : oy + hh, ox : ox + ww] = y[:hh, :ww]
    return xp, yp


def boundary_weights(y: torch.Tensor, width: float = 2.0, gain: float = 4.0) -> torch.Tensor:
    """``1 + gain * exp(-d² / 2 width²)``, ``d`` the distance (px) to the mask boundary."""
    out = []
    for t in y.numpy().astype(bool):
        if t.any() and not t.all():
            d = np.minimum(ndi.distance_transform_edt(t), ndi.distance_transform_edt(~t))
        else:
            d = np.full(t.shape, 1e3)
        out.append(1 + gain * np.exp(-(d**2) / (2 * width**2)))
    return torch.from_numpy(np.stack(out)).float()


def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Boundary-weighted cross-entropy + soft Dice of the brain class (over the batch)."""
    ce = (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
    p = logits.softmax(1)[:, 1]
    t = (y == 1).float()
    soft_dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return ce + soft_dice


# ---------------------------------------------------------------- validation
def validation_set(sources, seed: int, n: int):
    """``[(name, image [X,Y,Z] raw, spacing, mask)]``: synthetic heads + two real volumes."""
    import nibabel as nib
    import nilearn

    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        img, m, name = synth_head(sources, gen)
        out.append((f"synth{i}-{name}", img.numpy(), (2.0, 2.0, 2.0), m.numpy()))
    itk = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
    t1 = nib.as_closest_canonical(nib.load(str(itk / "KmeansTest_T1UCharRaw.nii.gz")))
    ss = nib.as_closest_canonical(nib.load(str(itk / "KmeansTest_T1RawSkullStrip.nii.gz")))
    zooms = tuple(float(z) for z in t1.header.get_zooms()[:3])
    out.append(("itk-real", np.asarray(t1.dataobj, np.float32), zooms, np.asarray(ss.dataobj) > 0))
    d = Path(nilearn.__file__).parent / "datasets" / "data"
    mni = nib.load(str(d / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"))
    a = np.asarray(mni.dataobj, np.float32)
    out.append(("mni-real-stripped", a, (1.0, 1.0, 1.0), a > 0))
    return out


@torch.no_grad()
def validate(model, cfg, vset) -> dict[str, float]:
    model.eval()
    res = {}
    for name, arr, sp, ref in vset:
        pred = predict_views(model, arr, sp, cfg, batch_size=32)
        res[name] = dice(pred, ref)
    model.train()
    syn = [v for k, v in res.items() if k.startswith("synth")]
    res["synth_mean"] = float(np.mean(syn))
    res["score"] = float(np.mean([res["synth_mean"], res["itk-real"], res["mni-real-stripped"]]))
    return res


# ---------------------------------------------------------------- training
def train(args, out: Path) -> dict:
    gen = torch.Generator().manual_seed(args.seed)
    t_build = time.time()
    sources = build_sources()
    vset = validation_set(sources, args.seed + 1000, args.val_heads)
    print(f"sources + validation set built in {time.time() - t_build:.0f} s", flush=True)
    cin = 2 * args.context + 1
    model = create_model("unet_medical", in_channels=cin, base_channels=args.base)
    cfg = model.cfg.replace(
        in_channels=cin, context_slices=args.context, volume_planes=PLANES, spacing=(2.0, 2.0)
    )
    model.cfg = cfg
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scfg = SynthConfig()
    pool = [synth_head(sources, gen, scfg)[:2] for _ in range(args.pool)]
    log, best = [], (-1.0, 0)
    t0 = time.time()
    model.train()
    step = 0
    for step in range(1, args.steps + 1):
        # one-cycle-like: 5 % linear warm-up, then cosine to 0. Progress is the larger of the
        # step fraction and the wall-time fraction (--minutes > 0), so a slower, shared machine
        # still finishes the schedule in time; --minutes 0 makes the run a pure function of
        # the seed.
        prog = (step - 1) / args.steps
        if args.minutes > 0:
            prog = max(prog, (time.time() - t0) / (60 * args.minutes))
        if prog >= 1:
            break
        lr = args.lr * (
            prog / 0.05 if prog < 0.05 else 0.5 * (1 + np.cos(np.pi * (prog - 0.05) / 0.95))
        )
        for group in opt.param_groups:
            group["lr"] = lr
        if step % args.refresh == 0:  # one fresh head replaces the oldest
            pool.pop(0)
            pool.append(synth_head(sources, gen, scfg)[:2])
        xs, ys = [], []
        for _ in range(args.batch):
            img, m = pool[int(torch.randint(len(pool), (), generator=gen))]
            x, y = sample_slice(img, m, gen, args.context, args.size)
            xs.append(x)
            ys.append(y)
        x = torch.stack(xs).contiguous(memory_format=torch.channels_last)
        y = torch.stack(ys)
        logits = model(x)
        loss = loss_fn(logits, y, boundary_weights(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0:
            el = (time.time() - t0) / 60
            print(f"step {step} loss {loss.item():.4f} lr {lr:.2e} {el:.1f} min", flush=True)
        if step % args.val_every == 0 or step == args.steps:
            v = validate(model, cfg, vset)
            entry = {"step": step, "loss": loss.item(), "minutes": (time.time() - t0) / 60, **v}
            log.append(entry)
            print(json.dumps({k: round(val, 4) for k, val in entry.items()}), flush=True)
            torch.save(model.state_dict(), out / "last.pt")
            if v["score"] > best[0]:
                best = (v["score"], step)
                torch.save(model.state_dict(), out / "best.pt")
        if _STOP:
            print("stopped by a signal", flush=True)
            break
    if not log or log[-1]["step"] != step:  # the final weights are always validated
        v = validate(model, cfg, vset)
        log.append({"step": step, "minutes": (time.time() - t0) / 60, **v})
        print(json.dumps({k: round(val, 4) for k, val in log[-1].items()}), flush=True)
        torch.save(model.state_dict(), out / "last.pt")
        if v["score"] > best[0]:
            best = (v["score"], step)
            torch.save(model.state_dict(), out / "best.pt")
    return {
        "steps": step,
        "train_minutes": round((time.time() - t0) / 60, 1),
        "best_step": best[1],
        "best_score": best[0],
        "log": log,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/brain")
    ap.add_argument("--steps", type=int, default=6500)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--size", type=int, default=112, help="slices are padded to size x size")
    ap.add_argument("--context", type=int, default=2, help="neighbouring slices on each side")
    ap.add_argument("--base", type=int, default=16, help="U-Net base width")
    ap.add_argument("--pool", type=int, default=8, help="synthetic heads kept in memory")
    ap.add_argument("--refresh", type=int, default=2, help="steps between two new heads")
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--val-heads", type=int, default=12)
    ap.add_argument(
        "--minutes",
        type=float,
        default=72.0,
        help="schedule horizon in wall-time minutes (0: steps only, fully deterministic)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from medseg.runtime import tune_allocator

    tune_allocator()  # glibc malloc tuning: eager training is 1.3-2.9x faster with it
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    import signal

    # a background job inherits SIGINT as ignored: install our own handlers
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"args": vars(args), **train(args, out)}
    (out / "result.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "log"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
