"""What kind of file is this? One answer for the CLI, the app, MONAI readers and the DICOM node.

The suffix lists live here and nowhere else; :func:`file_kind` also sniffs the first bytes, so
a DICOM file without a suffix, a zip named ``.dcm`` or a NIfTI with an upper-case suffix are
told apart the same way everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PathLike = str | os.PathLike

#: 2-D image files :func:`medseg.io.load_image` reads.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: NIfTI-1/2 files written by medseg and read by everyone.
NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: what :func:`medseg.io.load_nifti` also reads (Analyze pairs).
NIFTI_READ_SUFFIXES = (*NIFTI_SUFFIXES, ".hdr", ".img", ".img.gz")
#: suffixes DICOM files commonly carry (many have none at all).
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: videos the video pipeline decodes with OpenCV.
VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
ZIP_SUFFIXES = (".zip",)

#: values :func:`file_kind` returns.
KINDS = ("dicom", "nifti", "image", "zip", "video", "unknown")


def _lower(path: PathLike) -> str:
    return os.fspath(path).lower()


def is_nifti_name(path: PathLike) -> bool:
    """True when the name has a NIfTI (or Analyze) suffix."""
    return _lower(path).endswith(NIFTI_READ_SUFFIXES)


def is_image_name(path: PathLike) -> bool:
    """True when the name has a 2-D image suffix."""
    return _lower(path).endswith(IMAGE_SUFFIXES)


def is_video_name(path: PathLike) -> bool:
    return _lower(path).endswith(VIDEO_SUFFIXES)


def has_dicom_magic(path: PathLike) -> bool:
    """True when the file carries the ``DICM`` marker after its 128-byte preamble."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def is_dicom_file(path: PathLike) -> bool:
    """A DICOM suffix, or no suffix and the ``DICM`` marker (files a DICOMDIR lists)."""
    p = Path(path)
    if p.name.lower().endswith(DICOM_SUFFIXES):
        return True
    return not p.suffix and p.is_file() and has_dicom_magic(p)


def file_kind(path: PathLike) -> str:
    """One of :data:`KINDS`, from the name and the first bytes.

    ``"dicom"`` is also returned for files with a DICOM suffix or no suffix at all (DICOMDIR
    trees, preamble-less files): the DICOM reader then decides and reports precisely.
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(NIFTI_READ_SUFFIXES):
        return "nifti"
    try:
        with open(p, "rb") as f:
            head = f.read(132)
    except OSError:
        head = b""
    if len(head) == 132 and head[128:132] == b"DICM":
        return "dicom"
    if name.endswith(ZIP_SUFFIXES) or head[:4] == b"PK\x03\x04":
        return "zip"
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    if name.endswith(VIDEO_SUFFIXES):
        return "video"
    if name.endswith(DICOM_SUFFIXES) or "." not in name:
        return "dicom"
    return "unknown"


def case_stem(path: PathLike) -> str:
    """The file name without its (double) suffix: ``scan.nii.gz`` → ``scan``."""
    name = Path(path).name
    low = name.lower()
    for suf in sorted(NIFTI_READ_SUFFIXES, key=len, reverse=True):
        if low.endswith(suf):
            return name[: -len(suf)]
    return Path(name).stem


def accepted_inputs() -> str:
    """The accepted inputs, in words (for error messages)."""
    return (
        "DICOM (a file, a folder of a series, or a .zip of it), NIfTI (.nii, .nii.gz), "
        "images (PNG, JPEG, TIFF, BMP)"
    )


__all__ = [
    "DICOM_SUFFIXES",
    "IMAGE_SUFFIXES",
    "KINDS",
    "NIFTI_READ_SUFFIXES",
    "NIFTI_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ZIP_SUFFIXES",
    "accepted_inputs",
    "case_stem",
    "file_kind",
    "has_dicom_magic",
    "is_dicom_file",
    "is_image_name",
    "is_nifti_name",
    "is_video_name",
]
