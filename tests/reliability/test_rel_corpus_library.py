"""Every corpus case through the library API: a clear error naming the file, or a result.

Surfaces: ``medseg.io.load_volume`` (DICOM, NIfTI), ``medseg.io.load_image`` (images),
``medseg.video.process_video`` (videos) and ``medseg.models.create_model(weights=...)``
(checkpoints). "Clear error" means the documented exception type (``MedsegIOError`` for I/O,
``ValueError`` otherwise), a message that names the file's base name and contains one of the
case's phrases; any other exception is a crash.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from corpus import GENERATED, case_path, message_matches, names_file


def _expect(case: dict) -> str:
    return case.get("expect_library", case["expect"])


def _run_io(case: dict, path):
    from medseg.io import load_image, load_volume

    if case["kind"] == "image":
        return load_image(path)
    return load_volume(path)


def _check_ok_shape(case: dict, out) -> None:
    arr = np.asarray(getattr(out, "array", out))
    if "shape_hw" in case:
        assert list(arr.shape[:2]) == case["shape_hw"]
    if "shape_xy" in case:
        assert list(arr.shape[:2]) == case["shape_xy"]
    if "n_slices" in case:
        assert arr.shape[2] == case["n_slices"]
    if "max_value" in case:  # 16-bit data must keep its range, not be squashed to 8 bits
        assert int(arr.max()) == case["max_value"]
    assert np.isfinite(arr.astype(np.float64)).all()


@pytest.mark.timeout(60)
def test_corpus_through_io(corpus, io_case):
    case = io_case
    from medseg.io import MedsegIOError

    path = case_path(corpus, case)
    try:
        out = _run_io(case, path)
    except MedsegIOError as e:
        msg = str(e)
        assert _expect(case) != "ok", f"valid input refused: {msg}"
        assert names_file(path, msg), f"message does not name the file: {msg}"
        if _expect(case) == "error":
            assert message_matches(case, msg), f"unclear message for {case['note']}: {msg}"
        assert "Traceback" not in msg and len(msg) < 1000
        return
    assert _expect(case) != "error", f"bad input accepted ({case['note']})"
    _check_ok_shape(case, out)


def _constant_segmenter():
    import torch

    from medseg.engine.predictor import Predictor
    from medseg.models import get_model_cfg

    cfg = get_model_cfg("lraspp_mobilenet_v3")

    def runner(x: torch.Tensor) -> torch.Tensor:  # class 0 everywhere
        p = torch.zeros(x.shape[0], cfg.num_classes, *x.shape[-2:])
        p[:, 0] = 10.0
        return p

    return Predictor(runner, cfg)


@pytest.mark.timeout(60)
def test_corpus_through_video(corpus, video_case, tmp_path):
    case = video_case
    from medseg.video import process_video

    path = case_path(corpus, case)
    out = tmp_path / "out.avi"
    try:
        summary = process_video(path, out, _constant_segmenter(), threaded=False)
    except ValueError as e:
        msg = str(e)
        assert case["expect"] != "ok", f"valid video refused: {msg}"
        assert os.path.basename(path) in msg, msg
        assert message_matches(case, msg), msg
        return
    assert case["expect"] != "error", f"bad video accepted ({case['note']})"
    if "n_frames" in case:
        assert summary.frames == case["n_frames"]
    assert out.stat().st_size > 0


@pytest.mark.timeout(60)
def test_corpus_through_create_model(corpus, model_case):
    case = model_case
    from medseg.models import create_model

    path = case_path(corpus, case)
    marker = GENERATED / case["marker"] if "marker" in case else None
    try:
        model = create_model(case["model"], weights=path)
    except ValueError as e:
        msg = str(e)
        assert case["expect"] != "ok", msg
        assert os.path.basename(path) in msg, msg
        assert message_matches(case, msg), msg
    else:
        assert case["expect"] != "error", f"bad checkpoint accepted ({case['note']})"
        assert model.cfg.name == case["model"]
    if marker is not None:
        assert not marker.exists(), "code inside the checkpoint ran while loading it"
