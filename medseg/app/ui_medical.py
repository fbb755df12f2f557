"""Medical tab: the NiiVue volume viewer with its mask, readable summaries, guard rails.

Page flow: an upload (or an example) clears everything derived from the previous scan, then
shows the new one in the viewer with the automatic window (the numbers in Center/Width are
the window in use). Segment runs the chosen scope with a progress bar (Cancel stops it),
puts the mask over the scan in the viewer and writes a short summary that names the scan it
belongs to; the input/model check and other warnings are one line each next to it. Moving
to another slice, plane, model or ground truth clears a slice result (a whole-volume mask
stays: it belongs to the scan). The server-rendered slice view is the fallback where the
browser has no WebGL2.

This module lays the tab out and registers the API endpoints; the page's events are in
:mod:`.ui_medical_events`. The API endpoints ``/medical_load``, ``/medical_preview`` and
``/medical_segment`` keep their inputs and outputs; they hang on invisible buttons so the
page's own events can do more.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from . import examples, medical, viewer
from .backends import DEFAULT_BACKEND, backend_choices
from .common import default_model, model_choices
from .ui_medical_events import wire_page_events
from .widgets import api_trigger, guard, png, png_files


def build_medical_tab() -> None:
    dm = default_model("medical", medical.DEFAULT_MODEL)
    ex = examples.medical_examples()
    state = gr.State(None)
    with gr.Row(elem_classes="medseg-row", equal_height=False):
        with gr.Column(scale=1, min_width=280, elem_classes="medseg-controls"):
            card = gr.Markdown(
                medical.model_card(dm), elem_id="med_card", elem_classes="medseg-card"
            )
            scan_in = gr.File(
                label="Scan: DICOM file(s) or .zip of a series, NIfTI, or a PNG/JPEG slice",
                file_count="multiple",
                elem_id="med_files",
            )
            series = gr.Dropdown(
                label="Series in this upload", choices=[], visible=False, elem_id="med_series"
            )
            gt = gr.File(label="Ground-truth mask (optional, for Dice)", elem_id="med_gt")
            if ex:
                gr.Examples(
                    [[[scan], gt_path] for _, scan, gt_path in ex],
                    inputs=[scan_in, gt],
                    example_labels=[label for label, _, _ in ex],
                    label="Examples (real scans from installed packages)",
                    elem_id="med_examples",
                )
            model = gr.Dropdown(model_choices("medical"), value=dm, label="Model")
            scope = gr.Radio(list(medical.SCOPES), value="whole volume", label="Segment")
            backend = gr.Radio(backend_choices(), value=DEFAULT_BACKEND, label="Back-end")
            allow = gr.Checkbox(
                False,
                label="Segment anyway when the scan is not what the model was trained for",
                elem_id="med_allow",
            )
            with gr.Row():
                run = gr.Button("Segment", variant="primary", elem_id="med_run")
                stop = gr.Button("Cancel", variant="stop", elem_id="med_cancel", size="sm")
            with gr.Accordion("Display", open=True):
                opacity = gr.Slider(
                    0, 1, value=0.5, step=0.05, label="Mask opacity", elem_id="med_opacity"
                )
                preset = gr.Dropdown(
                    medical.window_choices(), value=medical.AUTO_WINDOW, label="Window",
                    elem_id="med_window",
                )  # fmt: skip
                with gr.Row():
                    center = gr.Number(label="Center", value=40, elem_id="med_center")
                    width = gr.Number(label="Width", value=400, elem_id="med_width")
                plane = gr.Radio(list(medical.PLANES), value="axial", label="Plane")
                # The maximum is narrowed per scan on load; API calls are validated against
                # this initial bound, so it must cover any scan.
                index = gr.Slider(
                    0, medical.MAX_SLICE_INDEX, value=0, step=1, label="Slice", elem_id="med_slice"
                )
        with gr.Column(scale=2, min_width=320, elem_classes="medseg-main"):
            view = gr.HTML(
                viewer.EMPTY,
                html_template=viewer.VIEWER_HTML,
                js_on_load=viewer.viewer_js(),
                head=viewer.head_html(),
                elem_id="med_viewer",
            )
            status = gr.Markdown("", elem_id="med_status", elem_classes="medseg-status")
            scan_md = gr.Markdown("", elem_id="med_scan", elem_classes="medseg-summary")
            result_md = gr.Markdown("", elem_id="med_result", elem_classes="medseg-summary")
            warn_md = gr.Markdown("", elem_id="med_warnings", elem_classes="medseg-warnings")
            with gr.Row():
                nifti = gr.File(label="Mask (NIfTI)", elem_id="med_nifti")
                seg = gr.File(label="Mask (DICOM SEG)", elem_id="med_seg")
            with gr.Group(elem_id="med_slice_view"):
                gr.Markdown("Slice view (server-rendered; the viewer above needs WebGL2)")
                with gr.Row():
                    shown = png("Windowed slice", elem_id="med_windowed")
                    over = png("Overlay", elem_id="med_overlay")
                    mask = png("Mask", elem_id="med_mask")
            with gr.Accordion("Full JSON", open=False):
                info = gr.JSON(label="Scan", max_height=300)
                summary = gr.JSON(label="Result", max_height=300)
    # the API's own scope input keeps its historical default ("this slice"); /medical_load
    # returns its slider update into a slider of its own, so that a client's load does not
    # narrow the range its later calls are checked against (the client keeps one session)
    api_scope = gr.Radio(list(medical.SCOPES), value=medical.SCOPES[0], visible=False)
    api_slider = gr.Slider(0, medical.MAX_SLICE_INDEX, value=0, step=1, visible=False)

    wire_page_events(
        SimpleNamespace(
            state=state,
            card=card,
            scan_in=scan_in,
            series=series,
            gt=gt,
            model=model,
            scope=scope,
            backend=backend,
            allow=allow,
            run=run,
            stop=stop,
            opacity=opacity,
            preset=preset,
            center=center,
            width=width,
            plane=plane,
            index=index,
            view=view,
            status=status,
            scan_md=scan_md,
            result_md=result_md,
            warn_md=warn_md,
            nifti=nifti,
            seg=seg,
            shown=shown,
            over=over,
            mask=mask,
            info=info,
            summary=summary,
        )  # fmt: skip
    )

    # ------------------------------------------------------------------ API endpoints
    @guard("Loading the scan")
    def on_load(scan_files):
        if not scan_files:
            return None, gr.Slider(0, medical.MAX_SLICE_INDEX, value=0), None, gr.Radio()
        meta, idx, img = medical.medical_load(scan_files)
        (img,) = png_files(img)
        p = meta["plane"]
        n = meta["slices"][p]
        slider = gr.Slider(0, max(1, n - 1), value=idx, step=1, interactive=n > 1)
        return meta, slider, img, gr.Radio(value=p)

    @guard("Showing the slice")
    def on_preview(
        scan_files, plane="axial", slice_index=0, window=medical.AUTO_WINDOW, center=40, width=400
    ):
        if not scan_files:
            return None, center, width
        img, c, w = medical.medical_preview(scan_files, plane, slice_index, window, center, width)
        (img,) = png_files(img)
        return img, round(c, 2), round(w, 2)

    @guard("Segmentation")
    def on_segment(
        scan_files,
        ground_truth=None,
        plane="axial",
        slice_index=0,
        window=medical.AUTO_WINDOW,
        center=40,
        width=400,
        model=medical.DEFAULT_MODEL,
        scope=medical.SCOPES[0],
        backend=DEFAULT_BACKEND,
        allow_mismatch=False,
    ):
        r = medical.medical_segment(
            scan_files, ground_truth, plane, slice_index, window, center, width, model, scope,
            backend, bool(allow_mismatch),
        )  # fmt: skip
        images = png_files(r["windowed"], r["overlay"], r["mask_rgb"])
        return (*images, r["summary"], r["nifti"], r["dicom_seg"])

    api_trigger().click(
        on_load, [scan_in], [info, api_slider, shown, plane], api_name="medical_load"
    )
    api_trigger().click(
        on_preview,
        [scan_in, plane, index, preset, center, width],
        [shown, center, width],
        api_name="medical_preview",
    )
    api_trigger().click(
        on_segment,
        [scan_in, gt, plane, index, preset, center, width, model, api_scope, backend, allow],
        [shown, over, mask, summary, nifti, seg],
        api_name="medical_segment",
    )
