"""Write a volume as a DICOM series: one single-frame instance per slice, real geometry.

What it is for: turning a real NIfTI head (or any :class:`~medseg.io.Volume`) into an MR or
CT series that a PACS stores and a viewer displays, so examples and PACS tests run on real
anatomy. The patient and study attributes are synthetic and identify nobody.

Geometry (PS3.3 C.7.6.2, Image Plane Module): ``Volume.array[..., k]`` becomes instance
``k + 1``; its rows run along the array's second axis and its columns along the first (the
layout :func:`medseg.io.load_volume` reads back), ``ImageOrientationPatient`` and
``PixelSpacing`` come from the affine's first two columns, ``ImagePositionPatient`` of slice
``k`` is the affine's origin plus ``k`` times its third column (all converted from RAS to the
LPS frame DICOM uses). So ``load_volume(folder)`` returns the same array and affine, provided
the slice axis points along ``row direction × column direction`` (a right-handed voxel frame,
as in ordinary NIfTI files); for a left-handed frame every voxel keeps its world position but
the reader orders the slices the other way (its array is the source's with the last axis
reversed).

Pixel values: integer-valued arrays are stored exactly as 16-bit values (unsigned when no
value is negative); other arrays are quantised to 16 bits with RescaleSlope/RescaleIntercept.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np

from .volume import Volume

PathLike = str | os.PathLike

_SOP_CLASS = {
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
}
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])


def _ds(value: float) -> str:
    """A Decimal String (at most 16 characters) that keeps as many digits as fit."""
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value) + 0.0)  # + 0.0: no "-0"


def _plane_geometry(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row direction, column direction, [row spacing, column spacing], slice vector) in LPS."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise ValueError(f"affine must be a finite 4x4 matrix, got shape {a.shape}")
    lps = _LPS_FROM_RAS @ a[:3, :3]
    step_col, step_row, slice_vec = lps[:, 0], lps[:, 1], lps[:, 2]
    dx, dy = float(np.linalg.norm(step_col)), float(np.linalg.norm(step_row))
    if dx <= 0 or dy <= 0:
        raise ValueError("affine has a zero-length in-plane axis")
    row_dir, col_dir = step_col / dx, step_row / dy
    if abs(float(row_dir @ col_dir)) > 1e-4:
        raise ValueError(
            "the affine's in-plane axes are not orthogonal (sheared grid): DICOM's "
            "ImageOrientationPatient needs two orthogonal directions; resample first"
        )
    # PixelSpacing is (distance between rows, distance between columns).
    return row_dir, col_dir, np.array([dy, dx]), slice_vec


def _encode(array: np.ndarray, modality: str) -> tuple[np.ndarray, dict]:
    """Stored 16-bit values and the Image Pixel / rescale attributes that decode them."""
    a = np.asarray(array)
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError("volume must be non-empty and finite")
    lo, hi = float(a.min()), float(a.max())
    integral = np.array_equal(a, np.round(a))
    attrs: dict = {"BitsAllocated": 16, "BitsStored": 16, "HighBit": 15}
    if integral and lo >= 0 and hi <= 65535:
        stored = a.astype(np.uint16)
        attrs["PixelRepresentation"] = 0
    elif integral and lo >= -32768 and hi <= 32767:
        stored = a.astype(np.int16)
        attrs["PixelRepresentation"] = 1
    else:
        # Quantise to the full signed range; slope/intercept restore the real values.
        slope = (hi - lo) / 65535.0 if hi > lo else 1.0
        intercept = lo + 32768.0 * slope
        stored = np.clip(np.round((a - intercept) / slope), -32768, 32767).astype(np.int16)
        attrs.update(
            PixelRepresentation=1, RescaleSlope=_ds(slope), RescaleIntercept=_ds(intercept)
        )
    if modality == "CT" and "RescaleSlope" not in attrs:
        attrs.update(RescaleSlope="1", RescaleIntercept="0")  # Type 1 in the CT Image Module
    if modality == "CT":
        attrs["RescaleType"] = "HU"
    return stored, attrs


def write_dicom_series(
    volume: Volume,
    folder: PathLike,
    *,
    modality: str = "MR",
    series_description: str = "medseg example",
    study_description: str = "medseg example study",
    series_number: int = 1,
    patient_name: str = "Example^Medseg",
    patient_id: str = "MEDSEG-EXAMPLE",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    body_part: str = "",
    file_prefix: str = "IM",
    upright: bool = False,
    uid_seed: str | None = None,
) -> list[Path]:
    """Write ``volume`` as a DICOM series (one instance per slice) into ``folder``.

    Args:
        volume: a :class:`~medseg.io.Volume` (e.g. ``load_volume("head.nii.gz")``): array
            ``(X, Y, Z)`` and its RAS affine. ``array[..., k]`` becomes slice ``k``.
        folder: output folder, created if needed; it must not already hold any of the
            files this would write (nothing is overwritten).
        modality: ``"MR"`` (MR Image Storage) or ``"CT"`` (CT Image Storage, values taken
            as Hounsfield units).
        series_description, study_description, series_number: as written.
        patient_name, patient_id: synthetic identity of the example patient (defaults
            identify nobody). Birth date and sex are left empty (Type 2).
        study_instance_uid, series_instance_uid, frame_of_reference_uid: reuse given UIDs
            (e.g. to add a series to a study); new ones are generated by default.
        body_part: BodyPartExamined (e.g. ``"HEAD"``); left out when empty.
        file_prefix: file names are ``<prefix><k+1:05d>.dcm``.
        upright: write each slice's rows top-down (superior, else anterior, first) so that
            viewers showing pixels as stored show the head upright. Every voxel keeps its
            world position, but when the rows were flipped :func:`~medseg.io.load_volume`
            returns the array with its second and third axes reversed (slices follow row ×
            column direction) and the matching affine.
        uid_seed: derive every UID from this text (the same input gives the same series,
            e.g. for bundled examples); new random UIDs by default.

    Returns:
        The written paths, in slice order.

    Example:
        >>> vol = load_volume("/usr/share/mricron/templates/ch2.nii.gz")  # doctest: +SKIP
        >>> files = write_dicom_series(vol, "ch2_dicom/")                  # doctest: +SKIP
        >>> np.array_equal(load_volume("ch2_dicom/").array, vol.array)     # doctest: +SKIP
        True
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    modality = modality.upper()
    if modality not in _SOP_CLASS:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASS)}, got {modality!r}")
    array = np.asarray(volume.array)
    if array.ndim != 3:
        raise ValueError(f"volume array must be 3-D (X, Y, Z), got shape {array.shape}")
    row_dir, col_dir, pixel_spacing, slice_vec = _plane_geometry(volume.affine)
    origin = (_LPS_FROM_RAS @ np.asarray(volume.affine, dtype=np.float64)[:3, 3]).ravel()
    # Rows that run up (towards superior, +z in LPS) or, in an axial plane, towards anterior
    # (-y in LPS) show the head upside down in a viewer that shows pixels as stored.
    flip = upright and (col_dir[2] > 1e-6 or (abs(col_dir[2]) < 0.5 and col_dir[1] < 0))
    if flip:
        origin = origin + (array.shape[1] - 1) * pixel_spacing[0] * col_dir
        col_dir = -col_dir
    normal = np.cross(row_dir, col_dir)
    thickness = abs(float(slice_vec @ normal)) or 1.0
    stored, pixel_attrs = _encode(array, modality)
    n_cols, n_rows, n_slices = array.shape

    out = Path(folder)
    paths = [out / f"{file_prefix}{k + 1:05d}.dcm" for k in range(n_slices)]
    clash = [p.name for p in paths if p.exists()]
    if clash:
        raise FileExistsError(
            f"{out}: already holds {clash[0]} (and {len(clash) - 1} more): choose an empty folder"
        )
    out.mkdir(parents=True, exist_ok=True)

    def new_uid(what: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, what]) if uid_seed else generate_uid()

    study_uid = study_instance_uid or new_uid("study")
    series_uid = series_instance_uid or new_uid("series")
    for_uid = frame_of_reference_uid or new_uid("frame of reference")
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    sop_class = _SOP_CLASS[modality]
    iop = [_ds(v) for v in (*row_dir, *col_dir)]
    for k, path in enumerate(paths):
        sop_uid = new_uid(f"instance {k}")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["DERIVED", "SECONDARY", "OTHER" if modality == "MR" else "AXIAL"]
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
        ds.AccessionNumber = ""
        ds.Modality = modality
        ds.Manufacturer = "medseg"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = study_description
        ds.SeriesDescription = series_description
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.PatientIdentityRemoved = "YES"  # synthetic: there is no real patient
        ds.DeidentificationMethod = "synthetic example written by medseg (no real patient)"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = int(series_number)
        if body_part:
            ds.BodyPartExamined = body_part.upper()
        ds.PatientPosition = "HFS"
        ds.InstanceNumber = k + 1
        ds.PatientOrientation = ""
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        position = origin + k * slice_vec
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = iop
        ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
        ds.SliceThickness = _ds(thickness)
        ds.SpacingBetweenSlices = _ds(thickness)
        ds.SliceLocation = _ds(float(position @ normal))
        if modality == "MR":
            # MR Image Module Type 1/2 attributes; "RM" = research mode: not a scanner sequence.
            ds.ScanningSequence = "RM"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D"
            ds.RepetitionTime = ""
            ds.EchoTime = ""
            ds.EchoTrainLength = ""
        else:
            ds.KVP = ""
            ds.AcquisitionNumber = 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = n_rows, n_cols
        for key, value in pixel_attrs.items():
            setattr(ds, key, value)
        # Volume layout is (column, row); a DICOM frame is (row, column).
        frame = stored[:, :, k].T
        ds.PixelData = np.ascontiguousarray(frame[::-1] if flip else frame).tobytes()
        ds.save_as(path, enforce_file_format=True)
    return paths


__all__ = ["write_dicom_series"]
