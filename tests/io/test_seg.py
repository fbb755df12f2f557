"""DICOM SEG output read back with pydicom and highdicom."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from medseg_io_data import dicom_file, nibabel_data

from medseg.io import MedsegIOError, load_volume, write_dicom_seg


@pytest.fixture(scope="module")
def shuffled_volume(ct5n_shuffled):
    return load_volume(ct5n_shuffled[0])


@pytest.fixture(scope="module")
def two_label_mask(shuffled_volume):
    a = shuffled_volume.array
    m = np.zeros(a.shape, np.uint8)
    m[a > 100] = 1
    m[(a > -200) & (a <= 100)] = 2
    m[:4, :, 2] = 0  # a slice-dependent pattern, so a frame mix-up cannot go unseen
    return m


@pytest.fixture(scope="module")
def seg_path(shuffled_volume, two_label_mask, tmp_path_factory):
    p = tmp_path_factory.mktemp("seg") / "seg.dcm"
    write_dicom_seg(
        two_label_mask,
        shuffled_volume,
        p,
        segment_labels=["bone", "soft tissue"],
        algorithm_name="medseg-test",
    )
    return p


def test_seg_is_valid_and_references_source(seg_path, shuffled_volume):
    ds = pydicom.dcmread(seg_path)
    assert ds.SOPClassUID == pydicom.uid.SegmentationStorage
    src = [pydicom.dcmread(f, stop_before_pixels=True) for f in shuffled_volume.source_files]
    assert ds.Modality == "SEG"
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == src[0].SeriesInstanceUID
    assert ds.StudyInstanceUID == src[0].StudyInstanceUID
    assert ds.FrameOfReferenceUID == src[0].FrameOfReferenceUID
    assert ds.SeriesInstanceUID != src[0].SeriesInstanceUID
    labels = [s.SegmentLabel for s in ds.SegmentSequence]
    assert labels == ["bone", "soft tissue"]
    algo = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "medseg-test"
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    # Known anatomy gets its SNOMED CT code.
    assert ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Bone"
    category = ds.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0]
    assert (category.CodingSchemeDesignator, category.CodeMeaning) == (
        "SCT",
        "Anatomical Structure",
    )
    assert int(ds.NumberOfFrames) == 2 * len(src)  # one frame per slice and segment


def test_frames_aligned_with_source_slices(seg_path, shuffled_volume, two_label_mask):
    seg = hd.seg.segread(seg_path)
    ds = pydicom.dcmread(seg_path)
    by_uid = {}
    for f in shuffled_volume.source_files:
        s = pydicom.dcmread(f, stop_before_pixels=True)
        by_uid[s.SOPInstanceUID] = s
    uids = list(by_uid)
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2])
    assert px.shape == (len(uids), 16, 16, 2)
    # Our layout is (column, row, slice): source image k's (row, col) frame is mask[..., k].T
    for k in range(len(uids)):
        for seg_no in (1, 2):
            np.testing.assert_array_equal(
                px[k, ..., seg_no - 1], (two_label_mask[..., k].T == seg_no)
            )
    # Each frame's plane position equals its referenced source slice's position.
    for frame in ds.PerFrameFunctionalGroupsSequence:
        ref_uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        pos = frame.PlanePositionSequence[0].ImagePositionPatient
        np.testing.assert_allclose(
            [float(v) for v in pos],
            [float(v) for v in by_uid[ref_uid].ImagePositionPatient],
            atol=1e-3,
        )


def test_seg_for_enhanced_multiframe_source(tmp_path):
    path = dicom_file("eCT_Supplemental.dcm")
    vol = load_volume(path)
    mask = np.zeros(vol.array.shape, np.uint8)
    mask[100:200, 50:300, 0] = 1  # only the first slice along the normal
    out = write_dicom_seg(mask, vol, tmp_path / "eseg.dcm", segment_labels=["liver"])
    seg = hd.seg.segread(out)
    src = pydicom.dcmread(path, stop_before_pixels=True)
    frames = [i + 1 for i in range(int(src.NumberOfFrames))]
    px = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=src.SOPInstanceUID, source_frame_numbers=frames, segment_numbers=[1]
    )
    order = vol.meta["frame_order"]  # volume slice k came from file frame order[k]
    for k, frame_index in enumerate(order):
        np.testing.assert_array_equal(px[frame_index, ..., 0], mask[..., k].T)
    assert px[order[0]].sum() > 0 and px[order[1]].sum() == 0


def test_seg_rejects_bad_input(shuffled_volume, tmp_path):
    shape = shuffled_volume.array.shape
    with pytest.raises(ValueError, match="0..1"):
        write_dicom_seg(np.full(shape, 2, np.uint8), shuffled_volume, tmp_path / "x.dcm")
    with pytest.raises(ValueError, match="shape"):
        write_dicom_seg(np.zeros((2, 2, 2), np.uint8), shuffled_volume, tmp_path / "x.dcm")
    nifti = load_volume(nibabel_data("anatomical.nii"))
    with pytest.raises(MedsegIOError, match="no source DICOM files"):
        write_dicom_seg(np.zeros(nifti.array.shape, np.uint8), nifti, tmp_path / "x.dcm")


def test_seg_does_not_copy_acquisition_identifiers(tmp_path):
    from medseg_io_data import CT5N

    planted = {
        "InstitutionName": "Plantedinstitution",
        "InstitutionAddress": "1 Plantedaddress Road",
        "StationName": "PLANTEDSTATION",
        "DeviceSerialNumber": "PLANTEDSERIAL",
    }
    src = tmp_path / "src"
    src.mkdir()
    for f in CT5N.iterdir():
        ds = pydicom.dcmread(f)
        for k, v in planted.items():
            setattr(ds, k, v)
        ds.save_as(src / f.name)
    vol = load_volume(src)
    out = write_dicom_seg((vol.array > 0).astype(np.uint8), vol, tmp_path / "seg.dcm")
    raw = open(out, "rb").read().decode("latin-1")
    assert [v for v in planted.values() if v in raw] == []
    # The patient/study modules are still there (the standard requires them).
    assert pydicom.dcmread(out).StudyInstanceUID == pydicom.dcmread(src / "2062").StudyInstanceUID


@pytest.mark.parametrize("omit_empty", [False, True])
def test_read_dicom_seg_inverts_write(shuffled_volume, two_label_mask, tmp_path, omit_empty):
    from medseg.io import read_dicom_seg

    p = write_dicom_seg(
        two_label_mask,
        shuffled_volume,
        tmp_path / "s.dcm",
        segment_labels=["bone", "soft tissue"],
        omit_empty_frames=omit_empty,
    )
    np.testing.assert_array_equal(read_dicom_seg(p, shuffled_volume), two_label_mask)


def test_seg_file_given_as_scan():
    path = dicom_file("liver_1frame.dcm")
    with pytest.raises(MedsegIOError, match="liver_1frame.dcm: a DICOM Segmentation"):
        load_volume(path)


def test_read_dicom_seg_needs_a_seg_that_references_the_volume(shuffled_volume, ct5n_volume):
    from medseg.io import read_dicom_seg

    with pytest.raises(MedsegIOError, match="reference none of the volume's slices"):
        read_dicom_seg(dicom_file("liver_1frame.dcm"), ct5n_volume)
    with pytest.raises(MedsegIOError, match="not a DICOM Segmentation"):
        read_dicom_seg(shuffled_volume.source_files[0], shuffled_volume)


# ---------------------------------------------------------------- encoding (issue 16)
@pytest.fixture(scope="module")
def odd_series(tmp_path_factory):
    """A real head crop with odd Rows, Columns and frame count (Rows x Columns x frames odd)."""
    from dataclasses import replace

    from medseg.data.samples import sample_path
    from medseg.io import write_dicom_series

    try:
        ch2 = sample_path("ch2")
    except FileNotFoundError as e:
        pytest.skip(str(e))

    vol = load_volume(ch2)
    crop = replace(vol, array=vol.array[30:151, 40:177, 80:85].copy(), source_files=[])
    crop.affine[:3, 3] = vol.affine[:3, :3] @ [30, 40, 80] + vol.affine[:3, 3]
    folder = tmp_path_factory.mktemp("odd") / "s"
    write_dicom_series(crop, folder, body_part="head")
    back = load_volume(folder)
    mask = (back.array > 90).astype(np.uint8)
    mask[:5, :, 1] = 1  # a slice-dependent mark against frame mix-ups
    return back, mask


def test_default_encoding_is_8bit_fractional_occupancy(odd_series, tmp_path):
    """PS3.3 C.8.20.2: FRACTIONAL needs Bits Allocated/Stored 8, a Fractional Type and a
    Maximum Fractional Value; a hard mask is stored as 0 or that maximum."""
    vol, mask = odd_series
    out = write_dicom_seg(mask, vol, tmp_path / "f.dcm")
    ds = pydicom.dcmread(out)
    assert (ds.SegmentationType, ds.SegmentationFractionalType) == ("FRACTIONAL", "OCCUPANCY")
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (8, 8, 7)
    assert int(ds.MaximumFractionalValue) == 255
    rows, cols, n = int(ds.Rows), int(ds.Columns), int(ds.NumberOfFrames)
    assert cols % 2 == 1 and (rows * cols * n) % 2 == 1  # the awkward case
    # Every frame starts on a byte boundary: frame k is bytes [k*R*C, (k+1)*R*C).
    raw = np.frombuffer(ds.PixelData, np.uint8)
    assert raw.size == rows * cols * n + 1  # one pad byte to an even length (PS3.5 8.1.1)
    order = {
        str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): k
        for k, f in enumerate(vol.source_files)
    }
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        uid = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        frame = raw[f * rows * cols : (f + 1) * rows * cols].reshape(rows, cols)
        np.testing.assert_array_equal(frame, mask[..., order[uid]].T.astype(np.uint8) * 255)
    seg = hd.seg.segread(out)
    px = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(order), segment_numbers=[1]
    )
    for uid, k in order.items():
        np.testing.assert_array_equal(px[list(order).index(uid), ..., 0], mask[..., k].T)
    from medseg.io import read_dicom_seg

    np.testing.assert_array_equal(read_dicom_seg(out, vol), mask)


def test_binary_encoding_still_available(odd_series, tmp_path):
    from medseg.io import read_dicom_seg

    vol, mask = odd_series
    out = write_dicom_seg(mask, vol, tmp_path / "b.dcm", segmentation_type="binary")
    ds = pydicom.dcmread(out)
    assert ds.SegmentationType == "BINARY" and ds.BitsAllocated == 1
    np.testing.assert_array_equal(read_dicom_seg(out, vol), mask)
    with pytest.raises(ValueError, match="segmentation_type"):
        write_dicom_seg(mask, vol, tmp_path / "x.dcm", segmentation_type="labelmap")


@pytest.mark.parametrize("kind", ["fractional", "binary"])
def test_seg_passes_dciodvfy(odd_series, tmp_path, kind):
    """David Clunie's IOD validator (Debian dicom3tools) reports no error."""
    import shutil
    import subprocess

    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools (dciodvfy) is not installed (scripts/setup.sh installs it)")
    vol, mask = odd_series
    out = write_dicom_seg(mask, vol, tmp_path / "v.dcm", segmentation_type=kind)
    r = subprocess.run(["dciodvfy", str(out)], capture_output=True, text=True)
    assert "Error" not in r.stdout + r.stderr, r.stdout + r.stderr
