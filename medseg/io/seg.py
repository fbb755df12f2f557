"""DICOM Segmentation (SEG) output with highdicom.

The SEG references its source series (patient, study and frame of reference are copied from
the source images, as the standard requires so that PACS and viewers file it with the scan)
and holds one segment per label, one frame per source slice and segment, each frame on its
source slice's plane (same ImagePositionPatient, shared ImageOrientationPatient) and derived
from it (DerivationImageSequence). Nothing else identifying is carried over: institution,
station and device serial of the source scanner are removed from the contributing-equipment
record highdicom adds.

Encoding (PS3.3 C.8.20.2, Segmentation Image Module): by default FRACTIONAL, OCCUPANCY,
8 bits per pixel, MaximumFractionalValue 255, every pixel 0 or 255 (the mask is hard: a
pixel is wholly inside a segment or wholly outside). BINARY (1 bit per pixel) is 8x smaller
but its frames are bit-packed back to back (PS3.5 8.1.1): when Rows x Columns is not a
multiple of 8, frames after the first start inside a byte and the Pixel Data has a pad
byte. Both are legal, and both broke real software here: OHIF 3.13 (dcmjs) rejected the
pad byte and Orthanc 1.10 refuses per-frame retrieval of 1-bit frames unless Columns is a
multiple of 8, so a BINARY SEG of a 181-column series never showed. 8-bit frames start on
byte boundaries for any image size, and OHIF reads a FRACTIONAL SEG whose values are all 0
or MaximumFractionalValue exactly like a binary one. ``segmentation_type="binary"`` is
still available where size matters more than those viewers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .errors import MedsegIOError
from .volume import Volume

PathLike = str | os.PathLike


# Findings rather than anatomy: their SEG category is "Morphologically Abnormal Structure".
_ABNORMAL = {"Tumor", "Neoplasm", "Lesion", "Mass", "Hemorrhage", "Edema", "Necrosis", "Nodule"}


def _codes(label: str):
    """(category, type) codes: SNOMED CT anatomy when highdicom knows the label, else tissue."""
    from pydicom.sr.codedict import codes

    name = "".join(w.capitalize() for w in label.replace("_", " ").split())
    kind = getattr(codes.SCT, name, None)
    if kind is None:
        return codes.SCT.Tissue, codes.SCT.Tissue
    if name in _ABNORMAL:
        return codes.SCT.MorphologicallyAbnormalStructure, kind
    return codes.SCT.AnatomicalStructure, kind


# highdicom records the source scanner as contributing equipment, including where it stands
# and its serial number. Those describe the acquisition, not the SEG (which must carry only
# the Patient and Study modules of its source), so they are removed; manufacturer and model
# stay as provenance.
_EQUIPMENT_IDENTIFIERS = (
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "OperatorsName",
)


def _strip_equipment_identifiers(seg) -> None:
    for item in seg.get("ContributingEquipmentSequence", []):
        for keyword in _EQUIPMENT_IDENTIFIERS:
            if keyword in item:
                delattr(item, keyword)


def write_dicom_seg(
    mask: np.ndarray,
    volume: Volume,
    path: PathLike,
    *,
    segment_labels: Sequence[str] = ("brain",),
    algorithm_name: str = "medseg",
    algorithm_version: str | None = None,
    series_description: str = "medseg segmentation",
    series_number: int = 900,
    omit_empty_frames: bool = False,
    segmentation_type: str = "fractional",
) -> str:
    """Write a label mask as a DICOM SEG aligned with the volume's source slices.

    Args:
        mask: ``volume.array.shape`` integer labels: 0 = background, ``k`` = segment ``k``
            (``1 <= k <= len(segment_labels)``); bool is treated as label 1.
        volume: a DICOM :class:`Volume` from :func:`~medseg.io.load_volume` (needs
            ``source_files``; a volume that was resampled or reoriented has none).
        path: output ``.dcm`` path.
        segment_labels: one name per label value; known anatomy names (``"brain"``,
            ``"liver"``, ...) get their SNOMED CT code, others a generic tissue code.
        algorithm_name, algorithm_version: recorded as the segmentation algorithm
            (version defaults to the medseg version).
        series_description, series_number: of the new SEG series.
        omit_empty_frames: drop frames without any segment pixel (smaller file).
        segmentation_type: ``"fractional"`` (default: 8-bit OCCUPANCY frames holding 0 or
            255, displayed by OHIF and served frame by frame by Orthanc for any image size;
            see the module docstring) or ``"binary"`` (1 bit per pixel, 8x smaller).

    Returns:
        The path written. Read it back with ``highdicom.seg.segread(path)``.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    import medseg

    seg_type = str(segmentation_type).lower()
    if seg_type not in ("fractional", "binary"):
        raise ValueError(f"segmentation_type must be 'fractional' or 'binary', got {seg_type!r}")
    if not volume.source_files:
        raise MedsegIOError(
            None, "the volume has no source DICOM files (NIfTI, resampled or reoriented?)"
        )
    m = np.asarray(mask)
    if m.shape != volume.array.shape:
        raise ValueError(f"mask shape {m.shape} differs from the volume's {volume.array.shape}")
    if m.dtype == bool:
        m = m.astype(np.uint8)
    if m.size and (m.min() < 0 or m.max() > len(segment_labels)):
        raise ValueError(
            f"mask labels must lie in 0..{len(segment_labels)} (one name per label in "
            f"segment_labels), got {int(m.min())}..{int(m.max())}"
        )
    if not np.array_equal(m, np.round(m)):
        raise ValueError("mask must hold integer labels")
    # Volume layout is (column, row, slice); DICOM frames are (slice, row, column).
    frames = np.ascontiguousarray(np.transpose(m, (2, 1, 0))).astype(np.uint8)
    from .dicom import read_dataset

    # Headers are all highdicom needs from the sources; their pixels would only cost time.
    sources = [read_dataset(p, stop_before_pixels=True) for p in volume.source_files]
    if len(sources) == 1 and int(sources[0].get("NumberOfFrames", 1) or 1) > 1:
        order = volume.meta.get("frame_order", list(range(frames.shape[0])))
        in_file_order = np.empty_like(frames)
        in_file_order[np.asarray(order)] = frames  # volume slice k is file frame order[k]
        frames = in_file_order
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name,
        family=codes.DCM.ArtificialIntelligence,
        version=algorithm_version or medseg.__version__,
    )
    descriptions = []
    for i, label in enumerate(segment_labels, start=1):
        category, kind = _codes(label)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=i,
                segment_label=label,
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
            )
        )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=frames if frames.shape[0] > 1 else frames[0],
        segmentation_type=hd.seg.SegmentationTypeValues(seg_type.upper()),
        # A hard mask: each pixel is wholly inside (255) or outside (0) a segment.
        fractional_type=hd.seg.SegmentationFractionalTypeValues.OCCUPANCY,
        max_fractional_value=255,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="medseg",
        manufacturer_model_name=algorithm_name,
        software_versions=medseg.__version__,
        device_serial_number="none",
        series_description=series_description,
        omit_empty_frames=omit_empty_frames,
    )
    _strip_equipment_identifiers(seg)
    path = os.fspath(path)
    seg.save_as(path)
    return path


def read_dicom_seg(path: PathLike, volume: Volume) -> np.ndarray:
    """Read a DICOM SEG that references ``volume``'s source slices as a label mask.

    Args:
        path: a DICOM Segmentation file (binary or fractional segments).
        volume: the DICOM :class:`Volume` of the series it segments (single-frame files).

    Returns:
        ``volume.array.shape`` uint8 mask: 0 = background, ``k`` = segment number ``k``.
        Source slices the SEG does not cover are 0.

    Raises:
        MedsegIOError: not a SEG, segments overlapping, or none of its frames reference
            the volume's slices.
    """
    import highdicom as hd

    from .dicom import read_dataset

    ds = read_dataset(path)
    if ds.get("Modality") != "SEG":
        raise MedsegIOError(path, f"not a DICOM Segmentation (modality {ds.get('Modality')})")
    if len(volume.source_files) < 1 or volume.meta.get("multiframe"):
        raise MedsegIOError(path, "needs a volume loaded from single-frame DICOM files")
    seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    uids = [
        str(read_dataset(f, stop_before_pixels=True).SOPInstanceUID) for f in volume.source_files
    ]
    referenced = {str(u[2]) for u in seg.get_source_image_uids()}
    if not referenced & set(uids):
        raise MedsegIOError(path, "its frames reference none of the volume's slices")
    present = [u for u in uids if u in referenced]
    try:
        labels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=present, combine_segments=True, ignore_spatial_locations=True
        )
    except ValueError as e:
        raise MedsegIOError(path, f"cannot combine its segments into one label mask: {e}") from None
    mask = np.zeros(volume.array.shape, np.uint8)
    for k, uid in enumerate(uids):
        if uid in referenced:
            mask[..., k] = labels[present.index(uid)].T
    return mask
