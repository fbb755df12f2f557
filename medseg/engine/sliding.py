"""Sliding-window inference for images larger than the model's training size.

A thin layer over ``monai.inferers.sliding_window_inference`` (use, don't write): the same
arguments give the same result as MONAI's ``SlidingWindowInferer``, and both accept a
:class:`~medseg.engine.predictor.Predictor` (it is callable on a normalised batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..runners import as_runner


def sliding_window_predict(
    runner: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    image: torch.Tensor,
    roi_size: Sequence[int] | int,
    *,
    overlap: float = 0.25,
    mode: str = "gaussian",
    sw_batch_size: int = 4,
    sigma_scale: float = 0.125,
    padding_mode: str = "constant",
) -> torch.Tensor:
    """Patch-wise inference with blended overlaps.

    Args:
        runner: a model or any runner ``[B, C, h, w] -> [B, K, h, w]`` (e.g. a
            :class:`Predictor`, whose back-end may be ONNX Runtime).
        image: normalised ``[N, C, H, W]`` float32 (or ``[N, C, X, Y, Z]`` for 3-D models).
        roi_size: patch size; images smaller than it are padded (``padding_mode``).
        overlap: fraction of overlap between neighbouring patches, in ``[0, 1)``.
        mode: ``"gaussian"`` (weights fall off towards a patch's border, which hides seams)
            or ``"constant"`` (plain average).
        sw_batch_size: patches per forward pass.
        sigma_scale: Gaussian sigma as a fraction of the patch size.

    Returns:
        Blended logits ``[N, K, H, W]``.
    """
    from monai.inferers import sliding_window_inference

    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if mode not in ("gaussian", "constant"):
        raise ValueError(f"mode must be 'gaussian' or 'constant', got {mode!r}")
    with torch.no_grad():
        return sliding_window_inference(
            image,
            roi_size=roi_size,
            sw_batch_size=sw_batch_size,
            predictor=as_runner(runner),
            overlap=overlap,
            mode=mode,
            sigma_scale=sigma_scale,
            padding_mode=padding_mode,
        )


def make_inferer(
    roi_size: Sequence[int] | int,
    *,
    overlap: float = 0.25,
    mode: str = "gaussian",
    sw_batch_size: int = 4,
    sigma_scale: float = 0.125,
):
    """A MONAI ``SlidingWindowInferer`` with the same settings as :func:`sliding_window_predict`
    (for MONAI pipelines and bundles)."""
    from monai.inferers import SlidingWindowInferer

    return SlidingWindowInferer(
        roi_size=roi_size,
        sw_batch_size=sw_batch_size,
        overlap=overlap,
        mode=mode,
        sigma_scale=sigma_scale,
    )
