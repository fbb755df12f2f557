"""A MONAI ``Inferer`` for the 2.5-D tri-planar models (``cfg.volume_planes``).

MONAI's ``SliceInferer`` runs a 2-D network on one slice at a time along one axis; the brain
model reads each slice with its neighbours as channels and averages three planes, which
:func:`medseg.transforms.volume_views.plane_probs` does. This class only adapts it to MONAI's
``inferer(inputs, network)`` call, so bundles and ``SupervisedEvaluator`` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import Inferer

from ..transforms.volume_views import clean_brain_probs, pad_to_multiple, plane_probs

__all__ = ["PlaneViewsInferer"]


class PlaneViewsInferer(Inferer):
    """Mean softmax of 2.5-D slice predictions over several planes.

    Args:
        planes: plane names (``model.cfg.volume_planes``).
        context: neighbouring slices each side (``model.cfg.context_slices``).
        divisor: pad each volume with its minimum to a multiple of this (``model.cfg.divisor``).
        batch_size: slices per forward pass.
        postprocess: for two classes, keep the largest brain component and fill its holes on
            this grid (as ``Predictor.predict_volume`` does) before the probabilities are
            resampled back.

    Call: ``inferer(inputs [B, 1, X, Y, Z] normalised, network)`` → probabilities
    ``[B, K, X, Y, Z]`` (not logits: ``AsDiscreted(argmax=True)`` labels them).
    """

    def __init__(
        self,
        planes: Sequence[str],
        context: int,
        divisor: int = 16,
        batch_size: int = 16,
        postprocess: bool = False,
    ) -> None:
        super().__init__()
        self.planes = tuple(planes)
        self.context = int(context)
        self.divisor = int(divisor)
        self.batch_size = int(batch_size)
        self.postprocess = bool(postprocess)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any):
        x = inputs.as_tensor() if isinstance(inputs, MetaTensor) else torch.as_tensor(inputs)
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(f"expected inputs [B, 1, X, Y, Z], got shape {tuple(x.shape)}")
        out = []
        for vol in x[:, 0].float():
            size = vol.shape
            padded = pad_to_multiple(vol, self.divisor, float(vol.min()))
            with torch.no_grad():
                p = plane_probs(
                    lambda b: network(b, *args, **kwargs),
                    padded,
                    context=self.context,
                    planes=self.planes,
                    batch_size=self.batch_size,
                )[:, : size[0], : size[1], : size[2]]
            if self.postprocess and p.shape[0] == 2:
                fg = torch.from_numpy(clean_brain_probs(np.ascontiguousarray(p[1].cpu().numpy())))
                p = torch.stack([1 - fg, fg])
            out.append(p)
        probs = torch.stack(out)
        if isinstance(inputs, MetaTensor):  # Invertd / SaveImaged read the input's metadata
            probs = MetaTensor(probs)
            probs.copy_meta_from(inputs)
        return probs
