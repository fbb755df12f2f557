"""Short, formatted summaries (Markdown) of scans and results, for people to read.

The tabs show these instead of raw JSON; the full JSON stays behind an accordion and in the
API. Plain Python (no gradio): each function takes the JSON-able dict a processing function
returned and gives Markdown. Warnings come out as one line each, next to the result.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from .backends import backend_shown


def _esc(text: Any) -> str:
    """Text safe inside Markdown/HTML (series descriptions and the like come from files)."""
    s = html.escape(str(text), quote=False)
    for ch in "*_`[]#|":
        s = s.replace(ch, "\\" + ch)
    return s


def _num(x: float, digits: int = 3) -> str:
    """A number for reading: ``1234.5 -> "1 234.5"``, ``0.0012 -> "0.0012"``."""
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{digits}g}"


def _seconds(s: float) -> str:
    s = float(s)
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def warning_lines(warnings: Iterable[str]) -> str:
    """One visible line per warning (Markdown), or ``""``."""
    lines = [f"⚠️ {_esc(w[:1].upper() + w[1:])}" for w in warnings if w]
    return "\n\n".join(lines)


def scan_markdown(info: dict[str, Any]) -> str:
    """The scan in one or two lines: what, size, spacing, series, slices per plane.

    Args:
        info: :func:`medseg.app.medical.medical_load`'s info (PHI-free by construction).
    """
    kind = {"dicom": "DICOM", "nifti": "NIfTI", "image": "Image"}.get(info.get("kind"), "Scan")
    modality = info.get("modality") or ""
    shape = [int(s) for s in info.get("shape", [])]
    spacing = [float(s) for s in info.get("spacing_mm", [])]
    two_d = sum(s > 1 for s in shape) < 3
    if two_d:
        dims = [s for s in shape if s > 1] or shape[:2]
        size = f"{' × '.join(str(s) for s in dims)} pixels"
    else:
        size = f"{' × '.join(str(s) for s in shape)} voxels"
    parts = [f"**{kind}{' ' + _esc(modality) if modality else ''}**", size]
    if spacing:
        sp = spacing[:2] if two_d else spacing[:3]
        parts.append(f"{' × '.join(_num(s) for s in sp)} mm")
    if info.get("series_description"):
        parts.append(f"series “{_esc(info['series_description'])}”")
    if info.get("orientation") and not two_d:
        parts.append(f"orientation {_esc(info['orientation'])}")
    line = " · ".join(parts)
    extra = []
    if not two_d and info.get("slices"):
        s = info["slices"]
        extra.append(
            f"{s.get('axial', '?')} axial, {s.get('coronal', '?')} coronal, "
            f"{s.get('sagittal', '?')} sagittal slices"
        )
    if info.get("files", 1) > 1:
        extra.append(f"{info['files']} files")
    if info.get("skipped_files"):
        extra.append(f"{info['skipped_files']} other files in the zip left out")
    if info.get("scan"):
        extra.append(f"tag #{_esc(str(info['scan']).rsplit('#', 1)[-1])}")
    out = line + ("  \n" + " · ".join(extra) if extra else "")
    if info.get("units") == "HU":
        out += "  \nValues in Hounsfield units."
    return out


def medical_result_markdown(summary: dict[str, Any], class_names: Sequence[str] = ()) -> str:
    """The segmentation result: what ran, how long, how much was found, Dice.

    Args:
        summary: ``medical_segment(...)["summary"]``.
        class_names: the model's classes (the first is background).
    """
    what = " / ".join(c for c in list(class_names)[1:]) or "foreground"
    whole = "foreground_volume_ml" in summary and not summary.get("single_slice")
    where = "whole volume" if whole else f"{summary.get('plane', '')} slice {summary.get('slice')}"
    head = (
        f"**{_esc(what.capitalize())} mask** of {_esc(where)} · {_esc(summary['model'])} on "
        f"{_esc(backend_shown(summary))} · {_seconds(summary.get('seconds', 0))}"
    )
    lines = [head]
    nums = []
    if whole:  # the volume's numbers (the slice's stay in the JSON)
        nums.append(f"volume **{_num(summary['foreground_volume_ml'], 4)} mL**")
        if "dice_volume" in summary:
            nums.append(f"Dice vs ground truth **{summary['dice_volume']:.3f}**")
        elif "dice" in summary:
            nums.append(
                f"Dice vs ground truth on slice {summary.get('slice')} **{summary['dice']:.3f}**"
            )
    else:
        nums.append(f"area **{_num(summary.get('foreground_area_mm2', 0), 4)} mm²**")
        if "dice" in summary:
            nums.append(f"Dice vs ground truth **{summary['dice']:.3f}**")
    lines.append(" · ".join(nums))
    if summary.get("scan"):
        lines.append(f"For scan {_esc(summary['scan'])}.")
    return "  \n".join(lines)


def street_result_markdown(info: dict[str, Any]) -> str:
    """Street photo result: model, back-end, time and sizes."""
    h, w = info.get("image_size", ["?", "?"])
    ih, iw = info.get("model_input_size", ["?", "?"])
    return (
        f"**{_esc(info['model'])}** on {_esc(backend_shown(info))} · "
        f"{_seconds(info.get('inference_seconds', 0))} · photo {w} × {h} px, "
        f"model input {iw} × {ih} px"
    )


def video_markdown(info: dict[str, Any]) -> str:
    """Video result: frames, speed, model."""
    parts = [f"**{_esc(info.get('model', ''))}** on {_esc(backend_shown(info))}"]
    if info.get("frames") is not None:
        of = f" of {info['source_frames']}" if info.get("source_frames") else ""
        parts.append(f"{info['frames']}{of} frames")
    if info.get("mean_fps"):
        parts.append(f"**{float(info['mean_fps']):.1f} frames/s** end to end")
    if info.get("elapsed_s") is not None:
        parts.append(_seconds(info["elapsed_s"]))
    if info.get("width") and info.get("height"):
        parts.append(f"{info['width']} × {info['height']} px")
    return " · ".join(parts)


def tta_markdown(summary: dict[str, Any]) -> str:
    """TTA comparison: the two latencies, the changed share, scores with a ground truth."""
    lines = [
        f"**{_esc(summary['model'])}** on {_esc(backend_shown(summary))} · "
        f"without TTA {_seconds(summary.get('seconds', 0))} · with TTA "
        f"{_seconds(summary.get('seconds_tta', 0))} ({summary.get('views', '?')} views)",
        f"TTA changed the label of **{summary.get('changed_pixels_percent', 0):.2f} %** of the "
        "pixels (magenta).",
    ]
    if "miou" in summary:
        lines.append(
            f"mIoU {summary['miou']:.3f} → **{summary['miou_tta']:.3f}** · "
            f"Dice {summary['dice']:.3f} → **{summary['dice_tta']:.3f}** (with TTA)"
        )
    return "  \n".join(lines)


def legend_html(
    rows: Sequence[dict[str, Any]], *, clickable: bool = False, selected: int | None = None
) -> str:
    """A legend of the classes present: swatch, name, share, largest first.

    Args:
        rows: ``{"id", "name", "color" (r, g, b), "share" (percent)}`` per class.
        clickable: rows are buttons (click to highlight that class).
        selected: the highlighted class id.
    """
    if not rows:
        return '<div class="medseg-legend medseg-legend-empty">No classes yet.</div>'
    items = []
    for r in rows:
        rgb = ",".join(str(int(v)) for v in r["color"])
        sel = " selected" if selected is not None and int(r["id"]) == int(selected) else ""
        # a div, not a button: the page's button styles would restyle the rows
        extra = ' role="button" tabindex="0"' if clickable else ""
        cls = "medseg-legend-row" + (" clickable" if clickable else "") + sel
        items.append(
            f'<div{extra} class="{cls}" data-class="{int(r["id"])}" '
            f'title="{html.escape(str(r["name"]))}: {float(r["share"]):.1f} % of the pixels">'
            f'<span class="medseg-swatch" style="background: rgb({rgb})"></span>'
            f'<span class="medseg-legend-name">{html.escape(str(r["name"]))}</span>'
            f'<span class="medseg-legend-share">{_share(float(r["share"]))}</span></div>'
        )
    return '<div class="medseg-legend">' + "".join(items) + "</div>"


def _share(p: float) -> str:
    # rows are classes present: a share that rounds to 0 is still there
    return "< 0.1 %" if p < 0.05 else f"{p:.1f} %"
