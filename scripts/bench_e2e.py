"""End-to-end benchmarks of the user-facing operations, with where the time goes.

* **ch2 volume** — what ``medseg predict ch2.nii.gz`` does for one case: read the NIfTI
  (MRIcron ``ch2``, 181×217×181, 1 mm), :meth:`Predictor.predict_volume` (reorient, in-plane
  resampling to the model's spacing, normalisation, the model slice by slice, logits resampled
  back, labels, largest component + hole filling, back to the source orientation), write the
  mask NIfTI. Dice against ``ch2bet > 0``.
* **street photo** — what the app's street tab does: decode ``leuvenA.jpg`` (563×751), run
  ``lraspp_mobilenet_v3`` at the app's inference size (384×512), labels at the photo's size,
  overlay; PNG encoding (``medseg predict`` writes one) is shown apart.

Each back-end runs ``repeats`` times after a warm-up (``auto`` decides in the warm-up, with a
fresh decision cache); the medians are reported, and ``× eager`` is the ratio to eager
PyTorch fp32 in the same run. Every run is profiled (``cProfile``) to split its time by stage
(cumulative time of the functions named in the table, medians; the profiler adds a little).

Usage::

    python scripts/bench_e2e.py [--repeats 5] [--backends torch,onnxruntime,auto] [--out F.md]

``run(...) -> dict`` and ``format_markdown`` are what ``medseg bench --all`` calls.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CH2 = Path("/usr/share/mricron/templates/ch2.nii.gz")
CH2BET = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/leuvenA.jpg")
BACKENDS = ("torch", "onnxruntime", "openvino-fp32", "openvino-bf16", "auto")

#: stage -> (module file suffix, function name) whose cumulative profile time is the stage
VOLUME_STAGES = {
    "reorient": [("io/volume.py", "to_canonical"), ("io/volume.py", "from_canonical")],
    "resample (in + back)": [("torch/nn/functional.py", "interpolate")],
    "normalise": [("transforms/intensity.py", "normalize_for_model")],
    "model": [("engine/predictor.py", "logits")],
    "labels": [("models/outputs.py", "logits_to_labels")],
    "post-process": [
        ("engine/postprocess.py", "clean_mask"),
        ("transforms/volume_views.py", "clean_brain_probs"),  # the tri-planar path
    ],
}
PHOTO_STAGES = {
    "preprocess": [("engine/predictor.py", "preprocess")],
    "model": [("engine/predictor.py", "logits")],
    "resize + labels": [("engine/predictor.py", "_finish")],
}


def _stage_seconds(prof: cProfile.Profile, stages: dict) -> dict[str, float]:
    st = pstats.Stats(prof).stats  # (file, line, func) -> (cc, nc, tt, ct, callers)
    out = {}
    for name, keys in stages.items():
        total = 0.0
        for suffix, func in keys:
            for (fname, _, fn), (_, _, _, ct, callers) in st.items():
                if fn != func or not fname.endswith(suffix):
                    continue
                # count only top-level calls of the function (not it calling itself)
                if any(c[2] == func and c[0].endswith(suffix) for c in callers):
                    continue
                total += ct
        out[name] = total
    return out


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(a, b).sum()) / s


def bench_volume(backends, repeats: int, log=print) -> list[dict]:
    from medseg.engine.predictor import Predictor
    from medseg.io import load_volume, save_mask_like

    ref = np.asarray(load_volume(str(CH2BET)).array) > 0
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    for be in backends:
        p = Predictor.from_name("unet_medical", backend=be)

        def once(p=p, be=be):
            prof = cProfile.Profile()
            c0 = time.process_time()
            t0 = time.perf_counter()
            v = load_volume(str(CH2))
            t1 = time.perf_counter()
            prof.enable()
            m = p.predict_volume(v)
            prof.disable()
            t2 = time.perf_counter()
            save_mask_like(m, v, tmp / f"{be}.nii.gz")
            t3 = time.perf_counter()
            cpu = time.process_time() - c0
            return m, (t1 - t0, t2 - t1, t3 - t2, cpu), _stage_seconds(prof, VOLUME_STAGES)

        once()  # warm-up (auto decides here)
        runs = [once() for _ in range(repeats)]
        mask = runs[-1][0]
        load_s, pred_s, write_s, cpu_s = (
            statistics.median(r[1][i] for r in runs) for i in range(4)
        )
        stages = {k: statistics.median(r[2][k] for r in runs) for k in VOLUME_STAGES}
        rows.append(
            {
                "backend": be,
                "ran": p.backend_info()["backend"],
                "load_s": load_s,
                "predict_s": pred_s,
                "write_s": write_s,
                "total_s": load_s + pred_s + write_s,
                "cpu_s": cpu_s,
                "stages": stages,
                "dice": _dice(mask > 0, ref),
                "summary": p.backend_info()["summary"],
            }
        )
        log(
            f"  ch2 {be:14s} ({rows[-1]['ran']}): total {rows[-1]['total_s']:.3f} s "
            f"(predict {pred_s:.3f}), Dice {rows[-1]['dice']:.4f}"
        )
    base = next((r["total_s"] for r in rows if r["backend"] == "torch"), None)
    for r in rows:
        r["speedup"] = base / r["total_s"] if base else None
    return rows


def bench_photo(backends, repeats: int, log=print) -> list[dict]:
    from PIL import Image

    from medseg.app.common import inference_size
    from medseg.engine.predictor import Predictor
    from medseg.io import load_image
    from medseg.viz import overlay

    rows = []
    for be in backends:
        p = Predictor.from_name("lraspp_mobilenet_v3", backend=be)
        cfg = p.cfg

        def once(p=p, cfg=cfg):
            prof = cProfile.Profile()
            c0 = time.process_time()
            t0 = time.perf_counter()
            rgb = load_image(str(PHOTO))
            t1 = time.perf_counter()
            prof.enable()
            pred = p.predict_image(rgb, size=inference_size(*rgb.shape[:2], cfg))
            prof.disable()
            t2 = time.perf_counter()
            ov = overlay(rgb, pred.labels, cfg.palette, 0.5)
            t3 = time.perf_counter()
            cpu = time.process_time() - c0
            Image.fromarray(ov).save(os.devnull, format="PNG", compress_level=1)
            t4 = time.perf_counter()
            times = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, cpu)
            return times, _stage_seconds(prof, PHOTO_STAGES), rgb

        for _ in range(3):
            once()
        runs = [once() for _ in range(max(repeats, 10))]
        load_s, pred_s, ov_s, png_s, cpu_s = (
            statistics.median(r[0][i] for r in runs) for i in range(5)
        )
        stages = {k: statistics.median(r[1][k] for r in runs) for k in PHOTO_STAGES}
        rgb = runs[0][2]
        size = inference_size(*rgb.shape[:2], cfg)
        rows.append(
            {
                "backend": be,
                "ran": p.backend_info()["backend"],
                "load_ms": 1e3 * load_s,
                "predict_ms": 1e3 * pred_s,
                "overlay_ms": 1e3 * ov_s,
                "png_ms": 1e3 * png_s,
                "total_ms": 1e3 * (load_s + pred_s + ov_s),
                "cpu_ms": 1e3 * cpu_s,
                "stages_ms": {k: 1e3 * v for k, v in stages.items()},
                "size": f"{rgb.shape[0]}x{rgb.shape[1]} -> {size[0]}x{size[1]}",
            }
        )
        log(f"  photo {be:14s} ({rows[-1]['ran']}): {rows[-1]['total_ms']:.1f} ms end to end")
    base = next((r["total_ms"] for r in rows if r["backend"] == "torch"), None)
    for r in rows:
        r["speedup"] = base / r["total_ms"] if base else None
    return rows


def run(
    repeats: int = 5, backends: tuple[str, ...] = BACKENDS, quick: bool = False, threads: int = 2
) -> dict:
    """Both benchmarks; ``quick``: 2 repetitions, eager and auto only (a smoke run)."""
    from medseg.engine.machine import describe_machine
    from medseg.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(threads)
    if quick:
        repeats, backends = 2, ("torch", "auto")
    # auto decides in this run: a fresh decision cache
    old = os.environ.get("MEDSEG_CACHE_DIR")
    os.environ["MEDSEG_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_e2e_cache_")
    try:
        machine = describe_machine()
        vol = bench_volume(backends, repeats) if CH2.is_file() and CH2BET.is_file() else []
        photo = bench_photo(backends, repeats) if PHOTO.is_file() else []
        machine_end = describe_machine()
    finally:
        if old is None:
            os.environ.pop("MEDSEG_CACHE_DIR", None)
        else:
            os.environ["MEDSEG_CACHE_DIR"] = old
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "machine_end": machine_end,
        "repeats": repeats,
        "volume": vol,
        "photo": photo,
    }


def format_markdown(res: dict) -> str:
    lines = [
        "# End to end",
        "",
        f"Measured {res['date']} by `python scripts/bench_e2e.py`; {res['machine']} (at the "
        f"end: {res['machine_end'].rsplit(';', 1)[-1].strip()}). Medians of {res['repeats']} "
        "runs after a warm-up (`auto` decides in the warm-up, with a fresh cache); `× eager` "
        "against eager PyTorch fp32 in the same run. Stage columns: medians over the same runs "
        "of the cumulative cProfile time of the function named (`model` is `Predictor.logits`, "
        "`resample` every `F.interpolate`; the profiler adds a little). `CPU` is the process "
        "CPU time of the whole operation (all threads): on a shared machine the wall time "
        "also counts waiting for the cores, the CPU time does not.",
        "",
    ]
    if res["volume"]:
        st = list(res["volume"][0]["stages"])
        lines += [
            "### Whole ch2 head volume (181×217×181, 1 mm), `unet_medical`",
            "",
            "Read NIfTI → `predict_volume` → write mask NIfTI; Dice against `ch2bet > 0`.",
            "",
            "| back-end | ran | total s | × eager | CPU s | read s | predict_volume s | write s | "
            + " | ".join(f"{s} s" for s in st)
            + " | Dice |",
            "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(st) + "---:|",
        ]
        for r in res["volume"]:
            lines.append(
                f"| {r['backend']} | {r['ran']} | {r['total_s']:.3f} | {r['speedup']:.2f} | "
                f"{r['cpu_s']:.3f} | {r['load_s']:.3f} | {r['predict_s']:.3f} | {r['write_s']:.3f} | "
                + " | ".join(f"{r['stages'][s]:.3f}" for s in st)
                + f" | {r['dice']:.4f} |"
            )
        auto = next((r for r in res["volume"] if r["backend"] == "auto"), None)
        if auto:
            lines += ["", f"`auto` for `unet_medical`: {auto['summary']}."]
        lines.append("")
    if res["photo"]:
        st = list(res["photo"][0]["stages_ms"])
        lines += [
            f"### Street photo (`leuvenA.jpg`, {res['photo'][0]['size']}), `lraspp_mobilenet_v3`",
            "",
            "Decode JPEG → `predict_image` at the app's inference size (labels at the photo's "
            "size) → overlay = end to end; encoding the overlay as PNG (zlib level 1; PIL's "
            "default level 6 is 5-7× slower for the same size here) shown apart.",
            "",
            "| back-end | ran | end to end ms | × eager | CPU ms | decode ms | predict_image ms | "
            + " | ".join(f"{s} ms" for s in st)
            + " | overlay ms | PNG ms |",
            "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(st) + "---:|---:|",
        ]
        for r in res["photo"]:
            lines.append(
                f"| {r['backend']} | {r['ran']} | {r['total_ms']:.1f} | {r['speedup']:.2f} | "
                f"{r['cpu_ms']:.1f} | {r['load_ms']:.1f} | {r['predict_ms']:.1f} | "
                + " | ".join(f"{r['stages_ms'][s]:.1f}" for s in st)
                + f" | {r['overlay_ms']:.1f} | {r['png_ms']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="write the markdown here")
    args = ap.parse_args(argv)
    res = run(args.repeats, tuple(args.backends.split(",")), args.quick, args.threads)
    md = format_markdown(res)
    print(md)
    if args.out:
        Path(args.out).write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
