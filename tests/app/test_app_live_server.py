"""Every api_name through gradio_client against a live server on loopback.

One server per module (started on a free port); real sample files; bad inputs must come
back as clear errors while the server keeps answering.
"""

from __future__ import annotations

import os
import statistics
import time
import zipfile

import numpy as np
import pydicom
import pytest
from PIL import Image

pytestmark = [pytest.mark.xdist_group("app"), pytest.mark.timeout(300)]

API_NAMES = (
    "/medical_load",
    "/medical_preview",
    "/medical_segment",
    "/street_segment",
    "/video_process",
    "/tta_compare",
)
AUTO = "auto (1–99 percentile)"


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def _f(path):
    from gradio_client import handle_file

    return handle_file(str(path))


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"  # lossless masks, not Gradio's default WebP
        return np.asarray(im)


def test_api_names(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert set(API_NAMES) <= set(api["named_endpoints"])


def test_medical_load_and_preview_ct(client, ct_small):
    ds = pydicom.dcmread(ct_small)
    info, slider, img, plane = client.predict([_f(ct_small)], api_name="/medical_load")
    assert info["modality"] == "CT" and info["plane"] == "axial"
    assert str(ds.PatientName) not in repr(info) and ds.PatientID not in repr(info)
    assert _png(img).shape[:2] == ds.pixel_array.shape
    img, c, w = client.predict(
        [_f(ct_small)], "axial", 0, "custom (center / width)", 40, 400, api_name="/medical_preview"
    )
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ref = np.floor(np.clip((hu + 160) / 400, 0, 1) * 255 + 0.5).astype(np.uint8)
    got = _png(img)
    got = got[..., 0] if got.ndim == 3 else got
    np.testing.assert_array_equal(got, ref)
    assert (c, w) == (40, 400)


def test_medical_segment_png_with_gt(client, brain_png, tmp_path):
    with Image.open(brain_png) as im:
        size = (im.height, im.width)
    gt = np.zeros(size, np.uint8)
    gt[50:150, 40:140] = 1
    gt_path = tmp_path / "gt.png"
    Image.fromarray(gt).save(gt_path)
    out = client.predict(
        [_f(brain_png)],
        _f(gt_path),
        "axial",
        0,
        AUTO,
        40,
        80,
        "unet_medical",
        "this slice",
        api_name="/medical_segment",
    )
    shown, overlay, mask, summary, nifti, seg = out
    for p in (shown, overlay, mask):
        a = _png(p)
        assert a.shape[:2] == size and a.size and a.std() >= 0
    assert _png(overlay).std() > 0  # a real picture came back, not a blank
    assert 0.0 <= summary["dice"] <= 1.0
    assert summary["foreground_area_mm2"] == pytest.approx(summary["foreground_pixels"])
    assert nifti.endswith(".nii.gz") and seg is None


def test_medical_segment_dicom_zip_whole_volume(client, ct_small, tmp_path):
    from gradio_client.exceptions import AppError

    z = tmp_path / "series.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "a/b/CT_small.dcm")
    args = [[_f(z)], None, "axial", 0, "brain", 40, 80, "unet_medical", "whole volume"]
    # a CT into the MR brain model: refused with a reason, unless the mismatch is allowed
    with pytest.raises(AppError, match="a CT scan into unet_medical"):
        client.predict(*args, api_name="/medical_segment")
    out = client.predict(*args, "ONNX Runtime", True, api_name="/medical_segment")
    summary, nifti, seg = out[3], out[4], out[5]
    assert any("mismatch allowed" in w for w in summary["warnings"])
    assert summary["window"] == [40.0, 80.0]
    assert "foreground_volume_ml" in summary
    assert nifti.endswith(".nii.gz")
    if summary["foreground_pixels"]:
        assert pydicom.dcmread(seg).Modality == "SEG"


@pytest.mark.parametrize("backend", ["PyTorch", "ONNX Runtime"])
def test_street_segment(client, street_jpg, backend):
    overlay, legend, shares, info = client.predict(
        _f(street_jpg), "lraspp_mobilenet_v3", backend, 0.5, api_name="/street_segment"
    )
    a = _png(overlay)
    with Image.open(street_jpg) as im:
        assert a.shape[:2] == (im.height, im.width)
    assert a.std() > 0
    assert sum(shares.values()) == pytest.approx(100, abs=0.1)
    assert info["inference_seconds"] > 0
    assert info["backend"] == {"PyTorch": "torch", "ONNX Runtime": "onnxruntime"}[backend]
    assert info["warnings"] == []


def test_tta_compare(client, street_jpg):
    plain, tta, unc, changed, summary = client.predict(
        _f(street_jpg), None, "lraspp_mobilenet_v3", "PyTorch", api_name="/tta_compare"
    )
    assert _png(plain).shape == _png(tta).shape == _png(unc).shape
    assert summary["seconds"] > 0 and summary["seconds_tta"] > 0


@pytest.mark.slow
def test_video_process(client):
    from medseg.app.examples import video_example

    src = video_example()
    if src is None:
        pytest.skip("opencv-doc example photo missing")
    out, summary = client.predict(
        _f(src), "lraspp_mobilenet_v3", "PyTorch", 4, api_name="/video_process"
    )
    path = out["video"] if isinstance(out, dict) else out
    assert str(path).endswith(".webm")
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 4
    assert summary["model"] == "lraspp_mobilenet_v3"


@pytest.mark.parametrize(
    "api, args, message",
    [
        ("/medical_load", lambda b: [[_f(b["text"])]], "unsupported file type"),
        ("/medical_load", lambda b: [[_f(b["corrupt_dicom"])]], "corrupt.dcm"),
        ("/medical_load", lambda b: [[_f(b["huge_png"])]], "megapixels"),
        ("/street_segment", lambda b: [_f(b["huge_png"])], "megapixels"),
        ("/street_segment", lambda b: [_f(b["fake_png"])], "not a readable image"),
        ("/street_segment", lambda b: [_f(b["corrupt_dicom"])], "is not a photo: a CT volume"),
        ("/tta_compare", lambda b: [_f(b["text"])], "unsupported file type"),
        ("/video_process", lambda b: [_f(b["text"])], "is not a video"),
    ],
)
def test_bad_inputs_clear_errors(client, bad_files, brain_png, api, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message) as e:
        client.predict(*args(bad_files), api_name=api)
    assert "Traceback" not in str(e.value)
    # ... and the server still answers a good request
    info = client.predict([_f(brain_png)], api_name="/medical_load")[0]
    assert info["kind"] == "image"


def test_upload_size_limit(client, tmp_path):
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))  # server limit in the fixture: 20 MB
    with pytest.raises(Exception, match="(?i)large|size|413"):
        client.predict([_f(big)], api_name="/medical_load")


def test_slice_round_trip_latency(client, app_url, slice256, record_property):
    """The 256² slice round trip through gradio_client; medians printed, never asserted.

    Two figures: the request itself (upload, window, segment, response with the result's file
    URLs, as the browser sees it: it then fetches the images it shows) and the same plus the
    client downloading all four result files (three PNGs and the NIfTI).
    """
    from gradio_client import Client

    args = ([_f(slice256)], None, "axial", 0, AUTO, 40, 80, "unet_medical", "this slice")
    lean = Client(app_url, verbose=False, download_files=False)
    figures = {}
    for name, c in (("response", lean), ("with downloads", client)):
        for _ in range(2):  # warm-up: predictor build, first upload
            c.predict(*args, api_name="/medical_segment")
        times = []
        for _ in range(12):
            t0 = time.perf_counter()
            out = c.predict(*args, api_name="/medical_segment")
            times.append(time.perf_counter() - t0)
        figures[name] = times
    assert _png(out[2]).shape[:2] == (256, 256)
    load = os.getloadavg()[0]
    parts = [
        f"{name} median {statistics.median(t) * 1000:.0f} ms (min {min(t) * 1000:.0f})"
        for name, t in figures.items()
    ]
    line = (
        "[app] 256x256 slice round trip via gradio_client: "
        + "; ".join(parts)
        + f"; target < 300 ms; 1-min load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print("\n" + line)
    record_property("app_report", line)  # shown in the terminal summary, also under xdist


def test_medical_segment_old_call_still_works(client, t1_nifti, brain_png):
    """A client written before issue 19 (ten positional arguments) gets the same outputs.

    Loading a one-slice image first must not narrow the slice range the same client's later
    calls are checked against (a client keeps one session).
    """
    client.predict([_f(brain_png)], api_name="/medical_load")
    out = client.predict(
        [_f(t1_nifti)], None, "axial", 30, AUTO, 40, 80, "unet_medical", "this slice",
        "ONNX Runtime", api_name="/medical_segment",
    )  # fmt: skip
    shown, overlay, mask, summary, nifti, seg = out
    assert summary["backend"] == "onnxruntime" and summary["scope"] == "this slice"
    assert summary["foreground_pixels"] > 0 and seg is None and nifti.endswith(".nii.gz")
    assert "#" in summary["scan"] and isinstance(summary["warnings"], list)


def test_warm_up_builds_the_default_models(app_url):
    """``medseg app`` warms the default street and medical models on the default back-end,
    then sends one request through the server (Gradio's own first-request cost)."""
    from medseg.app import common, server, street
    from medseg.app.backends import backend_id

    server.warm_up_defaults()
    assert (street.DEFAULT_MODEL, backend_id(None), True) in common._PREDICTORS
    assert ("unet_medical", backend_id(None), True) in common._PREDICTORS
    port = int(app_url.rstrip("/").rsplit(":", 1)[1])
    assert server.warm_up_server("0.0.0.0", port, None)  # reaches it on loopback
