"""Training throughput: medseg ``Trainer`` vs a plain tutorial-style loop, same model and data.

Baseline: fp32, contiguous (NCHW) tensors, data prepared in the training process.
Trainer: channels-last, bf16 autocast where the CPU has AMX (``amp="auto"``), and
one DataLoader worker preparing the next batches while the model trains. Variants isolate
each change. Runs are interleaved (A B C ... A B C ...) and the median of ``--reps`` is
reported, so a noisy shared machine affects all variants alike.

    python scripts/bench_training.py --reps 3 --out docs/bench_training.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from medseg.data.synthetic_streets import SyntheticStreets
from medseg.engine.trainer import TrainConfig, Trainer, cpu_has_amx, cpu_has_native_bf16
from medseg.models import create_model, get_model_cfg
from medseg.transforms.joint import train_transforms


def _data(n: int, size, cfg):
    tf = train_transforms(cfg, crop_size=tuple(size), scales=(0.75, 1.0, 1.25))
    return SyntheticStreets(n, seed=0, size=(256, 512), transforms=tf)


def plain_loop(model_name: str, batch: int, steps: int, size) -> float:
    """Tutorial-style: for x, y in loader: forward, CE, backward, step (fp32, NCHW)."""
    torch.manual_seed(0)
    model = create_model(model_name).train()
    ds = _data(batch * (steps + 1), size, model.cfg)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    it = iter(dl)
    t0 = None
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()  # first step is warm-up
        x, y = next(it)
        loss = F.cross_entropy(model(x), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def trainer_loop(
    model_name, batch, steps, size, *, amp="auto", channels_last=True, workers=1
) -> float:
    torch.manual_seed(0)
    model = create_model(model_name)
    ds = _data(batch * (steps + 1), size, model.cfg)
    dl = torch.utils.data.DataLoader(
        ds,
        batch_size=batch,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=2 if workers else None,
    )
    cfg = TrainConfig(
        num_classes=19,
        epochs=1,
        amp=amp,
        channels_last=channels_last,
        progress=False,
        scheduler="none",
        out_dir="/tmp/bench_training",
    )
    tr = Trainer(model, lambda lg, y: F.cross_entropy(lg, y, ignore_index=255), dl, None, cfg)
    it = iter(dl)
    t0 = None
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        x, y = next(it)
        tr.train_step(x, y)
    return batch * steps / (time.perf_counter() - t0)


def generator_rate(n: int = 100) -> tuple[float, float]:
    """Synthetic scenes per second at 256×512 on one core: (per CPU second, per wall second)."""
    import cv2

    from medseg.data.synthetic_streets import render_scene

    cv2.setNumThreads(1)
    render_scene(0)
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        render_scene(i)
    return n / (time.process_time() - c0), n / (time.perf_counter() - w0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lraspp_mobilenet_v3")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the markdown table here")
    args = ap.parse_args(argv)
    from medseg.runtime import tune_allocator

    tune_allocator()  # as every medseg command does (see medseg/runtime.py)
    torch.set_num_threads(args.threads)
    get_model_cfg(args.model)  # fail early on a bad name
    variants = {
        "plain loop (fp32, NCHW, in-process data)": lambda: plain_loop(
            args.model, args.batch, args.steps, args.size
        ),
        "Trainer, fp32, NCHW, in-process data": lambda: trainer_loop(
            args.model, args.batch, args.steps, args.size, amp="off", channels_last=False, workers=0
        ),
        "Trainer, channels-last only": lambda: trainer_loop(
            args.model, args.batch, args.steps, args.size, amp="off", workers=0
        ),
        "Trainer, bf16 autocast only": lambda: trainer_loop(
            args.model,
            args.batch,
            args.steps,
            args.size,
            amp="bf16",
            channels_last=False,
            workers=0,
        ),
        "Trainer, channels-last + bf16 autocast": lambda: trainer_loop(
            args.model, args.batch, args.steps, args.size, amp="bf16", workers=0
        ),
        "Trainer default (channels-last + amp=auto + 1 loader worker)": lambda: trainer_loop(
            args.model, args.batch, args.steps, args.size
        ),
    }
    res: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.reps):
        for k, fn in variants.items():
            res[k].append(fn())
            print(f"rep {r + 1} {k}: {res[k][-1]:.2f} img/s", flush=True)
    base = statistics.median(res[next(iter(res))])
    lines = [
        f"Model `{args.model}`, batch {args.batch}, crops {args.size[0]}×{args.size[1]} from "
        f"synthetic 256×512 scenes, {args.steps} timed steps after 1 warm-up, median of "
        f"{args.reps} interleaved repetitions, {args.threads} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, native bf16: {cpu_has_native_bf16()}, "
        f"AMX: {cpu_has_amx()} (amp=auto → {'bf16' if cpu_has_amx() else 'off'}).",
        "",
        "| variant | images/s (median) | × plain loop |",
        "|---|---:|---:|",
    ]
    for k, v in res.items():
        m = statistics.median(v)
        lines.append(f"| {k} | {m:.2f} | {m / base:.2f}× |")
    cpu_rate, wall_rate = generator_rate()
    lines += [
        "",
        f"Synthetic scene generator (256×512, one thread, 100 scenes): {cpu_rate:.0f} scenes per "
        f"CPU-second ({wall_rate:.0f} per wall-second on this shared machine); target ≥ 50.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write("# Training throughput: Trainer vs plain loop\n\n")
            f.write(
                "Produced by `python scripts/bench_training.py`"
                f" (command: `{' '.join(['scripts/bench_training.py', *(argv or [])])}`).\n\n"
            )
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
