"""Slice-wise 3-D inference following the preprocessing contract shared with training.

volume → closest canonical (RAS) orientation → in-plane (x, y) resampling to ``cfg.spacing``
(z untouched) → normalisation of the whole volume (``zscore`` or ``ct_window``) → axial slices
``arr[:, :, k]`` (``[X, Y]``, fed as ``H = X``, ``W = Y``) in batches → probabilities resampled
back to the canonical grid → argmax → original orientation → optional post-processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.outputs import logits_to_labels, logits_to_probs, probs_to_labels
from ..transforms.intensity import normalize_for_model
from ..transforms.spacing import inplane_size


def canonical_array(volume: Any, spacing: Sequence[float] | None = None):
    """``(array [X, Y, Z] in RAS order, spacing (sx, sy, sz), to_source)``.

    A ``medseg.io.Volume`` is reoriented with ``medseg.io.to_canonical`` and
    ``to_source(mask)`` applies ``medseg.io.from_canonical``; a bare array is taken as already
    canonical (``to_source`` is the identity).
    """
    if hasattr(volume, "array") and hasattr(volume, "affine"):
        from ..io import from_canonical, to_canonical

        if np.asarray(volume.array).ndim != 3:
            raise ValueError(f"expected a 3-D volume, got array shape {np.shape(volume.array)}")
        can = to_canonical(volume)
        sp = tuple(float(v) for v in can.spacing)

        def to_source(a: np.ndarray) -> np.ndarray:
            return from_canonical(a, volume)

        return np.asarray(can.array), sp, to_source
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise ValueError(f"expected a volume [X, Y, Z], got array shape {arr.shape}")
    sp = tuple(float(s) for s in (spacing if spacing is not None else (1.0, 1.0, 1.0)))
    if len(sp) != 3 or min(sp) <= 0:
        raise ValueError(f"spacing must be three positive numbers (mm), got {spacing}")
    return arr, sp, lambda a: a


def predict_volume(
    predictor,
    volume: Any,
    spacing: Sequence[float] | None = None,
    *,
    batch_size: int = 16,
    postprocess: bool = True,
    return_probs: bool = False,
    window: Sequence[int] | None = None,
):
    """See :meth:`medseg.engine.predictor.Predictor.predict_volume`."""
    cfg = predictor.cfg
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer (slices per pass), got {batch_size!r}"
        )
    batch_size = int(batch_size)
    if cfg.normalization not in ("zscore", "ct_window"):
        raise ValueError(
            f"model {cfg.name!r} uses {cfg.normalization!r} normalisation (an RGB model); "
            "volumes need a medical model (zscore or ct_window), e.g. unet_medical"
        )
    arr, sp, to_source = canonical_array(volume, spacing)
    if not np.isfinite(arr).all():
        # as the readers do: NaN backgrounds become the image minimum (refused only when no
        # voxel is finite), and the caller hears about it
        import warnings

        from ..io.volume import fill_nonfinite

        arr, n_bad = fill_nonfinite(np.array(arr, dtype=np.float32))
        warnings.warn(
            f"{n_bad} NaN/Inf voxel(s) were set to the image minimum before segmenting",
            stacklevel=3,
        )
    if cfg.volume_planes:  # 2.5-D tri-planar models: the contract of transforms.volume_views
        return _predict_views(
            predictor, arr, sp, to_source, batch_size, postprocess, return_probs, window
        )
    nx, ny, nz = arr.shape
    vol = torch.from_numpy(arr.astype(np.float32)).permute(2, 0, 1)[:, None]  # [Z, 1, X, Y]
    if cfg.spacing is not None:
        size = inplane_size((nx, ny), sp, cfg.spacing)
        if size != (nx, ny):
            vol = F.interpolate(vol, size=size, mode="bilinear", align_corners=False)
    # One normalisation for the whole (resampled) volume, as in training.
    vol = torch.as_tensor(normalize_for_model(vol.numpy(), cfg))
    if cfg.in_channels > 1:
        vol = vol.expand(-1, cfg.in_channels, -1, -1)
    k = cfg.num_classes
    labels = np.zeros((nx, ny, nz), np.uint8 if max(k, 2) <= 255 else np.int64)
    probs_out = np.zeros((k, nx, ny, nz), np.float32) if return_probs else None
    for s in range(0, nz, batch_size):
        batch = vol[s : s + batch_size].contiguous()
        if window is not None:
            from .sliding import sliding_window_predict

            logits = sliding_window_predict(predictor.logits, batch, roi_size=tuple(window))
        else:
            logits = predictor.logits(batch)
        if tuple(logits.shape[-2:]) != (nx, ny):
            logits = F.interpolate(logits, size=(nx, ny), mode="bilinear", align_corners=False)
        # labels in the mask's dtype; without probabilities to return, straight from the
        # logits (the softmax keeps their order: one pass over the batch instead of three)
        dt = torch.uint8 if labels.dtype == np.uint8 else torch.int64
        if probs_out is not None:
            p = logits_to_probs(logits)
            probs_out[:, :, :, s : s + batch_size] = p.permute(1, 2, 3, 0).numpy()
            lab = probs_to_labels(p, dtype=dt)
        else:
            lab = logits_to_labels(logits, dtype=dt)
        labels[:, :, s : s + batch_size] = lab.permute(1, 2, 0).numpy()
    if postprocess:
        from .postprocess import clean_mask

        labels = clean_mask(labels)
    mask = to_source(labels)
    if probs_out is not None:
        return mask, np.stack([to_source(c) for c in probs_out])
    return mask


def _predict_views(predictor, arr, sp, to_source, batch_size, postprocess, return_probs, window):
    from ..transforms.volume_views import predict_views

    fn = predictor.logits
    if window is not None:
        from .sliding import sliding_window_predict

        def fn(b):
            return sliding_window_predict(predictor.logits, b, roi_size=tuple(window))

    out = predict_views(
        fn,
        arr,
        sp,
        predictor.cfg,
        batch_size=batch_size,
        postprocess=postprocess,
        return_probs=return_probs,
    )
    labels, probs = out if return_probs else (out, None)
    if postprocess and predictor.cfg.num_classes != 2:  # binary masks are cleaned in there
        from .postprocess import clean_mask

        labels = clean_mask(labels)
    if probs is not None:
        return to_source(labels), np.stack([to_source(c) for c in probs])
    return to_source(labels)
