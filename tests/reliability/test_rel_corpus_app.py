"""Every corpus case through the running app's ``gradio_client`` API.

Each bad input must come back as a clear error (no stack trace, one of the case's phrases)
within a deadline, and the server must still answer the next good request.
"""

from __future__ import annotations

import pytest
from corpus import case_path, message_matches

from .appserver import call

pytestmark = [pytest.mark.xdist_group("app")]

MEDICAL_ARGS = ("axial", 0, "auto (1–99 percentile)", 40, 400, "unet_medical", "this slice")


def _uploads(path):
    from gradio_client import handle_file

    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return [handle_file(str(f)) for f in files]


@pytest.fixture(scope="module")
def client(app_server):
    return app_server.client()


@pytest.fixture(scope="module")
def good_ct(corpus):
    return case_path(corpus, next(c for c in corpus["cases"] if c["name"] == "dcm_ok_ct_small"))


def _still_alive(client, good_ct) -> None:
    from gradio_client import handle_file

    meta, *_ = call(client, [handle_file(str(good_ct))], api_name="/medical_load", timeout=60)
    assert meta["shape"][:2] == [128, 128]


def _expect(case: dict) -> str:
    return case.get("expect_app", case["expect"])


def _check_error(case: dict, exc: BaseException) -> None:
    msg = str(exc)
    assert _expect(case) != "ok", f"valid input refused by the app: {msg}"
    assert "Traceback" not in msg and 'File "' not in msg, msg
    if _expect(case) == "error":
        assert message_matches(case, msg), f"unclear app message for {case['note']}: {msg}"


@pytest.mark.timeout(180)
def test_corpus_through_medical_tab(corpus, app_case, client, good_ct):
    case = app_case
    path = case_path(corpus, case)
    if path.is_dir() and not any(path.iterdir()):
        pytest.skip("an empty folder cannot be uploaded (see test_no_file_uploaded)")
    from gradio_client.exceptions import AppError

    try:
        meta, *_ = call(client, _uploads(path), api_name="/medical_load", timeout=90)
    except AppError as e:
        _check_error(case, e)
    else:
        assert _expect(case) != "error", f"bad input accepted by the app ({case['note']})"
        if "shape_xy" in case:
            assert meta["shape"][:2] == case["shape_xy"]
        if "n_slices" in case:
            assert meta["shape"][2] == case["n_slices"]
    _still_alive(client, good_ct)


@pytest.mark.timeout(180)
def test_images_through_street_tab(corpus, street_case, client, good_ct):
    case = street_case
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = case_path(corpus, case)
    try:
        out = call(
            client,
            handle_file(str(path)),
            "lraspp_mobilenet_v3",
            "PyTorch",
            0.5,
            api_name="/street_segment",
            timeout=90,
        )
    except AppError as e:
        _check_error(case, e)
    else:
        assert case["expect"] != "error", f"bad image accepted by the street tab ({case['note']})"
        assert out[0]  # an overlay image path
    _still_alive(client, good_ct)


@pytest.mark.timeout(300)
def test_videos_through_video_tab(corpus, client, good_ct):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    for case in (c for c in corpus["cases"] if c["kind"] == "video"):
        path = case_path(corpus, case)
        try:
            out, summary = call(
                client,
                handle_file(str(path)),
                "lraspp_mobilenet_v3",
                "PyTorch",
                3,
                api_name="/video_process",
                timeout=120,
            )
        except AppError as e:
            _check_error(case, e)
        else:
            assert case["expect"] != "error", f"bad video accepted ({case['note']})"
            assert out
        _still_alive(client, good_ct)


@pytest.mark.timeout(120)
def test_no_file_uploaded(client, good_ct):
    """The empty-folder case as the app sees it: nothing uploaded."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="(?i)no file"):
        call(client, None, None, api_name="/medical_segment", timeout=60)
    _still_alive(client, good_ct)
