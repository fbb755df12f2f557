"""The app's small parts: viewer assets and files, summaries, back-end labels, progress."""

from __future__ import annotations

import hashlib
import re

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medseg.app import backends, medical, progress, summaries, viewer
from medseg.app.common import AppError

PHI_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "InstitutionName")


# --------------------------------------------------------------------------- viewer
def test_vendored_niivue_is_the_recorded_file_with_its_licence():
    js = viewer.NIIVUE_JS.read_bytes()
    source = (viewer.NIIVUE_JS.parent / "SOURCE.txt").read_text()
    assert hashlib.sha256(js).hexdigest() in source
    assert b"niivue" in js[:2000]  # the UMD wrapper sets window.niivue
    licence = (viewer.NIIVUE_JS.parent / "LICENSE").read_text()
    assert "BSD 2-Clause" in licence and "Niivue" in licence
    notices = (viewer.NIIVUE_JS.parent / "THIRD_PARTY_NOTICES.md").read_text()
    for bundled in ("gl-matrix", "nifti-reader-js", "fflate", "zarrita", "numcodecs", "zstd"):
        assert bundled.lower() in notices.lower(), bundled


def test_viewer_loads_nothing_from_another_origin():
    head = viewer.head_html()
    assert re.fullmatch(r'<script src="gradio_api/file=[^"]+niivue\.umd\.js"></script>', head)
    assert str(viewer.NIIVUE_JS) in head and str(viewer.STATIC_DIR) in viewer.static_paths()
    js = viewer.viewer_js()
    assert "http://" not in js and "https://" not in js  # URLs come from the server


def test_scan_nifti_carries_voxels_and_affine_only(ct_small):
    from medseg.app.scans import load_scan

    scan = load_scan([ct_small])
    path = viewer.scan_nifti(scan.volume)
    assert path.endswith("scan.nii.gz") and viewer.scan_nifti(scan.volume) == path  # cached
    img = nib.load(path)
    ds = pydicom.dcmread(ct_small)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    # independent: the file holds the HU values (medseg.io layout: x = column, y = row)
    np.testing.assert_array_equal(np.asarray(img.dataobj)[:, :, 0].T, hu)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_allclose(img.affine, scan.volume.affine, atol=1e-4)
    header_text = b"".join(
        bytes(img.header[k]) for k in ("descrip", "db_name", "aux_file", "intent_name")
    )
    raw = open(path, "rb").read()
    for tag in PHI_TAGS:
        v = str(ds.get(tag, "") or "")
        if v:
            assert v.encode() not in header_text and v.encode() not in raw, tag


def test_viewer_value_window_focus_and_colours(tmp_path):
    v = viewer.viewer_value(scan_path=str(tmp_path / "s.nii.gz"), window=(40, 400), units="HU")
    assert v["window"] == [-160.0, 240.0]
    assert v["scan"]["meta"]["_type"] == "gradio.FileData" and v["mask"] is None
    assert viewer.EMPTY["scan"] is None
    f = viewer.focus("axial", 0, 4)
    assert (f["axis"], f["frac"]) == (2, 0.125)
    assert viewer.focus("sagittal", 3, 4)["frac"] == 0.875
    cm = viewer.label_colormap(("background", "brain"), ((0, 0, 0), (255, 64, 64)))
    assert cm["A"] == [0, 255] and (cm["R"][1], cm["G"][1], cm["B"][1]) == (255, 64, 64)
    assert cm["labels"] == ["background", "brain"]


# --------------------------------------------------------------------------- summaries
def test_scan_summary_is_phi_free_and_readable(ct_small, mr_small):
    for f in (ct_small, mr_small):
        ds = pydicom.dcmread(f)
        info, _, _ = medical.medical_load([f])
        md = summaries.scan_markdown(info)
        assert ds.Modality in md and f"{ds.Rows} × {ds.Columns} pixels" in md
        for tag in PHI_TAGS:
            v = str(ds.get(tag, "") or "")
            if v:
                assert v not in md, tag
    info, _, _ = medical.medical_load([ct_small])
    assert "Hounsfield" in summaries.scan_markdown(info)


def test_result_summary_names_numbers_and_scan():
    s = {
        "model": "unet_medical",
        "backend": "onnxruntime",
        "seconds": 0.42,
        "foreground_volume_ml": 1234.5,
        "foreground_area_mm2": 100.0,
        "dice_volume": 0.9312,
        "dice": 0.95,
        "slice": 3,
        "plane": "axial",
        "scan": "MR 128×128×62 · #abc123",
    }
    md = summaries.medical_result_markdown(s, ("background", "brain"))
    assert "Brain mask" in md and "ONNX Runtime" in md and "420 ms" in md
    assert "1 234 mL" in md or "1 235 mL" in md
    assert "0.931" in md and "#abc123" in md
    slice_md = summaries.medical_result_markdown(
        {k: v for k, v in s.items() if k not in ("foreground_volume_ml", "dice_volume")},
        ("background", "brain"),
    )
    assert "axial slice 3" in slice_md and "100 mm²" in slice_md and "0.950" in slice_md


def test_warnings_and_legend_escape_text():
    assert summaries.warning_lines([]) == ""
    lines = summaries.warning_lines(["a *b*", "c"]).split("\n\n")
    assert len(lines) == 2 and "\\*b\\*" in lines[0]
    rows = [
        {"id": 2, "name": "<b>x</b>", "color": [1, 2, 3], "share": 60.0},
        {"id": 0, "name": "road", "color": [4, 5, 6], "share": 0.01},
    ]
    html = summaries.legend_html(rows, clickable=True, selected=0)
    assert "<b>x</b>" not in html and "&lt;b&gt;" in html
    assert html.index('data-class="2"') < html.index('data-class="0"')
    assert "&lt; 0.1 %" in html or "< 0.1 %" in html
    assert 'class="medseg-legend-row clickable selected" data-class="0"' in html


# --------------------------------------------------------------------------- back-ends
def test_backend_labels_one_mapping():
    assert backends.backend_choices()[0] == backends.DEFAULT_BACKEND == "Automatic"
    # a result names what ran: auto's choice after the arrow, an explicit back-end alone
    shown = backends.backend_shown({"backend": "auto", "backend_ran": "openvino-bf16"})
    assert shown == "Automatic → " + backends.BACKENDS["openvino-bf16"].label
    assert backends.backend_shown({"backend": "onnxruntime", "backend_ran": "onnxruntime"}) == (
        "ONNX Runtime"
    )
    assert backends.backend_shown({"backend": "auto"}) == "Automatic"
    for key, label in backends.BACKEND_LABELS.items():
        assert backends.backend_id(label) == backends.backend_id(key) == key
        assert backends.backend_label(key) == label
    assert backends.backend_id(None) == "auto"
    with pytest.raises(AppError, match="unknown backend"):
        backends.backend_id("tensorflow")
    from medseg.engine.backends import BACKENDS as ENGINE

    assert set(backends.BACKEND_LABELS) <= set(ENGINE)


# --------------------------------------------------------------------------- progress
def test_job_reports_and_cancels():
    seen = []
    job = progress.Job(10, "slices", lambda f, m: seen.append((f, m)))
    job.step(4)
    job.step(6)
    assert seen == [(0.4, "4 / 10 slices"), (1.0, "10 / 10 slices")]
    job.cancel()
    assert job.stop_event.is_set()
    with pytest.raises(progress.Cancelled):
        job.step()


def test_tracked_predictor_counts_images_and_shares_the_model():
    import torch

    class Runner:
        name = "fake"

        def __call__(self, x):
            return torch.zeros(x.shape[0], 2, *x.shape[2:])

    class P:
        def __init__(self):
            self.runner = Runner()

        def logits(self, x):
            return self.runner(x)

    p = P()
    job = progress.Job(5, "slices")
    t = progress.tracked(p, job)
    t.logits(torch.zeros(3, 1, 4, 4))
    t.logits(torch.zeros(2, 1, 4, 4))
    assert job.done == 5 and p.runner.__class__ is Runner and t.runner.name == "fake"


def test_registry_cancels_only_its_session():
    reg = progress.JobRegistry()
    a, b = progress.Job(1, "x"), progress.Job(1, "x")
    reg.start("s1:medical", a)
    reg.start("s2:medical", b)
    assert reg.cancel("s1:medical") and a.cancelled and not b.cancelled
    assert not reg.cancel("s1:medical")  # nothing left there
    reg.finish("s2:medical", b)
    assert not reg.cancel("s2:medical")


def test_derived_values_do_not_keep_scans_alive():
    """The tag, auto window and viewer file of a scan are forgotten with the scan."""
    import gc

    from medseg.app.memo import ObjectCache

    class Obj:
        pass

    cache = ObjectCache(maxsize=2)
    a, b, c = Obj(), Obj(), Obj()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1 and cache.get(Obj()) is None
    cache.put(c, 3)  # bounded: the least recently used (b) goes
    assert cache.get(b) is None and cache.get(c) == 3
    del a
    gc.collect()
    assert len(cache) == 1
    arr = np.zeros((4, 4, 4), np.float32)
    arr[0] = 1
    before = len(medical._AUTO_CACHE)
    medical.auto_window(arr)
    assert len(medical._AUTO_CACHE) == before + 1
    del arr
    gc.collect()
    assert len(medical._AUTO_CACHE) == before
