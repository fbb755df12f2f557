"""Which files a run will write, and the checks that keep it from touching any input.

Checked before a single case runs, so a refused run changes nothing on disk:

* the output folder is not an input folder, nor inside one (outputs never go into a user's
  DICOM series or scan folder);
* no output would take the name of an input file (``scan.nii.gz -o .`` writes
  ``scan_mask.nii.gz`` next to the scan, never over it);
* no output would replace a file medseg did not write (a user's own ``x_mask.nii.gz``),
  unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..io.inputs import Case, input_paths

FORMATS = ("nifti", "seg", "both")


class UnsafeOutputError(ValueError):
    """The run would write over or inside an input, or over a file medseg did not write."""


def output_names(case: Case, fmt: str) -> list[str]:
    """File names a case writes into the output folder.

    Volumes: ``<case>_mask.nii.gz`` (``nifti``; ``both``) and ``<case>_seg.dcm`` for DICOM
    sources (``seg``; ``both``). Images: ``<case>_mask.png`` and ``<case>_overlay.png``.
    A NIfTI case with ``fmt="seg"`` writes nothing (it fails: a SEG needs a DICOM source).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    c = case.case_id
    if case.kind == "image":
        return [f"{c}_mask.png", f"{c}_overlay.png"]
    if case.kind not in ("dicom", "nifti"):
        return []
    names = []
    if fmt in ("nifti", "both"):
        names.append(f"{c}_mask.nii.gz")
    if fmt in ("seg", "both") and case.kind == "dicom":
        names.append(f"{c}_seg.dcm")
    return names


def _real(p: str | os.PathLike) -> Path:
    return Path(os.path.realpath(p))


def check_outputs_safe(
    inputs: list[str | os.PathLike],
    cases: list[Case],
    out: Path,
    fmt: str,
    *,
    owned: set[str],
    overwrite: bool = False,
) -> None:
    """Raise :class:`UnsafeOutputError` (naming both paths) if the run could lose a file.

    Args:
        inputs: the files and folders the user gave.
        cases: the cases found in them.
        out: the output folder.
        fmt: the volume output format.
        owned: names of files in ``out`` that medseg wrote (may be replaced).
        overwrite: replace other existing files too (never inputs).
    """
    out_r = _real(out)
    for inp in inputs:
        rp = _real(inp)
        if rp.is_dir() and (out_r == rp or rp in out_r.parents):
            raise UnsafeOutputError(
                f"the output folder {out} is inside the input folder {inp}: outputs never go "
                "into an input; choose an output folder outside it"
            )
    input_files: dict[Path, str] = {}
    for c in cases:
        for p in input_paths(c):
            rp = _real(p)
            if rp.is_dir():
                if out_r == rp or rp in out_r.parents:
                    raise UnsafeOutputError(
                        f"the output folder {out} is inside the input folder {p}: outputs "
                        "never go into an input; choose an output folder outside it"
                    )
            else:
                input_files[rp] = str(p)
                # a DICOM series given as a folder: its files' folder counts as input too
                if c.kind == "dicom" and Path(c.source).is_dir():
                    src = _real(c.source)
                    if out_r == src or src in out_r.parents:
                        raise UnsafeOutputError(
                            f"the output folder {out} is inside the input DICOM folder "
                            f"{c.source}; choose an output folder outside it"
                        )
    for name in ("report.json", "report.csv"):
        rp = out_r / name
        if rp in input_files:
            raise UnsafeOutputError(
                f"the report {out / name} would replace the input {input_files[rp]}"
            )
    for c in cases:
        for name in output_names(c, fmt):
            target = out_r / name
            if target in input_files:
                raise UnsafeOutputError(
                    f"the output {out / name} of case {c.case_id} would replace the input "
                    f"{input_files[target]}; choose another output folder"
                )
            if target.exists() and name not in owned and not overwrite:
                raise UnsafeOutputError(
                    f"{out / name} exists and was not written by medseg predict in {out}; "
                    "move it away, choose another output folder, or pass --overwrite"
                )
    for name in ("report.json", "report.csv"):
        if (out_r / name).exists() and name not in owned and not overwrite:
            raise UnsafeOutputError(
                f"{out / name} exists and was not written by medseg predict; move it away, "
                "choose another output folder, or pass --overwrite"
            )


__all__ = ["FORMATS", "UnsafeOutputError", "check_outputs_safe", "output_names"]
