"""Medical tab processing (plain Python): loading, windowing, segmenting, exports.

Expected numbers come from independent computations: pydicom's own pixel data and
rescale for the windowed slice, nibabel for the written masks, numpy for Dice/area/volume.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from medseg.app import medical, scans
from medseg.app.common import AppError

PHI_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "InstitutionName")


def _window_ref(hu: np.ndarray, c: float, w: float) -> np.ndarray:
    return np.floor(np.clip((hu - (c - w / 2)) / w, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_ct_slice_windowed_matches_pydicom(ct_small):
    ds = pydicom.dcmread(ct_small)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    img, c, w = medical.medical_preview([ct_small], "axial", 0, medical.CUSTOM_WINDOW, 40, 400)
    assert (c, w) == (40, 400)
    np.testing.assert_array_equal(img, _window_ref(hu, 40, 400))
    presets = medical.window_presets()
    assert "brain" in presets
    img_b, c_b, w_b = medical.medical_preview([ct_small], "axial", 0, "brain")
    np.testing.assert_array_equal(img_b, _window_ref(hu, c_b, w_b))


def test_info_has_no_patient_identifiers(ct_small, mr_small):
    for f in (ct_small, mr_small):
        ds = pydicom.dcmread(f)
        info, idx, img = medical.medical_load([f])
        text = repr(info)
        for tag in PHI_TAGS:
            v = str(ds.get(tag, "") or "")
            if v:
                assert v not in text, tag
        assert info["modality"] == ds.Modality
        assert info["plane"] == "axial" and idx == 0 and img.shape == ds.pixel_array.shape


def test_nifti_native_plane_and_slices(t1_nifti):
    hdr = nib.load(str(t1_nifti))
    info, idx, img = medical.medical_load([t1_nifti])
    assert sorted(info["shape"]) == sorted(hdr.shape)
    # the stored slices (last array axis) are what the native plane pages through
    assert info["slices"][info["plane"]] == hdr.shape[2]
    assert idx == hdr.shape[2] // 2
    assert sorted(img.shape) == sorted(hdr.shape[:2])


def test_dicom_zip_and_multi_file(tmp_path, ct_small, mr_small):
    z = tmp_path / "ct.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "nested/dir/CT_small.dcm")
    info, _, img = medical.medical_load([z])
    assert info["kind"] == "dicom" and info["modality"] == "CT"
    ref, _, ref_img = medical.medical_load([ct_small])
    np.testing.assert_array_equal(img, ref_img)
    with pytest.raises(AppError):  # two different series: the reader refuses with a reason
        medical.medical_load([ct_small, mr_small])


def test_bad_inputs(bad_files, ct_small, t1_nifti):
    with pytest.raises(AppError, match="corrupt.dcm"):
        medical.medical_load([bad_files["corrupt_dicom"]])
    with pytest.raises(AppError, match="unsupported file type"):
        medical.medical_load([bad_files["text"]])
    with pytest.raises(AppError, match="megapixels"):
        medical.medical_load([bad_files["huge_png"]])
    with pytest.raises(AppError, match="mixed file types"):
        medical.medical_load([ct_small, t1_nifti])
    with pytest.raises(AppError, match="no file uploaded"):
        medical.medical_load(None)
    with pytest.raises(AppError, match="out of range"):
        medical.medical_preview([ct_small], "axial", 5)
    with pytest.raises(AppError, match="width must be > 0"):
        medical.medical_preview([ct_small], "axial", 0, medical.CUSTOM_WINDOW, 40, 0)


def test_segment_png_with_gt_dice_and_area(brain_png, tmp_path):
    r = medical.medical_segment([brain_png], model="unet_medical")
    labels = r["labels"]
    with Image.open(brain_png) as im:
        assert labels.shape == (im.height, im.width)
    fg = labels > 0
    s = r["summary"]
    assert s["foreground_pixels"] == int(fg.sum())
    assert s["foreground_area_mm2"] == pytest.approx(fg.sum() * 1.0)  # PNG: 1 mm assumed
    # a ground truth of our own making: Dice by the textbook formula
    gt = np.zeros_like(labels, dtype=np.uint8)
    gt[40:150, 30:160] = 255
    gt_path = tmp_path / "gt.png"
    Image.fromarray(gt).save(gt_path)
    r2 = medical.medical_segment([brain_png], [gt_path], model="unet_medical")
    g = gt > 0
    denom = fg.sum() + g.sum()
    expected = 2 * (fg & g).sum() / denom if denom else 1.0
    assert r2["summary"]["dice"] == pytest.approx(expected, abs=1e-4)
    assert r2["dicom_seg"] is None
    assert r["overlay"].shape == (*labels.shape, 3) and r["mask_rgb"].dtype == np.uint8


def test_segment_nifti_volume_exports_aligned_mask(t1_nifti, t1_brain_nifti):
    hdr = nib.load(str(t1_nifti))
    info, idx, _ = medical.medical_load([t1_nifti])
    plane = info["plane"]
    r = medical.medical_segment(
        [t1_nifti], [t1_brain_nifti], plane, idx, model="unet_medical", scope="whole volume"
    )
    out = nib.load(r["nifti"])
    np.testing.assert_allclose(out.affine, hdr.affine, atol=1e-5)
    assert out.shape == hdr.shape
    mask = np.asarray(out.dataobj) > 0
    voxel_ml = float(np.prod(hdr.header.get_zooms()[:3])) / 1000.0
    assert r["summary"]["foreground_volume_ml"] == pytest.approx(mask.sum() * voxel_ml, rel=1e-3)
    # the shown slice is the stored slice idx (native plane) up to display flips
    shown = r["labels"] > 0
    stored = mask[:, :, idx]
    assert shown.sum() == stored.sum()
    assert "dice" in r["summary"] and 0.0 <= r["summary"]["dice"] <= 1.0


def test_segment_slice_scope_writes_only_that_slice(t1_nifti):
    info, idx, _ = medical.medical_load([t1_nifti])
    r = medical.medical_segment([t1_nifti], None, info["plane"], idx, model="unet_medical")
    mask = np.asarray(nib.load(r["nifti"]).dataobj) > 0
    assert mask.sum() == r["summary"]["foreground_pixels"]
    others = np.delete(mask, idx, axis=2)
    assert not others.any()
    assert "foreground_volume_ml" not in r["summary"]


def test_ct_into_mr_model_is_refused_unless_allowed(ct_small):
    with pytest.raises(medical.ModelMismatch, match=r"a CT scan into unet_medical.*MR head"):
        medical.medical_segment([ct_small], None, "axial", 0, "brain", model="unet_medical")
    r = medical.medical_segment(
        [ct_small], None, "axial", 0, "brain", model="unet_medical", allow_mismatch=True
    )
    assert any("mismatch allowed" in w for w in r["summary"]["warnings"])


def test_colour_photo_into_medical_model_is_refused(street_jpg):
    with pytest.raises(medical.ModelMismatch, match="colour photo"):
        medical.medical_segment([street_jpg], model="unet_medical")


def test_segment_dicom_writes_seg(ct_small, tmp_path):
    r = medical.medical_segment(
        [ct_small], None, "axial", 0, "brain", model="unet_medical", allow_mismatch=True
    )
    ds = pydicom.dcmread(ct_small)
    area = r["summary"]["foreground_pixels"] * float(ds.PixelSpacing[0]) * float(ds.PixelSpacing[1])
    assert r["summary"]["foreground_area_mm2"] == pytest.approx(area, rel=1e-4)
    if r["summary"]["foreground_pixels"]:
        seg = pydicom.dcmread(r["dicom_seg"])
        assert seg.Modality == "SEG"
        assert seg.PatientID == ds.PatientID  # SEG references its source (file only, not UI)
    else:
        assert r["dicom_seg"] is None
    # the download lands in a private temp folder, under a fixed name
    assert r["nifti"].endswith("mask.nii.gz")
    shutil.copy(r["nifti"], tmp_path / "copy.nii.gz")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else float(2 * (a & b).sum() / s)


def test_dicom_seg_as_ground_truth(ct_small, tmp_path):
    from medseg.io import load_volume, write_dicom_seg

    vol = load_volume(str(ct_small))
    gt = np.zeros(vol.array.shape, np.uint8)
    gt[20:90, 30:100, 0] = 1  # (x = column, y = row) layout of medseg.io
    seg_path = tmp_path / "gt_seg.dcm"
    write_dicom_seg(gt, vol, seg_path, segment_labels=["brain"])
    r = medical.medical_segment(
        [ct_small], [seg_path], "axial", 0, "brain", model="unet_medical", allow_mismatch=True
    )
    # independent: CT_small is axial LPS with identity orientation, so the displayed slice is
    # the stored pixel grid (rows = y, columns = x): the GT transposed
    shown = r["labels"]
    assert r["summary"]["dice"] == pytest.approx(_dice(shown, gt[:, :, 0].T), abs=1e-4)


def test_volume_ground_truth_gives_volume_dice(t1_nifti, t1_brain_nifti):
    info, idx, _ = medical.medical_load([t1_nifti])
    r = medical.medical_segment(
        [t1_nifti], [t1_brain_nifti], info["plane"], idx, model="unet_medical", scope="whole volume"
    )
    pred = np.asarray(nib.load(r["nifti"]).dataobj)
    gt = np.asarray(nib.load(str(t1_brain_nifti)).dataobj)
    assert r["summary"]["dice_volume"] == pytest.approx(_dice(pred, gt), abs=1e-4)
    assert r["summary"]["dice"] == pytest.approx(_dice(pred[:, :, idx], gt[:, :, idx]), abs=1e-4)


def test_shipped_model_segments_held_out_brain():
    """End to end with the shipped weights on the held-out MRIcron pair (never trained on)."""
    from pathlib import Path

    from medseg.models import get_model_cfg

    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("unet_medical has no shipped weights in this checkout")
    t1 = Path("/usr/share/mricron/templates/ch2.nii.gz")
    bet = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
    if not (t1.is_file() and bet.is_file()):
        pytest.skip("mricron-data is not installed (scripts/setup.sh installs it)")
    info, idx, _ = medical.medical_load([t1])
    r = medical.medical_segment(
        [t1], [bet], info["plane"], idx, model="unet_medical", scope="whole volume"
    )
    assert r["summary"]["trained_weights"] is True
    pred = np.asarray(nib.load(r["nifti"]).dataobj)
    gt = np.asarray(nib.load(str(bet)).dataobj)
    assert r["summary"]["dice_volume"] == pytest.approx(_dice(pred, gt), abs=1e-4)
    # the model card reports the held-out Dice; the app must deliver a real brain mask
    assert r["summary"]["dice_volume"] > 0.8
    # brain volume of an adult head: roughly 1.0-1.8 L
    assert 900 < r["summary"]["foreground_volume_ml"] < 2000
    # slice mode (the shown slice alone, resampled to the model's 2 mm) agrees with the GT too
    r2 = medical.medical_segment([t1], [bet], "axial", idx if info["plane"] == "axial" else 90)
    assert r2["summary"]["dice"] > 0.8


def test_model_input_size_hand_worked():
    from types import SimpleNamespace

    cfg = SimpleNamespace(spacing=(2.0, 2.0), divisor=16)
    assert medical.model_input_size((256, 200), (1.0, 0.5), cfg) == (128, 50)
    assert medical.model_input_size((10, 10), (1.0, 1.0), cfg) == (16, 16)  # at least divisor
    assert medical.model_input_size((64, 64), (2.0, 2.0), cfg) is None  # already there
    assert medical.model_input_size((64, 64), (1.0, 1.0), SimpleNamespace(spacing=None)) is None


def test_scan_cache_is_bounded(ct_small, mr_small, brain_png, monkeypatch):
    from medseg.app import scans

    monkeypatch.setattr(scans, "_CACHE", scans.OrderedDict())
    monkeypatch.setattr(scans, "CACHE_BYTES", 70_000)  # CT_small alone is 128*128*4 = 65 kB
    a = scans.load_scan([ct_small])
    assert scans.load_scan([ct_small]) is a  # a second look is served from the cache
    scans.load_scan([mr_small])  # 16 kB: both would be 81 kB > 70 kB -> CT evicted
    assert len(scans._CACHE) == 1
    assert scans.load_scan([ct_small]) is not a


def test_zipped_series_with_stray_files_loads_and_counts_them(tmp_path, ct_small):
    z = tmp_path / "series.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "DOE_JOHN/IMG0001.dcm")
        zf.writestr("DOE_JOHN/README.txt", "exported by a viewer")
        zf.writestr("DOE_JOHN/thumb.jpg", b"\xff\xd8 not really a jpeg")
        zf.writestr("DOE_JOHN/viewer.exe", b"MZ")
    info, _, img = medical.medical_load([z])
    ref, _, ref_img = medical.medical_load([ct_small])
    assert info["kind"] == "dicom" and info["files"] == 1 and info["skipped_files"] == 3
    assert "skipped_files" not in ref
    np.testing.assert_array_equal(img, ref_img)
    assert "DOE" not in json.dumps(info)  # only a count, never the names
    # The same stray file uploaded on its own, or a zip with no DICOM in it, is still an error.
    txt = tmp_path / "README.txt"
    txt.write_text("x")
    with pytest.raises(AppError, match="unsupported file type"):
        medical.medical_load([ct_small, txt])
    z2 = tmp_path / "notes.zip"
    with zipfile.ZipFile(z2, "w") as zf:
        zf.writestr("README.txt", "x")
    with pytest.raises(AppError, match="unsupported file type"):
        medical.medical_load([z2])


def test_zip_is_extracted_once_per_upload(tmp_path, ct_small, monkeypatch):
    from medseg.app import common

    z = tmp_path / "once.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "a.dcm")
    calls = []
    real = common.extract_zip
    monkeypatch.setattr(scans, "extract_zip", lambda p: calls.append(p) or real(p))
    scans.load_scan([z])
    scans.load_scan([z])  # e.g. the slider moved: served from the cache
    assert len(calls) == 1


# --------------------------------------------------------------------------- issue 19
def test_auto_window_is_the_window_in_use(t1_nifti):
    """The numbers in Center/Width are those of the automatic window actually applied."""
    vol = np.asarray(nib.load(str(t1_nifti)).dataobj, dtype=np.float64)
    lo, hi = np.percentile(vol, [1, 99])  # 1M voxels: the app uses them all
    info, idx, img = medical.medical_load([t1_nifti])
    c, w = info["window"]
    assert c == pytest.approx((lo + hi) / 2, abs=0.01) and w == pytest.approx(hi - lo, abs=0.01)
    img2, c2, w2 = medical.medical_preview([t1_nifti], info["plane"], idx, medical.AUTO_WINDOW)
    np.testing.assert_array_equal(img, img2)
    assert (round(c2, 2), round(w2, 2)) == (c, w)
    # the shown slice is windowed with exactly those numbers (independent formula)
    from medseg.app.scans import get_slice, load_scan

    raw = get_slice(load_scan([t1_nifti]), idx, info["plane"])
    np.testing.assert_array_equal(img, _window_ref(raw, c2, w2))


def test_ct_presets_only_for_ct():
    presets = set(medical.window_presets())
    assert presets and presets <= set(medical.window_choices("CT"))
    assert not presets & set(medical.window_choices("MR"))
    assert medical.window_choices("MR") == [medical.AUTO_WINDOW, medical.CUSTOM_WINDOW]


def test_two_series_upload_lists_them_and_loads_the_chosen_one(tmp_path, ct_small, mr_small):
    from medseg.app.series import series_files, upload_series

    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "a/ct.dcm")
        zf.write(mr_small, "b/mr.dcm")
    listing = upload_series([z])
    assert [s["number"] for s in listing] == ["1", "2"]
    assert {s["modality"] for s in listing} == {"CT", "MR"}
    for s in listing:
        uid = pydicom.dcmread(ct_small if s["modality"] == "CT" else mr_small).SeriesInstanceUID
        assert uid not in json.dumps(listing)  # UIDs stay on the server
        assert s["slices"] == 1 and s["modality"] in s["label"]
        info, _, _ = medical.medical_load(series_files([z], s["number"]))
        assert info["modality"] == s["modality"]
    assert series_files([ct_small], "2") == [ct_small]  # one series: the upload as it is


def test_generated_dicom_series_reads_back_like_the_nifti(tmp_path, t1_nifti):
    """DATA.md: a real volume written one instance per slice reads back identical."""
    from medseg.io import load_nifti, load_volume, to_canonical, write_dicom_series

    img = nib.load(str(t1_nifti))
    paths = write_dicom_series(load_nifti(str(t1_nifti)), tmp_path / "s", upright=True)
    assert len(paths) == img.shape[2]
    ds = pydicom.dcmread(paths[0])
    assert ds.Modality == "MR" and ds.Rows * ds.Columns == img.shape[0] * img.shape[1]
    assert ds.ImageOrientationPatient[5] <= 0  # rows run downwards (head upright)
    a = to_canonical(load_volume([str(p) for p in paths]))
    b = to_canonical(load_nifti(str(t1_nifti)))
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)


def test_mr_series_example_whole_volume_seg_and_dice(tmp_path, monkeypatch):
    from medseg.app import examples
    from medseg.models import get_model_cfg

    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("unet_medical has no shipped weights in this checkout")
    monkeypatch.setenv("MEDSEG_CACHE", str(tmp_path / "cache"))
    made = examples.mr_head_series()
    if made is None:
        pytest.skip("insighttoolkit5-examples is missing")
    series, gt = made
    info, idx, _ = medical.medical_load([series])
    assert info["kind"] == "dicom" and info["modality"] == "MR" and info["files"] > 30
    seen = []
    job = medical.Job(0, "slices", lambda f, m: seen.append(f))
    r = medical.medical_segment(
        [series], [gt], info["plane"], idx, model="unet_medical", scope="whole volume", job=job
    )
    s = r["summary"]
    pred = np.asarray(nib.load(r["nifti"]).dataobj)
    ref = np.asarray(nib.load(str(gt)).dataobj)
    assert s["dice_volume"] == pytest.approx(_dice(pred, ref), abs=1e-4)
    assert s["dice_volume"] > 0.9  # the model's own training subject
    seg = pydicom.dcmread(r["dicom_seg"])
    assert seg.Modality == "SEG"
    src = pydicom.dcmread(zipfile.ZipFile(series).open("t1_head/IM00001.dcm"))
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert s["scan"].endswith(medical.scan_id(medical.load_scan([series])))


def test_cancelled_job_stops_whole_volume(t1_nifti):
    job = medical.Job(0, "slices")
    job.cancel()
    with pytest.raises(AppError, match="cancelled"):
        medical.medical_segment([t1_nifti], scope="whole volume", job=job)


class _EmptyPredictor:
    """Stands in for a model that finds nothing (labels all background)."""

    def predict_image(self, image, size=None):
        from types import SimpleNamespace

        return SimpleNamespace(labels=np.zeros(np.shape(image)[:2], np.uint8), seconds=0.01)


def test_empty_mask_and_geometry_warnings(monkeypatch, brain_png, tmp_path):
    r = medical.medical_segment([brain_png])
    fg = int((r["labels"] > 0).sum())
    assert any(w.startswith("Empty mask") for w in r["summary"]["warnings"]) == (fg == 0)
    assert any("carry no spacing" in w for w in r["summary"]["warnings"])  # PNG: 1 mm assumed
    monkeypatch.setattr(medical, "get_predictor", lambda m, b: (_EmptyPredictor(), True))
    r = medical.medical_segment([brain_png])
    assert r["summary"]["foreground_pixels"] == 0
    assert any(w.startswith("Empty mask") for w in r["summary"]["warnings"])
    # an anisotropic volume (1 x 1 x 5 mm) is flagged, an isotropic one is not
    from medseg.app.scans import load_scan
    from medseg.models import get_model_cfg

    cfg = get_model_cfg("unet_medical")
    for spacing, flagged in (((1.0, 1.0, 5.0), True), ((2.0, 2.0, 2.0), False)):
        p = tmp_path / f"vol_{spacing[2]:g}.nii.gz"
        data = np.random.default_rng(0).integers(0, 100, (32, 32, 12)).astype(np.int16)
        nib.save(nib.Nifti1Image(data, np.diag([*spacing, 1.0])), p)
        notes = medical.geometry_notes(load_scan([p]), cfg, "whole volume")
        assert any(n.startswith("Anisotropic") for n in notes) == flagged
        assert any(n.startswith("Resampled") for n in notes) == (spacing[0] != 2.0)


def test_untrained_model_is_said_next_to_the_result(monkeypatch, t1_nifti):
    from medseg.app import checks
    from medseg.app.scans import load_scan
    from medseg.models import get_model_cfg

    real = get_model_cfg("unet_medical")
    monkeypatch.setattr(checks, "get_model_cfg", lambda name: real.replace(weights=None))
    notes = medical.check_scan(load_scan([t1_nifti]), [t1_nifti], "unet_medical")
    assert any("no trained weights" in n for n in notes)
    assert "random" in medical.model_card("unet_medical")


def test_scan_id_names_the_scan(ct_small, mr_small, tmp_path):
    from medseg.app.scans import load_scan

    a, b = load_scan([ct_small]), load_scan([mr_small])
    copy = tmp_path / "copy.dcm"
    shutil.copy(ct_small, copy)
    assert medical.scan_id(a) == medical.scan_id(load_scan([copy]))  # same data, same tag
    assert medical.scan_id(a) != medical.scan_id(b)
    assert medical.scan_label(a).startswith("CT 128×128") and medical.scan_id(
        a
    ) in medical.scan_label(a)


def test_examples_are_ones_the_model_works_on(tmp_path, monkeypatch):
    """Found: three of five examples gave empty masks. Every bundled example must suit the
    model (no mismatch) and give a mask; with a ground truth, a good Dice."""
    from medseg.app import examples
    from medseg.models import get_model_cfg

    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("unet_medical has no shipped weights in this checkout")
    monkeypatch.setenv("MEDSEG_CACHE", str(tmp_path / "cache"))
    ex = examples.medical_examples()
    if not ex:
        pytest.skip("no example data installed")
    assert not any("CT" in label or "Colin" in label or "ch2" in scan for label, scan, _ in ex)
    for label, scan, gt in ex:
        info, idx, _ = medical.medical_load([scan])
        r = medical.medical_segment(
            [scan], [gt] if gt else None, info["plane"], idx, scope="whole volume"
        )
        s = r["summary"]
        assert (r["volume_labels"] > 0).sum() > 1000, label
        assert not any("mismatch" in w or w.startswith("Empty") for w in s["warnings"]), label
        if gt:
            assert s["dice_volume"] > 0.9, label
    from medseg.app.summaries import medical_result_markdown

    md = medical_result_markdown(s, ("background", "brain"))
    assert ("mm²" in md) == bool(s.get("single_slice"))  # a PNG slice: area, not mL
