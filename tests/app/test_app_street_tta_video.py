"""Street, TTA and video tab processing (plain Python, real sample files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from medseg.app import street, tta, video
from medseg.app.common import AppError
from medseg.models import get_model_cfg


def test_street_segment_overlay_and_shares(street_jpg):
    r = street.street_segment(street_jpg, "lraspp_mobilenet_v3", "PyTorch", 1.0)
    labels = r["labels"]
    with Image.open(street_jpg) as im:
        assert labels.shape == (im.height, im.width)
    cfg = get_model_cfg("lraspp_mobilenet_v3")
    # alpha = 1: every pixel is exactly its class colour from the Cityscapes palette
    lut = np.asarray(cfg.palette, dtype=np.uint8)
    np.testing.assert_array_equal(r["overlay"], lut[labels])
    counts = np.bincount(labels.ravel(), minlength=cfg.num_classes)
    for name, share in r["shares"].items():
        i = cfg.class_names.index(name)
        assert share == pytest.approx(100 * counts[i] / labels.size, abs=0.01)
    assert sum(r["shares"].values()) == pytest.approx(100, abs=0.1)
    assert r["info"]["inference_seconds"] > 0
    assert r["legend"].ndim == 3


def test_street_onnxruntime_matches_torch(street_jpg):
    a = street.street_segment(street_jpg, "lraspp_mobilenet_v3", "PyTorch")
    b = street.street_segment(street_jpg, "lraspp_mobilenet_v3", "ONNX Runtime")
    assert b["info"]["backend"] == "onnxruntime"
    # same model, same weights: labels agree except at rare near-ties
    assert (a["labels"] == b["labels"]).mean() > 0.99


def test_street_bad_inputs(bad_files, ct_small):
    with pytest.raises(AppError, match="unsupported file type"):
        street.street_segment(bad_files["text"])
    with pytest.raises(AppError, match="is not a photo"):
        street.street_segment(ct_small)
    with pytest.raises(AppError, match="not a readable image"):
        street.street_segment(bad_files["fake_png"])
    with pytest.raises(AppError, match="megapixels"):
        street.street_segment(bad_files["huge_png"])
    with pytest.raises(AppError, match="unknown street model"):
        street.street_segment(bad_files["text"], "unet_medical")
    with pytest.raises(AppError, match="no image uploaded"):
        street.street_segment(None)


def test_tta_compare_with_gt(street_jpg, tmp_path):
    cfg = get_model_cfg("lraspp_mobilenet_v3")
    gt = np.zeros((120, 160), np.uint8)  # any size: resized (nearest) to the image
    gt[60:] = 0  # road
    gt[:60] = 10  # sky
    gt[:5] = 255  # ignored
    p = tmp_path / "gt.png"
    Image.fromarray(gt).save(p)
    r = tta.tta_compare(street_jpg, p, "lraspp_mobilenet_v3", "PyTorch")
    s = r["summary"]
    for k in ("seconds", "seconds_tta", "miou", "miou_tta", "dice", "dice_tta"):
        assert k in s, k
    h, w = s["image_size"]
    assert max(h, w) == max(cfg.input_size)
    assert r["plain"].shape == r["tta"].shape == r["uncertainty"].shape == (h, w, 3)
    magenta = np.all(r["changed"] == tta.CHANGED_COLOR, axis=2).mean() * 100
    assert magenta == pytest.approx(s["changed_pixels_percent"], abs=0.01)


def test_tta_rgb_gt_refused(street_jpg):
    with pytest.raises(AppError, match="single-channel label PNG"):
        tta.tta_compare(street_jpg, street_jpg)


def test_heatmap_fixed_scale():
    x = np.array([[0.0, 0.5, 1.0, 2.0]])
    h = tta.heatmap(x)
    assert h.shape == (1, 4, 3) and h.dtype == np.uint8
    np.testing.assert_array_equal(h[0, 2], h[0, 3])  # values above 1 saturate
    assert not np.array_equal(h[0, 0], h[0, 1])


@pytest.mark.slow
def test_video_process_writes_playable_webm(tmp_path):
    from medseg.app.examples import video_example

    src = video_example()
    if src is None:
        pytest.skip("opencv-doc example photo missing")
    seen = []
    out, info = video.video_process(
        src, "lraspp_mobilenet_v3", "PyTorch", 6, progress=lambda f, m: seen.append(f)
    )
    assert out.endswith(".webm")
    cap = cv2.VideoCapture(out)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        shape = frame.shape
    cap.release()
    src_cap = cv2.VideoCapture(src)
    ok, first = src_cap.read()
    src_cap.release()
    assert n == 6 and shape == first.shape
    assert seen and seen[-1] == pytest.approx(1.0)
    assert any("fps" in k for k in info), info
    assert not any("/tmp" in str(v) for v in info.values()), info  # no server paths


def test_video_bad_inputs(bad_files, street_jpg, tmp_path):
    with pytest.raises(AppError, match="is not a video"):
        video.video_process(street_jpg)
    broken = tmp_path / "broken.webm"
    broken.write_bytes(b"\x1a\x45\xdf\xa3 this is not a real webm")
    with pytest.raises(AppError, match="broken.webm"):
        video.video_process(broken)
    with pytest.raises(AppError, match="no video uploaded"):
        video.video_process(None)
