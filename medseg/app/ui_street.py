"""Street tab: overlay, a legend of the classes present (click one to highlight it), and a
short summary. Opacity and highlight re-blend the cached prediction; only Segment runs the
model. The API endpoint ``/street_segment`` keeps its inputs and outputs."""

from __future__ import annotations

import gradio as gr

from . import examples, street, summaries
from .backends import DEFAULT_BACKEND, backend_choices
from .common import default_model, model_choices
from .widgets import api_trigger, guard, png, png_files, soft

#: legend clicks: the row's class id travels as event data
LEGEND_JS = """
element.addEventListener('click', (e) => {
  const row = e.target.closest('[data-class]');
  if (row) trigger('click', {class_id: Number(row.dataset.class)});
});
"""


def build_street_tab() -> None:
    dm = default_model("street", street.DEFAULT_MODEL)
    state = gr.State(None)
    with gr.Row(elem_classes="medseg-row", equal_height=False):
        with gr.Column(scale=1, min_width=280, elem_classes="medseg-controls"):
            card = gr.Markdown(street.model_card(dm), elem_classes="medseg-card")
            # A File, not an Image: Gradio's Image input decodes uploads before our checks
            # and answers a wrong file type with an opaque error.
            image = gr.File(label="Photo (PNG / JPEG)", elem_id="street_image")
            ex = examples.street_examples()
            if ex:
                gr.Examples([[p] for p in ex], inputs=[image], label="Examples (opencv-doc photos)")
            model = gr.Dropdown(model_choices("street"), value=dm, label="Model")
            backend = gr.Radio(backend_choices(), value=DEFAULT_BACKEND, label="Back-end")
            alpha = gr.Slider(
                0, 1, value=0.5, step=0.05, label="Overlay opacity", elem_id="street_opacity"
            )
            run = gr.Button("Segment", variant="primary", elem_id="street_run")
        with gr.Column(scale=2, min_width=320, elem_classes="medseg-main"):
            over = png("Overlay", elem_id="street_overlay")
            status = gr.Markdown("", elem_id="street_status", elem_classes="medseg-status")
            result_md = gr.Markdown("", elem_id="street_result", elem_classes="medseg-summary")
            warn_md = gr.Markdown("", elem_id="street_warnings", elem_classes="medseg-warnings")
            gr.Markdown("**Classes present** (share of the pixels; click one to highlight it)")
            legend = gr.HTML(
                summaries.legend_html([]), js_on_load=LEGEND_JS, elem_id="street_legend"
            )
            with gr.Accordion("Full JSON", open=False):
                leg_img = png("Legend (image)", elem_id="street_legend_img")
                shares = gr.JSON(label="Pixel share per class (%)")
                info = gr.JSON(label="Inference")

    cleared = {over: None, result_md: "", warn_md: "", legend: summaries.legend_html([]),
               leg_img: None, shares: None, info: None, state: None}  # fmt: skip

    @soft("Street segmentation", status)
    def segment(image_in, model_name, backend_v, opacity):
        r = street.street_segment(image_in, model_name, backend_v, opacity)
        (path,) = png_files(r["overlay"])
        return {
            over: path,
            status: "",
            result_md: summaries.street_result_markdown(r["info"]),
            warn_md: summaries.warning_lines(r["info"]["warnings"]),
            legend: summaries.legend_html(r["rows"], clickable=True),
            leg_img: png_files(r["legend"])[0],
            shares: r["shares"],
            info: r["info"],
            state: {
                "rgb": r["rgb"],
                "labels": r["labels"],
                "model": model_name,
                "rows": r["rows"],
                "highlight": None,
            },  # fmt: skip
        }

    outputs = [over, status, result_md, warn_md, legend, leg_img, shares, info, state]
    run.click(segment, [image, model, backend, alpha], outputs, api_visibility="private")

    def reblend(st: dict | None, opacity: float, highlight: int | None) -> dict:
        if not st:
            return {status: ""}
        cfg = street.get_model_cfg(st["model"])
        img = street.blend(st["rgb"], st["labels"], cfg.palette, float(opacity), highlight)
        (path,) = png_files(img)
        st = {**st, "highlight": highlight}
        return {
            over: path,
            status: "",
            legend: summaries.legend_html(st["rows"], clickable=True, selected=highlight),
            state: st,
        }

    @soft("Re-blending", status)
    def opacity_changed(st, opacity):
        return reblend(st, opacity, (st or {}).get("highlight"))

    @soft("Highlighting", status)
    def class_clicked(st, opacity, evt: gr.EventData):
        k = int(evt.class_id)
        return reblend(st, opacity, None if (st or {}).get("highlight") == k else k)

    # the opacity slider and the legend re-blend the labels already computed
    alpha.input(
        opacity_changed, [state, alpha], [over, status, legend, state],
        api_visibility="private", trigger_mode="always_last",
    )  # fmt: skip
    legend.click(
        class_clicked, [state, alpha], [over, status, legend, state], api_visibility="private"
    )

    def clear(model_name):
        return {**cleared, card: street.model_card(model_name), status: ""}

    image.change(clear, [model], [*outputs, card], api_visibility="private", queue=False)
    model.input(clear, [model], [*outputs, card], api_visibility="private", queue=False)

    # ------------------------------------------------------------------ API endpoint
    @guard("Street segmentation")
    def on_run(image, model=street.DEFAULT_MODEL, backend=DEFAULT_BACKEND, opacity=0.5):
        r = street.street_segment(image, model, backend, opacity)
        return (*png_files(r["overlay"], r["legend"]), r["shares"], r["info"])

    api_trigger().click(
        on_run, [image, model, backend, alpha], [over, leg_img, shares, info],
        api_name="street_segment",
    )  # fmt: skip
