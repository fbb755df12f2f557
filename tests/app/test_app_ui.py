"""The Gradio wiring: error translation and the Blocks layout (no server)."""

from __future__ import annotations

import gradio as gr
import pytest

from medseg.app import ui
from medseg.app.common import AppError


def test_guard_user_error_keeps_message():
    @ui.guard("Thing")
    def f():
        raise AppError("slice 9 is out of range")

    with pytest.raises(gr.Error) as e:
        f()
    assert e.value.message == "slice 9 is out of range"


def test_guard_hides_internal_details():
    @ui.guard("Segmentation")
    def f():
        raise RuntimeError("secret /tmp/path/PatientName_Doe.dcm at line 12")

    with pytest.raises(gr.Error) as e:
        f()
    msg = e.value.message
    assert msg.startswith("Segmentation failed unexpectedly (RuntimeError)")
    assert "PatientName" not in msg and "/tmp" not in msg and "Traceback" not in msg


def test_guard_generators():
    @ui.guard("Video")
    def gen():
        yield 1
        raise AppError("bad frame size")

    g = gen()
    assert next(g) == 1
    with pytest.raises(gr.Error, match="bad frame size"):
        next(g)


def test_build_app_has_four_tabs_and_named_endpoints():
    from medseg.app import build_app

    demo = build_app()
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {
        "medical_load",
        "medical_preview",
        "medical_segment",
        "street_segment",
        "video_process",
        "tta_compare",
    } <= names
    tabs = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs == ["Medical", "Street", "Video", "TTA"]
