"""Example inputs for the app: real files from installed packages, found at run time.

Nothing large is committed: the files lie in the packages that ship them (Debian
``insighttoolkit5-examples`` and ``opencv-doc``; :mod:`medseg.data.samples` knows where) and
are copied into a private temp folder (Gradio serves files only from its allowed folders).
Missing packages mean fewer examples.

The medical examples are ones the shipped brain model is made for (T1 MR heads): the ITK T1
head as NIfTI with its skull-stripped twin as ground truth, and the same head as a DICOM MR
series (one instance per slice, zipped, generated once per machine by
:func:`write_mr_series`), so the DICOM SEG download shows too. The short example video is
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
EXAMPLES_VERSION = "1"

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
def _lps(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64) * np.array([-1.0, -1.0, 1.0])


def write_mr_series(
    array: np.ndarray,
    affine: np.ndarray,
    folder: Path,
    *,
    description: str = "T1 head",
    patient: str = "Example^T1Head",
    seed: str = "medseg-example",
) -> list[Path]:
    """Write a volume as a DICOM MR series, one instance per slice, with its geometry.

    Stop-gap until ``medseg.io.dicom_write.write_dicom_series`` lands; then this calls it.

    Args:
        array: ``(X, Y, Z)`` voxels (NIfTI voxel order), integers in 0..65535.
        affine: voxel -> RAS mm (NIfTI). The series reproduces it: columns follow X, slices
            follow Z; rows follow Y but are written top-down (superior or anterior first)
            so that viewers which show pixels as stored show the head upright.
        folder: output folder (created).
        description, patient: SeriesDescription and PatientName (a made-up example name).
        seed: UIDs derive from it, so the same input gives the same series.

    Returns:
        The paths written, one per slice.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    a = np.asarray(array)
    if a.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {a.shape}")
    if a.min() < 0 or a.max() > 65535 or not np.array_equal(a, np.round(a)):
        raise ValueError("voxels must be integers in 0..65535")
    aff = np.asarray(affine, dtype=np.float64)
    col_vec, row_vec, slice_vec = aff[:3, 0], aff[:3, 1], aff[:3, 2]
    dx, dy, dz = (float(np.linalg.norm(v)) for v in (col_vec, row_vec, slice_vec))
    row_dir = _lps(col_vec) / dx  # direction of increasing column index (across a row)
    col_dir = _lps(row_vec) / dy  # direction of increasing row index (down a column)
    ny = a.shape[1]
    flip = col_dir[2] > 0 or (abs(col_dir[2]) < 0.5 and col_dir[1] < 0)
    if flip:  # rows go superior -> inferior (or anterior -> posterior): upright on screen
        col_dir = -col_dir
    folder.mkdir(parents=True, exist_ok=True)
    uid = lambda what: generate_uid(entropy_srcs=[seed, what])  # noqa: E731
    study, series, frame = uid("study"), uid("series"), uid("frame")
    paths = []
    for k in range(a.shape[2]):
        origin = aff @ np.array([0.0, float(ny - 1) if flip else 0.0, float(k), 1.0])
        pix = a[:, :, k].T  # (rows = Y, columns = X)
        if flip:
            pix = pix[::-1]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = uid(f"instance{k}")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = patient, "EXAMPLE-T1"
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20000101", "000000", "1", ""
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 1, k + 1
        ds.SeriesDescription, ds.Manufacturer = description, "medseg example generator"
        ds.BodyPartExamined = "HEAD"
        ds.ScanningSequence, ds.SequenceVariant, ds.MRAcquisitionType = "GR", "NONE", "3D"
        ds.PositionReferenceIndicator = ""
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ImagePositionPatient = [round(float(v), 6) for v in _lps(origin[:3])]
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [dy, dx]  # row spacing, column spacing
        ds.SliceThickness = dz
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = int(pix.shape[0]), int(pix.shape[1])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.PixelData = np.ascontiguousarray(pix, dtype="<u2").tobytes()
        p = folder / f"IM{k + 1:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def mr_head_series() -> tuple[Path, Path] | None:
    """``(zip of the DICOM MR head series, its brain mask as NIfTI)``, made once per machine
    from the ITK T1 head; ``None`` when ``insighttoolkit5-examples`` is missing."""
    import nibabel as nib

    if not (T1_HEAD.is_file() and T1_BRAIN.is_file()):
        return None
    out = _persistent_dir()
    zpath, gtpath = out / "t1_head_dicom_series.zip", out / "t1_head_dicom_brain_mask.nii.gz"
    with _LOCK:
        if zpath.is_file() and gtpath.is_file():
            return zpath, gtpath
        from ..io import from_canonical, load_nifti, load_volume, save_mask_like, to_canonical

        work = Path(temp_dir("series-"))
        img = nib.load(str(T1_HEAD))
        paths = write_mr_series(
            np.asarray(img.dataobj).astype(np.uint16), img.affine, work / "series",
            description="T1 head (ITK KmeansTest)",
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
