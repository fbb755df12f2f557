"""Example inputs for the app: real files from installed packages, found at run time.

Nothing large is committed: the files lie in the packages that ship them (Debian
``insighttoolkit5-examples`` and ``opencv-doc``; :mod:`medseg.data.samples` knows where) and
are copied into a private temp folder (Gradio serves files only from its allowed folders).
Missing packages mean fewer examples.

The medical examples are ones the shipped brain model is made for (T1 MR heads): the ITK T1
head as NIfTI with its skull-stripped twin as ground truth, and the same head as a DICOM MR
series (one instance per slice, zipped, generated once per machine by
:func:`medseg.io.write_dicom_series`), so the DICOM SEG download shows too. The short example video is
generated from a real street photo (a slow pan); OpenCV's ``vtest.avi`` is the real one.
"""

from __future__ import annotations

import os
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..data.samples import SAMPLES
from .common import temp_dir

T1_HEAD = Path(SAMPLES["t1_head"][0])
T1_BRAIN = Path(SAMPLES["t1_brain"][0])
#: bump when the generated examples change
EXAMPLES_VERSION = "2"

_LOCK = threading.Lock()
_DIR: Path | None = None


def _cache_dir() -> Path:
    global _DIR
    with _LOCK:
        if _DIR is None:
            _DIR = temp_dir("examples-")
        return _DIR


def _copy(src: Path | None) -> str | None:
    if src is None or not src.is_file():
        return None
    dst = _cache_dir() / src.name
    if not dst.exists():
        shutil.copyfile(src, dst)
    return str(dst)


def _persistent_dir() -> Path:
    """Where generated examples are kept between runs (``$MEDSEG_CACHE`` or ~/.cache)."""
    root = os.environ.get("MEDSEG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "medseg"
    )
    return Path(root) / f"app-examples-v{EXAMPLES_VERSION}"


# --------------------------------------------------------------------------- DICOM series
def mr_head_series() -> tuple[Path, Path] | None:
    """``(zip of the DICOM MR head series, its brain mask as NIfTI)``, made once per machine
    from the ITK T1 head; ``None`` when ``insighttoolkit5-examples`` is missing."""

    if not (T1_HEAD.is_file() and T1_BRAIN.is_file()):
        return None
    out = _persistent_dir()
    zpath, gtpath = out / "t1_head_dicom_series.zip", out / "t1_head_dicom_brain_mask.nii.gz"
    with _LOCK:
        if zpath.is_file() and gtpath.is_file():
            return zpath, gtpath
        from ..io import (
            from_canonical,
            load_nifti,
            load_volume,
            save_mask_like,
            to_canonical,
            write_dicom_series,
        )

        work = Path(temp_dir("series-"))
        paths = write_dicom_series(
            load_nifti(str(T1_HEAD)), work / "series", modality="MR",
            series_description="T1 head (ITK KmeansTest)", patient_name="Example^T1Head",
            patient_id="EXAMPLE-T1", body_part="HEAD", upright=True, uid_seed="medseg-example",
        )  # fmt: skip
        # the ground truth on the series' own voxel grid (the series is written upright)
        vol = load_volume([str(p) for p in paths])
        brain = to_canonical(load_nifti(str(T1_BRAIN))).array
        gt = (from_canonical(np.asarray(brain), vol) > 0).astype(np.uint8)
        out.mkdir(parents=True, exist_ok=True)
        tmp_zip, tmp_gt = work / zpath.name, work / gtpath.name
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in paths:
                zf.write(p, f"t1_head/{p.name}")
        save_mask_like(gt, vol, str(tmp_gt))
        shutil.move(str(tmp_zip), zpath)
        shutil.move(str(tmp_gt), gtpath)
    return zpath, gtpath


# --------------------------------------------------------------------------- lists
def medical_examples() -> list[tuple[str, str, str | None]]:
    """``(label, scan path, ground-truth mask path or None)`` for each available example."""
    items: list[tuple[str, Any, Any]] = []
    try:
        series = mr_head_series()
    except Exception:  # a broken cache or a read-only home: just one example fewer
        series = None
    if series is not None:
        items.append(("T1 head MR, DICOM series (.zip) + brain mask", *series))
    items += [
        ("T1 head MR, NIfTI + brain mask", T1_HEAD, T1_BRAIN),
        ("T1 brain slice, PNG", Path(SAMPLES["brain_slice"][0]), None),
    ]
    out = []
    for label, scan, gt in items:
        s = _copy(Path(scan))
        if s:
            out.append((label, s, _copy(Path(gt)) if gt is not None else None))
    return out


def street_examples() -> list[str]:
    """Real street photos shipped with ``opencv-doc``."""
    return [p for p in (_copy(Path(SAMPLES[n][0])) for n in ("leuvenA", "leuvenB")) if p]


def video_examples() -> list[str]:
    """The generated pan across a street photo, and OpenCV's real ``vtest.avi``."""
    return [p for p in (video_example(), _copy(Path(SAMPLES["vtest"][0]))) if p]


def video_example(frames: int = 24, size: tuple[int, int] = (512, 256)) -> str | None:
    """A short VP8 ``.webm`` panning across ``leuvenA.jpg`` (generated once per process)."""
    import cv2

    src = Path(SAMPLES["leuvenA"][0])
    if not src.is_file():
        return None
    dst = _cache_dir() / "leuven_pan.webm"
    with _LOCK:
        if dst.exists():
            return str(dst)
        img = cv2.imread(str(src))
        if img is None:
            return None
        w, h = size
        scale = h / img.shape[0] * 1.25
        big = cv2.resize(img, (max(w + frames * 4, round(img.shape[1] * scale)), round(h * 1.25)))
        tmp = dst.with_suffix(".part.webm")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP80"), 12.0, (w, h))
        if not writer.isOpened():
            return None
        for i in range(frames):
            x = min(i * 4, big.shape[1] - w)
            writer.write(big[:h, x : x + w])
        writer.release()
        tmp.replace(dst)
    return str(dst)
