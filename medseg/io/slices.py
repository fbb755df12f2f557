"""2-D slices for display and resampling to a target spacing.

Display convention (radiological, as clinical viewers show scans):

* **axial**: seen from the feet; patient's right on the image's left, anterior at the top;
* **coronal**: seen from the front; patient's right on the image's left, superior at the top;
* **sagittal**: seen from the patient's left; anterior on the image's left, superior at the top.

A :class:`~medseg.io.Volume` is first reoriented to closest-canonical RAS (axis flips and
permutations only, no interpolation), so this holds whatever the scan's orientation. A plain
array is taken to be in RAS+ voxel order already. Slice ``index`` counts along the canonical
axis: axial from inferior, coronal from posterior, sagittal from the patient's left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .volume import Volume, orientation_code, spacing_from_affine

_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


def extract_slice(
    volume_or_array: Volume | np.ndarray, index: int | None = None, plane: str = "axial"
) -> np.ndarray:
    """One 2-D slice oriented for display (see the module docstring).

    Args:
        volume_or_array: a :class:`Volume` (any orientation) or a 3-D array ``(X, Y, Z)``
            in RAS+ voxel order (extra trailing axes, e.g. channels, are kept).
        index: slice number along the plane's canonical axis; ``None`` = middle slice.
            Negative values count from the end.
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Returns:
        ``(rows, cols[, ...])`` view-ready array, same dtype as the input.
    """
    if plane not in _PLANE_AXIS:
        raise ValueError(f"plane must be one of {sorted(_PLANE_AXIS)}, got {plane!r}")
    if isinstance(volume_or_array, Volume):
        arr, affine = volume_or_array.array, volume_or_array.affine
    else:
        arr, affine = np.asarray(volume_or_array), np.eye(4)
    if arr.ndim < 3:
        raise ValueError(f"need a 3-D array (X, Y, Z), got shape {arr.shape}")
    s = _canonical_slice(arr, affine, _PLANE_AXIS[plane], index, plane)
    # In RAS+ the remaining axes grow towards Right/Anterior/Superior; the display wants
    # rows from Anterior (axial) or Superior (coronal/sagittal) down, and columns from
    # patient-Right (axial/coronal) or Anterior (sagittal) across: flip both, then put
    # the row axis first.
    s = s[::-1, ::-1]
    return np.ascontiguousarray(np.swapaxes(s, 0, 1))


def _canonical_slice(arr, affine, axis: int, index: int | None, plane: str) -> np.ndarray:
    """Slice ``index`` along canonical RAS axis ``axis``, its two axes in RAS order.

    Same result as slicing ``to_canonical(volume).array`` but without reorienting (copying)
    the whole volume: only the 2-D slice is flipped / transposed.
    """
    from nibabel.orientations import io_orientation

    ornt = io_orientation(affine)  # row i: (canonical axis of array axis i, flip)
    src = int(np.flatnonzero(ornt[:, 0] == axis)[0])
    n = arr.shape[src]
    k = n // 2 if index is None else int(index)
    if not -n <= k < n:
        raise IndexError(f"{plane} slice {k} out of range for {n} slices")
    k %= n
    s = np.take(arr, n - 1 - k if ornt[src, 1] < 0 else k, axis=src)
    rest = [i for i in range(3) if i != src]
    for pos, i in enumerate(rest):
        if ornt[i, 1] < 0:
            s = np.flip(s, axis=pos)
    if ornt[rest[0], 0] > ornt[rest[1], 0]:
        s = np.swapaxes(s, 0, 1)
    return s


def resample_to_spacing(
    volume_or_array: Volume | np.ndarray,
    spacing: float | Sequence[float],
    *,
    current_spacing: Sequence[float] | None = None,
    mode: str = "bilinear",
) -> Volume | np.ndarray:
    """Resample to a target voxel size with MONAI's ``Spacing`` transform.

    Args:
        volume_or_array: a :class:`Volume`, or an array ``(X, Y[, Z])`` with
            ``current_spacing``.
        spacing: target voxel size in mm (one number for all axes, or one per axis).
        current_spacing: voxel size of a plain array (required for arrays).
        mode: ``"bilinear"`` (images; trilinear in 3-D) or ``"nearest"`` (label masks).

    Returns:
        For a :class:`Volume`, a new Volume with the resampled float32 array, its new
        affine (same origin and orientation) and updated meta; for an array, the resampled
        array (float32, or the input dtype for ``"nearest"``).
    """
    import torch
    from monai.transforms import Spacing

    if isinstance(volume_or_array, Volume):
        arr, affine = volume_or_array.array, volume_or_array.affine
    else:
        arr = np.asarray(volume_or_array)
        if current_spacing is None:
            raise ValueError("current_spacing is required when resampling a plain array")
        if len(current_spacing) != arr.ndim:
            raise ValueError(f"current_spacing {current_spacing} does not match shape {arr.shape}")
        affine = np.diag([*map(float, current_spacing), *[1.0] * (4 - arr.ndim)])
    nd = arr.ndim
    target = [float(spacing)] * nd if np.isscalar(spacing) else [float(s) for s in spacing]
    if len(target) != nd or min(target) <= 0:
        raise ValueError(f"spacing must be {nd} positive numbers, got {spacing}")
    from monai.data import MetaTensor

    aff = torch.as_tensor(
        affine if nd == 3 else affine[[0, 1, 3]][:, [0, 1, 3]], dtype=torch.float64
    )
    src = MetaTensor(torch.as_tensor(arr.astype(np.float32))[None], affine=aff)
    out = Spacing(pixdim=target, mode=mode, padding_mode="border", align_corners=True)(src)
    res = out[0].numpy()
    if mode == "nearest" and arr.dtype != np.float32:
        res = res.astype(arr.dtype)
    if not isinstance(volume_or_array, Volume):
        return np.ascontiguousarray(res)
    new_aff = np.asarray(out.affine, dtype=np.float64)
    meta = {
        **volume_or_array.meta,
        "shape": list(res.shape),
        "spacing": list(spacing_from_affine(new_aff)),
        "orientation": orientation_code(new_aff),
    }
    return replace(
        volume_or_array,
        array=np.ascontiguousarray(res, dtype=np.float32),
        affine=new_aff,
        spacing=spacing_from_affine(new_aff),
        meta=meta,
        source_files=[],  # slices no longer match the source files one to one
    )
