"""Video tab: upload, preview, process with a progress bar; Cancel keeps the video so far.

The upload is a file box and the preview a separate player: a browser never gets a file it
cannot play (an AVI in Gradio's video input shows "Video not playable"), it gets a VP8
preview instead. ``/video_process`` keeps its inputs and outputs (a video input of its own).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import examples, street, summaries, video
from .backends import DEFAULT_BACKEND, backend_choices
from .common import default_model, model_choices
from .progress import JOBS, Job
from .widgets import api_trigger, guard, session_of, soft, status_md


def build_video_tab() -> None:
    dm = default_model("street", video.DEFAULT_MODEL)
    with gr.Row(elem_classes="medseg-row", equal_height=False):
        with gr.Column(scale=1, min_width=280, elem_classes="medseg-controls"):
            card = gr.Markdown(
                street.model_card(dm) + f" At most {video.MAX_FRAMES} frames per request; the "
                "result is a VP8 `.webm` with the overlay.",
                elem_classes="medseg-card",
            )
            vid = gr.File(
                label="Video (WebM, MP4, AVI, MOV, MKV)",
                file_types=list(video.VIDEO_EXTS),
                elem_id="video_file",
            )
            preview = gr.Video(label="Preview", interactive=False, elem_id="video_in", format=None)
            ex = examples.video_examples()
            if ex:
                gr.Examples(
                    [[p] for p in ex],
                    inputs=[vid],
                    example_labels=[Path(p).name for p in ex],
                    label="Examples (a pan across leuvenA.jpg; OpenCV's vtest.avi)",
                )
            model = gr.Dropdown(model_choices("street"), value=dm, label="Model")
            backend = gr.Radio(backend_choices(), value=DEFAULT_BACKEND, label="Back-end")
            max_frames = gr.Slider(
                1, video.MAX_FRAMES, value=120, step=1, label="Max frames", elem_id="video_max"
            )
            with gr.Row():
                run = gr.Button("Process video", variant="primary", elem_id="video_run")
                stop = gr.Button("Cancel", variant="stop", elem_id="video_cancel", size="sm")
        with gr.Column(scale=2, min_width=320, elem_classes="medseg-main"):
            out = gr.Video(label="Segmented video", format="webm", elem_id="video_out")
            status = gr.Markdown("", elem_id="video_status", elem_classes="medseg-status")
            result_md = gr.Markdown("", elem_id="video_result", elem_classes="medseg-summary")
            warn_md = gr.Markdown("", elem_id="video_warnings", elem_classes="medseg-warnings")
            with gr.Accordion("Full JSON", open=False):
                summary = gr.JSON(label="Summary (FPS measured)")

    @soft("Reading the video", status)
    def uploaded(path):
        """Clear the old result; show the upload, or a preview the browser can play."""
        out_clear = {out: None, result_md: "", warn_md: "", summary: None, status: ""}
        if not path:
            return {**out_clear, preview: None}
        if not video.needs_preview(path):
            return {**out_clear, preview: path}
        return {
            **out_clear,
            preview: video.browser_preview(path),
            status: status_md(
                f"Your browser cannot play this file: shown is a small preview of its first "
                f"{video.PREVIEW_FRAMES} frames; the original is what gets processed.",
                "info",
            ),
        }

    vid.change(
        uploaded, [vid], [preview, out, result_md, warn_md, summary, status],
        api_visibility="private",
    )  # fmt: skip

    @soft("Video processing", status)
    def process(src, model_name, backend_v, n_max, request: gr.Request, progress=gr.Progress()):
        if not src:
            yield {status: status_md("Upload a video (or pick an example) first.")}
            return
        yield {out: None, result_md: "", warn_md: "", summary: None,
               status: status_md("Processing…", "info")}  # fmt: skip
        session = f"{session_of(request)}:video"
        job = JOBS.start(session, Job(1, "frames"))
        try:
            path_out, info = video.video_process(
                src, model_name, backend_v, n_max,
                progress=lambda f, m: progress(f, desc=m), stop_event=job.stop_event,
            )  # fmt: skip
        finally:
            JOBS.finish(session, job)
        yield {
            out: path_out,
            status: "",
            result_md: summaries.video_markdown(info),
            warn_md: summaries.warning_lines(info["warnings"]),
            summary: info,
        }

    run.click(
        process,
        [vid, model, backend, max_frames],
        [out, status, result_md, warn_md, summary],
        api_visibility="private",
        show_progress_on=[out],
    )

    def cancel(request: gr.Request):
        running = JOBS.cancel(f"{session_of(request)}:video")
        return status_md(
            "Stopping after the current frames…" if running else "Nothing is running.", "info"
        )

    stop.click(cancel, None, status, api_visibility="private", queue=False)
    model.input(
        lambda m: street.model_card(m) + f" At most {video.MAX_FRAMES} frames per request.",
        [model], [card], api_visibility="private", queue=False,
    )  # fmt: skip

    # ------------------------------------------------------------------ API endpoint
    @guard("Video processing")
    def on_run(
        video_file,
        model=video.DEFAULT_MODEL,
        backend=DEFAULT_BACKEND,
        max_frames=120,
        progress=gr.Progress(),
    ):
        return video.video_process(
            video_file, model, backend, max_frames, progress=lambda f, m: progress(f, desc=m)
        )

    api_video = gr.Video(visible=False)  # the API's input keeps its type (a video)
    api_trigger().click(
        on_run, [api_video, model, backend, max_frames], [out, summary], api_name="video_process"
    )
