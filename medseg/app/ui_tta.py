"""TTA tab: with and without test-time augmentation side by side, at the photo's size, with
a legend of the classes present and the uncertainty's colour scale. ``/tta_compare`` keeps
its inputs and outputs."""

from __future__ import annotations

import gradio as gr

from . import examples, summaries, tta
from .backends import DEFAULT_BACKEND, backend_choices
from .common import default_model, model_choices
from .progress import JOBS, Job
from .widgets import api_trigger, guard, png, png_files, session_of, soft, status_md

CARD = (
    "The same photo with and without **test-time augmentation** (3 scales × horizontal flip, "
    "class probabilities averaged). The uncertainty map shows where the views disagree "
    "(entropy, 0 = sure); pixels whose label TTA changed are magenta. Give a label PNG "
    "(class index per pixel, 255 = ignore) to score both."
)


def build_tta_tab() -> None:
    with gr.Row(elem_classes="medseg-row", equal_height=False):
        with gr.Column(scale=1, min_width=280, elem_classes="medseg-controls"):
            gr.Markdown(CARD, elem_classes="medseg-card")
            image = gr.File(label="Image (PNG / JPEG)", elem_id="tta_image")
            gt = gr.File(label="Ground-truth label PNG (optional)", elem_id="tta_gt")
            ex = examples.street_examples()
            if ex:
                gr.Examples([[p] for p in ex], inputs=[image], label="Examples (opencv-doc photos)")
            model = gr.Dropdown(
                model_choices("street") + model_choices("medical"),
                value=default_model("street", tta.DEFAULT_MODEL),
                label="Model",
            )
            backend = gr.Radio(backend_choices(), value=DEFAULT_BACKEND, label="Back-end")
            with gr.Row():
                run = gr.Button("Compare", variant="primary", elem_id="tta_run")
                stop = gr.Button("Cancel", variant="stop", elem_id="tta_cancel", size="sm")
        with gr.Column(scale=2, min_width=320, elem_classes="medseg-main"):
            with gr.Row():
                plain = png("Without TTA", elem_id="tta_plain")
                with_tta = png("With TTA", elem_id="tta_tta")
            status = gr.Markdown("", elem_id="tta_status", elem_classes="medseg-status")
            result_md = gr.Markdown("", elem_id="tta_result", elem_classes="medseg-summary")
            warn_md = gr.Markdown("", elem_id="tta_warnings", elem_classes="medseg-warnings")
            with gr.Row():
                with gr.Column(min_width=200):
                    unc = png("Uncertainty (entropy, 0–1)", elem_id="tta_uncertainty")
                    scale = png(
                        "Colour scale", elem_id="tta_colorbar", show_label=False, buttons=[],
                        container=False, elem_classes="medseg-colorbar",
                    )  # fmt: skip
                changed = png("Changed pixels (magenta)", elem_id="tta_changed")
            gr.Markdown("**Classes present** with TTA (share of the pixels)")
            legend = gr.HTML(summaries.legend_html([]), elem_id="tta_legend", js_on_load=None)
            with gr.Accordion("Full JSON", open=False):
                summary = gr.JSON(label="Latency and scores")

    images = [plain, with_tta, unc, changed]

    @soft("TTA comparison", status)
    def compare(
        image_in, gt_in, model_name, backend_v, request: gr.Request, progress=gr.Progress()
    ):
        yield {**{c: None for c in images}, scale: None, summary: None, result_md: "",
               warn_md: "", legend: summaries.legend_html([]),
               status: status_md("Comparing…", "info")}  # fmt: skip
        session = f"{session_of(request)}:tta"
        job = JOBS.start(session, Job(7, "forward passes", lambda f, d: progress(f, desc=d)))
        try:
            r = tta.tta_compare(image_in, gt_in, model_name, backend_v, job=job)
        finally:
            JOBS.finish(session, job)
        paths = png_files(r["plain"], r["tta"], r["uncertainty"], r["changed"], r["colorbar"])
        yield {
            **dict(zip(images, paths[:4])),
            scale: paths[4],
            status: "",
            result_md: summaries.tta_markdown(r["summary"]),
            warn_md: summaries.warning_lines(r["summary"]["warnings"]),
            legend: summaries.legend_html(r["rows"]),
            summary: r["summary"],
        }

    outputs = [*images, scale, status, result_md, warn_md, legend, summary]
    event = run.click(
        compare, [image, gt, model, backend], outputs, api_visibility="private",
        show_progress_on=[with_tta],
    )  # fmt: skip

    def cancel(request: gr.Request):
        running = JOBS.cancel(f"{session_of(request)}:tta")
        return status_md("Cancelled." if running else "Nothing is running.", "info")

    stop.click(cancel, None, status, api_visibility="private", queue=False, cancels=[event])

    def clear():
        return {**{c: None for c in images}, scale: None, summary: None, result_md: "",
                warn_md: "", legend: summaries.legend_html([]), status: ""}  # fmt: skip

    for trigger in (image.change, gt.change, model.input):
        trigger(clear, None, outputs, api_visibility="private", queue=False)

    # ------------------------------------------------------------------ API endpoint
    @guard("TTA comparison")
    def on_run(image, ground_truth=None, model=tta.DEFAULT_MODEL, backend=DEFAULT_BACKEND):
        r = tta.tta_compare(image, ground_truth, model, backend)
        return (*png_files(r["plain"], r["tta"], r["uncertainty"], r["changed"]), r["summary"])

    api_trigger().click(
        on_run,
        [image, gt, model, backend],
        [plain, with_tta, unc, changed, summary],
        api_name="tta_compare",
    )
