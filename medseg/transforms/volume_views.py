"""Volumes seen as stacks of 2.5-D slices in one or more planes (tri-planar inference).

Pure functions, no model and no engine: ``predict_views`` takes any ``logits_fn``
(``[N, C, H, W] -> [N, K, H, W]``). The contract shared by training
(``scripts/train_brain.py``) and inference (``medseg.engine.volume``) for models with
``cfg.volume_planes``:

canonical (RAS) volume ``[X, Y, Z]`` → trilinear resampling to an isotropic grid of
``cfg.spacing[0]`` mm (``align_corners=False``, the physical extent kept) → z-score of the whole
resampled volume → padding with its minimum (background) to a multiple of ``cfg.divisor`` →
for each plane, every slice with ``context`` neighbours on each side as channels (edges
replicated) → softmax → mean over planes → largest connected brain component and hole filling
on that grid (``postprocess``) → probabilities trilinearly back to the input grid → labels.

Slices of plane ``axis`` are ``vol.movedim(axis, 0)[k]``: sagittal ``[Y, Z]``, coronal
``[X, Z]``, axial ``[X, Y]`` (H, W in that order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.outputs import logits_to_probs

PLANES = {"sagittal": 0, "coronal": 1, "axial": 2}


def plane_axis(plane: str | int) -> int:
    """Volume axis normal to ``plane`` (``"sagittal"`` 0, ``"coronal"`` 1, ``"axial"`` 2)."""
    if isinstance(plane, int) and plane in (0, 1, 2):
        return plane
    try:
        return PLANES[str(plane)]
    except KeyError:
        raise ValueError(f"unknown plane {plane!r}; expected one of {sorted(PLANES)}") from None


def isotropic_size(shape: Sequence[int], spacing: Sequence[float], target: float) -> tuple:
    """Grid size that keeps the physical extent ``shape * spacing`` at ``target`` mm voxels."""
    return tuple(max(1, round(n * s / target)) for n, s in zip(shape, spacing))


def resample(vol: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Trilinear resampling of ``vol [X, Y, Z]`` (or ``[C, X, Y, Z]``), ``align_corners=False``."""
    size = tuple(int(s) for s in size)
    squeeze = vol.dim() == 3
    v = vol[None] if squeeze else vol
    if tuple(v.shape[1:]) != size:
        v = F.interpolate(v[None].float(), size=size, mode="trilinear", align_corners=False)[0]
    return v[0] if squeeze else v


def pad_to_multiple(vol: torch.Tensor, divisor: int, value: float) -> torch.Tensor:
    """Pad ``vol [X, Y, Z]`` at the high end of each axis to a multiple of ``divisor``."""
    pads = []
    for n in reversed(vol.shape):
        pads += [0, (-n) % divisor]
    return F.pad(vol, pads, value=float(value)) if any(pads) else vol


def context_stack(vol: torch.Tensor, axis: int, context: int) -> torch.Tensor:
    """All slices normal to ``axis`` with ``context`` neighbours each side: ``[N, 2c+1, H, W]``.

    Channel ``j`` of slice ``k`` is slice ``clamp(k - context + j, 0, N - 1)`` (edges
    replicated), so channel ``context`` is the slice itself.
    """
    v = vol.movedim(axis, 0)
    n = v.shape[0]
    if context == 0:
        return v[:, None].contiguous()
    idx = torch.arange(n)[:, None] + torch.arange(-context, context + 1)[None]
    return v[idx.clamp(0, n - 1)].contiguous()


def slice_with_context(vol: torch.Tensor, axis: int, k: int, context: int) -> torch.Tensor:
    """One slice of :func:`context_stack` without building the others: ``[2c+1, H, W]``."""
    n = vol.shape[axis]
    idx = [min(max(k + j, 0), n - 1) for j in range(-context, context + 1)]
    return vol.movedim(axis, 0)[idx].contiguous()


@torch.no_grad()
def plane_probs(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    vol: torch.Tensor,
    *,
    context: int,
    planes: Sequence[str | int] = ("axial",),
    batch_size: int = 16,
) -> torch.Tensor:
    """Mean softmax over ``planes`` of 2.5-D slice predictions: ``[K, X, Y, Z]``.

    Args:
        logits_fn: ``[N, 2*context+1, H, W] -> [N, K, H, W]``.
        vol: normalised volume ``[X, Y, Z]`` (already padded as the model wants).
        context: neighbouring slices on each side fed as channels.
        planes: plane names or axes; the probabilities of each are averaged.
        batch_size: slices per call of ``logits_fn``.
    """
    total = None
    for plane in planes:
        axis = plane_axis(plane)
        stack = context_stack(vol, axis, context)
        parts = []
        for s in range(0, stack.shape[0], max(1, int(batch_size))):
            logits = logits_fn(stack[s : s + batch_size])
            parts.append(logits_to_probs(logits))
        p = torch.cat(parts).movedim(0, axis + 1)  # [K, ...] with the slice axis back in place
        total = p if total is None else total.add_(p)
    if total is None:
        raise ValueError("planes is empty")
    return total.div_(len(planes))


#: smallest side (pixels at the model's spacing) a plane's slices need to be used: a slab of a
#: few slices seen side-on is a strip without context, where the model's answer is noise.
MIN_VIEW_SIDE = 24


def usable_planes(size: Sequence[int], planes: Sequence[str | int]) -> tuple:
    """The planes of ``planes`` whose slices of a ``size`` volume have both sides at least
    :data:`MIN_VIEW_SIDE`; when none has, the one whose slices are largest.

    A thin slab (12 axial slices of a head, say) is seen only in its own plane; a whole head
    in all of them.
    """

    def sides(plane):
        axis = plane_axis(plane)
        return [int(n) for i, n in enumerate(size) if i != axis]

    ok = tuple(p for p in planes if min(sides(p)) >= MIN_VIEW_SIDE)
    return ok or (max(planes, key=lambda p: min(sides(p))),)


def clean_brain_probs(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Largest 3-D component of ``prob > threshold`` with its holes filled, as probabilities.

    Voxels of the other components are set to 0 and the filled holes to 1; every other
    probability is kept, so the boundary of the kept component stays where the model put it
    when the probabilities are resampled afterwards.
    """
    from scipy import ndimage as ndi

    fg = prob > threshold
    lab, n = ndi.label(fg, structure=ndi.generate_binary_structure(3, 3))
    out = prob.copy()
    if n == 0:
        return out
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = lab == sizes.argmax()
    out[fg & ~keep] = 0.0
    filled = ndi.binary_fill_holes(keep, structure=ndi.generate_binary_structure(3, 1))
    out[filled & ~keep] = 1.0
    return out


def predict_views(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    arr: np.ndarray,
    spacing: Sequence[float],
    cfg,
    *,
    batch_size: int = 16,
    postprocess: bool = True,
    return_probs: bool = False,
):
    """Labels (and probabilities) on the grid of the canonical volume ``arr [X, Y, Z]``.

    Follows the module's contract with ``cfg.spacing[0]`` (isotropic mm), ``cfg.context_slices``,
    ``cfg.volume_planes`` (those :func:`usable_planes` keeps for this volume), ``cfg.divisor``
    and ``cfg.normalization``.

    Returns:
        ``labels [X, Y, Z]`` uint8, and ``probs [K, X, Y, Z]`` float32 when ``return_probs``.
    """
    from .intensity import normalize_for_model

    if not cfg.spacing:
        raise ValueError(f"model {cfg.name!r} needs cfg.spacing for tri-planar volume inference")
    shape = tuple(int(n) for n in arr.shape)
    size = isotropic_size(shape, spacing, float(cfg.spacing[0]))
    vol = resample(torch.from_numpy(np.asarray(arr, dtype=np.float32)), size)
    vol = torch.as_tensor(normalize_for_model(vol.numpy(), cfg))
    padded = pad_to_multiple(vol, int(cfg.divisor), float(vol.min()))
    probs = plane_probs(
        logits_fn,
        padded,
        context=int(cfg.context_slices),
        planes=usable_planes(size, cfg.volume_planes),
        batch_size=batch_size,
    )[:, : size[0], : size[1], : size[2]]
    k = probs.shape[0]
    if k == 2:  # binary: only the foreground probability needs cleaning and resampling
        p = probs[1].numpy()
        if postprocess:
            p = clean_brain_probs(p)
        up = resample(torch.from_numpy(np.ascontiguousarray(p)), shape)
        labels = (up > 0.5).numpy().astype(np.uint8)
        if return_probs:
            return labels, torch.stack([1 - up, up]).numpy()
        return labels
    up = resample(probs, shape)
    labels = up.max(0).indices.numpy().astype(np.uint8 if k <= 255 else np.int64)
    if return_probs:
        return labels, up.numpy()
    return labels
