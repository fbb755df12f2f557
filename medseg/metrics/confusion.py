"""Dataset-level confusion matrix for semantic segmentation.

One matrix is accumulated over the whole dataset (rows = ground truth, columns = prediction)
and every score is computed from it at the end, as the official Cityscapes evaluation does.
Averaging per-image scores (what many tutorials do) weights small images and rare classes
differently and gives different numbers; see ``docs/metrics.md``.

Speed: each ``update`` is one ``torch.bincount`` over ``target * C + pred``. The index is built
in the narrowest integer type that holds ``256 * C`` (int16 for up to 127 classes), and
ground-truth values ``>= C`` (255 = ignore, or stray labels) fall into overflow rows of the
histogram instead of being masked out first; that avoids a boolean-mask copy of every pixel.

Wide labels (int64 from ``argmax`` and most loaders, int32, int16) are 8x the bytes of uint8 and
the work is memory-bound, so they go through :func:`_wide_index`: in cache-sized chunks, the
range check (a max over the chunk) reads the chunk from memory and the index is then built
from the same chunk while it is still in the CPU cache, and the target is clamped into the
index in the same pass that reads it (out-of-range targets land in an overflow row that is
checked). No separate pass over all the int64 pixels is needed for the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..models.outputs import logits_to_labels
from .functional import SegmentationScores, scores_from_confusion

__all__ = ["ConfusionMatrix", "to_label_tensor"]

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
#: pixels per chunk of :func:`_wide_index`: 32 Ki int64 = 256 KiB per array, in L2 (measured
#: best of 8 Ki .. 128 Ki here: smaller chunks pay more Python overhead, larger miss the cache)
_CHUNK = 1 << 15


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_:
            x = x.astype(np.uint8)
        elif x.dtype in (np.uint16, np.uint32, np.uint64):
            # torch has limited kernels for unsigned types wider than 8 bits
            x = x.astype(np.int64)
        return torch.from_numpy(np.ascontiguousarray(x))
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as e:  # pragma: no cover - message only
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}"
        ) from e


def to_label_tensor(pred: Any, target_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Turn a prediction into an integer label map.

    Args:
        pred: label map ``[...]`` (integer) or logits / probabilities ``[N, C, ...]`` (float),
            torch tensor or numpy array. Logits are reduced to labels over dim 1 (see
            :func:`medseg.models.outputs.logits_to_labels`; a single channel is a binary head's
            logit, foreground above 0) when ``pred`` has one more dimension than
            ``target_shape`` (or when no target shape is given and ``pred`` is floating point
            with ``ndim >= 2``).
        target_shape: shape of the matching ground truth, used to tell logits from labels.

    Returns:
        Integer tensor of label indices.
    """
    p = _as_tensor(pred, "pred")
    if p.dtype == torch.bool:
        p = p.to(torch.uint8)
    is_logits = (
        p.ndim == len(target_shape) + 1 if target_shape is not None else p.is_floating_point()
    )
    if is_logits:
        if p.ndim < 2:
            raise ValueError(f"logits must be [N, C, ...], got shape {tuple(p.shape)}")
        p = logits_to_labels(p, dim=1)
    elif p.is_floating_point():
        raise ValueError(
            "pred has the same shape as target but is floating point: pass integer labels, "
            "or logits/probabilities [N, C, ...] with one more dimension than target"
        )
    return p


def _all_below(a: np.ndarray | torch.Tensor, bound: int) -> bool:
    """True if every value is in ``0 .. bound-1``, in one pass.

    Signed integers are viewed as unsigned of the same width, so negatives become huge and
    ``max < bound`` checks both ends at once (numpy has no single-pass min/max).
    """
    if isinstance(a, np.ndarray):
        if a.size == 0:
            return True
        if a.dtype == np.uint8 and bound >= 256:
            return True
        if a.dtype.kind == "i":
            if bound > 2 ** (8 * a.dtype.itemsize - 1):  # negatives would map below bound
                return int(a.min()) >= 0 and int(a.max()) < bound
            a = a.view(f"u{a.dtype.itemsize}")
        return int(a.max()) < bound
    lo, hi = _minmax(a)
    return lo >= 0 and hi < bound


def _wide_index(p: np.ndarray, t: np.ndarray, C: int) -> np.ndarray | None:
    """``min(t, 256) * C + p`` for labels wider than a byte, in cache-sized chunks.

    The target is clamped into the index type in one pass (``np.minimum`` viewed unsigned:
    negatives become huge): any target outside ``0..255`` lands in histogram row 256, which the
    caller checks. The prediction is range-checked by a max over each chunk and narrowed to
    bytes right after, while the chunk is still in the cache. Measured on 100 int64 label
    maps of 512x1024: faster than narrowing both to uint8 without any check. Returns ``None``
    when a prediction is out of ``0..C-1`` (the general path then names it).
    """
    p, t = p.reshape(-1), t.reshape(-1)
    bits = 16 if 257 * C <= 2**15 else 32
    idx = np.empty(t.size, getattr(np, f"int{bits}"))
    p8 = np.empty(p.size, np.uint8)
    pv = p if p.dtype.kind != "i" else p.view(f"u{p.dtype.itemsize}")
    tv = t if t.dtype.kind != "i" else t.view(f"u{t.dtype.itemsize}")
    for s in range(0, t.size, _CHUNK):
        e = s + _CHUNK
        if tv.itemsize == 1:  # bytes are always in range
            np.copyto(idx[s:e], tv[s:e])
        else:
            np.minimum(tv[s:e], 256, out=idx[s:e], casting="unsafe")
        if int(pv[s:e].max()) >= C:
            return None
        np.copyto(p8[s:e], p[s:e], casting="unsafe")
    np.multiply(idx, C, out=idx)
    np.add(idx, p8, out=idx, casting="unsafe")
    return idx


def _wide_part(p: np.ndarray, t: np.ndarray, C: int) -> torch.Tensor | None:
    idx = _wide_index(p, t, C)
    return None if idx is None else _histogram(torch.from_numpy(idx), 257, C)


_POOL = None


def _wide_counts(p: np.ndarray, t: np.ndarray, C: int) -> torch.Tensor | None:
    """``[257, C]`` histogram of :func:`_wide_index`, split over torch's intra-op thread count
    when the batch is large (numpy and ``bincount`` release the GIL, so the halves run in
    parallel: the single-threaded pass left the second core idle)."""
    global _POOL
    p, t = p.reshape(-1), t.reshape(-1)
    n = min(torch.get_num_threads(), 4, t.size // (8 * _CHUNK))
    if n <= 1:
        return _wide_part(p, t, C)
    from concurrent.futures import ThreadPoolExecutor

    if _POOL is None:
        _POOL = ThreadPoolExecutor(4, thread_name_prefix="medseg-cm")
    step = -(-t.size // n // _CHUNK) * _CHUNK  # split at chunk boundaries
    parts = list(
        _POOL.map(lambda s: _wide_part(p[s : s + step], t[s : s + step], C), range(0, t.size, step))
    )
    if any(c is None for c in parts):
        return None
    return torch.stack(parts).sum(0)


def _histogram(idx: torch.Tensor, rows: int, C: int) -> torch.Tensor:
    """``[rows, C]`` counts of the index ``target * C + pred``."""
    return torch.bincount(idx.reshape(-1), minlength=rows * C).view(rows, C)


def _minmax(a: np.ndarray | torch.Tensor) -> tuple[int, int]:
    if isinstance(a, np.ndarray):
        return (0 if a.dtype == np.uint8 else int(a.min())), int(a.max())
    if a.dtype == torch.uint8:
        return 0, int(a.max())
    lo, hi = torch.aminmax(a)
    return int(lo), int(hi)


class ConfusionMatrix:
    """Accumulate a ``[C, C]`` confusion matrix over a dataset and score it.

    Args:
        num_classes: number of classes ``C`` (labels ``0 .. C-1``).
        ignore_index: ground-truth value whose pixels are skipped (default 255). ``None``
            ignores nothing. Prediction values are never ignored.
        device: where the matrix lives; default: the device of the first update.

    Example:
        >>> cm = ConfusionMatrix(19)
        >>> for logits, target in batches:          # logits [N,19,H,W], target [N,H,W]
        ...     cm.update(logits, target)
        >>> s = cm.compute()
        >>> s.miou, s.iou[0], s.pixel_accuracy
        >>> print(s.format_table(CITYSCAPES_CLASSES))
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        device: torch.device | str | None = None,
    ) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self._device = torch.device(device) if device is not None else None
        self.matrix: torch.Tensor | None = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Zero the matrix (start a new evaluation)."""
        dev = self._device or (self.matrix.device if self.matrix is not None else "cpu")
        self.matrix = torch.zeros(
            (self.num_classes, self.num_classes), dtype=torch.int64, device=dev
        )

    @property
    def confusion(self) -> np.ndarray:
        """The accumulated matrix as ``int64`` numpy ``[C, C]`` (rows = GT, cols = pred)."""
        return self.matrix.cpu().numpy().copy()

    def __repr__(self) -> str:
        n = int(self.matrix.sum())
        return f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, pixels={n})"

    # ----------------------------------------------------------------- update
    def batch_matrix(self, pred: Any, target: Any) -> torch.Tensor:
        """Confusion matrix ``[C, C]`` (int64) of one batch, without accumulating it.

        Args:
            pred: integer labels with the target's shape, or logits ``[N, C, ...]``.
            target: integer labels ``[...]``; ``ignore_index`` pixels are skipped.
        """
        C = self.num_classes
        t = _as_tensor(target, "target")
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        if t.is_floating_point():
            raise ValueError(f"target must hold integer labels, got dtype {t.dtype}")
        p = to_label_tensor(pred, t.shape)
        if p.shape != t.shape:
            raise ValueError(
                f"pred shape {tuple(p.shape)} does not match target shape {tuple(t.shape)} "
                f"(pass labels of the same shape, or logits [N, {C}, ...] for target [N, ...])"
            )
        if p.device != t.device:
            p = p.to(t.device)
        if p.numel() == 0:
            return torch.zeros((C, C), dtype=torch.int64, device=t.device)
        on_cpu = t.device.type == "cpu"
        if on_cpu:
            # Elementwise work on CPU goes through numpy (zero-copy views): single-threaded
            # SIMD loops. torch's OpenMP-parallel elementwise ops were 10-100x slower than
            # that on a loaded 2-core machine (threads waiting at barriers), same numbers.
            p, t = p.numpy(), t.numpy()

        ign = self.ignore_index
        if on_cpu and p.dtype.itemsize + t.dtype.itemsize > 2 and C < 256:
            counts = _wide_counts(p, t, C)
            if counts is not None:
                if not bool(counts[256].any()):  # else a target outside 0..255: general path
                    ign_row = ign if ign is not None and 0 <= ign < 256 else None
                    return self._matrix(counts[:256], ign_row)
        # out-of-range predictions would land in another row of the histogram: check them
        if not _all_below(p, C):
            pmin, pmax = _minmax(p)
            bad = pmin if pmin < 0 else pmax
            raise ValueError(f"pred contains label {bad}; predictions must lie in 0..{C - 1}")

        if _all_below(t, 256):
            rows = 256  # every byte value has a histogram row; rows >= C are overflow rows
            ign_row = ign if ign is not None and 0 <= ign < 256 else None
        else:  # labels outside 0..255 (e.g. ignore_index=-1): remap ignored to row C
            if ign is not None:
                t = np.where(t == ign, C, t) if on_cpu else torch.where(t == ign, C, t)
            tmin, tmax = _minmax(t)
            if tmin < 0 or tmax > C:
                bad = tmin if tmin < 0 else tmax
                raise ValueError(
                    f"target contains label {bad}, which is neither a class (0..{C - 1}) "
                    f"nor ignore_index={ign}"
                )
            rows, ign_row = C + 1, C

        n_bins = rows * C
        # the narrowest index type that holds n_bins - 1 (int16 up to 127 classes): the pass
        # over the index and the bincount are memory-bound
        bits = 16 if n_bins <= 2**15 else 32 if n_bins <= 2**31 else 64
        if on_cpu:
            # C * target into a new narrow array (inputs are never modified), then + pred;
            # values were checked above, so the unsafe (narrowing) casts are exact
            idx_np = np.multiply(t, C, dtype=getattr(np, f"int{bits}"), casting="unsafe")
            np.add(idx_np, p, out=idx_np, casting="unsafe")
            idx = torch.from_numpy(idx_np)
        else:
            idx = t.to(getattr(torch, f"int{bits}"), copy=True)
            idx.mul_(C).add_(p.to(idx.dtype))
        return self._matrix(_histogram(idx, rows, C), ign_row)

    def _matrix(self, counts: torch.Tensor, ign_row: int | None) -> torch.Tensor:
        """The ``[C, C]`` matrix from the ``[rows, C]`` histogram of ``target * C + pred``
        (rows ``>= C`` are overflow rows that only the ignore value may fill)."""
        C, ign = self.num_classes, self.ignore_index
        rows = counts.shape[0]
        cm = counts[:C].to(torch.int64).clone()
        if ign_row is not None and ign_row < C:
            cm[ign_row] = 0  # an ignore value that is also a class index: drop its row
        extra = counts[C:]
        if extra.numel():
            row_ids = torch.arange(C, rows, device=extra.device)
            stray = extra.sum(1) > 0
            if ign_row is not None and ign_row >= C:
                stray &= row_ids != ign_row
            if bool(stray.any()):
                bad = int(row_ids[stray][0])
                raise ValueError(
                    f"target contains label {bad}, which is neither a class (0..{C - 1}) nor "
                    f"ignore_index={ign} (Cityscapes labelIds? map them with "
                    "medseg.labels.label_ids_to_train_ids)"
                )
        return cm

    def update(self, pred: Any, target: Any) -> ConfusionMatrix:
        """Add one batch.

        Args:
            pred: predicted labels (same shape as ``target``, any integer dtype) or logits /
                probabilities ``[N, C, ...]`` (argmax over dim 1). Torch or numpy.
            target: ground-truth labels ``[N, ...]`` or ``[...]`` (any shape), integer dtype.
                ``uint8`` is fastest. Values must be classes or ``ignore_index``.

        Returns:
            ``self`` (so ``cm.update(p, t).compute()`` works).
        """
        cm = self.batch_matrix(pred, target)
        if self._device is None and cm.device != self.matrix.device and int(self.matrix.sum()) == 0:
            self.matrix = self.matrix.to(cm.device)
        self.matrix += cm.to(self.matrix.device)
        return self

    def update_matrix(self, matrix: Any) -> ConfusionMatrix:
        """Add a ``[C, C]`` matrix computed elsewhere (e.g. another worker)."""
        m = _as_tensor(matrix, "matrix").to(torch.int64)
        if tuple(m.shape) != (self.num_classes, self.num_classes):
            raise ValueError(
                f"matrix must be [{self.num_classes}, {self.num_classes}], got {tuple(m.shape)}"
            )
        self.matrix += m.to(self.matrix.device)
        return self

    # ------------------------------------------------------------ distributed
    def sync(self, group: Any = None) -> ConfusionMatrix:
        """Sum the matrix over all processes of ``torch.distributed`` (no-op otherwise).

        Every rank must call it (it is a collective). Afterwards each rank holds the total,
        so call it once, just before :meth:`compute`.
        """
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            backend = dist.get_backend(group)
            m = self.matrix
            if backend == "nccl" and m.device.type != "cuda":
                m = m.cuda()
            dist.all_reduce(m, op=dist.ReduceOp.SUM, group=group)
            self.matrix = m.to(self.matrix.device)
        return self

    all_reduce = sync

    # ----------------------------------------------------------------- scores
    def compute(self, class_names: Sequence[str] | None = None) -> SegmentationScores:
        """Scores from the accumulated matrix (see :class:`SegmentationScores`).

        Args:
            class_names: optional, stored on the result for ``format_table`` / ``to_dict``.
        """
        return scores_from_confusion(self.confusion, class_names)
