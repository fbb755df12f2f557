"""One case: check it suits the model, predict, write its outputs all-or-nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..io.files import part_path
from ..io.inputs import Case
from ..models.compat import check_input, is_color
from .plan import output_names
from .records import write_record


def _writers(case: Case, data, predictor, fmt: str, postprocess: bool, allow_mismatch: bool):
    """``(row facts, {file name: write(tmp_path)})`` for a case, after inference."""
    from PIL import Image

    cfg = predictor.cfg
    names = output_names(case, fmt)
    warnings: list[str] = []
    if case.kind == "image":
        note = check_input(cfg, kind="image", color=is_color(data), allow_mismatch=allow_mismatch)
        if note:
            warnings.append(note)
        pred = predictor.predict_image(data)
        labels = pred.labels.astype(np.uint8)
        from ..viz.overlay import overlay, with_legend

        skip = (0, 255) if cfg.task == "medical" else (255,)
        ov = with_legend(
            overlay(data, labels, cfg.palette, skip_classes=skip),
            labels,
            cfg.class_names,
            cfg.palette,
            skip_classes=skip,
        )
        writers = {
            names[0]: lambda t: Image.fromarray(labels).save(t, format="PNG"),
            names[1]: lambda t: Image.fromarray(ov).save(t, format="PNG"),
        }
        facts = dict(
            shape=list(labels.shape),
            spacing=None,
            foreground_ml=None,
            foreground_fraction=float((labels > 0).mean()),
        )
        return facts, writers, warnings
    from ..io import save_mask_like, write_dicom_seg

    note = check_input(
        cfg, kind="volume", modality=data.meta.get("modality", ""), allow_mismatch=allow_mismatch
    )
    if note:
        warnings.append(note)
    warnings.extend(data.meta.get("warnings") or [])
    if data.meta.get("uneven_spacing"):
        warnings.append(
            f"uneven slice spacing ({data.meta.get('slice_gap_min_mm', 0):.3g}-"
            f"{data.meta.get('slice_gap_max_mm', 0):.3g} mm): missing slices? the mask follows "
            "the source slices, volumes in mL are approximate"
        )
    if fmt == "seg" and case.kind != "dicom":
        raise ValueError(
            "a DICOM SEG needs a DICOM source and this case is NIfTI; use --format nifti "
            "(or both: NIfTI for every volume, SEG where the source is DICOM)"
        )
    mask = np.asarray(predictor.predict_volume(data, postprocess=postprocess), np.uint8)
    segment_labels = list(cfg.class_names[1:]) or ["foreground"]
    writers: dict[str, Callable[[str], object]] = {}
    for name in names:
        if name.endswith("_mask.nii.gz"):
            writers[name] = lambda t: save_mask_like(mask, data, t)
        elif name.endswith("_seg.dcm"):
            writers[name] = lambda t: write_dicom_seg(
                mask, data, t, segment_labels=segment_labels, algorithm_name=f"medseg {cfg.name}"
            )
    if not mask.any():
        warnings.append("the mask is empty: the model found no foreground")
    voxel_ml = float(np.prod(data.spacing[:3])) / 1000.0
    facts = dict(
        shape=list(mask.shape),
        spacing=[round(float(s), 6) for s in data.spacing],
        foreground_ml=float((mask > 0).sum()) * voxel_ml,
        foreground_fraction=float((mask > 0).mean()),
    )
    return facts, writers, warnings


def process_case(
    case: Case,
    data,
    predictor,
    out: Path,
    *,
    fmt: str,
    postprocess: bool,
    allow_mismatch: bool,
    provenance: dict,
    previous: dict | None,
) -> dict:
    """Predict one loaded case and commit its outputs; returns its report row.

    Every output is first written under a temporary name; only when all of them are written
    are they renamed into place (after a ``"writing"`` record lists them), so a failure leaves
    no orphan file and the report lists every file that exists. Files an earlier run of this
    case wrote and this run does not (e.g. the SEG after ``--format`` changed from ``both`` to
    ``nifti``) are removed: they were medseg's and would contradict the report.
    """
    facts, writers, warnings = _writers(case, data, predictor, fmt, postprocess, allow_mismatch)
    temps: dict[str, Path] = {}
    try:
        for name, write in writers.items():
            tmp = part_path(out / name)
            temps[name] = tmp
            write(str(tmp))
        pending = {**provenance, "case_id": case.case_id, "kind": case.kind, "status": "writing"}
        pending["pending_outputs"] = sorted(writers)
        pending["outputs"] = list((previous or {}).get("outputs") or [])
        write_record(out, case.case_id, pending)
        for name, tmp in temps.items():
            os.replace(tmp, out / name)
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()
    for old in (previous or {}).get("outputs") or []:
        if old not in writers:
            (out / old).unlink(missing_ok=True)
    return {
        "case_id": case.case_id,
        "kind": case.kind,
        **facts,
        "warnings": warnings,
        "outputs": list(writers),
    }


__all__ = ["process_case"]
