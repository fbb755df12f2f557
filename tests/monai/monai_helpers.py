"""Shared constants and an independent implementation of the brain model's contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medseg.data.samples import ITK_DATA  # noqa: E402

T1 = ITK_DATA / "KmeansTest_T1UCharRaw.nii.gz"
T1_BRAIN = ITK_DATA / "KmeansTest_T1RawSkullStrip.nii.gz"
BUNDLE = Path(__file__).resolve().parents[2] / "configs" / "brain_extraction"
INFERENCE = BUNDLE / "configs" / "inference.yaml"
EVALUATE = BUNDLE / "configs" / "evaluate.yaml"
TRAIN = BUNDLE / "configs" / "train.yaml"
METADATA = BUNDLE / "configs" / "metadata.json"
SPACING = (2.0, 2.0)


def reference_contract(
    model, array: np.ndarray, affine: np.ndarray, spacing=SPACING, context: int = 2
) -> np.ndarray:
    """The brain model's tri-planar 2.5-D contract written with nibabel, numpy and torch only.

    closest canonical RAS → trilinear resize (align_corners=False) of every axis to
    ``round(n * zoom / spacing[0])`` → z-score of the whole volume → each axis padded with the
    minimum to a multiple of 16 → for each of the three planes, slice ``k`` fed with slices
    ``k - context .. k + context`` (clamped) as channels, one slice at a time → softmax →
    mean of the planes → crop → trilinear back → argmax → original orientation. No MONAI, no
    medseg.transforms.volume_views; no clean-up.
    """
    import nibabel.orientations as nio

    from medseg.transforms.intensity import zscore_normalize

    ornt = nio.io_orientation(affine)
    can = nio.apply_orientation(array, ornt)
    can_aff = affine @ nio.inv_ornt_aff(ornt, array.shape)
    zooms = np.sqrt((can_aff[:3, :3] ** 2).sum(0))
    size = tuple(max(1, round(n * z / spacing[0])) for n, z in zip(can.shape, zooms))
    x = torch.from_numpy(np.ascontiguousarray(can, dtype=np.float32))[None, None]
    x = F.interpolate(x, size=size, mode="trilinear", align_corners=False)[0, 0]
    x = zscore_normalize(x.numpy())
    xp = np.pad(x, [(0, (-n) % 16) for n in x.shape], constant_values=float(x.min()))
    total = np.zeros((2, *xp.shape), np.float64)
    with torch.no_grad():
        for axis in range(3):
            n = xp.shape[axis]
            for k in range(n):
                chans = [
                    np.take(xp, min(max(k + j, 0), n - 1), axis)
                    for j in range(-context, context + 1)
                ]
                p = model(torch.from_numpy(np.stack(chans))[None]).softmax(1)[0].numpy()
                idx = [slice(None)] * 4
                idx[axis + 1] = k
                total[tuple(idx)] += p / 3
    probs = torch.from_numpy(total[:, : size[0], : size[1], : size[2]].astype(np.float32))
    probs = F.interpolate(probs[None], size=can.shape, mode="trilinear", align_corners=False)[0]
    lab = probs.argmax(0).numpy().astype(np.uint8)
    back = nio.ornt_transform(nio.axcodes2ornt("RAS"), ornt)
    return np.ascontiguousarray(nio.apply_orientation(lab, back))
