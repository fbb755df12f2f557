"""``medseg bench``: inference benchmarks (back-ends, TTA, int8) and, with ``--all``, every
benchmark script of the repository, collected into BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

from ..engine.backends import BACKENDS
from . import hw_size

HELP = (
    "benchmarks: model x backend x size latency/FPS, batched TTA, int8; --all writes BENCHMARKS.md"
)

#: helper scripts run by --all (file in scripts/, title); absent ones are skipped with a message
HELPER_SCRIPTS = (
    ("bench_e2e.py", "End to end, per user-facing operation"),
    ("bench_metrics.py", "ConfusionMatrix vs per-image loop"),
    ("bench_training.py", "Training"),
    ("bench_video.py", "Video pipeline"),
    ("bench_allocator.py", "glibc malloc tuning (eager PyTorch, CPU)"),
)
SUB_BENCHMARKS = ("backends", "tta", "int8")
#: smaller settings for --quick, passed only where a helper's run() accepts them
QUICK_KW = {"n_images": 10, "repeats": 1, "frames": 30, "quick": True}


def add_arguments(p: argparse.ArgumentParser) -> None:
    # No `choices=`: argparse (3.11) checks an empty positional list against them and fails.
    p.add_argument(
        "what",
        nargs="*",
        metavar="{backends,tta,int8}",
        help="sub-benchmarks (default: all three)",
    )
    p.add_argument("--models", nargs="+", help="models (default: the suite's recipe)")

    p.add_argument(
        "--backends",
        nargs="+",
        choices=list(BACKENDS),
        help="back-ends (default: all, auto included)",
    )
    p.add_argument("--sizes", nargs="+", type=hw_size, help="input sizes HxW, e.g. 256x512")
    p.add_argument("--reps", type=int, help="timed repetitions per back-end")
    p.add_argument("--threads", type=int, help="torch / ONNX Runtime threads (default: torch's)")
    p.add_argument(
        "--quick", action="store_true", help="few repetitions, first size only (smoke run)"
    )
    p.add_argument(
        "--out", help="write the inference table (markdown) here, e.g. docs/bench_inference.md"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also run scripts/bench_*.py helpers and write BENCHMARKS.md",
    )
    p.add_argument(
        "--benchmarks-md",
        default="BENCHMARKS.md",
        help="where --all writes (default BENCHMARKS.md)",
    )
    p.add_argument(
        "--scripts-dir", help="folder of the helper scripts (default: ./scripts, else the repo's)"
    )


def _scripts_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    here = Path.cwd() / "scripts"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "scripts"


def _drop_title(md: str) -> str:
    """Remove a leading ``# Title`` line: BENCHMARKS.md gives each helper its own section."""
    lines = md.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def run_helper(path: Path, quick: bool, threads: int | None = None) -> str:
    """Import ``path`` by file location and return its markdown.

    Calls ``run()`` (with the :data:`QUICK_KW` settings it accepts when ``quick``) and the
    module's ``format_markdown`` / ``to_markdown``; a script with only ``main(argv)`` is called
    with ``--out <tmp>`` (plus ``--reps 1`` / ``--threads N`` where its source shows those
    options) and its output file, or else its printed output, is returned.
    """
    import tempfile

    spec = importlib.util.spec_from_file_location(f"medseg_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, "run", None)
    buf = io.StringIO()
    if fn is not None:
        params = inspect.signature(fn).parameters
        kw = {k: v for k, v in QUICK_KW.items() if k in params} if quick else {}
        if threads and "threads" in params:
            # some helpers take one thread count, others a tuple of counts to sweep
            default = params["threads"].default
            kw["threads"] = (threads,) if isinstance(default, tuple) else threads
        with redirect_stdout(buf):
            res = fn(**kw)
        for fmt in ("format_markdown", "to_markdown"):
            if hasattr(mod, fmt) and res is not None:
                return _drop_title(getattr(mod, fmt)(res))
        if isinstance(res, str):
            return _drop_title(res)
        if isinstance(res, dict) and "markdown" in res:
            return _drop_title(res["markdown"])
        return "```\n" + (buf.getvalue().strip() or repr(res)) + "\n```\n"
    main = getattr(mod, "main", None)
    if main is None or not inspect.signature(main).parameters:
        raise RuntimeError(f"{path.name} has neither run() nor main(argv)")
    source = path.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.md"
        argv = ["--out", str(out)]
        if quick and '"--reps"' in source:
            argv += ["--reps", "1"]
        if threads and '"--threads"' in source:
            argv += ["--threads", str(threads)]
        with redirect_stdout(buf):
            rc = main(argv)
        if rc:
            raise RuntimeError(f"{path.name} exited with {rc}")
        if out.is_file():
            return _drop_title(out.read_text())
    return "```\n" + buf.getvalue().strip() + "\n```\n"


def run(args: argparse.Namespace) -> int:
    import torch

    from ..bench import run_suite

    if args.threads:
        torch.set_num_threads(args.threads)
    what = set(args.what or SUB_BENCHMARKS)
    if what - set(SUB_BENCHMARKS):
        raise ValueError(
            f"unknown sub-benchmark(s) {sorted(what - set(SUB_BENCHMARKS))}; choose from {SUB_BENCHMARKS}"
        )
    res = run_suite(
        models=args.models,
        backends=args.backends,
        sizes=args.sizes,
        reps=args.reps,
        tta="tta" in what,
        int8="int8" in what,
        quick=args.quick,
        log=lambda m: print(m, file=sys.stderr),
        latency="backends" in what,
    )
    if "backends" not in what:
        res["markdown"] = res["markdown"].split("\n\n", 2)[-1]
    print(res["markdown"])
    if args.out:
        Path(args.out).write_text("# Inference benchmarks\n\n" + res["markdown"] + "\n")
    if args.all:
        sections = [
            "# Benchmarks",
            "",
            "Written by `medseg bench --all`.",
            "",
            "## Inference (model × back-end × size, TTA, int8)",
            "",
            res["markdown"],
            "",
        ]
        sdir = _scripts_dir(args.scripts_dir)
        for fname, title in HELPER_SCRIPTS:
            path = sdir / fname
            sections += [f"## {title}", ""]
            if not path.is_file():
                msg = f"skipped: {fname} not found in {sdir}"
                print(msg, file=sys.stderr)
                sections += [f"_{msg}_", ""]
                continue
            print(f"running {fname} ...", file=sys.stderr)
            try:
                sections += [run_helper(path, args.quick, args.threads), ""]
            except Exception as e:  # noqa: BLE001 - one failing helper must not lose the others
                msg = f"{fname} failed: {type(e).__name__}: {e}"
                print(msg, file=sys.stderr)
                sections += [f"_{msg}_", ""]
        Path(args.benchmarks_md).write_text("\n".join(sections))
        print(f"wrote {args.benchmarks_md}", file=sys.stderr)
    return 0
