"""The Medical tab's volume viewer: NiiVue in the page, fed NIfTI files the server writes.

NiiVue (``@niivue/niivue``, BSD-2-Clause, WebGL2) is vendored as its UMD build in
``static/niivue/`` with its licence and the notices of what it bundles, and served by the
app itself (``gr.set_static_paths``): no CDN, the app works offline. The page gets the scan
as a NIfTI file written here from the voxel array and affine only (no header text, no
DICOM tags, a neutral file name), and the mask as written by :func:`medseg.io.save_mask_like`.

Plain Python (no gradio): :func:`viewer_value` builds the value of the viewer's ``gr.HTML``;
``static/viewer.js`` (its ``js_on_load``) loads what the value names and re-loads when it
changes. Where the browser has no WebGL2, the script says so and the tab's server-rendered
slice view takes over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .common import temp_dir
from .memo import ObjectCache

STATIC_DIR = Path(__file__).resolve().parent / "static"
NIIVUE_JS = STATIC_DIR / "niivue" / "niivue.umd.js"
VIEWER_JS = STATIC_DIR / "viewer.js"
APP_CSS = STATIC_DIR / "app.css"

#: what the page shows inside the viewer's element (the canvas NiiVue draws on)
VIEWER_HTML = (
    '<div class="medseg-nv" data-state="empty">'
    '<div class="medseg-nv-bar"><span class="medseg-nv-label">No scan loaded: upload one or '
    "pick an example.</span>"
    '<span class="medseg-nv-buttons">'
    '<button type="button" data-layout="multi" title="axial, coronal, sagittal and 3-D">4 views'
    "</button>"
    '<button type="button" data-layout="axial">axial</button>'
    '<button type="button" data-layout="coronal">coronal</button>'
    '<button type="button" data-layout="sagittal">sagittal</button>'
    '<button type="button" data-layout="render">3-D</button></span></div>'
    '<div class="medseg-nv-box"><canvas class="medseg-nv-canvas"></canvas></div>'
    '<div class="medseg-nv-readout" aria-live="polite">&nbsp;</div>'
    "</div>"
)


def static_paths() -> list[str]:
    """Folders the app must serve as static files (the vendored viewer)."""
    return [str(STATIC_DIR)]


def head_html() -> str:
    """``<script>`` tag for the page head: the vendored NiiVue UMD build (sets ``window.niivue``).

    The URL is relative to the page, so the app also works behind a proxy under a sub-path.
    """
    return f'<script src="gradio_api/file={NIIVUE_JS}"></script>'


def viewer_js() -> str:
    """The viewer's ``js_on_load`` code."""
    return VIEWER_JS.read_text(encoding="utf-8")


def app_css() -> str:
    """The app's style sheet (layout, legends, summaries)."""
    return APP_CSS.read_text(encoding="utf-8")


def file_data(path: str | Path | None) -> dict[str, Any] | None:
    """A Gradio ``FileData`` dict: Gradio copies the file into its cache and adds its URL."""
    if path is None:
        return None
    p = Path(path)
    return {"path": str(p), "orig_name": p.name, "meta": {"_type": "gradio.FileData"}}


_SCAN_FILES = ObjectCache(16)


def scan_nifti(volume: Any) -> str:
    """The scan as a compressed NIfTI for the viewer (written once per loaded volume).

    Only the voxels and the affine are written: CT stays in Hounsfield units (the viewer
    shows the value under the cursor), integer data as int16 where it fits, else float32.
    """
    from ..io import save_nifti

    hit = _SCAN_FILES.get(volume)
    if hit is not None and Path(hit).is_file():
        return hit
    a = np.asarray(volume.array)
    if a.ndim == 2:
        a = a[..., None]
    if a.size and np.array_equal(a, np.round(a)) and a.min() >= -32768 and a.max() <= 32767:
        a = a.astype(np.int16)
    else:
        a = a.astype(np.float32)
    path = str(temp_dir("view-") / "scan.nii.gz")
    save_nifti(a, volume.affine, path)
    return _SCAN_FILES.put(volume, path)


def label_colormap(class_names: Any, palette: Any) -> dict[str, Any]:
    """NiiVue label colour map of a model: background transparent, classes in their colours."""
    n = len(class_names)
    pal = [tuple(int(v) for v in palette[i]) for i in range(n)]
    return {
        "R": [c[0] for c in pal],
        "G": [c[1] for c in pal],
        "B": [c[2] for c in pal],
        "A": [0] + [255] * (n - 1),
        "I": list(range(n)),
        "labels": [str(c) for c in class_names],
    }


def focus(plane: str, index: int, n: int) -> dict[str, Any]:
    """Where the viewer's crosshair goes for slice ``index`` of ``n`` in ``plane``.

    NiiVue, like :mod:`medseg.io`, orients volumes to the closest RAS axes, so slice ``k``
    along canonical axis ``a`` is at the fraction ``(k + 0.5) / n`` of that axis.
    """
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    return {"axis": axis, "frac": (int(index) + 0.5) / max(1, int(n)), "plane": plane}


def viewer_value(
    *,
    scan_path: str | None,
    label: str = "",
    window: tuple[float, float] | None = None,
    units: str = "",
    mask_path: str | None = None,
    colormap: dict[str, Any] | None = None,
    opacity: float = 0.5,
    crosshair: dict[str, Any] | None = None,
    two_d: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """The viewer's value: what to show. ``scan_path=None`` empties the viewer.

    Args:
        scan_path: NIfTI of the scan (:func:`scan_nifti`).
        label: PHI-free name of the scan shown above the views (modality, size, tag).
        window: ``(center, width)`` of the display, in the scan's units.
        units: ``"HU"`` for CT (shown with the value under the cursor), else ``""``.
        mask_path: NIfTI of the mask (same grid), or ``None``.
        colormap: :func:`label_colormap` of the model.
        opacity: mask opacity in [0, 1].
        crosshair: :func:`focus` of the slice to show.
        two_d: a single slice: show one 2-D view instead of four.
        note: what the mask is (model, scope), shown with the label.
    """
    c, w = window if window is not None else (None, None)
    return {
        "scan": file_data(scan_path),
        "mask": file_data(mask_path),
        "label": label,
        "note": note,
        "window": None if c is None else [float(c) - float(w) / 2, float(c) + float(w) / 2],
        "units": units,
        "colormap": colormap,
        "opacity": float(opacity),
        "crosshair": crosshair,
        "two_d": bool(two_d),
    }


EMPTY = viewer_value(scan_path=None)
