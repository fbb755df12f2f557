"""Gradio wiring: one ``build_*_tab`` function per tab, each inside an open ``gr.Blocks``.

Every event has an ``api_name`` (the stable, scriptable endpoints listed in docs/app.md).
Handlers are the plain processing functions wrapped by :func:`guard`, which turns user
errors into ``gr.Error`` messages and any unexpected failure into a short message (the
traceback goes to the server log only), so the app stays up.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np

from . import examples, medical, street, tta, video
from .common import BACKENDS, AppError, default_model, model_choices, temp_dir

log = logging.getLogger("medseg.app")


def _user_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [AppError]
    try:
        from ..io import MedsegIOError

        errs.append(MedsegIOError)
    except ImportError:
        pass
    return tuple(errs)


def _to_gr_error(e: BaseException, what: str) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, _user_errors()):
        return gr.Error(str(e), print_exception=False)
    if isinstance(e, MemoryError):
        return gr.Error(f"{what}: out of memory; try a smaller input", print_exception=False)
    log.exception("%s failed", what)
    return gr.Error(
        f"{what} failed unexpectedly ({type(e).__name__}). The server is still running; "
        "check the input and try again.",
        print_exception=False,
    )


def guard(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: run a handler, re-raising every failure as a clean ``gr.Error``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen(*args: Any, **kwargs: Any):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as e:
                    raise _to_gr_error(e, what) from None

            return gen

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                raise _to_gr_error(e, what) from None

        return wrapper

    return deco


def _png(label: str, **kw: Any) -> gr.Image:
    # Masks and overlays must stay lossless (Gradio's default output format is WebP).
    return gr.Image(label=label, format="png", type="filepath", interactive=False, **kw)


def _files(*arrays: np.ndarray | None) -> list[str | None]:
    """Write output images as PNG files in a fresh request folder and return their paths.

    Returning paths rather than arrays matters under load: Gradio caches arrays under a
    content hash and rewrites that file in place, so two concurrent requests with identical
    outputs could serve a half-written image; files are copied into its cache atomically.
    """
    from PIL import Image

    out_dir = temp_dir("out-")
    paths: list[str | None] = []
    for i, a in enumerate(arrays):
        if a is None:
            paths.append(None)
            continue
        p = out_dir / f"image{i}.png"
        Image.fromarray(np.ascontiguousarray(a)).save(p, compress_level=3)
        paths.append(str(p))
    return paths


# --------------------------------------------------------------------------- medical
def build_medical_tab() -> None:
    ex = examples.medical_examples()
    gr.Markdown(
        "Upload a **DICOM** file, several files of one series or a **.zip** of it, a "
        "**NIfTI** volume, or a **PNG/JPEG** slice. Optional ground truth for Dice: a DICOM "
        "SEG of the series, or a mask with the scan's geometry (non-zero = foreground). "
        "Nothing identifying the patient is shown; only modality, shape and spacing."
    )
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(label="Scan", file_count="multiple", elem_id="med_files")
            gt = gr.File(label="Ground-truth mask (optional)", elem_id="med_gt")
            plane = gr.Radio(list(medical.PLANES), value="axial", label="Plane")
            # The maximum is narrowed per scan on load; API calls are validated against this
            # initial bound, so it must cover any scan.
            index = gr.Slider(
                0, medical.MAX_SLICE_INDEX, value=0, step=1, label="Slice", elem_id="med_slice"
            )
            preset = gr.Dropdown(
                medical.window_choices(), value=medical.AUTO_WINDOW, label="Window"
            )
            with gr.Row():
                center = gr.Number(label="Center", value=40)
                width = gr.Number(label="Width", value=400)
            model = gr.Dropdown(
                model_choices("medical"),
                value=default_model("medical", medical.DEFAULT_MODEL),
                label="Model",
            )
            scope = gr.Radio(list(medical.SCOPES), value=medical.SCOPES[0], label="Segment")
            backend = gr.Radio(list(BACKENDS), value=medical.DEFAULT_BACKEND, label="Backend")
            run = gr.Button("Segment", variant="primary", elem_id="med_run")
        with gr.Column(scale=2):
            info = gr.JSON(label="Scan", max_height=240)
            with gr.Row():
                shown = _png("Windowed slice", elem_id="med_windowed")
                over = _png("Overlay", elem_id="med_overlay")
                mask = _png("Mask", elem_id="med_mask")
            summary = gr.JSON(label="Result", max_height=300)
            with gr.Row():
                nifti = gr.File(label="Mask (NIfTI)")
                seg = gr.File(label="Mask (DICOM SEG)")
    if ex:
        gr.Examples(
            [[[scan], gt_path] for _, scan, gt_path in ex],
            inputs=[files, gt],
            example_labels=[label for label, _, _ in ex],
            label="Examples (real files from installed packages)",
        )

    @guard("Loading the scan")
    def on_load(scan_files, plane=None):
        if not scan_files:
            return None, gr.Slider(0, medical.MAX_SLICE_INDEX, value=0), None, gr.Radio()
        meta, idx, img = medical.medical_load(scan_files, plane)
        (img,) = _files(img)
        plane = meta["plane"]
        n = meta["slices"][plane]
        slider = gr.Slider(0, max(1, n - 1), value=idx, step=1, interactive=n > 1)
        return meta, slider, img, gr.Radio(value=plane)

    def on_files(scan_files):
        return on_load(scan_files, None)

    @guard("Showing the slice")
    def on_preview(
        scan_files, plane="axial", slice_index=0, window=medical.AUTO_WINDOW, center=40, width=400
    ):
        if not scan_files:
            return None, center, width
        img, c, w = medical.medical_preview(scan_files, plane, slice_index, window, center, width)
        (img,) = _files(img)
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
        backend=medical.DEFAULT_BACKEND,
    ):
        r = medical.medical_segment(
            scan_files, ground_truth, plane, slice_index, window, center, width, model, scope,
            backend,
        )  # fmt: skip
        images = _files(r["windowed"], r["overlay"], r["mask_rgb"])
        return (*images, r["summary"], r["nifti"], r["dicom_seg"])

    load_out = [info, index, shown, plane]
    files.change(on_files, [files], load_out, api_name="medical_load")
    plane.input(on_load, [files, plane], load_out, api_name=False)

    @guard("Showing the slice")
    def on_custom(scan_files, plane, slice_index, center, width):
        # typing a center or width switches the window to "custom"
        img, c, w = on_preview(scan_files, plane, slice_index, medical.CUSTOM_WINDOW, center, width)
        return img, gr.Dropdown(value=medical.CUSTOM_WINDOW)

    preview_in = [files, plane, index, preset, center, width]
    preview_out = [shown, center, width]
    # always_last: while the slider is dragged only the latest position is rendered
    index.input(
        on_preview, preview_in, preview_out, api_name="medical_preview", trigger_mode="always_last"
    )
    preset.input(on_preview, preview_in, preview_out, api_name=False)
    for box in (center, width):
        box.submit(on_custom, [files, plane, index, center, width], [shown, preset], api_name=False)
    run.click(
        on_segment,
        [files, gt, plane, index, preset, center, width, model, scope, backend],
        [shown, over, mask, summary, nifti, seg],
        api_name="medical_segment",
    )


# --------------------------------------------------------------------------- street
def build_street_tab() -> None:
    gr.Markdown(
        "Upload a street photo. Models without shipped weights are marked *untrained*. "
        "Overlay colours follow the Cityscapes palette."
    )
    with gr.Row():
        with gr.Column(scale=1):
            # A File, not an Image: Gradio's Image input decodes uploads before our checks
            # and answers a wrong file type with an opaque error.
            image = gr.File(label="Photo (PNG / JPEG)", elem_id="street_image")
            model = gr.Dropdown(
                model_choices("street"),
                value=default_model("street", street.DEFAULT_MODEL),
                label="Model",
            )
            backend = gr.Radio(list(BACKENDS), value="PyTorch", label="Backend")
            alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Overlay opacity")
            run = gr.Button("Segment", variant="primary", elem_id="street_run")
        with gr.Column(scale=2):
            over = _png("Overlay", elem_id="street_overlay")
            with gr.Row():
                leg = _png("Legend (classes present)")
                shares = gr.JSON(label="Pixel share per class (%)")
            info = gr.JSON(label="Inference")
    ex = examples.street_examples()
    if ex:
        gr.Examples([[p] for p in ex], inputs=[image], label="Examples (opencv-doc photos)")

    @guard("Street segmentation")
    def on_run(image, model=street.DEFAULT_MODEL, backend="PyTorch", opacity=0.5):
        r = street.street_segment(image, model, backend, opacity)
        return (*_files(r["overlay"], r["legend"]), r["shares"], r["info"])

    run.click(
        on_run, [image, model, backend, alpha], [over, leg, shares, info], api_name="street_segment"
    )


# --------------------------------------------------------------------------- video
def build_video_tab() -> None:
    gr.Markdown(
        "Upload a short street video. It runs through the driving pipeline and comes back "
        f"as a VP8 `.webm` with the overlay (at most {video.MAX_FRAMES} frames)."
    )
    with gr.Row():
        with gr.Column(scale=1):
            vid = gr.Video(label="Video", sources=["upload"], elem_id="video_in")
            model = gr.Dropdown(
                model_choices("street"),
                value=default_model("street", video.DEFAULT_MODEL),
                label="Model",
            )
            backend = gr.Radio(list(BACKENDS), value="PyTorch", label="Backend")
            max_frames = gr.Slider(1, video.MAX_FRAMES, value=120, step=1, label="Max frames")
            run = gr.Button("Process video", variant="primary", elem_id="video_run")
        with gr.Column(scale=2):
            out = gr.Video(label="Segmented video", format="webm", elem_id="video_out")
            summary = gr.JSON(label="Summary (FPS measured)")
    ex = examples.video_example()
    if ex:
        gr.Examples([[ex]], inputs=[vid], label="Example (a pan across leuvenA.jpg)")

    @guard("Video processing")
    def on_run(
        video_file,
        model=video.DEFAULT_MODEL,
        backend="PyTorch",
        max_frames=120,
        progress=gr.Progress(),
    ):
        def cb(frac: float, msg: str) -> None:
            progress(frac, desc=msg)

        path, info = video.video_process(video_file, model, backend, max_frames, progress=cb)
        return path, info

    run.click(on_run, [vid, model, backend, max_frames], [out, summary], api_name="video_process")


# --------------------------------------------------------------------------- TTA
def build_tta_tab() -> None:
    gr.Markdown(
        "The same image with and without test-time augmentation (flips × scales, "
        "probabilities averaged). Pixels whose label changed are shown in magenta. "
        "Give a label PNG (class index per pixel, 255 = ignore) to get mIoU / Dice of each."
    )
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.File(label="Image (PNG / JPEG)", elem_id="tta_image")
            gt = gr.File(label="Ground-truth label PNG (optional)")
            model = gr.Dropdown(
                model_choices("street") + model_choices("medical"),
                value=default_model("street", tta.DEFAULT_MODEL),
                label="Model",
            )
            backend = gr.Radio(list(BACKENDS), value="PyTorch", label="Backend")
            run = gr.Button("Compare", variant="primary", elem_id="tta_run")
        with gr.Column(scale=2):
            with gr.Row():
                plain = _png("Without TTA", elem_id="tta_plain")
                with_tta = _png("With TTA", elem_id="tta_tta")
            with gr.Row():
                unc = _png("Uncertainty")
                changed = _png("Changed pixels")
            summary = gr.JSON(label="Latency and scores")
    ex = examples.street_examples()
    if ex:
        gr.Examples([[p] for p in ex], inputs=[image], label="Examples")

    @guard("TTA comparison")
    def on_run(image, ground_truth=None, model=tta.DEFAULT_MODEL, backend="PyTorch"):
        r = tta.tta_compare(image, ground_truth, model, backend)
        images = _files(r["plain"], r["tta"], r["uncertainty"], r["changed"])
        return (*images, r["summary"])

    run.click(
        on_run,
        [image, gt, model, backend],
        [plain, with_tta, unc, changed, summary],
        api_name="tta_compare",
    )
