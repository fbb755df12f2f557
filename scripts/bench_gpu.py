#!/usr/bin/env python
"""GPU benchmark: model × back-end × batch on one CUDA device, and batched TTA vs the loop.

Writes a Markdown section (``--out``) for BENCHMARKS.md. Every ratio is measured against eager
fp32 (batch 1) in the same run. Timing: ``cudnn.benchmark`` on, warm-up, then
``torch.cuda.synchronize()`` around each call; medians of ``--reps``.

    python scripts/bench_gpu.py --out gpu.md          # ~2 min on an H100
"""

from __future__ import annotations

import argparse
import platform
import statistics as st
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medseg.engine.backends import make_runner  # noqa: E402
from medseg.engine.tta import tta_predict, tta_predict_loop  # noqa: E402
from medseg.models import create_model  # noqa: E402

SHIPPED = {"lraspp_mobilenet_v3", "unet_medical"}
CASES = [
    ("lraspp_mobilenet_v3", (256, 512)),
    ("lraspp_mobilenet_v3", (1024, 2048)),
    ("unet_medical", (256, 256)),
    ("fcn_vgg16", (512, 1024)),
    ("deeplabv3_resnet50", (512, 1024)),
]
BACKENDS = ("torch", "channels_last", "bf16", "bf16+channels_last")


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, x, reps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn(x)
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        sync()
        ts.append(time.perf_counter() - t0)
    return st.median(ts) * 1e3


def runner(model, backend: str):
    if backend == "bf16+channels_last":
        from medseg.engine.backends import TorchRunner

        return TorchRunner(model, device=DEVICE, channels_last=True, bf16=True)
    return make_runner(model, backend, device=DEVICE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the Markdown section here")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8, help="batch size of the throughput column")
    ap.add_argument(
        "--dry-run", action="store_true", help="tiny sizes on the CPU: checks the script only"
    )
    a = ap.parse_args()
    global DEVICE, CASES
    if a.dry_run:
        DEVICE, CASES = "cpu", [(n, (64, 96)) for n, _ in CASES]
        a.reps, a.batch = 2, 2
    elif not torch.cuda.is_available():
        sys.exit("no CUDA device")
    torch.backends.cudnn.benchmark = True
    dev = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "CPU (dry run)"
    lines = [
        "## GPU (one CUDA device)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on **{dev}**, torch "
        f"{torch.__version__}, cuDNN {torch.backends.cudnn.version()}, Python "
        f"{platform.python_version()}, by `python scripts/bench_gpu.py`. Random-normal input, "
        f"`cudnn.benchmark` on, TF32 as PyTorch defaults (on for convolutions), "
        f"{a.reps} timed calls after a warm-up, synchronised, medians. `× eager` is against "
        "eager fp32 at the same batch size in the same run; `max |Δ|` is against eager fp32 "
        "logits. Model-only: no pre- or post-processing, no host-device copies of results.",
        "",
        f"| model | backend | H×W | batch 1 ms | × eager | batch {a.batch} img/s | × eager "
        "| max abs Δ logits |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, (h, w) in CASES:
        torch.manual_seed(0)
        model = create_model(name, pretrained=name in SHIPPED).eval()
        x1 = torch.randn(1, model.cfg.in_channels, h, w, device=DEVICE)
        xb = torch.randn(a.batch, model.cfg.in_channels, h, w, device=DEVICE)
        base1 = baseb = ref = None
        for be in BACKENDS:
            r = runner(model, be)
            with torch.no_grad():
                t1 = timed(r, x1, a.reps)
                tb = timed(r, xb, max(5, a.reps // 2))
                y = r(x1).float()
            if be == "torch":
                base1, baseb, ref = t1, tb, y
            diff = float((y - ref).abs().max())
            ips = a.batch / tb * 1e3
            row = (
                f"| {name} | {be} | {h}x{w} | {t1:.2f} | {base1 / t1:.2f} | {ips:.0f} "
                f"| {baseb / tb:.2f} | {diff:.1e} |"
            )
            print(row, flush=True)
            lines.append(row)
            del r
        del model
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    lines += [
        "",
        "### Batched TTA (3 scales × flip) vs the one-by-one loop, on the GPU",
        "",
        "Same model, same device; batched = one forward per scale with the flipped copy in the "
        "batch, loop = six batch-1 forwards (`tta_predict_loop`). Inputs and outputs stay on "
        "the device.",
        "",
        "| model | H×W | loop ms | batched ms | speed-up | max abs Δ probs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    tta_cases = [
        ("lraspp_mobilenet_v3", (256, 512)),
        ("lraspp_mobilenet_v3", (512, 1024)),
        ("deeplabv3_resnet50", (512, 1024)),
    ]
    for name, size in tta_cases if not a.dry_run else [(n, (64, 96)) for n, _ in tta_cases]:
        torch.manual_seed(0)
        model = create_model(name, pretrained=name in SHIPPED).eval().to(DEVICE)
        x = torch.randn(1, 3, *size, device=DEVICE)
        with torch.no_grad():
            tl = timed(lambda t, m=model: tta_predict_loop(m, t), x, a.reps)
            tb = timed(lambda t, m=model: tta_predict(m, t), x, a.reps)
            d = float((tta_predict(model, x)[0] - tta_predict_loop(model, x)[0]).abs().max())
        row = f"| {name} | {size[0]}x{size[1]} | {tl:.2f} | {tb:.2f} | {tl / tb:.2f} | {d:.1e} |"
        print(row, flush=True)
        lines.append(row)
    md = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
