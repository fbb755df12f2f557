"""Test-time augmentation: scales × horizontal flip, probabilities averaged over views.

Batched: the flipped and un-flipped copies of each scale go through ONE forward pass (views of
one size share a batch), so 3 scales × 2 flips cost 3 forward passes instead of 6. The result
equals the one-by-one loop (:func:`tta_predict_loop`, kept as the reference and benchmark
baseline) up to float rounding.

Batching pays where one pass leaves the device idle (a GPU: 3.2× on an H100); on a 2-core CPU
a batch of 6 views costs about 6 single views, and sometimes more. So
:func:`choose_batching` measures both once per model, back-end, device and size class on this
machine and remembers the faster (:class:`~medseg.engine.decisions.DecisionCache`); GPUs
always batch. ``tta_predict(..., batched=False)`` runs the same views one forward pass each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import ConfusionMatrix
from ..models.outputs import logits_to_probs
from ..runners import as_runner

RunnerFn = Callable[[torch.Tensor], torch.Tensor]


def _scaled(x: torch.Tensor, s: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _back(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(logits.shape[-2:]) == size:
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def _uncertainty(views: list[torch.Tensor], mean: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "variance":  # disagreement between views, summed over classes
        stack = torch.stack(views)
        return stack.var(dim=0, unbiased=False).sum(1)
    if kind == "entropy":  # predictive entropy of the mean, scaled to [0, 1]
        p = mean if mean.shape[1] > 1 else torch.cat([1 - mean, mean], 1)
        ent = -(p * torch.log(p.clamp_min(1e-12))).sum(1)
        return ent / float(np.log(p.shape[1]))
    raise ValueError(f"uncertainty must be 'entropy' or 'variance', got {kind!r}")


def tta_predict(
    runner: RunnerFn | nn.Module,
    image_tensor: torch.Tensor,
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    flips: bool = True,
    *,
    uncertainty: str = "entropy",
    batched: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-scale × flip TTA, batched (one forward pass per scale) or one view per pass.

    Args:
        runner: a model or runner ``[B, C, h, w] -> logits [B, K, h, w]``
            (e.g. ``Predictor.logits``, so ONNX Runtime back-ends work too).
        image_tensor: normalised ``[N, C, H, W]`` float32.
        scales: input scale factors.
        flips: add the horizontally flipped view of every scale.
        uncertainty: ``"entropy"`` (of the mean probabilities, in [0, 1]) or ``"variance"``
            (across views, summed over classes).
        batched: one forward pass per scale (all images and their flips together); ``False``:
            one pass per view and image (same numbers up to float rounding; see
            :func:`choose_batching` for which is faster where).

    Returns:
        ``(mean_probs [N, K, H, W], uncertainty [N, H, W])``, float32.
    """
    fn = as_runner(runner)
    if not batched:
        one = fn

        def fn(b: torch.Tensor) -> torch.Tensor:
            return torch.cat([one(b[i : i + 1]) for i in range(b.shape[0])])

    if uncertainty not in ("entropy", "variance"):
        raise ValueError(f"uncertainty must be 'entropy' or 'variance', got {uncertainty!r}")
    x = image_tensor
    n = x.shape[0]
    size = tuple(x.shape[-2:])
    # Running sums instead of a stack of all views: same numbers, no [V, N, K, H, W] copy.
    total = sq = None
    count = 0
    for s in scales:
        xs = _scaled(x, s)
        batch = torch.cat([xs, xs.flip(-1)]) if flips else xs
        probs = logits_to_probs(_back(fn(batch).float(), size))
        if flips:
            probs[n:] = probs[n:].flip(-1)
        v = probs.reshape(-1 if not flips else 2, n, *probs.shape[1:])
        part = v.sum(0)
        total = part if total is None else total + part
        if uncertainty == "variance":
            psq = (v * v).sum(0)
            sq = psq if sq is None else sq + psq
        count += v.shape[0]
    mean = total / count
    if uncertainty == "variance":
        unc = (sq / count - mean * mean).clamp_min_(0.0).sum(1)
    else:
        unc = _uncertainty([], mean, "entropy")
    return mean, unc


def tta_predict_loop(
    runner: RunnerFn | nn.Module,
    image_tensor: torch.Tensor,
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    flips: bool = True,
    *,
    uncertainty: str = "entropy",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference implementation: one forward pass per view and per image (same outputs)."""
    fn = as_runner(runner)
    size = tuple(image_tensor.shape[-2:])
    per_image = []
    for i in range(image_tensor.shape[0]):
        x = image_tensor[i : i + 1]
        views = []
        for s in scales:
            for flip in (False, True) if flips else (False,):
                xs = _scaled(x, s)
                if flip:
                    xs = xs.flip(-1)
                y = _back(fn(xs).float(), size)
                views.append(logits_to_probs(y.flip(-1) if flip else y))
        per_image.append(views)
    views = [torch.cat([v[j] for v in per_image]) for j in range(len(per_image[0]))]
    mean = torch.stack(views).mean(0)
    return mean, _uncertainty(views, mean, uncertainty)


def choose_batching(
    runner: RunnerFn,
    x: torch.Tensor,
    *,
    key: str,
    device: str | torch.device = "cpu",
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    flips: bool = True,
    use_cache: bool = True,
) -> bool:
    """Whether batched TTA is faster than one view per pass for ``runner`` on this machine.

    GPUs: always ``True`` (batching is what they are for). Elsewhere both are timed on ``x``
    (three rounds of a block of one untimed and one timed call each; the faster fastest call
    wins, as other processes only add time), once per
    ``key`` (model, back-end, size class) and machine; the answer is remembered in the
    decision cache.

    Args:
        runner: ``[B, C, h, w] -> logits`` (e.g. ``Predictor.logits``).
        x: a normalised input ``[1, C, H, W]`` of the size TTA will run at.
        key: what the decision is for (model, back-end, device, size class).
    """
    if torch.device(device).type != "cpu":
        return True
    from .decisions import DecisionCache
    from .timing import median_ms, timed_rounds

    cache = DecisionCache() if use_cache else None
    full_key = f"{key}|{len(tuple(scales))}x{int(bool(flips))}"
    hit = cache.get("tta", full_key) if cache is not None else None
    if hit is not None:
        return bool(hit["batched"])
    t = timed_rounds(
        {
            mode: (lambda b=(mode == "batched"): tta_predict(runner, x, scales, flips, batched=b))
            for mode in ("batched", "loop")
        },
        reps=3,
        rounds=3,
    )
    loop_ms, batched_ms = median_ms(t["loop"]), median_ms(t["batched"])
    # decided on the fastest call of each (other processes only add time), like auto
    res = {
        "batched": min(t["batched"]) < min(t["loop"]),
        "loop_ms": loop_ms,
        "batched_ms": batched_ms,
    }
    if cache is not None:
        cache.put("tta", full_key, res)
    return res["batched"]


def _scores(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int) -> dict:
    cm = ConfusionMatrix(max(num_classes, 2), ignore_index=ignore_index)
    cm.update(pred, gt)
    s = cm.compute()
    return {"miou": float(s.miou), "mean_dice": float(s.mean_dice)}


def compare_tta(
    predictor,
    image: np.ndarray,
    gt: np.ndarray | None = None,
    *,
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    flips: bool = True,
    ignore_index: int = 255,
) -> dict:
    """Predict with and without TTA, for the app's TTA tab.

    Args:
        predictor: a :class:`~medseg.engine.predictor.Predictor`.
        image: ``[H, W, 3]`` uint8 or ``[H, W]`` image.
        gt: optional ``[H, W]`` ground-truth labels (``ignore_index`` ignored).

    Returns:
        ``labels`` and ``labels_tta`` ``[H, W]``, ``uncertainty`` ``[H, W]`` float32 in [0, 1],
        ``changed`` ``[H, W]`` bool (pixels whose label TTA changed), ``changed_fraction``,
        ``seconds`` and ``seconds_tta``, ``views`` (forward views used); with ``gt`` also
        ``miou``/``miou_tta`` and ``dice``/``dice_tta`` (mean over classes present, from one
        confusion matrix per image).
    """
    t0 = time.perf_counter()
    plain = predictor.predict_image(image)
    t1 = time.perf_counter()
    tta = predictor.predict_image(image, tta={"scales": tuple(scales), "flips": flips})
    t2 = time.perf_counter()
    changed = plain.labels != tta.labels
    out = {
        "labels": plain.labels,
        "labels_tta": tta.labels,
        "uncertainty": tta.uncertainty,
        "changed": changed,
        "changed_fraction": float(changed.mean()),
        "seconds": t1 - t0,
        "seconds_tta": t2 - t1,
        "views": len(scales) * (2 if flips else 1),
    }
    if gt is not None:
        gt = np.asarray(gt)
        if gt.shape != plain.labels.shape:
            raise ValueError(f"gt shape {gt.shape} != image shape {plain.labels.shape}")
        k = predictor.cfg.num_classes
        a = _scores(plain.labels, gt, k, ignore_index)
        b = _scores(tta.labels, gt, k, ignore_index)
        out.update(miou=a["miou"], miou_tta=b["miou"], dice=a["mean_dice"], dice_tta=b["mean_dice"])
    return out
