"""Inference benchmarks: back-ends × sizes, batched vs looped TTA, int8 accuracy.

Back-ends are timed in rounds of blocks (a block of calls of each back-end in turn, three
rounds) so that load from other processes hits all back-ends alike without one back-end's
spinning worker threads slowing the next one's call; every ratio is taken against eager
PyTorch measured in the same run. Numbers are medians of several repetitions after warm-up.
"""

from __future__ import annotations

import gc
import platform
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..engine.backends import BACKENDS, make_runner
from ..engine.calibration import calibration_batch, label_agreement
from ..engine.machine import cpu_info, library_versions
from ..engine.timing import load_average, timed_rounds
from ..models import create_model, get_model_cfg


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _model(name: str, pretrained: bool | None, **kw):
    if pretrained is None:
        pretrained = get_model_cfg(name).has_pretrained
    torch.manual_seed(0)
    return create_model(name, pretrained=pretrained, **kw).eval(), pretrained


def machine_info() -> dict:
    """CPU model and flags, threads, library versions and load, for the benchmark header."""
    info = cpu_info()
    v = library_versions()
    return {
        "cpu": info["model"] or platform.processor() or platform.machine(),
        "flags": info["relevant_flags"],
        "cores": info["cores"],
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onnxruntime": v.get("onnxruntime"),
        "openvino": v.get("openvino"),
        "python": platform.python_version(),
        "load": load_average(),
    }


def _malloc_note() -> str:
    from ..runtime import allocator_settings

    a = allocator_settings()
    if a is None:
        return "glibc defaults (not tuned: eager PyTorch re-faults its activations each call)"
    return (
        f"tuned by `medseg.runtime.tune_allocator` (no per-block mmap, trim threshold "
        f"{a['trim_threshold'] >> 20} MiB), as every `medseg` command does"
    )


def _timed_rounds(calls: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Seconds per call of each entry, in rounds of blocks (see :mod:`medseg.engine.timing`)."""
    return timed_rounds(calls, reps)


def _stats(times: list[float], batch: int) -> dict:
    a = np.asarray(times) * 1000.0
    med = float(np.median(a))
    return {
        "median_ms": med,
        "p90_ms": float(np.percentile(a, 90)),
        "fps": 1000.0 * batch / med if med > 0 else float("inf"),
    }


#: every back-end and precision, in the order of the tables: the engine's one list
#: (:data:`medseg.engine.backends.BACKENDS`), ``auto`` last so its row follows what it chose among
ALL_BACKENDS = tuple(n for n in BACKENDS if n != "auto") + ("auto",)


def bench_backends(
    name: str,
    backends: Sequence[str] = ALL_BACKENDS,
    sizes: Sequence[Sequence[int]] = ((256, 512),),
    *,
    batch: int = 1,
    warmup: int = 3,
    reps: int = 20,
    pretrained: bool | None = None,
    model_kwargs: dict | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Latency of one model on several back-ends and input sizes, and their label agreement.

    The input is the calibration batch ``backend="auto"`` uses
    (:func:`~medseg.engine.calibration.calibration_batch`: slices of a real volume for medical
    models, synthetic street scenes for street models), so agreement figures mean something
    for trained weights; timing uses its first image (batch ``batch``). ``auto`` decides in
    its warm-up call (the decision is kept out of the timing) and its row says what it chose.

    Returns:
        One dict per (size, backend): ``model, backend, size, batch, median_ms, p90_ms, fps,
        rss_mb`` (resident memory added by building and warming that back-end), ``speedup``
        (eager median / this median, same run), ``max_abs_diff`` (logits vs eager),
        ``agreement`` (fraction of pixels with eager's label, over the calibration batch),
        ``chosen`` (for ``auto``: the back-end it chose) and ``pretrained``.
    """
    model, pre = _model(name, pretrained, **(model_kwargs or {}))
    rows: list[dict] = []
    for size in sizes:
        h, w = int(size[0]), int(size[1])
        calib, _ = calibration_batch(model.cfg, (h, w))
        x = calib[:1].repeat(batch, 1, 1, 1).contiguous()
        runners, mem = {}, {}
        for be in backends:
            gc.collect()
            before = _rss_mb()
            try:
                # ort_spin=False: the back-ends share one process, and spinning ORT threads
                # keep the cores busy while PyTorch runs (measured, call-by-call: eager 21 ms
                # -> 56 ms on the light model), which would inflate every ratio against eager.
                r = make_runner(model, be, example_size=(min(h, 128), min(w, 128)), ort_spin=False)
                for _ in range(warmup):
                    r(x)
            except Exception as e:  # noqa: BLE001 - report and go on with the others
                if log:
                    log(f"  {name} {be}: skipped ({type(e).__name__}: {str(e)[:120]})")
                continue
            runners[be], mem[be] = r, _rss_mb() - before
        ref = runners["torch"](calib).float() if "torch" in runners else None
        times = _timed_rounds({be: (lambda r=r, x=x: r(x)) for be, r in runners.items()}, reps)
        base = _stats(times["torch"], batch)["median_ms"] if "torch" in times else None
        for be, r in runners.items():
            st = _stats(times[be], batch)
            y = r(calib).float() if ref is not None else None
            choice = getattr(r, "choice", None)
            rows.append(
                {
                    "model": name,
                    "backend": be,
                    "size": f"{h}x{w}",
                    "batch": batch,
                    **st,
                    "rss_mb": mem[be],
                    "speedup": base / st["median_ms"] if base else None,
                    "max_abs_diff": float((y - ref).abs().max()) if y is not None else None,
                    "agreement": label_agreement(y, ref) if y is not None else None,
                    "agreement_pct": 100 * label_agreement(y, ref) if y is not None else None,
                    "chosen": choice.backend if choice is not None else None,
                    "pretrained": pre,
                }
            )
            if log:
                extra = f"  -> {rows[-1]['chosen']}" if rows[-1]["chosen"] else ""
                log(
                    f"  {name:22s} {be:14s} {h}x{w}  median {st['median_ms']:8.2f} ms  "
                    f"p90 {st['p90_ms']:8.2f}  {st['fps']:7.1f} fps  x{rows[-1]['speedup'] or 0:.2f}"
                    f"  agree {100 * (rows[-1]['agreement'] or 0):.2f}%{extra}"
                )
        del runners
    return rows


def bench_tta(
    name: str,
    size: Sequence[int] = (256, 512),
    *,
    backend: str = "torch",
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    reps: int = 5,
    warmup: int = 1,
    pretrained: bool | None = None,
    model_kwargs: dict | None = None,
) -> dict:
    """Batched TTA (one pass per scale) vs the one-by-one loop on one back-end, same run.

    Both go through the same runner (:func:`~medseg.engine.backends.make_runner`), so the
    ratio is the effect of batching alone. Timed in rounds of blocks, as
    :func:`bench_backends`.

    Returns:
        ``model, backend, size, views, loop_ms, batched_ms, speedup, max_abs_diff``.
    """
    from ..engine.tta import tta_predict, tta_predict_loop

    model, _ = _model(name, pretrained, **(model_kwargs or {}))
    x = torch.randn(1, model.cfg.in_channels, *size, generator=torch.Generator().manual_seed(0))
    fn = make_runner(model, backend, example_size=(128, 128), ort_spin=False)
    for _ in range(warmup):
        tta_predict(fn, x, scales)
        tta_predict_loop(fn, x, scales)
    t = _timed_rounds(
        {
            "loop": lambda: tta_predict_loop(fn, x, scales),
            "batched": lambda: tta_predict(fn, x, scales),
        },
        reps,
    )
    tl, tb = t["loop"], t["batched"]
    a, _ = tta_predict_loop(fn, x, scales)
    b, _ = tta_predict(fn, x, scales)
    lm, bm = float(np.median(tl)) * 1e3, float(np.median(tb)) * 1e3
    from ..engine.tta import choose_batching

    chosen = choose_batching(fn, x, key=f"bench|{name}|{backend}|{size}", scales=scales)
    return {
        "model": name,
        "backend": backend,
        "size": f"{size[0]}x{size[1]}",
        "views": 2 * len(scales),
        "loop_ms": lm,
        "batched_ms": bm,
        "speedup": lm / bm,
        "chosen": "batched" if chosen else "loop",
        "max_abs_diff": float((a - b).abs().max()),
    }


def int8_accuracy(
    name: str = "lraspp_mobilenet_v3",
    *,
    n_eval: int = 24,
    n_calib: int = 16,
    size: Sequence[int] = (256, 512),
    seed: int = 800_000,
    reps: int = 10,
) -> dict:
    """ΔmIoU of ORT int8 vs fp32 on held-out synthetic street scenes, and the speed gain.

    Uses the shipped weights (an untrained model has no accuracy to lose). Evaluation scenes
    use seeds from ``seed`` on, calibration scenes from 900 000 on; both far above the seeds
    a training run draws from.

    Returns:
        ``miou_fp32, miou_int8, delta_miou`` (points), ``agreement`` (pixel fraction with the
        same label), ``fp32_ms, int8_ms, speedup``.
    """
    from ..data.synthetic_streets import render_scene
    from ..engine.predictor import Predictor
    from ..export.quantize import synthetic_calibration
    from ..metrics import ConfusionMatrix

    model, pre = _model(name, True)
    cfg = model.cfg
    calib = synthetic_calibration(cfg, n=n_calib, size=size)
    # ort_spin=False: the two sessions share the process (see bench_backends)
    fp = Predictor(make_runner(model, "onnxruntime", ort_spin=False), cfg)
    q = Predictor(make_runner(model, "ort-int8", calibration=calib, ort_spin=False), cfg)
    cm_f, cm_q = ConfusionMatrix(cfg.num_classes), ConfusionMatrix(cfg.num_classes)
    agree = total = 0
    for i in range(n_eval):
        img, lab = render_scene(seed + i, size=tuple(size))
        a, b = fp.predict_image(img).labels, q.predict_image(img).labels
        cm_f.update(a[None].astype(np.int64), lab[None].astype(np.int64))
        cm_q.update(b[None].astype(np.int64), lab[None].astype(np.int64))
        agree += int((a == b).sum())
        total += a.size
    x = fp.preprocess(render_scene(seed, size=tuple(size))[0])
    t = _timed_rounds({"fp32": lambda: fp.logits(x), "int8": lambda: q.logits(x)}, reps)
    tf, tq = t["fp32"], t["int8"]
    mf, mq = float(cm_f.compute()["miou"]), float(cm_q.compute()["miou"])
    fm, qm = float(np.median(tf)) * 1e3, float(np.median(tq)) * 1e3
    return {
        "model": name,
        "pretrained": pre,
        "n_eval": n_eval,
        "miou_fp32": 100 * mf,
        "miou_int8": 100 * mq,
        "delta_miou": 100 * (mq - mf),
        "agreement": agree / total,
        "fp32_ms": fm,
        "int8_ms": qm,
        "speedup": fm / qm,
    }


def format_table(rows: list[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` = ``(key, header, format)`` e.g. ``("fps", "FPS", ".1f")``."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for k, _, f in columns:
            v = r.get(k)
            cells.append("–" if v is None else (format(v, f) if f else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BACKEND_COLUMNS = (
    ("model", "model", ""),
    ("backend", "backend", ""),
    ("size", "H×W", ""),
    ("median_ms", "median ms", ".2f"),
    ("p90_ms", "p90 ms", ".2f"),
    ("fps", "FPS", ".1f"),
    ("speedup", "× eager", ".2f"),
    ("agreement_pct", "labels = eager %", ".2f"),
    ("max_abs_diff", "max abs Δ logits", ".1e"),
    ("chosen", "auto chose", ""),
    ("rss_mb", "+RSS MB", ".0f"),
)
TTA_COLUMNS = (
    ("model", "model", ""),
    ("backend", "backend", ""),
    ("size", "H×W", ""),
    ("views", "views", ""),
    ("loop_ms", "loop ms", ".1f"),
    ("batched_ms", "batched ms", ".1f"),
    ("speedup", "speed-up", ".2f"),
    ("chosen", "medseg chooses", ""),
    ("max_abs_diff", "max abs Δ probs", ".1e"),
)


#: The recipe behind the inference table: model → (backends, sizes, reps, model kwargs).
SUITE = {
    "lraspp_mobilenet_v3": (ALL_BACKENDS, ((256, 512), (512, 1024)), 20, {}),
    "unet_medical": (ALL_BACKENDS, ((256, 256),), 20, {}),
    "deeplabv3_resnet50": (ALL_BACKENDS, ((256, 512),), 5, {}),
}
#: (model, size, back-end, repetitions)
TTA_SUITE = (
    ("lraspp_mobilenet_v3", (256, 512), "torch", 6),
    ("lraspp_mobilenet_v3", (256, 512), "onnxruntime", 6),
    ("lraspp_mobilenet_v3", (256, 512), "openvino-bf16", 6),
    ("lraspp_mobilenet_v3", (128, 256), "onnxruntime", 6),
    ("deeplabv3_resnet50", (256, 512), "torch", 3),
)


def run_suite(
    *,
    models: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    sizes: Sequence[Sequence[int]] | None = None,
    reps: int | None = None,
    tta: bool = True,
    int8: bool = True,
    quick: bool = False,
    log: Callable[[str], None] | None = print,
    latency: bool = True,
) -> dict:
    """Run the inference benchmarks and return ``{"backends", "tta", "int8", "markdown"}``.

    Arguments override the :data:`SUITE` recipe; ``latency=False`` skips the back-end table
    (TTA / int8 only); ``quick`` uses 3 repetitions and only the
    first size of each model (a smoke run, not for the published table). ``auto`` decides
    with a fresh decision cache, so its row is measured in this run.
    """
    import os
    import tempfile

    info = machine_info()
    if log:
        log(f"machine: {info}")
    # auto decides in this run (a fresh decision cache), not from an earlier one
    old_cache = os.environ.get("MEDSEG_CACHE_DIR")
    os.environ["MEDSEG_CACHE_DIR"] = tempfile.mkdtemp(prefix="medseg-bench-cache-")
    try:
        return _run_suite(info, models, backends, sizes, reps, tta, int8, quick, log, latency)
    finally:
        if old_cache is None:
            os.environ.pop("MEDSEG_CACHE_DIR", None)
        else:
            os.environ["MEDSEG_CACHE_DIR"] = old_cache


def _run_suite(info, models, backends, sizes, reps, tta, int8, quick, log, latency) -> dict:
    import datetime as dt

    rows: list[dict] = []
    for name in (models or list(SUITE)) if latency else ():
        be, sz, rp, kw = SUITE.get(name, (tuple(BACKENDS), ((256, 512),), 10, {}))
        be = tuple(backends or be)
        sz = tuple(sizes or (sz[:1] if quick else sz))
        rp = reps or (3 if quick else rp)
        rows += bench_backends(
            name, be, sz, reps=rp, warmup=1 if quick else 3, model_kwargs=kw, log=log
        )
    tta_rows = []
    if tta:
        for name, size, be, rp in TTA_SUITE:
            if models and name not in models:
                continue
            r = bench_tta(name, size, backend=be, reps=2 if quick else rp)
            tta_rows.append(r)
            if log:
                log(
                    f"  TTA {name} {be} {r['size']}: loop {r['loop_ms']:.0f} ms, "
                    f"batched {r['batched_ms']:.0f} ms, x{r['speedup']:.2f}"
                )
    int8_res = None
    if int8:
        if get_model_cfg("lraspp_mobilenet_v3").has_pretrained:
            int8_res = int8_accuracy(n_eval=8 if quick else 24, reps=3 if quick else 10)
            if log:
                log(
                    f"  int8: ΔmIoU {int8_res['delta_miou']:+.2f} points, x{int8_res['speedup']:.2f}"
                )
        elif log:
            log("  int8 accuracy: skipped (lraspp_mobilenet_v3 weights are not shipped yet)")
    flags = " ".join(info["flags"]) or "none of the relevant ones"
    load = info["load"]
    lines = [
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on **{info['cpu']}** "
        f"(flags: {flags}; {info['cores']} cores, {info['torch_threads']} threads for torch, "
        f"ONNX Runtime and OpenVINO), torch {info['torch']}, onnxruntime {info['onnxruntime']}, "
        f"openvino {info['openvino']}; load average at the start "
        f"{' '.join(f'{v:.2f}' for v in load) if load else 'n/a'} (the machine is shared: "
        "absolute times vary, ratios less). Batch 1; the input is the calibration batch "
        "`auto` uses (synthetic street scenes, slices of the real ch2 head volume for "
        "`unet_medical`); warm-up, then three rounds of a block of calls per back-end, medians; "
        "`× eager` is the ratio to eager PyTorch fp32 in the same run; `labels = eager` is the "
        "fraction of pixels whose label equals eager fp32's (over 3 calibration images). "
        "`auto` made its choice in its warm-up call (measured in this run, fresh cache) and is "
        f"then timed like the others. glibc malloc: {_malloc_note()}.",
        "",
        format_table(rows, BACKEND_COLUMNS),
        "",
    ]
    autos = [r for r in rows if r["backend"] == "auto"]
    if autos:
        lines += ["`auto` in this run:", ""]
        for r in autos:
            lines.append(
                f"- {r['model']} {r['size']}: chose **{r['chosen']}**, ×{r['speedup']:.2f} eager "
                f"fp32, labels equal to eager on {r['agreement_pct']:.2f} % of pixels"
            )
        lines.append("")
    if any(not r["pretrained"] for r in rows):
        lines += [
            "Rows with random weights (no shipped weights at the time): latency is the same, "
            "`max abs Δ` of int8 is not an accuracy figure.",
            "",
        ]
    if tta_rows:
        lines += [
            "### Batched TTA (3 scales × flip) vs the one-by-one loop",
            "",
            format_table(tta_rows, TTA_COLUMNS),
            "",
            "`medseg chooses`: what `Predictor.predict_image(tta=...)` runs on this machine, "
            "from its own measurement (`medseg.engine.tta.choose_batching`, made once per "
            "model, back-end and size class and cached; GPUs always batch). Its short "
            "measurement can disagree with the table when the two are within noise.",
            "",
        ]
    if int8_res:
        lines += [
            "### int8 accuracy (ORT static QDQ, per-channel, synthetic calibration)",
            "",
            f"{int8_res['n_eval']} held-out synthetic street scenes (256×512): mIoU fp32 "
            f"{int8_res['miou_fp32']:.2f}, int8 {int8_res['miou_int8']:.2f} "
            f"(Δ {int8_res['delta_miou']:+.2f} points), labels agree on "
            f"{100 * int8_res['agreement']:.2f}% of pixels; int8 {int8_res['int8_ms']:.1f} ms vs "
            f"fp32 {int8_res['fp32_ms']:.1f} ms (×{int8_res['speedup']:.2f}).",
            "",
        ]
    elif int8:
        lines += [
            "int8 accuracy: not measured (no trained street weights shipped at the time).",
            "",
        ]
    return {
        "backends": rows,
        "tta": tta_rows,
        "int8": int8_res,
        "machine": info,
        "markdown": "\n".join(lines),
    }
