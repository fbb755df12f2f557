from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from medseg.video import VideoInterrupted, process_video
from medseg.viz import overlay as viz_overlay


def _masks(d):
    import cv2

    files = sorted(d.glob("frame_*.png"))
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in files]


def _reference_labels(frames_bgr, model):
    """Independent per-frame inference: own RGB conversion and ImageNet normalisation."""
    cfg = model.cfg
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for f in frames_bgr:
            rgb = torch.from_numpy(f[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255.0
            out.append(model((rgb - mean) / std)[0].argmax(0).numpy().astype(np.uint8))
    return out


def _flicker(labels):
    return float(np.mean([np.mean(a != b) for a, b in zip(labels[:-1], labels[1:])]))


def test_frames_size_masks_and_palette(tmp_path, vt, shapes_video, tiny_model):
    out = tmp_path / "out.avi"
    s = process_video(
        shapes_video,
        out,
        tiny_model,
        alpha=1.0,
        masks_dir=tmp_path / "m",
        json_path=tmp_path / "c.jsonl",
        batch_size=4,
    )
    assert s.frames == vt.N and not s.interrupted
    back = vt.read_video(out)
    assert len(back) == vt.N
    assert back[0].shape == (vt.H, vt.W, 3)
    masks = _masks(tmp_path / "m")
    assert len(masks) == vt.N and masks[0].shape == (vt.H, vt.W) and masks[0].dtype == np.uint8
    # masks equal an independent per-frame inference on the decoded input (batched conv
    # numerics may flip a rare near-tie)
    ref = _reference_labels(vt.read_video(shapes_video), tiny_model)
    agree = np.mean([np.mean(a == b) for a, b in zip(masks, ref)])
    assert agree > 0.999
    # alpha=1: every pixel is its mask's palette colour (MJPG is lossy: compare means)
    pal = np.asarray(tiny_model.cfg.palette, np.uint8)
    for frame, m in zip(back, masks):
        expect_bgr = pal[m][:, :, ::-1].astype(int)
        assert np.abs(frame.astype(int) - expect_bgr).mean() < 8
        wrong = pal[(m.astype(int) + 1) % len(pal)][:, :, ::-1].astype(int)
        assert np.abs(frame.astype(int) - wrong).mean() > 30
    # JSON Lines: one record per frame, shares = pixel counts of the mask
    recs = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(vt.N))
    names = tiny_model.cfg.class_names
    for r, m in zip(recs, masks):
        counts = np.bincount(m.ravel(), minlength=len(names))
        for c, n in enumerate(counts):
            assert r["shares"].get(names[c], 0.0) == pytest.approx(n / m.size, abs=1e-6)
    # flicker reported = flicker of the masks, computed here independently
    assert s.flicker == pytest.approx(_flicker(masks), abs=1e-6)


def test_threaded_equals_sequential(tmp_path, vt, shapes_video, tiny_model):
    res = {}
    for threaded in (True, False):
        d = tmp_path / str(threaded)
        s = process_video(
            shapes_video,
            d / "o.avi",
            tiny_model,
            masks_dir=d / "m",
            json_path=d / "c.jsonl",
            smooth=0.5,
            legend=True,
            threaded=threaded,
            batch_size=3,
            queue_size=2,
        )
        res[threaded] = (
            s,
            vt.read_video(d / "o.avi"),
            _masks(d / "m"),
            (d / "c.jsonl").read_text(),
        )
    (s1, v1, m1, j1), (s0, v0, m0, j0) = res[True], res[False]
    assert s1.frames == s0.frames == vt.N
    assert len(v1) == len(v0) == vt.N
    assert all(np.array_equal(a, b) for a, b in zip(v1, v0))
    assert all(np.array_equal(a, b) for a, b in zip(m1, m0))
    assert j1 == j0
    assert s1.flicker == s0.flicker


def test_overlay_blend_matches_viz(vt, tmp_path, shapes_video, tiny_model):
    """The cv2 fast path blends like medseg.viz.overlay (to rounding)."""
    from medseg.video.draw import bgr_lut, blend

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (vt.H, vt.W, 3), dtype=np.uint8)
    labels = rng.integers(0, 19, (vt.H, vt.W), dtype=np.uint8)
    pal = tiny_model.cfg.palette
    got = blend(frame, labels, bgr_lut(pal), 0.4)
    ref = viz_overlay(frame[:, :, ::-1], labels, pal, 0.4)[:, :, ::-1]
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_smoothing_reduces_flicker(tmp_path, vt, tiny_model):
    noisy = vt.write_video(tmp_path / "noisy.avi", vt.shapes_frames(n=10, noise=40.0, seed=1))
    raw = process_video(noisy, None, tiny_model, masks_dir=tmp_path / "raw")
    smooth = process_video(noisy, None, tiny_model, masks_dir=tmp_path / "ema", smooth=0.8)
    f_raw = _flicker(_masks(tmp_path / "raw"))
    f_ema = _flicker(_masks(tmp_path / "ema"))
    assert f_raw > 0.01  # the noise does make labels flicker
    assert f_ema < 0.7 * f_raw
    assert raw.flicker == pytest.approx(f_raw, abs=1e-6)
    assert smooth.flicker == pytest.approx(f_ema, abs=1e-6)
    assert smooth.flicker_raw == pytest.approx(f_raw, abs=1e-6)


def test_stride_max_frames_and_side_by_side(tmp_path, vt, shapes_video, tiny_model):
    s = process_video(shapes_video, tmp_path / "a.avi", tiny_model, stride=2, side_by_side=True)
    back = vt.read_video(tmp_path / "a.avi")
    assert s.frames == len(back) == vt.N // 2
    assert s.output_fps == pytest.approx(s.source_fps / 2)
    assert back[0].shape == (vt.H, 2 * vt.W, 3)
    src = vt.read_video(shapes_video)
    # left half is the original frame 0, 2, 4, ... (MJPG twice: coarse compare)
    assert np.abs(back[1][:, : vt.W].astype(int) - src[2].astype(int)).mean() < 6
    s = process_video(shapes_video, tmp_path / "b.avi", tiny_model, max_frames=5)
    assert s.frames == len(vt.read_video(tmp_path / "b.avi")) == 5


def test_inference_size_keeps_output_size(tmp_path, vt, shapes_video, tiny_model):
    s = process_video(
        shapes_video,
        tmp_path / "o.webm",
        tiny_model,
        size=(32, 48),
        masks_dir=tmp_path / "m",
        hud=True,
        legend=True,
    )
    assert s.inference_hw == (32, 48)
    assert s.output_hw == (62, 98)  # VP8: odd sizes padded by one pixel
    back = vt.read_video(tmp_path / "o.webm")
    assert len(back) == vt.N and back[0].shape == (62, 98, 3)
    assert _masks(tmp_path / "m")[0].shape == (vt.H, vt.W)


def _interrupt_after(n):
    def cb(done, total, fps):
        assert total == 12
        if done >= n:
            raise KeyboardInterrupt

    return cb


@pytest.mark.parametrize("threaded", [True, False])
def test_ctrl_c_leaves_playable_partial_video(tmp_path, vt, tiny_model, threaded):
    src = vt.write_video(tmp_path / "in.avi", vt.shapes_frames(n=12))
    out = tmp_path / "o.webm"
    with pytest.raises(VideoInterrupted) as ei:
        process_video(
            src,
            out,
            tiny_model,
            batch_size=2,
            threaded=threaded,
            progress_callback=_interrupt_after(4),
        )
    s = ei.value.summary
    assert s.interrupted
    assert 4 <= s.frames < 12
    back = vt.read_video(out)
    assert len(back) == s.frames
    assert back[0].shape == (62, 98, 3)


def test_stop_event(tmp_path, vt, shapes_video, tiny_model):
    stop = threading.Event()

    def cb(done, total, fps):
        if done >= 3:
            stop.set()

    s = process_video(
        shapes_video,
        tmp_path / "o.avi",
        tiny_model,
        batch_size=3,
        stop_event=stop,
        progress_callback=cb,
    )
    assert s.interrupted and 3 <= s.frames < vt.N
    assert len(vt.read_video(tmp_path / "o.avi")) == s.frames


def test_predictor_errors_surface(tmp_path, shapes_video, tiny_model):
    import torch

    from medseg.engine.predictor import Predictor

    # any runner fits a Predictor: this one answers at the wrong size
    bad = Predictor(lambda x: torch.zeros(x.shape[0], 19, 5, 5), tiny_model.cfg)
    with pytest.raises(ValueError, match="shape"):
        process_video(shapes_video, tmp_path / "o.avi", bad)
    medical = __import__("medseg.models", fromlist=["x"]).create_model(
        "unet_medical", base_channels=4
    )
    with pytest.raises(ValueError, match="RGB"):
        process_video(shapes_video, tmp_path / "o.avi", medical)


def test_predictor_adapter_matches_predict_batch(vt, tiny_model):
    """The pipeline's fast path over a Predictor gives predict_batch's probabilities/labels."""
    pytest.importorskip("medseg.engine.predictor")
    from medseg.engine.predictor import Predictor
    from medseg.video.infer import frame_adapter

    pred = Predictor.from_model(tiny_model, backend="torch")
    seg = frame_adapter(pred)
    frames = np.stack([f[:, :, ::-1] for f in vt.shapes_frames(n=3)])
    ref = pred.predict_batch(frames)
    probs = seg.infer(frames)
    assert probs.shape == (3, 19, vt.H, vt.W)
    for p, r in zip(probs, ref):
        np.testing.assert_allclose(p, r.probs, atol=1e-5)
    lab = seg.scores(frames).argmax(1)
    assert np.mean(lab == np.stack([r.labels for r in ref])) > 0.9999


def test_sample_video(tmp_path, vt):
    from medseg.video.samples import OPENCV_DATA, make_sample_video

    if not (OPENCV_DATA / "leuvenA.jpg").is_file():
        pytest.skip("Debian opencv-doc photos not installed")
    p = make_sample_video(tmp_path / "s.avi", frames=6, size=(64, 128))
    back = vt.read_video(p)
    assert len(back) == 6 and back[0].shape == (64, 128, 3)
    # a real photo, moving: not flat, and consecutive frames differ
    assert back[0].std() > 20
    assert np.abs(back[0].astype(int) - back[5].astype(int)).mean() > 2


def test_output_height(tmp_path, vt, shapes_video, tiny_model):
    s = process_video(
        shapes_video, tmp_path / "o.avi", tiny_model, output_height=30, masks_dir=tmp_path / "m"
    )
    assert s.output_hw == (30, 48)  # 97 * 30 / 61 = 47.7
    back = vt.read_video(tmp_path / "o.avi")
    assert len(back) == vt.N and back[0].shape == (30, 48, 3)
    assert _masks(tmp_path / "m")[0].shape == (30, 48)
    # taller than the video: unchanged
    s = process_video(shapes_video, None, tiny_model, output_height=500)
    assert s.frames == vt.N


def test_summary_sizes_are_height_by_width_and_say_so(tmp_path, vt, shapes_video, tiny_model):
    s = process_video(shapes_video, tmp_path / "o.webm", tiny_model, size=(32, 48))
    d = s.to_dict()
    assert "frame_size" not in d and "inference_size" not in d
    h, w = d["frame_hw"]
    assert (h, w) == (s.frame_hw[0], s.frame_hw[1]) and d["inference_hw"] == (32, 48)
    import cv2

    cap = cv2.VideoCapture(str(shapes_video))
    assert (h, w) == (
        int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
    )
    cap.release()
    assert f"{h}x{w} (HxW)" in s.format() and "inference at 32x48" in s.format()
    with pytest.warns(DeprecationWarning):
        assert s.frame_size == (w, h)


def test_old_segmenter_names_still_work_with_a_warning(tmp_path, shapes_video, tiny_model):
    from medseg.video import Segmenter, load_segmenter, predictor_segmenter

    with pytest.warns(DeprecationWarning, match="Segmenter is deprecated"):
        seg = Segmenter(
            lambda x: np.ones((x.shape[0], 19, *x.shape[1:3]), np.float32), tiny_model.cfg
        )
    s = process_video(shapes_video, tmp_path / "o.avi", seg, max_frames=2)
    assert s.frames == 2
    from medseg.engine.predictor import Predictor

    with pytest.warns(DeprecationWarning):
        predictor_segmenter(Predictor.from_model(tiny_model, backend="torch"))
    with pytest.warns(DeprecationWarning):
        load_segmenter("lraspp_mobilenet_v3", backend="torch", pretrained=False)
