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


def reference_contract(model, array: np.ndarray, affine: np.ndarray, spacing=SPACING) -> np.ndarray:
    """The brain model's preprocessing contract written with nibabel and torch only.

    closest canonical RAS → in-plane bilinear resize (align_corners=False) to
    ``round(n * zoom / spacing)`` → z-score of the whole volume → model on axial slices
    ``[:, :, k]`` → logits resized back → argmax → original orientation. No MONAI involved.
    """
    import nibabel.orientations as nio

    from medseg.transforms.intensity import zscore_normalize

    ornt = nio.io_orientation(affine)
    can = nio.apply_orientation(array, ornt)
    can_aff = affine @ nio.inv_ornt_aff(ornt, array.shape)
    zooms = np.sqrt((can_aff[:3, :3] ** 2).sum(0))
    size = tuple(max(1, round(n * z / s)) for n, z, s in zip(can.shape[:2], zooms[:2], spacing))
    x = torch.from_numpy(np.ascontiguousarray(can, dtype=np.float32)).permute(2, 0, 1)[:, None]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = torch.from_numpy(zscore_normalize(x.numpy()))
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 8]) for i in range(0, len(x), 8)])
    logits = F.interpolate(logits, size=can.shape[:2], mode="bilinear", align_corners=False)
    lab = logits.argmax(1).permute(1, 2, 0).numpy().astype(np.uint8)
    back = nio.ornt_transform(nio.axcodes2ornt("RAS"), ornt)
    return np.ascontiguousarray(nio.apply_orientation(lab, back))
