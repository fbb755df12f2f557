"""The app in a real browser: headless Debian chromium driven by Playwright for Python.

Uploads a file in each tab, clicks run, waits for the output, checks the image that came
back is a real, non-blank picture, and saves a screenshot of each tab to
``docs/img/app_<tab>.png`` (the README shows them) when ``MEDSEG_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("app"),
    pytest.mark.timeout(420),
]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots refresh the README's pictures only when asked (MEDSEG_UPDATE_SCREENSHOTS=1), so a
# plain ./test.sh leaves the work tree unchanged; otherwise they go to a temporary folder.
DOCS_IMG = (
    Path(__file__).resolve().parents[2] / "docs" / "img"
    if os.environ.get("MEDSEG_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "medseg-screenshots"
)
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(app_url)
        pg.get_by_role("tab", name="Medical").wait_for()
        yield pg
        browser.close()


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def _output_image(page, elem_id: str) -> np.ndarray:
    """Wait for the image in ``#elem_id``, fetch it through the page and decode it."""
    img = page.locator(f"#{elem_id} img").first
    img.wait_for(state="visible")
    page.wait_for_function(
        "id => { const i = document.querySelector('#' + id + ' img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=elem_id,
    )
    src = img.get_attribute("src")
    body = page.request.get(src).body()
    with Image.open(io.BytesIO(body)) as im:
        return np.asarray(im.convert("RGB"))


def _shot(page, tab: str) -> Path:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMG / f"app_{tab}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_medical_tab(page, t1_nifti, t1_brain_nifti):
    from pathlib import Path

    scan, gt = t1_nifti, t1_brain_nifti
    held_out = Path("/usr/share/mricron/templates")
    if (held_out / "ch2.nii.gz").is_file() and (held_out / "ch2bet.nii.gz").is_file():
        scan, gt = held_out / "ch2.nii.gz", held_out / "ch2bet.nii.gz"
    _open_tab(page, "Medical")
    _upload(page, "med_files", scan)
    _upload(page, "med_gt", gt)
    _output_image(page, "med_windowed")  # loading shows the middle slice
    page.locator("#med_run").click()
    overlay = _output_image(page, "med_overlay")
    assert overlay.ndim == 3 and overlay.shape[0] > 16 and overlay.shape[1] > 16
    assert overlay.std() > 1.0  # a real picture, not a blank
    page.wait_for_timeout(500)
    _shot(page, "medical")


def test_street_tab(page, street_jpg):
    _open_tab(page, "Street")
    _upload(page, "street_image", street_jpg)
    page.locator("#street_run").click()
    overlay = _output_image(page, "street_overlay")
    with Image.open(street_jpg) as im:
        assert overlay.shape[:2] == (im.height, im.width)
    assert overlay.std() > 1.0
    page.wait_for_timeout(500)
    _shot(page, "street")


def test_video_tab(page):
    from medseg.app.examples import video_example

    src = video_example()
    if src is None:
        pytest.skip("opencv-doc example photo missing")
    _open_tab(page, "Video")
    _upload(page, "video_in", Path(src))
    page.locator("#video_in video").first.wait_for(state="attached")
    page.locator("#video_run").click()
    page.locator("#video_out video").first.wait_for(state="attached")
    page.wait_for_function(
        "() => { const v = document.querySelector('#video_out video');"
        " return v && v.readyState >= 1 && v.duration > 0; }"
    )
    page.wait_for_timeout(500)
    _shot(page, "video")


def test_tta_tab(page, street_jpg):
    _open_tab(page, "TTA")
    _upload(page, "tta_image", street_jpg)
    page.locator("#tta_run").click()
    out = _output_image(page, "tta_tta")
    assert out.std() > 1.0
    page.wait_for_timeout(500)
    _shot(page, "tta")
