"""Zoo table for the README: parameters and CPU eager latency of every registered model.

Usage: python scripts/bench_zoo.py [--threads 2] [--repeats 5] [--out docs/bench_zoo.md]

Latency: batch 1 at the model's default input size, eval mode, ``torch.inference_mode``,
2 warm-up runs, median and p90 of ``--repeats`` timed runs. Absolute numbers depend on the
load on the machine; compare models within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time

import torch

from medseg.models import create_model, list_models


def measure(name: str, repeats: int) -> dict:
    model = create_model(name).eval()
    h, w = model.cfg.input_size
    x = torch.randn(1, model.cfg.in_channels, h, w)
    times = []
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    times.sort()
    return {
        "name": name,
        "task": model.cfg.task,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "input": f"{h}x{w}",
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[min(len(times) - 1, int(0.9 * len(times)))],
        "pretrained": model.cfg.has_pretrained,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="write a markdown table here")
    args = ap.parse_args()
    from medseg.runtime import tune_allocator

    tune_allocator()  # as every medseg command does (see medseg/runtime.py)
    torch.set_num_threads(args.threads)
    rows = [measure(n, args.repeats) for n in list_models()]
    lines = [
        f"Measured {dt.date.today()} on {platform.processor() or platform.machine()}, "
        f"{args.threads} threads, torch {torch.__version__}, eager fp32, batch 1, "
        f"median of {args.repeats} runs.",
        "",
        "| model | task | params | input | median latency | p90 | shipped weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['name']}` | {r['task']} | {r['params_m']:.1f} M | {r['input']} | "
            f"{r['median_ms']:.0f} ms | {r['p90_ms']:.0f} ms | {'yes' if r['pretrained'] else 'no'} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
