"""Held-out evaluation of the brain-extraction model on Colin27 (ch2) and contrast variants of it.

ch2 / ch2bet (MRIcron templates, Debian mricron-data) are used here only, after training and
model selection: never for training, stopping, thresholds or post-processing choices.

Variants (built from ch2 alone, on the grid a user would hand in):
  t1            ch2 as it is (1 mm)
  t2_like       tissue order inverted: intensity landmarks of ch2's head voxels (1-D k-means,
                4 classes: dark tissue/CSF, grey, white, fat) mapped through a piecewise-linear
                curve so that CSF is bright, white matter dark, air stays black
  pd_like       the same with PD-like levels (CSF ≈ grey > white, low contrast)
  bias          multiplied by a smooth field exp(0.7 u + 0.5 w² - 0.25), u, w in [-1, 1] along
                x and z (x0.39 ... x2.6)
  noise         Rician noise, sigma = 12 % of the white-matter level
  axial_5mm     5 mm axial slices: every 5 slices averaged (box profile), a real 181×217×36
                volume with a 5 mm z spacing and the matching affine
  coronal_4mm   4 mm coronal slices the same way (181×54×181)
  t2_5mm        t2_like and 5 mm axial slices together
  pd_bias_noise pd_like, then bias, then noise
Comparison grid: the reference ch2bet > 0 is box-averaged onto the variant's grid (a thick voxel
is brain when ≥ 50 % of its 1 mm voxels are), and the mask medseg (or deepbet) returns on that
grid is compared there. Metrics: Dice; HD95 = max of the two directed 95th percentiles of
surface-to-surface distances in mm (MONAI's convention); volume error = predicted − reference
volume (mL); seconds = wall time of one whole-volume call (load excluded).

Run:
  python scripts/eval_brain.py --deepbet-python /work/deepbet-venv/bin/python \\
      --figure docs/img/brain_failures.png --timing --json runs/brain_eval.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

MRICRON = Path("/usr/share/mricron/templates")


# ---------------------------------------------------------------- metrics
def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def hd95(a: np.ndarray, b: np.ndarray, spacing) -> float:
    """Symmetric 95th-percentile Hausdorff distance (mm) between the surfaces of two masks."""
    a, b = a.astype(bool), b.astype(bool)
    if not a.any() or not b.any():
        return float("inf")
    sa = a & ~ndi.binary_erosion(a)
    sb = b & ~ndi.binary_erosion(b)
    d_ab = ndi.distance_transform_edt(~sb, sampling=spacing)[sa]
    d_ba = ndi.distance_transform_edt(~sa, sampling=spacing)[sb]
    return float(max(np.percentile(d_ab, 95), np.percentile(d_ba, 95)))


def scores(pred: np.ndarray, ref: np.ndarray, zooms) -> dict[str, float]:
    vox_ml = float(np.prod(zooms)) / 1000.0
    return {
        "dice": dice(pred, ref),
        "hd95": hd95(pred, ref, zooms),
        "dvol_ml": float(pred.astype(bool).sum() - ref.astype(bool).sum()) * vox_ml,
    }


# ---------------------------------------------------------------- contrast variants
def kmeans_1d(x: np.ndarray, k: int, iters: int = 50) -> np.ndarray:
    """Sorted centres of a 1-D k-means (initialised at evenly spaced quantiles)."""
    c = np.quantile(x, (np.arange(k) + 0.5) / k)
    for _ in range(iters):
        lab = np.abs(x[:, None] - c[None]).argmin(1)
        c = np.array([x[lab == i].mean() if (lab == i).any() else c[i] for i in range(k)])
    return np.sort(c)


def remap(a: np.ndarray, levels) -> np.ndarray:
    """Piecewise-linear intensity curve through the landmarks of ``a``'s head voxels."""
    from skimage.filters import threshold_otsu

    head = a[a > threshold_otsu(a)]
    c = kmeans_1d(head[:: max(1, head.size // 200_000)].astype(np.float64), 4)
    xs = np.array([0.0, c[0], c[1], c[2], c[3], float(a.max())])
    ys = np.array([0.0, *levels, levels[-1]]) * 1000.0
    return np.interp(a, xs, ys).astype(np.float32), c


def bias(a: np.ndarray) -> np.ndarray:
    u = np.linspace(-1, 1, a.shape[0])[:, None, None]
    w = np.linspace(-1, 1, a.shape[2])[None, None, :]
    return (a * np.exp(0.7 * u + 0.5 * w**2 - 0.25)).astype(np.float32)


def noise(a: np.ndarray, wm_level: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = 0.12 * wm_level
    n1, n2 = rng.normal(0, s, a.shape), rng.normal(0, s, a.shape)
    return np.sqrt((a + n1) ** 2 + n2**2).astype(np.float32)


def thick(a: np.ndarray, affine: np.ndarray, axis: int, f: int):
    """Average runs of ``f`` voxels along ``axis``: ``(array, affine)`` of the thick volume."""
    n = a.shape[axis] // f
    b = np.take(a, np.arange(n * f), axis=axis).astype(np.float32)
    shape = list(b.shape)
    shape[axis : axis + 1] = [n, f]
    out = b.reshape(shape).mean(axis + 1)
    scale = np.eye(4)
    scale[axis, axis] = f
    scale[axis, 3] = (f - 1) / 2  # the centre of the first run
    return out, affine @ scale


def make_variants(ch2: nib.Nifti1Image, ref: np.ndarray) -> dict:
    """``name -> (image, reference mask on the image's grid)``; see the module docstring."""
    a = np.asarray(ch2.dataobj, np.float32)
    aff = ch2.affine
    t2, c = remap(a, [0.9, 0.6, 0.35, 0.7])
    pd, _ = remap(a, [0.7, 0.8, 0.65, 0.85])
    wm = float(c[2])
    out = {
        "t1": (a, aff, ref),
        "t2_like": (t2, aff, ref),
        "pd_like": (pd, aff, ref),
        "bias": (bias(a), aff, ref),
        "noise": (noise(a, wm), aff, ref),
    }
    for name, img, axis, f in (
        ("axial_5mm", a, 2, 5),
        ("coronal_4mm", a, 1, 4),
        ("t2_5mm", t2, 2, 5),
    ):
        th, taff = thick(img, aff, axis, f)
        r, _ = thick(ref.astype(np.float32), aff, axis, f)
        out[name] = (th, taff, r >= 0.5)
    out["pd_bias_noise"] = (noise(bias(pd), 650.0), aff, ref)
    return {
        k: (nib.Nifti1Image(v.astype(np.float32), af), r.astype(bool))
        for k, (v, af, r) in out.items()
    }


# ---------------------------------------------------------------- runners
def run_medseg(images: dict, backend: str = "torch") -> dict:
    """The default ``medseg predict`` path for volumes: ``Predictor.predict_volume``."""
    from medseg.engine.predictor import Predictor
    from medseg.io import load_volume

    pred = Predictor.from_name("unet_medical", backend=backend)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (img, _) in images.items():
            p = Path(tmp) / f"{name}.nii.gz"
            img.to_filename(p)
            vol = load_volume(str(p))
            t = time.perf_counter()
            mask = pred.predict_volume(vol)
            out[name] = (mask.astype(bool), time.perf_counter() - t)
    return out


def run_deepbet(images: dict, python: str) -> dict:
    script = Path(__file__).with_name("deepbet_masks.py")
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for name, (img, _) in images.items():
            src, dst = Path(tmp) / f"{name}.nii.gz", Path(tmp) / f"{name}_mask.nii.gz"
            img.to_filename(src)
            args += [str(src), str(dst)]
        res = subprocess.run(
            [python, str(script), *args], capture_output=True, text=True, check=True
        )
        secs = json.loads(res.stdout.strip().splitlines()[-1])
        out = {}
        for name in images:
            m = np.asarray(nib.load(Path(tmp) / f"{name}_mask.nii.gz").dataobj) > 0
            out[name] = (m, float(np.median(secs[str(Path(tmp) / f"{name}.nii.gz")])))
    return out


def time_backends(ch2_path: Path, repeats: int = 3, deepbet_python: str | None = None) -> dict:
    """Median seconds of whole-volume ch2 inference per back-end (after one warm-up), and of
    deepbet on the same file in the same run; the load average before and after (the machine
    is shared: compare numbers of one run only)."""
    import os

    from medseg.engine.predictor import Predictor
    from medseg.io import load_volume

    vol = load_volume(str(ch2_path))
    res: dict = {"loadavg_before": os.getloadavg()[0]}
    for backend in ("torch", "channels_last", "onnxruntime"):
        try:
            pred = Predictor.from_name("unet_medical", backend=backend)
        except Exception as e:  # noqa: BLE001 - report and go on
            res[backend] = f"unavailable: {e}"
            continue
        pred.predict_volume(vol)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            pred.predict_volume(vol)
            ts.append(time.perf_counter() - t)
        res[backend] = float(np.median(ts))
    if deepbet_python:
        script = Path(__file__).with_name("deepbet_masks.py")
        with tempfile.TemporaryDirectory() as tmp:
            args = []
            for i in range(repeats):
                args += [str(ch2_path), str(Path(tmp) / f"m{i}.nii.gz")]
            out = subprocess.run(
                [deepbet_python, str(script), *args], capture_output=True, text=True, check=True
            )
        times = json.loads(out.stdout.strip().splitlines()[-1])[str(ch2_path)]
        res["deepbet"] = float(np.median(times))
    res["loadavg_after"] = os.getloadavg()[0]
    return res


# ---------------------------------------------------------------- report
def table(rows: dict, deepbet: dict | None) -> str:
    head = "| variant | grid | Dice | HD95 (mm) | ΔV (mL) | s |"
    sep = "|---|---|---:|---:|---:|---:|"
    if deepbet:
        head += " deepbet Dice | deepbet HD95 | deepbet ΔV | deepbet s |"
        sep += "---:|---:|---:|---:|"
    lines = [head, sep]
    for name, r in rows.items():
        s = r["medseg"]
        line = (
            f"| {name} | {r['grid']} | {s['dice']:.3f} | {s['hd95']:.1f} | "
            f"{s['dvol_ml']:+.0f} | {s['seconds']:.2f} |"
        )
        if deepbet and "deepbet" in r:
            d = r["deepbet"]
            line += (
                f" {d['dice']:.3f} | {d['hd95']:.1f} | {d['dvol_ml']:+.0f} | {d['seconds']:.2f} |"
            )
        lines.append(line)
    return "\n".join(lines)


def figure(images: dict, preds: dict, rows: dict, path: Path, names: list[str]) -> None:
    """Three planes through the largest error of each named variant; contours of both masks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 3, figsize=(10, 3.4 * len(names)))
    axes = np.atleast_2d(axes)
    for i, name in enumerate(names):
        img, ref = images[name]
        a = np.asarray(img.dataobj, np.float32)
        pred = preds[name][0]
        err = ndi.uniform_filter((pred != ref).astype(np.float32), 9)
        ijk = np.unravel_index(int(err.argmax()), err.shape)
        zooms = img.header.get_zooms()[:3]
        for j, (axis, title) in enumerate(((0, "sagittal"), (1, "coronal"), (2, "axial"))):
            sl = [slice(None)] * 3
            sl[axis] = ijk[axis]
            im, r, p = a[tuple(sl)].T, ref[tuple(sl)].T, pred[tuple(sl)].T
            rest = [z for k, z in enumerate(zooms) if k != axis]
            ax = axes[i, j]
            ax.imshow(im, cmap="gray", origin="lower", aspect=rest[1] / rest[0])
            ax.contour(r, [0.5], colors="lime", linewidths=0.8)
            ax.contour(p, [0.5], colors="red", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            d = rows[name]["medseg"]["dice"]
            ax.set_title(f"{name} {title} {ijk[axis]} (Dice {d:.3f})", fontsize=9)
    fig.suptitle("green: ch2bet reference, red: medseg unet_medical", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deepbet-python", help="python of a venv with deepbet installed")
    ap.add_argument("--figure", type=Path, help="write the failure-case figure here")
    ap.add_argument(
        "--timing", action="store_true", help="time eager (plain, channels-last) and ORT on ch2"
    )
    ap.add_argument("--json", type=Path, help="write all numbers here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import torch

    from medseg.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(args.threads)
    ch2 = nib.load(str(MRICRON / "ch2.nii.gz"))
    ref = np.asarray(nib.load(str(MRICRON / "ch2bet.nii.gz")).dataobj) > 0
    images = make_variants(ch2, ref)
    preds = run_medseg(images)
    db = run_deepbet(images, args.deepbet_python) if args.deepbet_python else None
    rows = {}
    for name, (img, r) in images.items():
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        row = {"grid": "×".join(f"{z:g}" for z in zooms) + " mm"}
        row["medseg"] = {**scores(preds[name][0], r, zooms), "seconds": preds[name][1]}
        if db:
            row["deepbet"] = {**scores(db[name][0], r, zooms), "seconds": db[name][1]}
        rows[name] = row
    print(table(rows, db))
    res = {"rows": rows}
    if args.timing:
        res["timing_ch2_seconds"] = time_backends(
            MRICRON / "ch2.nii.gz", deepbet_python=args.deepbet_python
        )
        print("whole-volume ch2 inference (s; median of 3):", res["timing_ch2_seconds"])
    if args.figure:
        worst = sorted(rows, key=lambda k: rows[k]["medseg"]["dice"])[:3]
        figure(images, preds, rows, args.figure, worst)
        res["figure_variants"] = worst
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
