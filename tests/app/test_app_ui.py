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


#: the API as it was before issue 19: names, parameters in order, number of outputs
API_CONTRACT = {
    "medical_load": (["scan_files"], 4),
    "medical_preview": (["scan_files", "plane", "slice_index", "window", "center", "width"], 3),
    "medical_segment": (
        [
            "scan_files",
            "ground_truth",
            "plane",
            "slice_index",
            "window",
            "center",
            "width",
            "model",
            "scope",
            "backend",
        ],
        6,
    ),  # fmt: skip
    "street_segment": (["image", "model", "backend", "opacity"], 4),
    "video_process": (["video_file", "model", "backend", "max_frames"], 2),
    "tta_compare": (["image", "ground_truth", "model", "backend"], 5),
}


@pytest.fixture(scope="module")
def demo():
    from medseg.app import build_app

    return build_app()


def test_api_keeps_names_parameters_and_outputs(demo):
    api = demo.get_api_info()["named_endpoints"]
    assert set(API_CONTRACT) == {k.lstrip("/") for k in api}  # page events stay private
    for name, (params, n_out) in API_CONTRACT.items():
        ep = api["/" + name]
        got = [p["parameter_name"] for p in ep["parameters"]]
        assert got[: len(params)] == params, name
        for extra in ep["parameters"][len(params) :]:  # added ones are optional
            assert extra["parameter_has_default"], (name, extra["parameter_name"])
        assert len(ep["returns"]) == n_out, name
    seg = {p["parameter_name"]: p for p in api["/medical_segment"]["parameters"]}
    assert seg["scope"]["parameter_default"] == "this slice"
    assert seg["allow_mismatch"]["parameter_default"] is False


def test_one_backend_label_set_in_all_tabs(demo):
    from medseg.app.backends import DEFAULT_BACKEND, backend_choices

    radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.label == "Back-end"]
    assert len(radios) == 4
    for r in radios:
        assert [c[1] for c in r.choices] == backend_choices() and r.value == DEFAULT_BACKEND


def test_soft_errors_become_a_status_line_not_a_badge():
    status = gr.Markdown()

    @ui.soft("Loading the scan", status)
    def bad():
        raise AppError("slice 9 is out of range")

    @ui.soft("Loading the scan", status)
    def broken():
        raise RuntimeError("/tmp/secret/Doe_John.dcm")

    assert bad() == {status: "❌ slice 9 is out of range"}
    msg = broken()[status]
    assert "failed unexpectedly (RuntimeError)" in msg and "Doe" not in msg

    @ui.soft("Video", status)
    def gen():
        yield {status: "working"}
        raise AppError("bad frame size")

    assert list(gen()) == [{status: "working"}, {status: "❌ bad frame size"}]
