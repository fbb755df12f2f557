"""Medical tab: the page's events (what a person sees), wired onto the tab's components.

:func:`wire_page_events` is called by :func:`medseg.app.ui_medical.build_medical_tab` with
the tab's components. The rules it keeps: everything derived from a scan is cleared the
moment the scan (or series) changes; another slice or plane clears a slice result (a
whole-volume mask belongs to the scan and stays); another model or ground truth clears the
result; a failure is one line in the status area (:func:`~medseg.app.widgets.soft`).
Handlers that run next to a long job write no viewer or result state they did not compute
(see ``gt_changed`` and ``window_changed``), so a late answer never brings back a stale view.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from . import medical, summaries, viewer
from .common import as_paths
from .progress import JOBS, Job
from .scans import load_scan, n_slices
from .series import series_files, upload_series
from .widgets import png_files, session_of, soft, status_md

#: the components the events use (attributes of the namespace the layout builds)
NAMES = (
    "state",
    "card",
    "scan_in",
    "series",
    "gt",
    "model",
    "scope",
    "backend",
    "allow",
    "run",
    "stop",
    "opacity",
    "preset",
    "center",
    "width",
    "plane",
    "index",
    "view",
    "status",
    "scan_md",
    "result_md",
    "warn_md",
    "nifti",
    "seg",
    "shown",
    "over",
    "mask",
    "info",
    "summary",
)


def _scan_files(files_in: Any, series_no: str | None) -> Any:
    return series_files(files_in, series_no)


def slider(n: int, idx: int) -> dict[str, Any]:
    """The slice slider for a plane of ``n`` slices (hidden for a single slice)."""
    return gr.Slider(0, max(1, n - 1), value=idx, step=1, interactive=n > 1, visible=n > 1)


def wire_page_events(c: SimpleNamespace) -> None:
    """Attach the page's (private) events to the Medical tab's components ``c``."""
    (state, card, scan_in, series, gt, model, scope, backend, allow, run, stop, opacity, preset,
     center, width, plane, index, view, status, scan_md, result_md, warn_md, nifti, seg, shown,
     over, mask, info, summary) = (getattr(c, n) for n in NAMES)  # fmt: skip

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
            index: slider(n, idx),
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
            out[index] = slider(n, idx)
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
    # preprocess=False: a slice number typed out of range reaches the handler, which corrects
    # it and says so (Gradio's own check would answer with an error on the controls). The
    # upload-folder check of file inputs still applies.
    plane.input(
        lambda *a: slice_changed(*a, "plane"),
        slice_in,
        slice_out,
        api_visibility="private",
        preprocess=False,
    )
    index.input(
        lambda *a: slice_changed(*a, "slice"),
        slice_in,
        slice_out,
        api_visibility="private",
        trigger_mode="always_last",
        preprocess=False,
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
        lambda *a: window_changed(*a, False),
        slice_in,
        window_out,
        api_visibility="private",
        preprocess=False,
    ).then(None, [center, width], None, js=set_window)
    for box in (center, width):
        box.submit(
            lambda *a: window_changed(*a, True),
            slice_in,
            window_out,
            api_visibility="private",
            preprocess=False,
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
        preprocess=False,  # an out-of-range slice is the handler's to report (see above)
    )

    def cancel(request: gr.Request):
        running = JOBS.cancel(f"{session_of(request)}:medical")
        return status_md("Cancelled." if running else "Nothing is running.", "info")

    stop.click(cancel, None, status, cancels=[seg_event], api_visibility="private", queue=False)
