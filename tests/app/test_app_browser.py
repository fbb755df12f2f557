"""The app in a real browser: headless Debian chromium driven by Playwright for Python.

WebGL2 works headless through SwiftShader, so the Medical tab's NiiVue viewer is tested for
what it draws: the canvas must hold the head (non-background pixels) and, after segmenting,
the mask colour inside it; a blank viewer fails. The other tabs upload, run and check the
images that come back. Screenshots of each tab (and a strip of the viewer's layouts) go to
``docs/img/`` (the README shows them) when ``MEDSEG_UPDATE_SCREENSHOTS=1``, else to a
temporary folder, so a plain ``./test.sh`` leaves the tree unchanged.
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
    pytest.mark.timeout(600),
]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_IMG = (
    Path(__file__).resolve().parents[2] / "docs" / "img"
    if os.environ.get("MEDSEG_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "medseg-screenshots"
)
TIMEOUT_MS = 180_000
ITK = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
    yield b
    b.close()


def _new_page(browser, app_url, width=1400, height=1000):
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.set_default_timeout(TIMEOUT_MS)
    outside = []
    pg.on(
        "request",
        lambda r: None if r.url.startswith((app_url, "data:", "blob:")) else outside.append(r.url),
    )
    pg.goto(app_url)
    pg.get_by_role("tab", name="Medical").wait_for()
    pg.outside_requests = outside
    return pg


@pytest.fixture(scope="module")
def page(browser, app_url):
    pg = _new_page(browser, app_url)
    yield pg
    assert pg.outside_requests == []  # no CDN, nothing leaves the app's origin
    pg.close()


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").first.set_input_files(str(path))


def _image_from(page, src: str) -> np.ndarray:
    body = page.request.get(src).body()
    with Image.open(io.BytesIO(body)) as im:
        return np.asarray(im.convert("RGB"))


def _output_image(page, elem_id: str, previous: str | None = None) -> tuple[np.ndarray, str]:
    """Wait for a (new) image in ``#elem_id``, fetch it through the page and decode it."""
    page.wait_for_function(
        "([id, prev]) => { const i = document.querySelector('#' + id + ' img');"
        " return i && i.complete && i.naturalWidth > 0 && i.src !== prev; }",
        arg=[elem_id, previous],
    )
    src = page.locator(f"#{elem_id} img").first.get_attribute("src")
    return _image_from(page, src), src


def _viewer_state(page, state: str) -> None:
    page.wait_for_function(
        "s => document.querySelector('#med_viewer .medseg-nv').dataset.state === s", arg=state
    )
    page.wait_for_timeout(800)  # the next frames are drawn


def _canvas(page) -> np.ndarray:
    png = page.locator("#med_viewer .medseg-nv-canvas").screenshot()
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(np.int16)


def _red(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the mask colour (255, 64, 64) blended over grey: red well above green/blue."""
    return (rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])) > 60


def _shot(page, name: str) -> Path:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMG / f"app_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def _text(page, elem_id: str) -> str:
    """The text of ``#elem_id`` without white space (file names are split into spans)."""
    return "".join(page.locator(f"#{elem_id}").inner_text().split())


def _no_error_badges(page) -> None:
    # Gradio marks the outputs of an event that raised with an "Error" status; page events
    # never raise (failures are a status line), so no control may carry one.
    badges = page.locator("[data-testid='status-tracker'] span.error").filter(visible=True)
    assert badges.count() == 0
    assert page.locator("[data-testid='toast-body'].error").count() == 0  # nor error toasts


# --------------------------------------------------------------------------- medical
def test_medical_viewer_shows_head_and_mask(page):
    _open_tab(page, "Medical")
    page.get_by_text("T1 head MR, DICOM series (.zip) + brain mask").click()
    _viewer_state(page, "scan")
    before = _canvas(page)
    lum = before.mean(axis=2)
    head = lum > 40
    assert head.mean() > 0.05, "the viewer is blank"
    assert _red(before).mean() < 0.001  # no mask colour before segmenting
    label = page.locator("#med_viewer .medseg-nv-label").inner_text()
    assert label.startswith("MR 128×128×62 · #")
    assert page.locator("#med_center input").input_value() != "40"  # the auto window is shown

    page.locator("#med_run").click()
    _viewer_state(page, "mask")
    after = _canvas(page)
    red = _red(after)
    assert red.mean() > 0.01, "no mask colour in the viewer"
    # the mask colour lies inside the head seen before segmenting (same views, same slice)
    assert head[red].mean() > 0.95
    # ... and fills the middle of the head rather than only its edge: where the head is
    # thickest, most pixels are red
    from scipy import ndimage

    core = ndimage.binary_erosion(head, iterations=12)
    assert red[core].mean() > 0.3
    result = page.locator("#med_result").inner_text()
    assert "Brain mask" in result and "Dice vs ground truth" in result
    assert label.split("— ")[0].strip().split("#")[1][:6] in result  # names its scan
    assert "mask.nii.gz" in _text(page, "med_nifti")
    assert "mask_seg.dcm" in _text(page, "med_seg")
    _no_error_badges(page)
    _shot(page, "medical")
    # a strip of the viewer's layouts for the docs
    tiles = []
    for layout in ("multi", "axial", "coronal", "render"):
        page.locator(f"#med_viewer button[data-layout={layout}]").click()
        page.wait_for_timeout(700)
        tiles.append(_canvas(page).astype(np.uint8))
    page.locator("#med_viewer button[data-layout=multi]").click()
    h = min(t.shape[0] for t in tiles)
    strip = np.concatenate([t[:h] for t in tiles], axis=1)
    Image.fromarray(strip).resize((strip.shape[1] // 2, h // 2)).save(
        DOCS_IMG / "app_viewer_strip.png"
    )


def test_new_scan_clears_the_previous_result(page, ct_small):
    """Found: the previous scan's overlay, mask, Dice, download and ground truth stayed next
    to a newly uploaded CT. Everything derived from a scan goes the moment it changes."""
    _open_tab(page, "Medical")
    if page.locator("#med_viewer .medseg-nv").get_attribute("data-state") != "mask":
        # run on its own (pytest-xdist may order it first): segment the example head here
        page.get_by_text("T1 head MR, DICOM series (.zip) + brain mask").click()
        _viewer_state(page, "scan")
        page.locator("#med_run").click()
        _viewer_state(page, "mask")
    assert "Brain mask" in page.locator("#med_result").inner_text()
    _upload(page, "med_files", ct_small)
    page.wait_for_function(
        "() => document.querySelector('#med_viewer .medseg-nv-label').innerText.startsWith('CT')"
    )
    _viewer_state(page, "scan")
    assert page.locator("#med_result").inner_text().strip() == ""
    assert "mask.nii.gz" not in _text(page, "med_nifti")
    assert "mask_seg.dcm" not in _text(page, "med_seg")
    assert "brain_mask" not in _text(page, "med_gt")  # old ground truth
    assert _red(_canvas(page)).mean() < 0.001
    warn = page.locator("#med_warnings").inner_text()
    assert "CT scan into unet_medical" in warn  # said before anyone clicks Segment
    # CT presets are offered for CT (and only then)
    page.locator("#med_window input").click()
    assert page.get_by_role("option", name="brain").count() == 1
    page.keyboard.press("Escape")
    # Segment is refused in plain words, without red badges; "Segment anyway" runs it
    page.locator("#med_run").click()
    page.wait_for_function(
        "() => document.querySelector('#med_status').innerText.includes('a CT scan into')"
    )
    _no_error_badges(page)
    page.locator("#med_allow input").check()
    page.locator("#med_run").click()
    page.wait_for_function(
        "() => document.querySelector('#med_warnings').innerText.includes('mismatch allowed')"
    )
    _no_error_badges(page)


def test_bad_upload_is_a_status_line_and_the_next_load_works(page, bad_files, brain_png):
    _open_tab(page, "Medical")
    _upload(page, "med_files", bad_files["text"])
    page.wait_for_function(
        "() => document.querySelector('#med_status').innerText.includes('unsupported file type')"
    )
    _no_error_badges(page)
    _upload(page, "med_files", brain_png)
    _viewer_state(page, "scan")
    assert page.locator("#med_status").inner_text().strip() == ""
    # a single image has one plane and no slice slider
    assert page.locator("#med_slice").is_hidden()
    planes = page.locator("#tab_medical").get_by_role("radio")
    assert (
        planes.get_by_text("coronal").count() == 0 and planes.get_by_text("sagittal").count() == 0
    )
    _no_error_badges(page)


def test_slice_result_goes_with_its_slice(page):
    """Found: moving to another slice left the old slice's overlay. A slice result goes
    when the slice changes; a whole-volume mask stays (it belongs to the scan)."""
    _open_tab(page, "Medical")
    page.get_by_text("T1 head MR, NIfTI + brain mask").click()
    page.wait_for_function(
        "() => document.querySelector('#med_viewer .medseg-nv-label').innerText.startsWith('NIfTI')"
    )
    _viewer_state(page, "scan")
    tab = page.locator("#tab_medical")
    tab.get_by_role("radio", name="this slice").check()
    page.locator("#med_run").click()
    _viewer_state(page, "mask")
    assert "slice" in page.locator("#med_result").inner_text()
    # the value under the cursor
    box = page.locator("#med_viewer .medseg-nv-canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.3)
    page.wait_for_function(
        "() => /voxel \\d+, \\d+, \\d+ · \\d/.test("
        "document.querySelector('#med_viewer .medseg-nv-readout').innerText)"
    )
    slider = page.locator("#med_slice input[type=range]")
    slider.focus()
    page.keyboard.press("ArrowRight")
    _viewer_state(page, "scan")
    page.wait_for_function("() => document.querySelector('#med_result').innerText.trim() === ''")
    assert "mask.nii.gz" not in _text(page, "med_nifti")
    # a whole-volume result stays on another slice
    tab.get_by_role("radio", name="whole volume").check()
    page.locator("#med_run").click()
    _viewer_state(page, "mask")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(2500)
    assert page.locator("#med_viewer .medseg-nv").get_attribute("data-state") == "mask"
    assert "volume" in page.locator("#med_result").inner_text()
    # a slice number out of range is corrected, and said so
    number = page.locator("#med_slice input[type=number]")
    number.fill("999")
    number.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#med_status').innerText.includes('out of range')"
    )
    assert int(float(number.input_value())) < 999
    _no_error_badges(page)


def test_series_picker_instead_of_a_uid(page, tmp_path, ct_small, mr_small):
    import zipfile

    import pydicom

    z = tmp_path / "two_series.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ct_small, "a/ct.dcm")
        zf.write(mr_small, "b/mr.dcm")
    _open_tab(page, "Medical")
    _upload(page, "med_files", z)
    page.locator("#med_series").wait_for(state="visible")
    _viewer_state(page, "scan")
    first = page.locator("#med_viewer .medseg-nv-label").inner_text()[:2]
    html = page.content()
    for f in (ct_small, mr_small):
        assert pydicom.dcmread(f).SeriesInstanceUID not in html  # no UID on the page
    page.locator("#med_series input").click()
    options = page.get_by_role("option")
    assert options.count() == 2 and "slice" in options.first.inner_text()
    options.nth(1).click()
    page.wait_for_function(
        "f => !document.querySelector('#med_viewer .medseg-nv-label').innerText.startsWith(f)",
        arg=first,
    )
    assert "series found" not in page.locator("#med_status").inner_text()
    _no_error_badges(page)


def test_viewer_fallback_without_webgl(playwright, app_url):
    """Where the browser has no WebGL2, the server-rendered slice view takes over."""
    b = playwright.chromium.launch(
        executable_path=shutil.which("chromium"),
        args=[*CHROMIUM_ARGS, "--disable-webgl", "--disable-3d-apis"],
    )
    try:
        pg = _new_page(b, app_url)
        _viewer_state(pg, "no-webgl2")
        assert pg.locator("#med_slice_view").first.is_visible()
        assert "no WebGL2" in pg.locator("#med_viewer").inner_text()
        pg.get_by_text("T1 head MR, NIfTI + brain mask").click()
        img, _ = _output_image(pg, "med_windowed")
        assert img.std() > 1.0 and img.shape[0] > 16
        pg.locator("#med_run").click()
        over, _ = _output_image(pg, "med_overlay")
        assert over.shape == img.shape
    finally:
        b.close()


# --------------------------------------------------------------------------- street
def test_street_legend_highlight_and_reblend(page, street_jpg, monkeypatch):
    from medseg.app import street

    _open_tab(page, "Street")
    _upload(page, "street_image", street_jpg)
    page.locator("#street_run").click()
    overlay, src = _output_image(page, "street_overlay")
    with Image.open(street_jpg) as im:
        assert overlay.shape[:2] == (im.height, im.width)
    rows = page.locator("#street_legend [data-class]")
    rows.first.wait_for()
    shares = [
        float(t.split("%")[0].replace("<", "").strip())
        for t in page.locator("#street_legend .medseg-legend-share").all_inner_texts()
    ]
    assert shares == sorted(shares, reverse=True) and len(shares) < 19
    assert rows.first.is_visible()  # not hidden under a panel label
    assert not any(ch.isdigit() for ch in rows.first.locator(".medseg-legend-name").inner_text())
    # the default is Automatic, and the line names what it chose (eager here: the suite limits
    # auto's candidates with MEDSEG_AUTO_BACKENDS=torch)
    assert "Automatic → PyTorch" in page.locator("#street_result").inner_text()
    # re-blending never runs the model again
    calls = []
    real = street.get_predictor
    monkeypatch.setattr(street, "get_predictor", lambda *a: calls.append(a) or real(*a))
    rows.first.click()  # highlight the largest class
    hl, src = _output_image(page, "street_overlay", src)
    changed = np.abs(hl.astype(int) - overlay.astype(int)).sum(axis=2) > 0
    assert changed.mean() > 0.3  # the rest of the photo was dimmed
    page.locator("#street_opacity input[type=range]").fill("0.9")
    _output_image(page, "street_overlay", src)
    assert calls == []
    _no_error_badges(page)
    rows.first.click()  # back to all classes, at the usual opacity, for the picture
    src = _output_image(page, "street_overlay", src)[1]
    page.locator("#street_opacity input[type=range]").fill("0.5")
    _output_image(page, "street_overlay", src)
    page.wait_for_timeout(500)
    _shot(page, "street")


# --------------------------------------------------------------------------- video
def test_video_tab_preview_and_process(page, tmp_path):
    import cv2

    vtest = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    if not vtest.is_file():
        pytest.skip("opencv-doc vtest.avi missing")
    _open_tab(page, "Video")
    _upload(page, "video_file", vtest)
    # an AVI is not playable in a browser: it gets a preview it can play, and is told so
    page.wait_for_function(
        "() => document.querySelector('#video_status').innerText.includes('preview')"
    )
    page.wait_for_function(
        "() => { const v = document.querySelector('#video_in video');"
        " return v && v.readyState >= 1 && v.duration > 0; }"
    )
    assert page.get_by_text("Video not playable").count() == 0
    page.locator("#video_max input[type=range]").fill("24")
    page.locator("#video_run").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#video_out video');"
        " return v && v.readyState >= 1 && v.duration > 0; }"
    )
    page.wait_for_function(
        "() => document.querySelector('#video_result').innerText.includes('frames/s')"
    )
    text = page.locator("#video_result").inner_text()
    assert "24 of 795 frames" in text and "Automatic → PyTorch" in text
    assert "the first 24 were processed" in page.locator("#video_warnings").inner_text()
    src = page.locator("#video_out video").first.get_attribute("src")
    out = tmp_path / "out.webm"
    out.write_bytes(page.request.get(src).body())
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 24
    page.wait_for_timeout(500)
    _shot(page, "video")


# --------------------------------------------------------------------------- TTA
def test_tta_tab(page, street_jpg):
    _open_tab(page, "TTA")
    _upload(page, "tta_image", street_jpg)
    page.locator("#tta_run").click()
    out, _ = _output_image(page, "tta_tta")
    with Image.open(street_jpg) as im:
        assert out.shape[:2] == (im.height, im.width)  # at the photo's size
    bar, _ = _output_image(page, "tta_colorbar")
    assert bar.shape[1] > 100 and bar.std() > 10
    assert page.locator("#tta_legend [data-class]").count() > 1
    assert "views" in page.locator("#tta_result").inner_text()
    page.wait_for_timeout(500)
    _shot(page, "tta")


# --------------------------------------------------------------------------- layout
def test_phone_layout_puts_the_image_first_and_keeps_examples_near(browser, app_url):
    pg = _new_page(browser, app_url, width=390, height=844)
    for tab, main, first_control in (
        ("Medical", "#med_viewer", "#med_files"),
        ("Street", "#street_overlay", "#street_image"),
        ("Video", "#video_out", "#video_file"),
        ("TTA", "#tta_plain", "#tta_image"),
    ):
        _open_tab(pg, tab)
        pg.locator(main).first.wait_for()
        top_main = pg.locator(main).first.bounding_box()["y"]
        top_control = pg.locator(first_control).first.bounding_box()["y"]
        assert top_main < top_control, tab
        # the examples are one click away: on the tab, not folded into an accordion
        examples = pg.locator(".gradio-container").get_by_text("Examples", exact=False)
        assert examples.filter(visible=True).count() >= 1, tab
        # nothing wider than the phone's screen
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 1, tab
    pg.close()
