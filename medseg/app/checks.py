"""Guard rails of the Medical tab: what a model is for, whether a scan suits it, and the
warnings a result carries (geometry). Plain Python, no gradio.

The input/model check itself is :func:`medseg.models.compat.check_input` (one check for the
CLI, the predictor, the app and the DICOM node); this module words it for the app and adds
the app's own remarks.
"""

from __future__ import annotations

from typing import Any

from ..models import get_model_cfg
from ..models.compat import InputMismatchError, check_input, is_color, trained_for
from .common import AppError, as_paths, read_rgb

#: voxels whose longest side is more than this many times the shortest are "anisotropic"
ANISOTROPY_RATIO = 2.0


class ModelMismatch(AppError):
    """The scan is not what the model was trained for (and the mismatch was not allowed)."""


def is_volume(scan: Any) -> bool:
    """True for a scan with more than one slice (a 3-D volume), False for a 2-D image/slice."""
    return sum(int(s) > 1 for s in scan.canonical_shape[:3]) == 3


def scan_modality(scan: Any) -> str:
    return str((getattr(scan.volume, "meta", {}) or {}).get("modality", "") or "")


def model_card(model: str) -> str:
    """One sentence on what a medical model segments and on which scans, from its cfg."""
    cfg = get_model_cfg(model)
    classes = [c for c in cfg.class_names if c != "background"]
    what = ", ".join(classes) if classes else "foreground"
    card = f"**{model}** segments the **{what}** on {trained_for(cfg)}"
    if cfg.spacing:
        card += f", slice by slice at {cfg.spacing[0]:g} mm in-plane"
    card += "."
    if not cfg.has_pretrained:
        card += " No trained weights are installed: its masks are random."
    return card


def check_scan(scan: Any, files: Any, model: str, allow_mismatch: bool = False) -> list[str]:
    """The input/model check for the app: notes to show, or :class:`ModelMismatch`.

    Uses :func:`medseg.models.compat.check_input` (modality, colour photos into a grey
    model) and adds the app's own remarks (no trained weights).
    """
    cfg = get_model_cfg(model)
    color = False
    if scan.kind == "image":
        paths = as_paths(files)
        color = bool(paths) and is_color(read_rgb(paths[0]))
    try:
        note = check_input(
            cfg,
            kind="volume" if is_volume(scan) else "image",
            modality=scan_modality(scan),
            color=color,
            allow_mismatch=allow_mismatch,
        )
    except InputMismatchError as e:
        problem = e.problem
        raise ModelMismatch(
            f"{problem}. Use a scan the model was trained for, or allow the mismatch "
            "(“Segment anyway”; allow_mismatch=True through the API)."
        ) from None
    notes = [note] if note else []
    if not cfg.has_pretrained:
        notes.append(f"{model} has no trained weights installed: the mask is random.")
    return notes


def geometry_notes(scan: Any, cfg: Any, scope: str) -> list[str]:
    """Warnings about the scan's geometry: resampling for the model, anisotropy, gaps."""
    notes = []
    meta = getattr(scan.volume, "meta", {}) or {}
    sp = [float(s) for s in scan.canonical_spacing[:3]]
    if cfg.spacing is not None and sp:
        if any(abs(s - float(t)) > 0.05 * float(t) for s, t in zip(sp[:2], cfg.spacing)):
            notes.append(
                f"Resampled: the model runs at {cfg.spacing[0]:g} × {cfg.spacing[1]:g} mm "
                f"in-plane; this scan's {sp[0]:.3g} × {sp[1]:.3g} mm slices were resampled for "
                "it and the mask resampled back."
            )
    if is_volume(scan) and len(sp) == 3 and max(sp) > ANISOTROPY_RATIO * min(sp):
        notes.append(
            f"Anisotropic voxels ({' × '.join(f'{s:.3g}' for s in sp)} mm): the model works "
            "on axial slices; views across them look stretched."
        )
    if meta.get("uneven_spacing"):
        notes.append(
            "Uneven slice spacing (missing slices?): positions along the stack are approximate."
        )
    if meta.get("spacing_note"):
        notes.append(str(meta["spacing_note"]).capitalize() + ".")
    return notes
