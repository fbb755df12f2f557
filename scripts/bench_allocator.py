#!/usr/bin/env python
"""glibc malloc defaults vs ``medseg.runtime.tune_allocator``, eager PyTorch on the CPU.

The setting is process-wide and cannot be undone, so each side runs in its own fresh Python
process (``--child default|tuned``), alternated ``repeats`` times; medians across runs.

    python scripts/bench_allocator.py [--repeats 2] [--threads 2] [--out alloc.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics as st
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: (model, H, W, batch)
CASES = [
    ("lraspp_mobilenet_v3", 256, 512, 1),
    ("lraspp_mobilenet_v3", 512, 1024, 1),
    ("lraspp_mobilenet_v3", 1024, 2048, 1),
    ("lraspp_mobilenet_v3", 320, 640, 2),
    ("deeplabv3_resnet50", 256, 512, 1),
    ("unet_medical", 256, 256, 1),
]


def child(mode: str, threads: int) -> dict:
    import resource
    import time

    if mode == "tuned":
        from medseg.runtime import tune_allocator

        if tune_allocator() is None:
            raise SystemExit("tune_allocator did nothing (not glibc, or opted out)")
    import torch

    from medseg.engine.tta import tta_predict, tta_predict_loop
    from medseg.models import create_model

    torch.set_num_threads(threads)

    def timed(fn, reps=7):
        fn()
        fn()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / reps
        return st.median(ts) * 1e3, faults

    out = {"cases": {}}
    models = {}
    with torch.no_grad():
        for name, h, w, b in CASES:
            m = models.setdefault(name, create_model(name, pretrained=False).eval())
            x = torch.randn(b, m.cfg.in_channels, h, w)
            out["cases"][f"{name} {h}x{w} batch {b}"] = timed(lambda m=m, x=x: m(x))
        m = models["lraspp_mobilenet_v3"]
        x = torch.randn(1, 3, 256, 512)
        out["tta_loop"] = timed(lambda: tta_predict_loop(m, x), 5)[0]
        out["tta_batched"] = timed(lambda: tta_predict(m, x), 5)[0]
    out["maxrss_mb"] = _peak_rss_mb()
    return out


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux keeps that across ``execve``, so a
    child started by a big parent (``medseg bench --all``) would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(repeats: int = 2, threads: int = 2) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("MEDSEG_TUNE_MALLOC", None)
    runs: dict[str, list[dict]] = {"default": [], "tuned": []}
    for _ in range(repeats):
        for mode in runs:
            p = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--threads", str(threads)],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            if p.returncode:
                raise RuntimeError(f"child {mode} failed: {p.stderr[-2000:]}")
            runs[mode].append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {"runs": runs, "repeats": repeats, "threads": threads}


def _med(runs: list[dict], key, idx=None):
    vals = [r[key] if idx is None else r["cases"][key][idx] for r in runs]
    return st.median(vals)


def format_markdown(res: dict) -> str:
    import platform

    import torch

    d, t = res["runs"]["default"], res["runs"]["tuned"]
    lines = [
        "# glibc malloc tuning (eager PyTorch, CPU)",
        "",
        f"`python scripts/bench_allocator.py`: {res['repeats']} fresh processes per setting, "
        f"alternated, {res['threads']} threads, random weights, batch as shown, medians of 7 "
        f"calls after 2 warm-up calls, then the median across processes; torch "
        f"{torch.__version__}, {platform.machine()}. *tuned* = "
        "`medseg.runtime.tune_allocator()` (no per-block mmap, trim threshold 1 GiB), "
        "which every `medseg` command applies at start. Minor page faults per call show the "
        "cause: with glibc's defaults each call faults its activations in again.",
        "",
        "| model, input | default ms | tuned ms | speed-up | faults/call default | tuned |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in d[0]["cases"]:
        a, b = _med(d, key, 0), _med(t, key, 0)
        fa, fb = _med(d, key, 1), _med(t, key, 1)
        lines.append(f"| {key} | {a:.1f} | {b:.1f} | {a / b:.2f}× | {fa:.0f} | {fb:.0f} |")
    la, ba = _med(d, "tta_loop"), _med(d, "tta_batched")
    lt, bt = _med(t, "tta_loop"), _med(t, "tta_batched")
    lines += [
        "",
        "TTA (lraspp_mobilenet_v3, 256×512, 3 scales × flip, eager): default loop "
        f"{la:.0f} ms, batched {ba:.0f} ms (×{la / ba:.2f}); tuned loop {lt:.0f} ms, batched "
        f"{bt:.0f} ms (×{lt / bt:.2f}). Peak RSS of the whole process: default "
        f"{_med(d, 'maxrss_mb'):.0f} MB, tuned {_med(t, 'maxrss_mb'):.0f} MB.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=["default", "tuned"], help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    if a.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(a.child, a.threads)))
        return 0
    md = format_markdown(run(a.repeats, a.threads))
    if a.out:
        Path(a.out).write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
