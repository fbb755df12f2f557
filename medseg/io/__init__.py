"""Medical and 2-D image I/O: DICOM, NIfTI, PNG/JPEG/TIFF, DICOM SEG output.

Layout convention (MONAI ``LoadImage``): a :class:`Volume` array has spatial axes only, in
voxel order ``(x = column, y = row, z = slice)`` for DICOM and the stored order for NIfTI,
and ``Volume.affine`` maps voxel indices to RAS+ millimetres. 2-D image files keep the
on-screen ``(H, W[, 3])`` layout.

Example::

    from medseg.io import load_volume, save_mask_like, write_dicom_seg
    vol = load_volume("series_folder/")          # CT in Hounsfield units
    mask = (vol.array > 300).astype("uint8")      # any mask in the same layout
    save_mask_like(mask, vol, "mask.nii.gz")      # opens aligned in any viewer
    write_dicom_seg(mask, vol, "mask_seg.dcm", segment_labels=["bone"])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .dicom import read_dataset
from .dicom_write import write_dicom_series
from .errors import MedsegIOError
from .image import is_image_file, load_image
from .kinds import has_dicom_magic
from .nifti import is_nifti, load_nifti, save_mask_like, save_nifti
from .series import list_series, load_dicom
from .slices import extract_slice, resample_to_spacing
from .volume import Volume, from_canonical, orientation_code, to_canonical


def write_dicom_seg(*args, **kwargs):  # thin wrapper: keeps highdicom out of `import medseg.io`
    from .seg import write_dicom_seg as _write

    return _write(*args, **kwargs)


write_dicom_seg.__doc__ = "See :func:`medseg.io.seg.write_dicom_seg`."


def read_dicom_seg(*args, **kwargs):  # thin wrapper, as write_dicom_seg
    from .seg import read_dicom_seg as _read

    return _read(*args, **kwargs)


read_dicom_seg.__doc__ = "See :func:`medseg.io.seg.read_dicom_seg`."


def load_volume(
    path_or_paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    series_uid: str | None = None,
    require_geometry: bool = True,
    min_slices: int = 1,
    max_bytes: int | None = None,
) -> Volume:
    """Load a scan: a DICOM file, folder or list of files, or a NIfTI file.

    Args:
        path_or_paths: ``.nii``/``.nii.gz`` file; DICOM file (any name); folder of DICOM
            files (recursive, grouped by SeriesInstanceUID); or a list of DICOM files.
        series_uid: a SeriesInstanceUID or ``"largest"`` when a folder holds several series
            (otherwise a :class:`MedsegIOError` lists them).
        require_geometry: DICOM only: raise when position/orientation tags are missing.
        min_slices: raise unless the volume has at least this many slices.
        max_bytes: largest volume accepted (bytes of the float32 array), checked from the
            headers before any pixel is decoded; default
            :func:`medseg.io.limits.max_volume_bytes` (4 GiB, ``MEDSEG_MAX_VOLUME_GB``).

    Returns:
        :class:`Volume` (float32 array in MONAI ``LoadImage`` layout, RAS affine, spacing,
        PHI-free meta, ordered source files).

    Raises:
        MedsegIOError: any unreadable or unsuitable input, naming the file and the problem.
    """
    single = isinstance(path_or_paths, (str, os.PathLike))
    if single and is_nifti(path_or_paths):
        vol = load_nifti(path_or_paths, max_bytes=max_bytes)
        if vol.array.shape[-1] < min_slices:
            raise MedsegIOError(
                path_or_paths,
                f"{vol.array.shape[-1]} slice(s) where a volume of at least {min_slices} "
                "slices is needed",
            )
        return vol
    if single and not os.path.exists(path_or_paths):
        raise MedsegIOError(path_or_paths, "no such file or folder")
    if (
        single
        and os.path.isfile(path_or_paths)
        and is_image_file(path_or_paths)
        and not has_dicom_magic(path_or_paths)  # the content decides, not the name
    ):
        raise MedsegIOError(
            path_or_paths, "a 2-D image file, not a scan: read it with medseg.io.load_image"
        )
    return load_dicom(
        path_or_paths,
        series_uid=series_uid,
        require_geometry=require_geometry,
        min_slices=min_slices,
        max_bytes=max_bytes,
        _stacklevel=3,
    )


__all__ = [
    "MedsegIOError",
    "Volume",
    "extract_slice",
    "from_canonical",
    "is_image_file",
    "is_nifti",
    "list_series",
    "load_dicom",
    "load_image",
    "load_nifti",
    "load_volume",
    "orientation_code",
    "read_dataset",
    "read_dicom_seg",
    "resample_to_spacing",
    "save_mask_like",
    "save_nifti",
    "to_canonical",
    "write_dicom_seg",
    "write_dicom_series",
]
