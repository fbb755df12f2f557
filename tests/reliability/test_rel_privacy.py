"""Planted identifiers never reach logs, metadata, error messages, outputs or the UI.

The probe is the real CT5N series with every identifying attribute replaced by a unique
marker (``PHI_MARKERS`` in scripts/make_corpus.py). DICOM SEG outputs may carry only what
the standard requires (see ``phi.SEG_ALLOWED``); every other output must carry nothing.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from corpus import case_path

from .appserver import call
from .phi import (
    MARKERS,
    SEG_ALLOWED,
    find_in_text,
    scan_tree,
    seg_leaks,
    sha256,
    write_phi_head_series,
    write_phi_series,
)


@pytest.fixture()
def phi_series(tmp_path):
    return write_phi_series(tmp_path / "in")


def test_markers_are_planted(phi_series):
    import pydicom

    ds = pydicom.dcmread(phi_series[0])
    for kw, value in MARKERS.items():
        assert str(ds.get(kw)) == value
    assert find_in_text(phi_series[0].read_bytes().decode("latin-1"))


def test_library_load_meta_logs_and_errors(phi_series, tmp_path, caplog):
    from medseg.io import MedsegIOError, load_volume

    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        vol = load_volume(phi_series[0].parent)
        bad = write_phi_series(tmp_path / "bad", drop_position_of=2)
        with pytest.raises(MedsegIOError) as err:
            load_volume(bad[0].parent)
    assert vol.array.shape == (16, 16, 5)
    assert find_in_text(repr(vol.meta)) == []
    assert find_in_text(str(err.value)) == []
    assert find_in_text(caplog.text) == []
    assert find_in_text(" ".join(str(x.message) for x in w)) == []


def test_library_nifti_output(phi_series, tmp_path):
    from medseg.io import load_volume, save_mask_like

    vol = load_volume(phi_series[0].parent)
    out = tmp_path / "out"
    out.mkdir()
    save_mask_like((vol.array > np.median(vol.array)).astype(np.uint8), vol, out / "mask.nii.gz")
    assert scan_tree(out) == []


def test_library_seg_keeps_patient_and_study(phi_series, tmp_path):
    import pydicom

    from medseg.io import load_volume, write_dicom_seg

    vol = load_volume(phi_series[0].parent)
    mask = (vol.array > np.median(vol.array)).astype(np.uint8)
    seg = pydicom.dcmread(write_dicom_seg(mask, vol, tmp_path / "mask_seg.dcm"))
    src = pydicom.dcmread(phi_series[0])
    # The SEG belongs to the same patient and study, as the standard requires.
    assert seg.PatientID == src.PatientID and seg.StudyInstanceUID == src.StudyInstanceUID
    copied = sorted(kw for kw in SEG_ALLOWED if str(seg.get(kw, "")) == MARKERS[kw])
    print(f"SEG copies (Patient + General Study modules): {copied}")


def test_library_seg_carries_nothing_more(phi_series, tmp_path):
    from medseg.io import load_volume, write_dicom_seg

    vol = load_volume(phi_series[0].parent)
    mask = (vol.array > np.median(vol.array)).astype(np.uint8)
    assert seg_leaks(write_dicom_seg(mask, vol, tmp_path / "mask_seg.dcm")) == []


@pytest.fixture(scope="module")
def app_phi_run(app_server, corpus, tmp_path_factory):
    """Load and segment a PHI probe through the app; collect everything it gave back. The
    probe is a real MR head with the planted identifiers, so the brain model finds a brain and
    the app writes its DICOM SEG too."""
    from gradio_client import handle_file

    tmp = tmp_path_factory.mktemp("phi_app")
    series = write_phi_head_series(tmp / "in")
    client = app_server.client(download_files=str(tmp / "downloads"))
    files = [handle_file(str(p)) for p in series]
    meta = call(client, files, api_name="/medical_load", timeout=90)
    res = call(
        client,
        files,
        None,
        "axial",
        30,
        "auto (1–99 percentile)",
        40,
        400,
        "unet_medical",
        "whole volume",
        "ONNX Runtime",
        False,  # an MR head into the MR brain model: no override needed
        api_name="/medical_segment",
        timeout=180,
    )
    inputs = {sha256(p) for p in series}
    for c in corpus["cases"]:
        if c.get("phi"):
            inputs |= {sha256(p) for p in case_path(corpus, c).iterdir()}
    # Everything the server wrote (its temp dirs, Gradio's cache, its log) but the uploads.
    leaks = scan_tree(app_server.root, skip_sha256=inputs) + scan_tree(tmp / "downloads")
    return {"meta": meta, "res": res, "leaks": leaks}


@pytest.mark.xdist_group("app")
@pytest.mark.timeout(300)
def test_app_ui_files_and_logs(app_phi_run):
    meta, res = app_phi_run["meta"], app_phi_run["res"]
    assert meta[0]["shape"][2] > 30  # the whole head series was read
    assert find_in_text(repr(meta)) == [], meta
    assert find_in_text(repr(res)) == [], res  # JSON results and returned file names
    assert res[4], "no NIfTI mask returned"
    others = [x for x in app_phi_run["leaks"] if not x[0].endswith("_seg.dcm")]
    assert others == [], others


@pytest.mark.xdist_group("app")
@pytest.mark.timeout(300)
def test_app_seg_carries_nothing_more(app_phi_run):
    seg = app_phi_run["res"][5]
    assert seg is not None, "the app wrote no DICOM SEG for the head"
    assert seg_leaks(seg) == []
    assert [x for x in app_phi_run["leaks"] if x[0].endswith("_seg.dcm")] == []


@pytest.mark.timeout(400)
def test_batch_cli_outputs_report_and_logs(tmp_path):
    """``medseg predict --format both`` (NIfTI + DICOM SEG) on the probe and a broken probe."""
    import subprocess
    import sys

    good = write_phi_series(tmp_path / "in" / "study")
    write_phi_series(tmp_path / "in" / "broken", drop_position_of=2)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "medseg.cli",
        "predict",
        str(tmp_path / "in" / "study"),
        str(tmp_path / "in" / "broken"),
        "-o",
        str(out),
        "--format",
        "both",
        "--model",
        "unet_medical",
        "--no-pretrained",
        "--model-arg",
        "base_channels=4",
        "--allow-modality-mismatch",  # CT probes through the MR model: about names, not models
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the broken probe fails, the other is ok
    assert find_in_text(proc.stdout + proc.stderr) == []
    rows = __import__("json").loads((out / "report.json").read_text())["cases"]
    assert sorted(r["status"] for r in rows) == ["error", "ok"]
    ok = next(r for r in rows if r["status"] == "ok")
    assert any(o.endswith(".nii.gz") for o in ok["outputs"])
    seg = [out / o for o in ok["outputs"] if o.endswith(".dcm")]
    assert len(seg) == 1
    assert seg_leaks(seg[0]) == []
    # Everything in the output folder (file names, report, done records, masks, SEG).
    assert scan_tree(out, skip_sha256={sha256(p) for p in good}) == []
