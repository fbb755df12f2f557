"""Run deepbet (a measurement tool, not a dependency) on NIfTI files; print JSON timings.

Runs in deepbet's own virtual environment so it cannot change medseg's:

    python3 -m venv /work/deepbet-venv
    /work/deepbet-venv/bin/pip install torch==2.14.1 deepbet
    /work/deepbet-venv/bin/python scripts/deepbet_masks.py IN1.nii.gz OUT1.nii.gz [IN2 OUT2 ...]

Each input is processed by ``deepbet.bet.BrainExtraction.run`` (its default threshold 0.5, no
dilation) on the CPU with 2 threads; the mask is written on the input's grid. One warm-up run
on the first input is not timed. Prints ``{input: [seconds, ...]}`` (an input given several
times is timed each time).
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    import nibabel as nib
    import torch
    from deepbet.bet import BrainExtraction

    torch.set_num_threads(2)
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    bet = BrainExtraction(no_gpu=True)
    pairs = list(zip(argv[0::2], argv[1::2]))
    bet.run(nib.load(pairs[0][0]))  # warm-up
    out = {}
    for src, dst in pairs:
        img = nib.load(src)
        t = time.perf_counter()
        bet.run(img, mask_path=dst)
        out.setdefault(src, []).append(time.perf_counter() - t)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
