"""Medical tab: the NiiVue volume viewer with its mask, readable summaries, guard rails.

Page flow: an upload (or an example) clears everything derived from the previous scan, then
shows the new one in the viewer with the automatic window (the numbers in Center/Width are
the window in use). Segment runs the chosen scope with a progress bar (Cancel stops it),
puts the mask over the scan in the viewer and writes a short summary that names the scan it
belongs to; the input/model check and other warnings are one line each next to it. Moving
to another slice, plane, model or ground truth clears a slice result (a whole-volume mask
stays: it belongs to the scan). The server-rendered slice view is the fallback where the
browser has no WebGL2.

The API endpoints ``/medical_load``, ``/medical_preview`` and ``/medical_segment`` keep their
inputs and outputs; they hang on invisible buttons so the page's own events can do more.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import examples, medical, summaries, viewer
from .backends import DEFAULT_BACKEND, backend_choices
from .common import as_paths, default_model, model_choices
from .progress import JOBS, Job
from .scans import load_scan, n_slices
from .series import series_files, upload_series
from .ui import api_trigger, guard, png, png_files, session_of, soft, status_md


def _scan_files(files_in: Any, series_no: str | None) -> Any:
    return series_files(files_in, series_no)


def _slider(n: int, idx: int) -> dict[str, Any]:
    return gr.Slider(0, max(1, n - 1), value=idx, step=1, interactive=n > 1, visible=n > 1)


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

    result_outputs = [view, result_md, warn_md, nifti, seg, over, mask, summary]

    def cleared(st: dict | None, keep_whole: bool = False) -> dict:
        """Outputs with the result removed (a whole-volume result stays if ``keep_whole``)."""
        st = dict(st or {})
        res = st.get("result")
        if keep_whole and res is not None and res["whole"]:
            return {state: st}
        st["result"] = None
        out: dict = {c: None for c in (nifti, seg, over, mask, summary)}
        out.update(
            {result_md: "", warn_md: summaries.warning_lines(st.get("notes", [])), state: st}
        )
        if st.get("view"):
            st["view"] = {**st["view"], "mask_path": None, "note": ""}
            out[view] = viewer.viewer_value(**st["view"])
        return out

    def precheck(scan: Any, scan_files: Any, model_name: str, allow_mismatch: bool) -> list[str]:
        try:
            return medical.check_scan(scan, scan_files, model_name, allow_mismatch)
        except medical.ModelMismatch as e:
            return [f"{e} Segment is refused until then."]

    # ------------------------------------------------------------------ page events
    @soft("Loading the scan", status)
    def open_scan(files_in, series_no, model_name, allow_mismatch, opacity_v, st, new_upload):
        blank = {c: None for c in (nifti, seg, over, mask, summary, shown, info)}
        blank.update({view: viewer.EMPTY, result_md: "", warn_md: "", scan_md: ""})
        if not files_in:
            yield {**blank, status: "", state: None, series: gr.Dropdown(visible=False)}
            return
        paths = list(dict.fromkeys(str(p) for p in as_paths(files_in)))
        prev = (st or {}).get("files") or []
        if new_upload and prev and set(prev) < set(paths):
            # Gradio adds an upload to the files already there: a new upload replaces the
            # scan (a series is uploaded as all its files at once, or as a .zip)
            yield {scan_in: [p for p in paths if p not in prev]}
            return
        files_in = paths
        loading = {"files": paths, "result": None}
        yield {**blank, status: status_md("Loading the scan…", "info"), state: loading}
        listing = upload_series(files_in)
        if new_upload:
            series_no = listing[0]["number"] if listing else None
        scan_files = _scan_files(files_in, series_no)
        meta, idx, img = medical.medical_load(scan_files)
        scan = load_scan(scan_files)
        p = meta["plane"]
        n = meta["slices"][p]
        c, w = meta["window"]
        two_d = not medical.is_volume(scan)
        notes = precheck(scan, scan_files, model_name, allow_mismatch)
        st = {
            "files": paths,
            "notes": notes,
            "result": None,
            "view": {
                "scan_path": viewer.scan_nifti(scan.volume),
                "label": meta["scan"],
                "window": (c, w),
                "units": "HU" if meta.get("units") == "HU" else "",
                "opacity": float(opacity_v),
                "crosshair": viewer.focus(p, idx, n),
                "two_d": two_d,
            },
        }
        (img_path,) = png_files(img)
        modality = meta.get("modality") or None
        yield {
            view: viewer.viewer_value(**st["view"]),
            status: "",
            scan_md: summaries.scan_markdown(meta),
            warn_md: summaries.warning_lines(notes),
            info: meta,
            shown: img_path,
            index: _slider(n, idx),
            plane: gr.Radio(
                choices=["axial"] if two_d else list(medical.PLANES), value=p, interactive=not two_d
            ),
            preset: gr.Dropdown(
                choices=medical.window_choices(modality or ("" if two_d else None)),
                value=medical.AUTO_WINDOW,
            ),
            center: round(c, 2),
            width: round(w, 2),
            series: gr.Dropdown(
                choices=[(s["label"], s["number"]) for s in listing],
                value=series_no if len(listing) > 1 else None,
                visible=len(listing) > 1,
            ),
            state: st,
        }

    open_outputs = [
        view, status, scan_md, result_md, warn_md, info, shown, index, plane, preset, center,
        width, series, state, nifti, seg, over, mask, summary,
    ]  # fmt: skip

    def open_upload(files_in, model_name, allow_mismatch, opacity_v, st):
        yield from open_scan(files_in, None, model_name, allow_mismatch, opacity_v, st, True)

    def open_series(files_in, series_no, model_name, allow_mismatch, opacity_v, st):
        yield from open_scan(files_in, series_no, model_name, allow_mismatch, opacity_v, st, False)

    scan_in.change(
        open_upload,
        [scan_in, model, allow, opacity, state],
        [*open_outputs, scan_in],
        api_visibility="private",
    )
    # a new upload (not an example, which brings its own) drops the old ground truth
    scan_in.upload(lambda: None, None, gt, api_visibility="private", queue=False)
    series.input(
        open_series,
        [scan_in, series, model, allow, opacity, state],
        open_outputs,
        api_visibility="private",
    )

    def slice_images(scan, img, plane_v, idx, opacity_v, st) -> dict:
        """The slice view's images; a whole-volume result is drawn on the new slice."""
        res = (st or {}).get("result")
        over_img = mask_img = None
        if res is not None and res["whole"]:
            from ..viz import overlay as overlay_fn
            from ..viz.overlay import colorize
            from .scans import slice_indices

            labels = res["labels"].reshape(-1)[slice_indices(scan, int(idx), plane_v)]
            pal = res["palette"]
            over_img = overlay_fn(img, labels, pal, float(opacity_v), skip_classes=(0, 255))
            mask_img = colorize(labels, pal)
        paths = png_files(img, over_img, mask_img)
        out = {shown: paths[0]}
        if over_img is not None:
            out.update({over: paths[1], mask: paths[2]})
        return out

    @soft("Showing the slice", status)
    def slice_changed(files_in, series_no, plane_v, idx, preset_v, c, w, opacity_v, st, what):
        """Slice or plane changed: move the viewer there; a slice result goes (it belongs to
        the other slice), a whole-volume result stays."""
        if not files_in or not st or not st.get("view"):
            return {status: ""}
        scan_files = _scan_files(files_in, series_no)
        scan = load_scan(scan_files)
        n = n_slices(scan, plane_v)
        out: dict = {status: ""}
        if what == "plane":
            idx = n // 2
            out[index] = _slider(n, idx)
        elif not 0 <= int(idx) < n:
            bad, idx = int(idx), min(max(int(idx), 0), n - 1)
            out[index] = gr.Slider(value=idx)
            out[status] = status_md(
                f"Slice {bad} is out of range: the {plane_v} plane has slices 0–{n - 1}; "
                f"showing slice {idx}.",
                "info",
            )
        img, c, w = medical.medical_preview(scan_files, plane_v, int(idx), preset_v, c, w)
        out.update(cleared(st, keep_whole=True))
        st = dict(out[state])
        st["view"] = {
            **st["view"],
            "window": (c, w),
            "opacity": float(opacity_v),
            "crosshair": viewer.focus(plane_v, int(idx), n),
        }
        out.update(slice_images(scan, img, plane_v, idx, opacity_v, st))
        out.update({view: viewer.viewer_value(**st["view"]), state: st})
        return out

    slice_in = [scan_in, series, plane, index, preset, center, width, opacity, state]
    slice_out = [
        status, index, center, width, shown, view, state, result_md, warn_md, nifti, seg, over,
        mask, summary,
    ]  # fmt: skip
    plane.input(
        lambda *a: slice_changed(*a, "plane"), slice_in, slice_out, api_visibility="private"
    )
    index.input(
        lambda *a: slice_changed(*a, "slice"),
        slice_in,
        slice_out,
        api_visibility="private",
        trigger_mode="always_last",
    )

    @soft("Changing the window", status)
    def window_changed(files_in, series_no, plane_v, idx, preset_v, c, w, opacity_v, st, custom):
        """The window changed: new numbers and slice view; the viewer gets them in the page
        (below), so this writes no viewer or result state that a running job also writes."""
        if not files_in or not st:
            return {status: ""}
        out: dict = {status: ""}
        if custom:
            preset_v = medical.CUSTOM_WINDOW
            out[preset] = gr.Dropdown(value=medical.CUSTOM_WINDOW)
        scan_files = _scan_files(files_in, series_no)
        img, c, w = medical.medical_preview(scan_files, plane_v, int(idx), preset_v, c, w)
        out.update({center: round(c, 2), width: round(w, 2)})
        out.update(slice_images(load_scan(scan_files), img, plane_v, idx, opacity_v, st))
        return out

    window_out = [status, preset, center, width, shown, over, mask]
    set_window = (
        "(c, w) => { if (window.medsegViewer && w > 0) window.medsegViewer.setWindow(c, w); }"
    )
    preset.input(
        lambda *a: window_changed(*a, False), slice_in, window_out, api_visibility="private"
    ).then(None, [center, width], None, js=set_window)
    for box in (center, width):
        box.submit(
            lambda *a: window_changed(*a, True), slice_in, window_out, api_visibility="private"
        ).then(None, [center, width], None, js=set_window)
    # opacity: the viewer re-blends in the page (no round trip)
    opacity.input(
        None,
        [opacity],
        None,
        js="(o) => { if (window.medsegViewer) window.medsegViewer.setOpacity(o); }",
    )

    @soft("Checking the model", status)
    def model_changed(model_name, files_in, series_no, allow_mismatch, st):
        out: dict = {card: medical.model_card(model_name), status: ""}
        st = dict(st or {})
        if files_in and st.get("view"):
            scan_files = _scan_files(files_in, series_no)
            st["notes"] = precheck(load_scan(scan_files), scan_files, model_name, allow_mismatch)
        out.update(cleared(st))
        return out

    # (the "Segment anyway" box has no event: it applies at the next Segment)
    model.input(
        model_changed,
        [model, scan_in, series, allow, state],
        [card, status, state, *result_outputs],
        api_visibility="private",
    )

    @soft("Ground truth", status)
    def gt_changed(st, files_in):
        # A result's Dice belongs to the ground truth it was computed with. When the scan
        # changes at the same time (an example brings both), loading it clears everything:
        # leave it to that, so this handler never writes the previous scan's view back.
        current = list(dict.fromkeys(str(p) for p in as_paths(files_in))) if files_in else []
        if not st or st.get("files") != current:
            return {status: gr.skip()}  # (an empty dict would not count as "no change")
        return cleared(st)

    gt.change(
        gt_changed, [state, scan_in], [status, state, *result_outputs], api_visibility="private"
    )

    @soft("Segmentation", status)
    def segment(
        files_in, series_no, gt_in, plane_v, idx, preset_v, c, w, model_name, scope_v,
        backend_v, allow_mismatch, opacity_v, st, request: gr.Request,
        progress=gr.Progress(),
    ):  # fmt: skip
        if not files_in or not st:
            yield {status: status_md("Upload a scan (or pick an example) first.")}
            return
        first = cleared(st)
        first[status] = status_md("Segmenting…", "info")
        yield first
        st = first[state]
        session = f"{session_of(request)}:medical"
        job = JOBS.start(session, Job(0, "slices", lambda f, d: progress(f, desc=d)))
        try:
            scan_files = _scan_files(files_in, series_no)
            r = medical.medical_segment(
                scan_files, gt_in, plane_v, int(idx), preset_v, c, w, model_name, scope_v,
                backend_v, bool(allow_mismatch), job=job,
            )  # fmt: skip
        finally:
            JOBS.finish(session, job)
        scan = load_scan(scan_files)
        cfg = medical.get_model_cfg(model_name)
        s = r["summary"]
        whole = "foreground_volume_ml" in s
        st = dict(st)
        st["result"] = {
            "whole": whole,
            "labels": r["volume_labels"],
            "palette": tuple(cfg.palette),
        }
        st["view"] = {
            **st["view"],
            "mask_path": r["nifti"],
            "colormap": viewer.label_colormap(cfg.class_names, cfg.palette),
            "opacity": float(opacity_v),
            "crosshair": viewer.focus(plane_v, int(idx), n_slices(scan, plane_v)),
            "window": tuple(s["window"]),
            "note": f"{model_name}, {'whole volume' if whole else f'{plane_v} slice {int(idx)}'}",
        }
        images = png_files(r["windowed"], r["overlay"], r["mask_rgb"])
        yield {
            view: viewer.viewer_value(**st["view"]),
            status: "",
            result_md: summaries.medical_result_markdown(s, cfg.class_names),
            warn_md: summaries.warning_lines(s["warnings"]),
            shown: images[0],
            over: images[1],
            mask: images[2],
            summary: s,
            nifti: r["nifti"],
            seg: r["dicom_seg"],
            state: st,
        }

    seg_event = run.click(
        segment,
        [
            scan_in,
            series,
            gt,
            plane,
            index,
            preset,
            center,
            width,
            model,
            scope,
            backend,
            allow,
            opacity,
            state,
        ],  # fmt: skip
        [status, state, shown, *result_outputs],
        api_visibility="private",
        show_progress_on=[view],
    )

    def cancel(request: gr.Request):
        running = JOBS.cancel(f"{session_of(request)}:medical")
        return status_md("Cancelled." if running else "Nothing is running.", "info")

    stop.click(cancel, None, status, cancels=[seg_event], api_visibility="private", queue=False)

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
