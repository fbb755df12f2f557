"""Inference benchmark recipe: writes docs/bench_inference.md.

Usage: python scripts/bench_inference.py [--quick] [--threads 2] [--out docs/bench_inference.md]

Runs :func:`medseg.bench.run_suite` (model × back-end × size latency/FPS with ratios to
eager measured in the same run, batched vs looped TTA, int8 ΔmIoU when the street weights are
shipped). The same tables come from ``medseg bench``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from medseg.bench import run_suite


def run(quick: bool = False, threads: int | None = 2) -> dict:
    from medseg.runtime import tune_allocator

    tune_allocator()  # the eager baseline that `medseg bench` measures (see medseg/runtime.py)
    if threads:
        torch.set_num_threads(threads)
    return run_suite(quick=quick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/bench_inference.md")
    args = ap.parse_args()
    res = run(args.quick, args.threads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("# Inference benchmarks\n\n" + res["markdown"] + "\n")
    print(res["markdown"])


if __name__ == "__main__":
    main()
