"""OHIF displays medseg's SEG over its series: real Orthanc, real viewer, headless Chromium.

The whole ch2 head is written as an MR series with an odd number of columns (181, the size
where a BINARY SEG did not display), segmented with ``medseg predict --dicomweb --store``,
and opened in OHIF (``@ohif/app``, fetched by scripts/setup.sh) served by Orthanc on the
same origin as DICOMweb. The test proves the overlay is drawn: pixels of the segment's
colour at the segment's centre and over a large area, none with the segmentation hidden.
``MEDSEG_UPDATE_SCREENSHOTS=1`` refreshes ``docs/img/ohif_seg.png`` for the README.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from pacs_helpers import REPO, fetch_segs, require_orthanc, study_uid_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--no-first-run",
]
SHOT = (
    REPO / "docs" / "img" / "ohif_seg.png"
    if os.environ.get("MEDSEG_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "medseg-screenshots" / "ohif_seg.png"
)

# Everything below runs in the page: OHIF exposes its services and cornerstone on window.
JS_READY = """() => {
  const cs = window.cornerstone, svc = window.services;
  if (!cs || !svc) return false;
  const els = cs.getEnabledElements();
  if (!els.length || !els[0].viewport.getCurrentImageId()) return false;
  const segs = svc.segmentationService.getSegmentations();
  return segs.length > 0 && Object.keys(segs[0].segments || {}).length > 0;
}"""
JS_MIDDLE = """() => {
  const vp = window.cornerstone.getEnabledElements()[0].viewport;
  const n = vp.getImageIds().length;
  vp.setImageIdIndex(Math.floor(n / 2));
  vp.render();
  return n;
}"""
JS_STATE = """() => {
  const vp = window.cornerstone.getEnabledElements()[0].viewport;
  const seg = window.services.segmentationService.getSegmentations()[0];
  const seg1 = seg.segments[1];
  const color = window.cornerstoneTools.segmentation.config.color.getSegmentIndexColor(
      vp.id, seg.segmentationId, 1);
  const canvas = vp.getCanvas().getBoundingClientRect();
  // The segment's centre (over the volume) projected onto the slice on screen.
  let centre = seg1.cachedStats && seg1.cachedStats.center ? seg1.cachedStats.center.world : null;
  if (centre) {
    const cam = vp.getCamera(), n = cam.viewPlaneNormal, f = cam.focalPoint;
    const d = (centre[0] - f[0]) * n[0] + (centre[1] - f[1]) * n[1] + (centre[2] - f[2]) * n[2];
    centre = [centre[0] - d * n[0], centre[1] - d * n[1], centre[2] - d * n[2]];
  }
  return {viewportId: vp.id, segmentationId: seg.segmentationId, label: seg1.label,
          color: Array.from(color), index: vp.getCurrentImageIdIndex(), n: vp.getImageIds().length,
          canvas: [canvas.x, canvas.y, canvas.width, canvas.height],
          centreCanvas: centre ? vp.worldToCanvas(centre) : null};
}"""
JS_TOGGLE = """(s) => {
  window.services.segmentationService.toggleSegmentationRepresentationVisibility(
      s.viewportId, {segmentationId: s.segmentationId, type: 'Labelmap'});
  window.cornerstone.getEnabledElements()[0].viewport.render();
}"""


def _segment_pixels(png: bytes, box, color) -> tuple[np.ndarray, np.ndarray]:
    """Mask of pixels tinted with ``color`` inside ``box`` (x, y, w, h), and the RGB crop.

    A segment pixel is the grey image blended with the colour, so its chroma (pixel minus
    its smallest channel) points the way the colour's does; grey pixels have none.
    """
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float32)
    x, y, w, h = (int(round(v)) for v in box)
    crop = rgb[y : y + h, x : x + w]
    chroma = crop - crop.min(axis=2, keepdims=True)
    c = np.asarray(color[:3], np.float32)
    c = c - c.min()
    c /= np.linalg.norm(c)
    norm = np.linalg.norm(chroma, axis=2)
    cos = (chroma @ c) / np.maximum(norm, 1e-6)
    return (norm > 15) & (cos > 0.95), crop


@pytest.fixture(scope="module")
def page_factory():
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)

        def make():
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            # OHIF's onboarding tour would cover the viewport.
            ctx.add_init_script("localStorage.setItem('shownTours', '[\"basicViewerTour\"]')")
            return ctx.new_page()

        yield make
        browser.close()


def test_ohif_draws_the_seg_over_its_series(
    orthanc_factory, head_series_upright, page_factory, tmp_path, capsys
):
    from medseg.cli import main
    from medseg.pacs.ohif import OHIF_VERSION, find_dist, prepare_site, viewer_url

    require_orthanc()
    dist = find_dist()
    if dist is None:
        pytest.skip(f"@ohif/app {OHIF_VERSION} is not in .cache/ohif (scripts/setup.sh fetches it)")
    site_root = tmp_path if "." not in str(tmp_path.resolve()) else Path(tempfile.mkdtemp())
    site = prepare_site(dist, site_root / "ohif_site")
    pacs = orthanc_factory(ohif_dir=site)
    pacs.upload(sorted(head_series_upright.glob("*.dcm")))
    study = study_uid_of(head_series_upright)
    out = tmp_path / "out"
    args = ["predict", "--dicomweb", pacs.dicomweb, "--study", study, "-o", str(out)]
    assert main([*args, "--format", "seg", "--store", "--quiet"]) == 0
    (seg,) = fetch_segs(pacs.dicomweb, study)
    assert int(seg.Columns) % 2 == 1 and int(seg.Columns) % 8 != 0

    page = page_factory()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "egmentation" in m.text and m.type == "error" else None,
    )
    page.goto(viewer_url(pacs.url, study, str(seg.SeriesInstanceUID)))
    page.wait_for_function(JS_READY, timeout=180_000)
    assert page.evaluate(JS_MIDDLE) == 181
    page.wait_for_timeout(2500)
    state = page.evaluate(JS_STATE)
    assert state["label"] == "brain" and state["index"] == 90

    visible, crop = _segment_pixels(page.screenshot(), state["canvas"], state["color"])
    page.evaluate(JS_TOGGLE, state)
    page.wait_for_timeout(1500)
    hidden, crop_hidden = _segment_pixels(page.screenshot(), state["canvas"], state["color"])
    page.evaluate(JS_TOGGLE, state)  # back on for the screenshot
    page.wait_for_timeout(1500)

    # The brain of this slice covers a large part of the viewport; hidden, nothing is tinted.
    frac = visible.mean()
    assert frac > 0.08, f"only {frac:.1%} of the viewport shows the segment colour"
    assert hidden.mean() < 0.001
    # At the segment's centre the image is tinted, and the same pixel is grey when hidden.
    cx, cy = (int(round(v)) for v in state["centreCanvas"])
    assert visible[cy - 2 : cy + 3, cx - 2 : cx + 3].all()
    assert not hidden[cy - 2 : cy + 3, cx - 2 : cx + 3].any()
    # The overlay lies inside the head: nothing tinted near the viewport's border.
    assert not visible[:20].any() and not visible[-20:].any()
    assert crop_hidden.std() > 10  # the MR image itself is there
    assert errors == []

    # For the picture: the segmentation panel (segment label, visibility) beside the image.
    panel = page.locator('[data-cy="panelSegmentation-btn"]')
    if panel.count():
        panel.first.click()
        page.wait_for_timeout(2500)
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT))
    with capsys.disabled():
        print(f"\nOHIF: {frac:.1%} of the viewport tinted by the SEG; screenshot {SHOT}")
