"""Example inputs for the app: real files from installed packages, found at run time.

Nothing large is committed: the files are located in the packages that ship them (pydicom's
test files, Debian ``insighttoolkit5-examples`` and ``opencv-doc``) and copied into a
private temp folder (Gradio serves files only from its allowed folders). The short example
video is generated here from a real street photo (a slow pan), so it needs no download.
Missing packages simply mean fewer examples. (MRIcron's
``ch2`` pair comes from Debian ``mricron-data``.)
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from .common import temp_dir

ITK_DATA = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
MRICRON = Path("/usr/share/mricron/templates")

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


def _pydicom_file(name: str) -> Path | None:
    try:
        from pydicom.data import get_testdata_file

        p = get_testdata_file(name)
    except Exception:  # pydicom-data missing or no network cache: just no example
        return None
    return Path(p) if p else None


def medical_examples() -> list[tuple[str, str, str | None]]:
    """``(label, scan path, ground-truth mask path or None)`` for each available example."""
    items = [
        ("CT slice (pydicom CT_small.dcm)", _pydicom_file("CT_small.dcm"), None),
        ("MR slice (pydicom MR_small.dcm)", _pydicom_file("MR_small.dcm"), None),
        ("Brain T1 slice PNG (ITK BrainT1Slice.png)", ITK_DATA / "BrainT1Slice.png", None),
        (
            "T1 head volume NIfTI + brain mask (MRIcron ch2, held out from training)",
            MRICRON / "ch2.nii.gz",
            MRICRON / "ch2bet.nii.gz",
        ),
        (
            "T1 head volume NIfTI + brain mask (ITK KmeansTest)",
            ITK_DATA / "KmeansTest_T1UCharRaw.nii.gz",
            ITK_DATA / "KmeansTest_T1RawSkullStrip.nii.gz",
        ),
    ]
    out = []
    for label, scan, gt in items:
        s = _copy(scan)
        if s:
            out.append((label, s, _copy(gt) if gt is not None else None))
    return out


def street_examples() -> list[str]:
    """Real street photos shipped with ``opencv-doc``."""
    return [p for p in (_copy(OPENCV_DATA / n) for n in ("leuvenA.jpg", "leuvenB.jpg")) if p]


def video_example(frames: int = 24, size: tuple[int, int] = (512, 256)) -> str | None:
    """A short VP8 ``.webm`` panning across ``leuvenA.jpg`` (generated once per process)."""
    import cv2

    src = OPENCV_DATA / "leuvenA.jpg"
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
