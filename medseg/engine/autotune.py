"""``backend="auto"``: measure the back-ends on this machine, keep the fastest correct one.

On the first call of a model at an input size (sizes within a factor √2 in pixel count
share a decision), :class:`AutoRunner`

1. builds every candidate back-end (eager, channels-last, bf16 autocast where the CPU has
   AVX512-BF16 or AMX, ONNX Runtime, OpenVINO fp32 and bf16; see
   :func:`medseg.engine.backends.auto_candidates`; ``$MEDSEG_AUTO_BACKENDS`` limits them);
2. runs each on a calibration batch (:func:`~medseg.engine.calibration.calibration_batch`: slices of a real head volume
   for MR models where one is installed, synthetic street scenes for street models) and
   compares its labels with the reference (eager fp32): a candidate whose labels differ on
   more than 0.5 % of the pixels is out;
3. times the agreeing ones at batch 1 in rounds of blocks (:mod:`medseg.engine.timing`) and
   ranks them by their fastest call (load from other processes only adds time);
4. for medical models, checks the fastest ones in turn on a whole real volume: the Dice of
   the candidate against the volume's reference mask may not fall more than 0.002 below the
   Dice of eager fp32 (decided once per model and machine,
   :func:`~medseg.engine.calibration.volume_check`);
5. keeps the fastest candidate that passed (eager fp32 when none is faster), and writes the
   decision — with every candidate's time, agreement and the reason — to a JSON file per
   machine under the user cache folder (:func:`medseg.engine.decisions.cache_dir`), keyed by the CPU model, its
   flags and the library versions (:func:`medseg.engine.machine.machine_key`).

Later calls, in this process or the next, read the decision instead of measuring again.
Nothing less accurate is chosen silently: :attr:`AutoRunner.choice` (an :class:`AutoChoice`)
says what was chosen and why, the CLI report and the app show it. int8 is never a candidate
(its accuracy change must be measured and reported by the user who opts in).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..runners import Runner
from .calibration import (
    MIN_AGREEMENT,
    calibration_batch,
    label_agreement,
    volume_check,
)
from .decisions import DecisionCache
from .machine import machine_key
from .timing import median_ms, timed_rounds

log = logging.getLogger("medseg.autotune")

#: back-ends that compute in reduced precision (bf16)
REDUCED = frozenset({"bf16", "openvino-bf16"})
#: ... which must be this much faster than the best fp32 back-end to be chosen
REDUCED_PRECISION_MARGIN = 1.05
#: how summaries name the reference each candidate is compared with
REFERENCE_LABELS = {
    "torch": "eager fp32",
    "onnxruntime": "ONNX Runtime fp32",
    "openvino-fp32": "OpenVINO fp32",
}

#: comma-separated back-end names that limit the candidates (the reference is always kept)
ENV_BACKENDS = "MEDSEG_AUTO_BACKENDS"


# ---------------------------------------------------------------------------- records
@dataclass
class Trial:
    """One candidate back-end on the calibration input."""

    backend: str
    status: str  # "chosen", "ok", "disagrees", "volume check failed", "failed: ..."
    median_ms: float | None = None
    best_ms: float | None = None  # fastest call (what the ranking uses)
    speedup: float | None = None  # reference median / this median, same run
    agreement: float | None = None  # fraction of pixels with the reference's label
    max_abs_diff: float | None = None  # logits vs the reference
    build_s: float | None = None
    volume: dict | None = None  # the medical volume check, when one ran


@dataclass
class AutoChoice:
    """What ``auto`` chose for one model, size class and device, and why."""

    backend: str
    reference: str
    model: str
    model_id: str
    device: str
    size: tuple[int, int]
    bucket: str
    machine_key: str
    trials: list[Trial] = field(default_factory=list)
    reason: str = ""
    created: str = ""
    tuning_s: float = 0.0
    cached: bool = False  # read from the cache rather than measured in this process

    @property
    def chosen(self) -> Trial | None:
        return next((t for t in self.trials if t.backend == self.backend), None)

    def summary(self) -> str:
        """One line for reports and the app, e.g. ``openvino-bf16 (auto: 5.1× eager fp32,
        labels agree with it on 99.98 % of pixels)``."""
        t = self.chosen
        if self.backend == self.reference or t is None:
            return f"{self.backend} (auto: {self.reason})"
        ref = REFERENCE_LABELS.get(self.reference, self.reference)
        parts = []
        if t.speedup:
            parts.append(f"{t.speedup:.1f}× {ref}")
        if t.agreement is not None:
            parts.append(f"labels agree with it on {100 * t.agreement:.2f} % of pixels")
        v = t.volume or {}
        if v.get("dice_drop") is not None and v.get("volume"):
            parts.append(f"Dice on a real volume {-v['dice_drop']:+.4f}")
        return f"{self.backend} (auto: {', '.join(parts)})"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AutoChoice:
        d = dict(d)
        d["trials"] = [Trial(**t) for t in d.get("trials", [])]
        d["size"] = tuple(d["size"])
        return cls(**d)


def size_bucket(h: int, w: int) -> str:
    """Size class of an input: pixel counts within a factor √2 share a decision (a photo of a
    slightly different aspect ratio does not trigger a new measurement)."""
    return f"px2^{round(2 * math.log2(max(1, h * w))) / 2:g}"


# ---------------------------------------------------------------------------- tuning
def _sync(device: str) -> Callable[[], None]:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.synchronize
    return lambda: None


def tune(
    factories: dict[str, Callable[[], Runner]],
    reference: str,
    cfg,
    size: Sequence[int],
    *,
    model_id: str,
    device: str = "cpu",
    cache: DecisionCache | None = None,
    built: dict[str, Runner] | None = None,
    budget_s: float = 1.5,
    logger: Callable[[str], None] | None = None,
) -> AutoChoice:
    """Measure every candidate and choose (see the module docstring).

    Args:
        factories: back-end name → zero-argument builder of a runner; includes ``reference``.
        reference: the back-end every other is checked against (eager fp32).
        cfg: the model's ModelCfg (calibration input, medical or not).
        size: ``(h, w)`` of the input the decision is for.
        model_id: identity of the weights (cache keys of volume checks).
        device: ``"cpu"`` or a CUDA device (timings are synchronised).
        cache: where volume checks are remembered (``None``: not remembered).
        built: runners built so far (filled in: the caller reuses the winner).
        budget_s: timing budget per candidate, in seconds (3 to 15 timed calls).
        logger: progress messages.

    Returns:
        The :class:`AutoChoice`.
    """
    say = logger or (lambda m: log.info(m))
    t_start = time.perf_counter()
    h, w = int(size[0]), int(size[1])
    built = {} if built is None else built
    record = {
        "reference": reference,
        "model": cfg.name,
        "model_id": model_id,
        "device": str(device),
        "size": (h, w),
        "bucket": size_bucket(h, w),
        "machine_key": cache.key if cache is not None else machine_key(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if list(factories) == [reference]:  # nothing to compare: no calibration, no timing
        return AutoChoice(
            backend=reference,
            trials=[Trial(reference, "chosen")],
            reason=f"the only candidate (limited by ${ENV_BACKENDS} or by what is installed)",
            **record,
        )
    calib, calib_what = calibration_batch(cfg, (h, w))
    x1 = calib[:1].contiguous()
    sync = _sync(device)
    trials: dict[str, Trial] = {}
    outputs: dict[str, torch.Tensor] = {}
    per_call: dict[str, float] = {}
    order = [reference] + [b for b in factories if b != reference]
    for name in order:
        try:
            t0 = time.perf_counter()
            r = built.get(name) or factories[name]()
            built[name] = r
            b_s = time.perf_counter() - t0
            outputs[name] = r(calib).float().cpu()
            trials[name] = Trial(name, "ok", build_s=round(b_s, 3))
        except Exception as e:  # noqa: BLE001 - a back-end that cannot run is no candidate
            if name == reference:
                raise
            trials[name] = Trial(name, f"failed: {type(e).__name__}: {str(e)[:160]}")
    ref_out = outputs[reference]
    for name, y in outputs.items():
        t = trials[name]
        t.agreement = label_agreement(y, ref_out)
        t.max_abs_diff = float((y - ref_out).abs().max())
        if t.agreement < MIN_AGREEMENT:
            t.status = "disagrees"
    timed = [n for n in outputs if trials[n].status == "ok"]

    def call(r):
        def f():
            r(x1)
            sync()

        return f

    for n in timed:  # one call at batch 1 first: warms shape-specialised plans, estimates time
        t0 = time.perf_counter()
        call(built[n])()
        per_call[n] = time.perf_counter() - t0
    # as many calls as fit the budget, per candidate (3 to 15): fast ones get more samples
    reps = {n: int(min(15, max(3, budget_s / max(per_call[n], 1e-4)))) for n in timed}
    times = timed_rounds({n: call(built[n]) for n in timed}, reps)
    base = median_ms(times[reference])
    for n in timed:
        trials[n].median_ms = round(median_ms(times[n]), 3)
        trials[n].best_ms = round(1e3 * min(times[n]), 3)
        trials[n].speedup = round(base / trials[n].median_ms, 3) if trials[n].median_ms else None
    # A reduced-precision candidate must beat the best fp32 one by more than the margin:
    # within timing noise, the exact path wins.
    # Ranked by the fastest call: other processes only ever add time, so on a shared machine
    # the minimum tracks a back-end's own cost better than the median (one loaded block would
    # otherwise decide; seen: bf16 at 12 ms measured 115 ms during a spike).
    ranked = sorted(
        timed,
        key=lambda n: trials[n].best_ms * (REDUCED_PRECISION_MARGIN if n in REDUCED else 1.0),
    )
    chosen = reference
    for n in ranked:
        if n == reference:
            break
        if cfg.task == "medical":
            key = f"{model_id}|{n}|{reference}"
            vc = cache.get("volume_checks", key) if cache is not None else None
            if vc is None:
                say(f"auto: checking {n} on a whole volume against {reference} (once per machine)")
                vc = volume_check(cfg, built[reference], built[n])
                if cache is not None:
                    cache.put("volume_checks", key, vc)
            trials[n].volume = vc
            if not vc["passed"]:
                trials[n].status = "volume check failed"
                continue
        chosen = n
        break
    others = len(trials) - len(timed)
    reason = (
        f"fastest of {len(timed)} back-ends whose labels agree with {reference} on "
        f"≥ {100 * MIN_AGREEMENT:g} % of pixels of {calib_what}"
        + (f"; {others} other(s) disagreed or failed" if others else "")
    )
    trials[chosen].status = "chosen"
    return AutoChoice(
        backend=chosen,
        trials=[trials[n] for n in order],
        reason=reason,
        tuning_s=round(time.perf_counter() - t_start, 2),
        **record,
    )


def limit_candidates(names: Sequence[str], reference: str) -> list[str]:
    """``names`` limited by ``$MEDSEG_AUTO_BACKENDS`` (when set), the reference first."""
    env = os.environ.get(ENV_BACKENDS, "").strip()
    keep = [n for n in names if n != reference]
    if env:
        allowed = {s.strip() for s in env.split(",") if s.strip()}
        keep = [n for n in keep if n in allowed]
    return [reference, *keep]


class AutoRunner(Runner):
    """A runner that picks its back-end on first use at each size class (see module docs).

    Args:
        factories: back-end name → builder of a runner (the candidates, reference included).
        reference: the back-end the others must agree with (eager fp32 for a torch model).
        cfg: the model's ModelCfg.
        model_id: identity of the weights (cache key; see :func:`model_fingerprint`).
        device: where it runs (``"cpu"`` or CUDA).
        context: extra cache-key text for settings that change timings (e.g. ORT spinning).
        use_cache: read and write the decision cache (``False``: measure in every process).
    """

    name = "auto"

    def __init__(
        self,
        factories: dict[str, Callable[[], Runner]],
        *,
        reference: str,
        cfg,
        model_id: str,
        device: str = "cpu",
        context: str = "",
        use_cache: bool = True,
        logger: Callable[[str], None] | None = None,
    ):
        if reference not in factories:
            raise ValueError(f"the reference back-end {reference!r} must be among the candidates")
        self.factories = factories
        self.reference = reference
        self.cfg = cfg
        self.model_id = model_id
        self.device = torch.device(device)
        self.context = context
        self.cache = DecisionCache() if use_cache else None
        self.logger = logger
        self.choice: AutoChoice | None = None
        self.choices: dict[str, AutoChoice] = {}
        self._built: dict[str, Runner] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> str | None:
        """The back-end of the latest decision (``None`` before the first call)."""
        return self.choice.backend if self.choice else None

    def _key(self, bucket: str) -> str:
        cands = ",".join(sorted(self.factories))
        return f"{self.model_id}|{self.cfg.name}|{self.device}|{bucket}|{cands}|{self.context}"

    def decide(self, h: int, w: int) -> AutoChoice:
        """The decision for inputs of ``h × w`` (from memory, the cache, or measured now)."""
        bucket = size_bucket(h, w)
        with self._lock:
            if bucket in self.choices:
                self.choice = self.choices[bucket]
                return self.choice
            key = self._key(bucket)
            hit = self.cache.get("choices", key) if self.cache is not None else None
            choice = None
            if hit is not None and hit.get("backend") in self.factories:
                choice = AutoChoice.from_dict(hit)
                choice.cached = True
                try:
                    self._runner(choice.backend)
                except Exception as e:  # noqa: BLE001 - cached choice no longer builds: re-measure
                    log.warning("auto: cached back-end %s fails to build (%s)", choice.backend, e)
                    choice = None
            if choice is None:
                if len(self.factories) > 1:
                    msg = (
                        f"auto: timing {len(self.factories)} back-ends for {self.cfg.name} at "
                        f"{h}x{w} on this machine (once; cached in "
                        f"{self.cache.path if self.cache else 'memory'})"
                    )
                    (self.logger or log.info)(msg)
                choice = tune(
                    self.factories,
                    self.reference,
                    self.cfg,
                    (h, w),
                    model_id=self.model_id,
                    device=str(self.device),
                    cache=self.cache,
                    built=self._built,
                    logger=self.logger,
                )
                if self.cache is not None:
                    self.cache.put("choices", key, choice.to_dict())
                # keep only the winner (and the reference) built: the others hold memory
                for n in list(self._built):
                    if n not in (choice.backend, self.reference):
                        del self._built[n]
            self.choices[bucket] = choice
            self.choice = choice
            return choice

    def _runner(self, backend: str) -> Runner:
        r = self._built.get(backend)
        if r is None:
            r = self._built[backend] = self.factories[backend]()
        return r

    def runner_for(self, x: torch.Tensor) -> Runner:
        """The runner chosen for ``x``'s size class (deciding first if needed)."""
        choice = self.decide(int(x.shape[-2]), int(x.shape[-1]))
        return self._runner(choice.backend)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner_for(x)(x)

    def describe(self) -> str:
        """What ran: ``"auto (not decided yet)"`` or the latest :meth:`AutoChoice.summary`."""
        return self.choice.summary() if self.choice else "auto (not decided yet)"
