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
    assert (a["info"]["backend"], b["info"]["backend"]) == ("torch", "onnxruntime")
    # same model, same weights: labels agree except at rare near-ties
    assert (a["labels"] == b["labels"]).mean() > 0.99


def test_street_bad_inputs(bad_files, ct_small):
    with pytest.raises(AppError, match="unsupported file type"):
        street.street_segment(bad_files["text"])
    with pytest.raises(AppError, match="is not a photo: a CT volume into lraspp_mobilenet_v3"):
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
    with Image.open(street_jpg) as im:  # shown at the photo's own size ...
        assert (h, w) == (im.height, im.width)
    assert max(s["model_input_size"]) == max(cfg.input_size)  # ... computed at the model's
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


# --------------------------------------------------------------------------- issue 19
def test_street_legend_rows_are_the_classes_present_by_share(street_jpg):
    r = street.street_segment(street_jpg, "lraspp_mobilenet_v3", "ONNX Runtime")
    cfg = get_model_cfg("lraspp_mobilenet_v3")
    counts = np.bincount(r["labels"].ravel(), minlength=cfg.num_classes)
    present = {int(c) for c in np.flatnonzero(counts)}
    rows = r["rows"]
    assert {row["id"] for row in rows} == present  # no 0 % rows
    shares = [row["share"] for row in rows]
    assert shares == sorted(shares, reverse=True)
    for row in rows:
        assert row["share"] == pytest.approx(100 * counts[row["id"]] / r["labels"].size, abs=0.01)
        assert tuple(row["color"]) == tuple(cfg.palette[row["id"]])
        assert row["name"] == cfg.class_names[row["id"]]


def test_blend_highlight_dims_all_but_one_class(street_jpg):
    r = street.street_segment(street_jpg, "lraspp_mobilenet_v3", "ONNX Runtime", 0.5)
    cfg = get_model_cfg("lraspp_mobilenet_v3")
    rgb, labels = r["rgb"], r["labels"]
    k = r["rows"][0]["id"]
    out = street.blend(rgb, labels, cfg.palette, 0.5, highlight=k)
    sel = labels == k
    # independent: others are the photo at DIM brightness, the class at opacity 0.6
    np.testing.assert_array_equal(
        out[~sel], (rgb[~sel].astype(np.float32) * street.DIM).astype(np.uint8)
    )
    ref = np.clip(
        0.4 * rgb[sel].astype(np.float32) + 0.6 * np.asarray(cfg.palette[k], np.float32) + 0.5,
        0,
        255,
    )
    np.testing.assert_array_equal(out[sel], ref.astype(np.uint8))
    # without a highlight, blending the cached labels again is the segmentation's overlay
    np.testing.assert_array_equal(street.blend(rgb, labels, cfg.palette, 0.5), r["overlay"])


def test_tta_colorbar_and_legend(street_jpg):
    r = tta.tta_compare(street_jpg, None, "lraspp_mobilenet_v3", "ONNX Runtime")
    bar = r["colorbar"]
    assert bar.ndim == 3 and bar.shape[1] == 256
    ramp = bar[5, 8:-8]
    # the ramp runs through the same colour map as the uncertainty image, from 0 to 1
    np.testing.assert_array_equal(ramp[0], tta.heatmap(np.array([[0.0]]))[0, 0])
    np.testing.assert_array_equal(ramp[-1], tta.heatmap(np.array([[1.0]]))[0, 0])
    shares = [row["share"] for row in r["rows"]]
    assert shares == sorted(shares, reverse=True) and all(s > 0 for s in shares)


def test_tta_progress_counts_forward_passes(street_jpg):
    from medseg.app.progress import Job

    seen = []
    job = Job(0, "forward passes", lambda f, m: seen.append(f))
    tta.tta_compare(street_jpg, None, "lraspp_mobilenet_v3", "ONNX Runtime", job=job)
    assert seen and seen[-1] == pytest.approx(1.0) and job.done >= 7


def test_video_needs_preview_for_avi_and_makes_a_playable_one(tmp_path):
    src = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(8):
        w.write(np.full((120, 160, 3), 20 * i, np.uint8))
    w.release()
    assert video.needs_preview(src)
    prev = video.browser_preview(src)
    assert prev.endswith(".webm") and not video.needs_preview(prev)
    cap = cv2.VideoCapture(prev)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 8


@pytest.mark.slow
def test_video_frame_limit_and_cancel_are_said(tmp_path):
    import threading

    from medseg.app.examples import video_example

    src = video_example()
    if src is None:
        pytest.skip("opencv-doc example photo missing")
    out, info = video.video_process(src, "lraspp_mobilenet_v3", "ONNX Runtime", 1000)
    assert info["frames"] == min(video.MAX_FRAMES, info["source_frames"])
    assert any(f"At most {video.MAX_FRAMES} frames" in w for w in info["warnings"])
    assert info["backend"] == "onnxruntime"
    out, info = video.video_process(src, "lraspp_mobilenet_v3", "ONNX Runtime", 5)
    assert info["frames"] == 5
    assert any("the first 5 were processed" in w for w in info["warnings"])
    stop = threading.Event()
    stop.set()
    out, info = video.video_process(src, "lraspp_mobilenet_v3", "ONNX Runtime", 20, stop_event=stop)
    assert info["interrupted"] and any("Cancelled" in w for w in info["warnings"])


def test_untrained_street_model_says_so_in_a_line(street_jpg):
    from medseg.app.common import model_is_trained

    untrained = [m for m in ("unet", "fcn_vgg16") if not model_is_trained(m)]
    if not untrained:
        pytest.skip("every street model has weights here")
    r = street.street_segment(street_jpg, untrained[0], "PyTorch")
    assert any("no trained weights" in w for w in r["info"]["warnings"])
    assert "random" in street.model_card(untrained[0])
