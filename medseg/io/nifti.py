"""NIfTI reading and writing with nibabel, keeping the affine.

Reading gives the array in the file's voxel order with ``img.affine`` (nibabel's best
affine: sform if set, else qform), exactly as MONAI's ``NibabelReader`` does. Writing sets
both sform and qform to the given affine so every viewer (FSLeyes, ITK-SNAP, 3D Slicer,
MRIcroGL) places the mask on its source scan.
"""

from __future__ import annotations

import io
import os

import numpy as np

from .errors import MedsegIOError, require_nonempty_file
from .kinds import NIFTI_SUFFIXES, is_nifti_name
from .limits import check_declared_size, human_bytes
from .volume import Volume, check_spacing, fill_nonfinite, orientation_code, spacing_from_affine

PathLike = str | os.PathLike


def is_nifti(path: PathLike) -> bool:
    """True when the file name has a NIfTI / Analyze suffix."""
    return is_nifti_name(path)


def load_nifti(
    path: PathLike, *, allow_nonfinite: bool = False, max_bytes: int | None = None
) -> Volume:
    """Read a 3-D NIfTI file, checking its header before any voxel is read.

    Args:
        path: ``.nii`` / ``.nii.gz`` (or Analyze ``.hdr``/``.img``).
        allow_nonfinite: keep NaN/Inf voxels as they are. By default they are replaced by the
            smallest finite value and counted in ``meta["nonfinite_voxels"]`` with a line in
            ``meta["warnings"]`` (a volume with no finite voxel is refused).
        max_bytes: largest volume accepted, in bytes of the float32 array (default
            :func:`medseg.io.limits.max_volume_bytes`).

    Returns:
        :class:`Volume` with ``array`` float32 ``(X, Y, Z)`` (scl_slope/inter applied), the
        file's affine, and ``source_files`` empty. A 2-D image loads as ``(X, Y, 1)``; a 4-D
        image with one volume in the 4th axis is squeezed to 3-D.

    Raises:
        MedsegIOError: unreadable file; 4-D data with several volumes; a header that declares
            more than ``max_bytes`` or more data than the file holds (both numbers are given);
            a singular affine or non-physical voxel spacing.
    """
    import nibabel as nib

    path = require_nonempty_file(path)
    try:
        img = nib.load(path)
        shape = tuple(int(s) for s in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
        dtype = np.dtype(img.get_data_dtype())
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
    too_big = check_declared_size(shape, max_bytes)
    if too_big:
        raise MedsegIOError(path, too_big)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MedsegIOError(path, "the affine is singular or not finite")
    _check_raw_pixdim(img, path)
    spacing = check_spacing(spacing_from_affine(affine), path)
    img = _with_checked_data(img, path, shape, dtype)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as e:
        raise MedsegIOError(
            path, f"voxel data cannot be read (damaged file?): {type(e).__name__}"
        ) from None
    data = data.reshape(shape[:3] if len(shape) >= 3 else shape + (1,))
    warnings: list[str] = []
    n_bad = 0
    if not allow_nonfinite:
        data, n_bad = fill_nonfinite(data, path)
        if n_bad:
            warnings.append(
                f"{n_bad} NaN/Inf voxel(s) were set to the image minimum before segmenting"
            )
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
        "nonfinite_voxels": n_bad,
        "warnings": warnings,
    }
    return Volume(np.ascontiguousarray(data), affine, spacing, meta, [])


def _check_raw_pixdim(img, path: str) -> None:
    """Without an sform or qform, voxel sizes come from ``pixdim``, which nibabel silently
    repairs (0 becomes 1 mm): refuse what the file really says instead of guessing."""
    hdr = img.header
    if "sform_code" not in hdr or int(hdr["sform_code"]) or int(hdr["qform_code"]):
        return
    try:
        with open(path, "rb") as f:
            head = f.read(348) if not path.lower().endswith(".gz") else None
        if head is None:
            import gzip

            with gzip.open(path, "rb") as g:
                head = g.read(348)
        raw = type(hdr).from_fileobj(io.BytesIO(head), check=False)
    except Exception:  # unreadable raw header: nibabel's own view stands
        return
    zooms = [float(v) for v in raw["pixdim"][1 : 1 + min(3, int(raw["dim"][0]))]]
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        shown = ", ".join(f"{z:.4g}" for z in zooms)
        raise MedsegIOError(
            path,
            f"voxel spacing (pixdim {shown}) mm is not physical and the file has no sform or "
            "qform to say otherwise; fix the header",
        )


def _with_checked_data(img, path: str, shape: tuple[int, ...], dtype: np.dtype):
    """``img`` whose voxel data is known to be all there, read at most once.

    The header says how many bytes of voxel data follow ``vox_offset``; a damaged or forged
    file holds fewer. An uncompressed file is checked by its size. A gzip file is decompressed
    here, in chunks and never past the declared size (a gzip bomb cannot grow beyond what the
    header, already checked against the limit, declared), and the image is rebuilt from those
    bytes so nibabel does not decompress it a second time.
    """
    import gzip
    import zlib

    n_vox = 1
    for s in shape:
        n_vox *= s
    declared = n_vox * dtype.itemsize
    data_file = path
    if path.lower().endswith((".hdr",)):
        data_file = path[:-4] + ".img"
        offset = 0
    else:
        # the proxy's offset is vox_offset as read from the file (the header copy nibabel
        # hands out resets it)
        offset = int(getattr(img.dataobj, "offset", 0) or 0)
    need = offset + declared
    if not data_file.lower().endswith(".gz"):
        try:
            have = os.path.getsize(data_file)
        except OSError:
            raise MedsegIOError(
                path, f"its data file {os.path.basename(data_file)} is missing"
            ) from None
        if have < need:
            raise MedsegIOError(path, _short(shape, dtype, declared, have - offset))
        return img
    buf = bytearray()
    try:
        with gzip.open(data_file, "rb") as f:
            while len(buf) < need:
                chunk = f.read(min(1 << 22, need - len(buf)))
                if not chunk:
                    break
                buf += chunk
    except (OSError, EOFError, zlib.error):
        # a truncated or damaged stream: report how much of the data it held
        pass
    if len(buf) < need:
        raise MedsegIOError(path, _short(shape, dtype, declared, max(0, len(buf) - offset)))
    if data_file != path:  # Analyze pair with a gzipped .img: nibabel reads it itself
        return img
    try:
        return type(img).from_bytes(bytes(buf))
    except Exception:  # a header nibabel reads from files only: let it read the file
        return img


def _short(shape, dtype, declared: int, held: int) -> str:
    dims = "×".join(str(s) for s in shape)
    return (
        f"the header declares {dims} {dtype.name} voxels ({human_bytes(declared)} of voxel data) "
        f"but the file holds {human_bytes(max(0, held))}: truncated or damaged"
    )


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
    if not path.lower().endswith(NIFTI_SUFFIXES):
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
