"""Train the shipped 2-D brain-extraction U-Net (``unet_medical``) and evaluate it in 3-D.

Training data (real T1 MRI, see medseg/models/weights/unet_medical.md):
  ITK ``KmeansTest_T1UCharRaw.nii.gz`` (T1 with skull) + ``KmeansTest_T1RawSkullStrip.nii.gz``
  (brain = values > 0), Debian package insighttoolkit5-examples, Apache-2.0.
Held out (evaluation only, never used for training, tuning or stopping):
  MRIcron ``templates/ch2.nii.gz`` + ``ch2bet.nii.gz`` (brain = ch2bet > 0).

Preprocessing contract (same as ``medseg.engine.predictor`` for volumes): closest canonical
RAS → resample in-plane (x, y) to ``SPACING`` mm (bilinear, ``align_corners=False``) → z-score
the whole volume (``zscore_normalize``) → predict axial slices ``arr[:, :, k]`` → logits back to
the original in-plane size (bilinear) → argmax → undo the reorientation.

Run:  python scripts/train_brain.py --out runs/brain   (≈30 min on 2 CPU threads)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

from medseg.engine.trainer import seed_all
from medseg.models import create_model
from medseg.transforms.intensity import zscore_normalize
from medseg.transforms.medical_aug import medical_slice_augmentation

ITK = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
MRICRON = Path("/usr/share/mricron/templates")
SPACING = (2.0, 2.0)


# ---------------------------------------------------------------- preprocessing contract
def _resample_xy(arr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``arr [X, Y, Z]`` (or ``[C, X, Y, Z]``) → in-plane size ``size``, bilinear."""
    squeeze = arr.dim() == 3
    t = arr[None] if squeeze else arr
    t = t.permute(3, 0, 1, 2)  # [Z, C, X, Y]
    t = F.interpolate(t.float(), size=size, mode="bilinear", align_corners=False)
    t = t.permute(1, 2, 3, 0)
    return t[0] if squeeze else t


def preprocess_volume(img: nib.Nifti1Image, spacing=SPACING):
    """Return (z-scored canonical volume at ``spacing`` in-plane [X', Y', Z], canonical image)."""
    can = nib.as_closest_canonical(img)
    arr = torch.from_numpy(np.asarray(can.dataobj, dtype=np.float32))
    zx, zy = (float(z) for z in can.header.get_zooms()[:2])
    size = (round(arr.shape[0] * zx / spacing[0]), round(arr.shape[1] * zy / spacing[1]))
    res = _resample_xy(arr, size)
    return zscore_normalize(res.numpy()), can


@torch.no_grad()
def predict_volume(model, img: nib.Nifti1Image, spacing=SPACING, batch: int = 16) -> np.ndarray:
    """Brain mask (uint8) in the ORIGINAL array orientation/shape of ``img``."""
    vol, can = preprocess_volume(img, spacing)
    x = torch.from_numpy(vol).permute(2, 0, 1)[:, None]  # [Z, 1, X', Y']
    model.eval()
    logits = torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])
    shape = can.shape[:2]
    logits = F.interpolate(logits, size=shape, mode="bilinear", align_corners=False)
    pred = logits.argmax(1).permute(1, 2, 0).numpy().astype(np.uint8)  # [X, Y, Z] canonical
    ornt = nib.orientations.io_orientation(img.affine)
    back = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"), ornt)
    return np.ascontiguousarray(nib.orientations.apply_orientation(pred, back))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    return ndimage.binary_fill_holes(lab == (1 + sizes.argmax())).astype(np.uint8)


# ---------------------------------------------------------------- training data
def training_slices(spacing=SPACING) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Slices of the ITK pair along all three axes at ``spacing`` mm (z-scored per volume)."""
    t1 = nib.load(ITK / "KmeansTest_T1UCharRaw.nii.gz")
    ss = nib.as_closest_canonical(nib.load(ITK / "KmeansTest_T1RawSkullStrip.nii.gz"))
    can = nib.as_closest_canonical(t1)
    arr = torch.from_numpy(np.asarray(can.dataobj, dtype=np.float32))
    mask = torch.from_numpy((np.asarray(ss.dataobj) > 0).astype(np.float32))
    zooms = [float(z) for z in can.header.get_zooms()[:3]]
    # Isotropic at the model spacing so coronal/sagittal slices share the axial pixel size.
    size = tuple(round(n * z / spacing[0]) for n, z in zip(arr.shape, zooms))
    arr = F.interpolate(arr[None, None], size=size, mode="trilinear", align_corners=False)[0, 0]
    mask = F.interpolate(mask[None, None], size=size, mode="trilinear", align_corners=False)[0, 0]
    vol = zscore_normalize(arr.numpy())
    lab = (mask.numpy() >= 0.5).astype(np.uint8)
    out = []
    for axis, name in ((2, "axial"), (1, "coronal"), (0, "sagittal")):
        for k in range(vol.shape[axis]):
            out.append((np.take(vol, k, axis), np.take(lab, k, axis), name))
    return out


class SliceSet(torch.utils.data.Dataset):
    def __init__(self, slices, aug, length: int):
        self.slices, self.aug, self.length = slices, aug, length
        fg = np.array([s[1].any() for s in slices])
        axial = np.array([s[2] == "axial" for s in slices])
        # Foreground-aware: brain slices 4×, axial 2× (the inference orientation).
        w = np.where(fg, 4.0, 1.0) * np.where(axial, 2.0, 1.0)
        self.p = w / w.sum()
        self.rng = np.random.default_rng(0)

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        j = self.rng.choice(len(self.slices), p=self.p)
        img, lab, _ = self.slices[j]
        d = self.aug({"image": img[None].copy(), "label": lab[None].copy()})
        return (
            torch.as_tensor(np.asarray(d["image"]), dtype=torch.float32),
            torch.as_tensor(np.asarray(d["label"])[0], dtype=torch.long),
        )


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = logits.softmax(1)[:, 1]
    t = (target == 1).float()
    inter = (p * t).sum()
    return 1 - (2 * inter + 1) / (p.sum() + t.sum() + 1)


def train(args, out: Path):
    """The shipped recipe: AdamW + one-cycle, CE + soft Dice, augmented 128² slices."""
    slices = training_slices()
    aug = medical_slice_augmentation((args.size, args.size), seed=args.seed)
    ds = SliceSet(slices, aug, args.steps * args.batch)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, num_workers=0)
    model = create_model("unet_medical").to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05
    )
    log = []
    t0 = time.time()
    model.train()
    step = 0
    for step, (x, y) in enumerate(dl, 1):
        x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss = F.cross_entropy(logits, y) + soft_dice_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            el = time.time() - t0
            log.append({"step": step, "loss": float(loss), "minutes": el / 60})
            print(f"step {step} loss {float(loss):.4f} {el / 60:.1f} min", flush=True)
            torch.save(model.state_dict(), out / "last.pt")
        if step >= args.steps or time.time() - t0 > args.minutes * 60:
            break
    train_min = (time.time() - t0) / 60
    torch.save(model.state_dict(), out / "last.pt")
    return model, step, train_min, log


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/brain")
    ap.add_argument("--minutes", type=float, default=120.0, help="hard wall-time cap (safety)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--eval-only", action="store_true", help="evaluate the shipped weights (no training)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.eval_only:
        model = create_model("unet_medical", pretrained=True)
        step, train_min, log = 0, 0.0, []
    else:
        model, step, train_min, log = train(args, out)
    # Held-out 3-D evaluation on Colin27 (ch2) vs ch2bet > 0: evaluation only.
    ch2 = nib.load(MRICRON / "ch2.nii.gz")
    ref = np.asarray(nib.load(MRICRON / "ch2bet.nii.gz").dataobj) > 0
    pred = predict_volume(model, ch2)
    res = {
        "steps": step,
        "train_minutes": round(train_min, 1),
        "seed": args.seed,
        "ch2_dice": dice(pred, ref),
        "ch2_dice_largest_component": dice(largest_component(pred), ref),
        "log": log,
    }
    itk = nib.load(ITK / "KmeansTest_T1UCharRaw.nii.gz")
    itk_ref = np.asarray(nib.load(ITK / "KmeansTest_T1RawSkullStrip.nii.gz").dataobj) > 0
    res["itk_train_dice"] = dice(predict_volume(model, itk), itk_ref)
    try:  # the library's volume inference follows the same contract: check it agrees
        from medseg.engine.predictor import Predictor
        from medseg.io import load_volume

        q = Predictor.from_model(model).predict_volume(
            load_volume(str(MRICRON / "ch2.nii.gz")), postprocess=False
        )
        res["ch2_dice_medseg_predictor"] = dice(q, ref)
        res["predictor_voxel_agreement"] = float((q == pred).mean())
    except ImportError:  # pragma: no cover - predictor not installed
        pass
    res["ch2_pred_ml"] = float(pred.sum()) / 1000.0
    res["ch2_ref_ml"] = float(ref.sum()) / 1000.0
    (out / "result.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "log"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
