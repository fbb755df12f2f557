"""NIfTI reading and writing with nibabel, keeping the affine.

Reading gives the array in the file's voxel order with ``img.affine`` (nibabel's best
affine: sform if set, else qform), exactly as MONAI's ``NibabelReader`` does. Writing sets
both sform and qform to the given affine so every viewer (FSLeyes, ITK-SNAP, 3D Slicer,
MRIcroGL) places the mask on its source scan.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import MedsegIOError, require_nonempty_file
from .volume import Volume, orientation_code, spacing_from_affine

PathLike = str | os.PathLike
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".img.gz")


def is_nifti(path: PathLike) -> bool:
    """True when the file name has a NIfTI / Analyze suffix."""
    return os.fspath(path).lower().endswith(NIFTI_SUFFIXES)


def load_nifti(path: PathLike, *, allow_nonfinite: bool = False) -> Volume:
    """Read a 3-D NIfTI file.

    Args:
        path: ``.nii`` / ``.nii.gz`` (or Analyze ``.hdr``/``.img``).
        allow_nonfinite: keep NaN/Inf voxels instead of raising.

    Returns:
        :class:`Volume` with ``array`` float32 ``(X, Y, Z)`` (scl_slope/inter applied), the
        file's affine, and ``source_files`` empty. A 2-D image loads as ``(X, Y, 1)``; a 4-D
        image with one volume in the 4th axis is squeezed to 3-D.

    Raises:
        MedsegIOError: unreadable file, 4-D data with several volumes, NaN/Inf voxels.
    """
    import nibabel as nib

    path = require_nonempty_file(path)
    try:
        img = nib.load(path)
        shape = tuple(int(s) for s in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as e:
        raise MedsegIOError(path, f"not a readable NIfTI file ({type(e).__name__}: {e})") from None
    if len(shape) > 3 and any(s != 1 for s in shape[3:]):
        raise MedsegIOError(
            path,
            f"{len(shape)}-D image of shape {shape} where a 3-D volume is expected; pick one "
            "volume first (e.g. nibabel.funcs.four_to_three)",
        )
    if len(shape) < 2:
        raise MedsegIOError(path, f"image of shape {shape} is not 2-D or 3-D")
    if 0 in shape:
        raise MedsegIOError(path, f"image of shape {shape} has an axis of length 0 (no voxels)")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as e:
        raise MedsegIOError(
            path, f"voxel data cannot be read (truncated file?): {type(e).__name__}"
        ) from None
    data = data.reshape(shape[:3] if len(shape) >= 3 else shape + (1,))
    if not allow_nonfinite and not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise MedsegIOError(path, f"{bad} voxels are NaN or Inf; clean the image first")
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MedsegIOError(path, "the affine is singular or not finite")
    spacing = spacing_from_affine(affine)
    meta = {
        "source": "nifti",
        "modality": "",
        "series_description": "",
        "units": "stored value (scl_slope/scl_inter applied)",
        "shape": list(data.shape),
        "spacing": list(spacing),
        "orientation": orientation_code(affine),
        "n_slices": int(data.shape[2]),
        "uneven_spacing": False,
    }
    return Volume(np.ascontiguousarray(data), affine, spacing, meta, [])


def save_nifti(array: np.ndarray, affine: np.ndarray, path: PathLike) -> str:
    """Write ``array`` with ``affine`` (sform and qform, code 1 = scanner) to ``path``.

    Args:
        array: 2-D to 4-D array in voxel order (bool is stored as uint8).
        affine: ``(4, 4)`` voxel → RAS mm.
        path: ``.nii`` or ``.nii.gz``.

    Returns:
        The path written.
    """
    import nibabel as nib

    path = os.fspath(path)
    if not path.lower().endswith((".nii", ".nii.gz")):
        raise MedsegIOError(path, "NIfTI output must end in .nii or .nii.gz")
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    # NIfTI-1 readers handle float16 and int64 poorly: store them as float32 / int32.
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    elif a.dtype == np.int64 and (a.size == 0 or np.abs(a).max() < 2**31):
        a = a.astype(np.int32)
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {aff.shape}")
    img = nib.Nifti1Image(a, aff)
    img.set_sform(aff, code=1)
    img.set_qform(aff, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)
    return path


def save_mask_like(mask: np.ndarray, volume: Volume, path: PathLike) -> str:
    """Save a label mask computed on ``volume`` (same layout) as uint8 NIfTI with its affine.

    Args:
        mask: ``volume.array.shape`` integer or bool labels in 0..255.
        volume: the :class:`Volume` the mask was computed on (DICOM or NIfTI).
        path: ``.nii`` or ``.nii.gz``.

    Returns:
        The path written; it opens aligned with the source scan in any viewer.
    """
    m = np.asarray(mask)
    if m.shape != volume.array.shape:
        raise ValueError(f"mask shape {m.shape} differs from the volume's {volume.array.shape}")
    if m.size and (m.min() < 0 or m.max() > 255 or not np.array_equal(m, np.round(m))):
        raise ValueError("mask must hold integer labels in 0..255")
    return save_nifti(m.astype(np.uint8), volume.affine, path)
