from __future__ import annotations

import numpy as np
import pytest

from medseg.video import VideoSink, open_capture, process_video, resolve_codec


def test_missing_file(tmp_path, tiny_model):
    with pytest.raises(FileNotFoundError, match="not found"):
        process_video(tmp_path / "nope.mp4", tmp_path / "o.webm", tiny_model)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        open_capture(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "junk.avi"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="decode|no decodable"):
        open_capture(p)


def test_zero_frame_video(tmp_path):
    import cv2

    p = tmp_path / "zero.avi"
    wr = cv2.VideoWriter(
        str(p), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32)
    )
    wr.release()
    assert p.exists()
    with pytest.raises(ValueError, match="no decodable frames|decode"):
        open_capture(p)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        open_capture(tmp_path)


def test_output_types():
    assert resolve_codec("a.webm") == "vp8"
    assert resolve_codec("a.WEBM", "vp9") == "vp9"
    assert resolve_codec("a.avi") == "mjpg"
    with pytest.raises(ValueError, match="H.264"):
        resolve_codec("a.mp4")
    with pytest.raises(ValueError, match="writes .webm"):
        resolve_codec("a.avi", "vp8")
    with pytest.raises(ValueError, match="unknown codec"):
        resolve_codec("a.webm", "h264")


def test_bad_output_fails_before_decoding(tmp_path, shapes_video, tiny_model):
    with pytest.raises(ValueError, match=r"\.mp4"):
        process_video(shapes_video, tmp_path / "o.mp4", tiny_model)
    with pytest.raises(ValueError, match="input video"):
        process_video(shapes_video, shapes_video, tiny_model)


@pytest.mark.parametrize(
    ("name", "codec", "expect"),
    [("o.webm", "vp8", (62, 98)), ("o.avi", "mjpg", (61, 97))],
)
def test_odd_sizes(tmp_path, vt, name, codec, expect):
    """VP8 pads odd frames by one edge pixel (FFmpeg would silently crop); MJPG keeps them."""
    frames = vt.shapes_frames(n=3)
    with VideoSink(tmp_path / name, (97, 61), 10, codec) as sink:
        for f in frames:
            sink.write(f)
    back = vt.read_video(tmp_path / name)
    assert len(back) == 3
    assert back[0].shape[:2] == expect
    # content survives (lossy codecs: compare coarsely)
    diff = np.abs(back[1][:61, :97].astype(int) - frames[1].astype(int)).mean()
    assert diff < 12


def test_sink_rejects_wrong_frame_size(tmp_path):
    with VideoSink(tmp_path / "o.avi", (40, 30), 10) as sink:
        with pytest.raises(ValueError, match="differs"):
            sink.write(np.zeros((31, 40, 3), np.uint8))
