#!/usr/bin/env python
"""Generate the bad-input corpus (and a few good controls) used by ``tests/reliability``.

Every case is built from a real file that pydicom, pydicom-data or nibabel ships where that is
possible (truncating it, relabelling it, breaking one header field), or written here in a few
lines. Nothing is checked in: the tests call :func:`build_corpus` into
``tests/corpus/generated/`` (gitignored) from a session fixture.

``manifest.json`` lists every case::

    {"name": ..., "kind": "dicom" | "nifti" | "image" | "video" | "model" | "zip",
     "path": <relative to the corpus root>, "expect": "ok" | "error" | "ok_or_error",
     "phrases": [...],  # for errors: the message must contain one of these (case-insensitive)
     "source": <what it was built from>, "note": <why it is bad>, ...}

``ok_or_error`` marks inputs whose handling the specs leave open (an animated GIF may load its
first frame or be refused): either is accepted, but a crash, a hang or an unclear error is not.

Usage::

    python scripts/make_corpus.py [OUTDIR]   # default tests/corpus/generated
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

VERSION = 4
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "corpus" / "generated"

# Phrase sets: the error message must contain one of these (lower-cased comparison).
NOT_DICOM = [
    "not a dicom",
    "not dicom",
    "no dicom",
    "invalid dicom",
    "dicom preamble",
    "not a valid",
]
TRUNCATED = ["truncat", "corrupt", "incomplete", "unexpected end", "damaged", "not a valid"]
NO_PIXELS = ["no pixel data", "without pixel data", "has no image", "no image data", "pixel data"]
TRANSFER = ["transfer syntax", "compress", "decod"]
EMPTY = ["empty", "zero", "no data", "0 bytes", "no files"]
NOT_IMAGE = [
    "not a readable",
    "cannot identify",
    "not an image",
    "unsupported",
    "not a valid",
    "cannot read",
    "unrecognised",
    "unrecognized",
]
NOT_VIDEO = [
    "cannot open",
    "could not open",
    "cannot read",
    "could not read",
    "no frames",
    "zero frames",
    "empty",
    "decod",
    "unreadable",
]
NOT_CKPT = ["cannot load", "not a checkpoint", "state dict", "unpickl", "corrupt"]


def _testdata(name: str) -> Path:
    from pydicom.data import get_testdata_file

    p = get_testdata_file(name)
    if p is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is not installed")
    return Path(p)


def _series_files(sub: str) -> list[Path]:
    from pydicom.data import get_testdata_files

    return sorted(Path(p) for p in get_testdata_files(f"dicomdirtests/{sub}/*"))


def _nibabel_data(name: str) -> Path:
    import nibabel.tests

    return Path(nibabel.tests.__file__).parent / "data" / name


def _pydicom_decodes(path: Path) -> bool:
    """Whether pydicom's installed plugins decode the file (the reference for TS cases)."""
    import pydicom

    try:
        pydicom.dcmread(path).pixel_array  # noqa: B018
        return True
    except Exception:
        return False


class Corpus:
    """Collects cases and writes the manifest."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.cases: list[dict] = []

    def add(
        self,
        name: str,
        kind: str,
        rel: str,
        expect: str,
        *,
        source: str,
        note: str,
        phrases: list[str] | None = None,
        **extra,
    ) -> None:
        if expect == "error" and not phrases:
            raise ValueError(f"{name}: error cases need phrases")
        self.cases.append(
            {
                "name": name,
                "kind": kind,
                "path": rel,
                "expect": expect,
                "phrases": phrases or [],
                "source": source,
                "note": note,
                **extra,
            }
        )

    def path(self, rel: str) -> Path:
        p = self.out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


# ----------------------------------------------------------------------------------- DICOM
def _dicom_cases(c: Corpus) -> None:
    import pydicom

    ct = _testdata("CT_small.dcm")
    raw = ct.read_bytes()
    shutil.copy(ct, c.path("dicom/ct_small_ok.dcm"))
    c.add(
        "dcm_ok_ct_small",
        "dicom",
        "dicom/ct_small_ok.dcm",
        "ok",
        source="pydicom CT_small.dcm",
        note="control: a valid 128x128 CT slice",
        shape_xy=[128, 128],
    )

    c.path("dicom/truncated_header.dcm").write_bytes(raw[:300])
    c.add(
        "dcm_truncated_header",
        "dicom",
        "dicom/truncated_header.dcm",
        "error",
        phrases=TRUNCATED + NOT_DICOM + ["pixel data"],
        source="CT_small.dcm, first 300 bytes",
        note="file cut inside the header",
    )
    c.path("dicom/truncated_pixels.dcm").write_bytes(raw[: len(raw) - 10000])
    c.add(
        "dcm_truncated_pixels",
        "dicom",
        "dicom/truncated_pixels.dcm",
        "error",
        phrases=TRUNCATED + ["pixel data", "length"],
        source="CT_small.dcm minus its last 10 kB",
        note="pixel data shorter than Rows x Columns x bits",
    )
    c.path("dicom/plain_text.dcm").write_text("This is a radiology report, not an image.\n" * 20)
    c.add(
        "dcm_not_dicom_text",
        "dicom",
        "dicom/plain_text.dcm",
        "error",
        phrases=NOT_DICOM,
        source="written here",
        note="text file with a .dcm name",
    )
    c.path("dicom/a_png.dcm").write_bytes(_png_bytes(np.zeros((8, 8), np.uint8)))
    c.add(
        "dcm_not_dicom_png",
        "dicom",
        "dicom/a_png.dcm",
        "error",
        phrases=NOT_DICOM,
        source="written here",
        note="PNG file with a .dcm name",
    )
    c.path("dicom/zero_bytes.dcm").write_bytes(b"")
    c.add(
        "dcm_zero_bytes",
        "dicom",
        "dicom/zero_bytes.dcm",
        "error",
        phrases=EMPTY + NOT_DICOM,
        source="written here",
        note="empty file",
    )
    for name, src, what in [
        ("dcm_dicomdir", "DICOMDIR", "a DICOMDIR (media directory, no image)"),
        ("dcm_structured_report", "test-SR.dcm", "a Structured Report (no image)"),
        ("dcm_rtplan", "rtplan.dcm", "an RT Plan (no image)"),
    ]:
        rel = f"dicom/{name}.dcm"
        shutil.copy(_testdata(src), c.path(rel))
        c.add(name, "dicom", rel, "error", phrases=NO_PIXELS, source=f"pydicom {src}", note=what)

    ds = pydicom.dcmread(ct)
    from pydicom.encaps import encapsulate

    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video: never decodable here
    ds.PixelData = encapsulate([ds.PixelData])
    ds.save_as(c.path("dicom/mpeg2_syntax.dcm"), enforce_file_format=True)
    c.add(
        "dcm_unsupported_syntax",
        "dicom",
        "dicom/mpeg2_syntax.dcm",
        "error",
        phrases=TRANSFER,
        source="CT_small.dcm relabelled MPEG2 Main Profile",
        note="transfer syntax no installed decoder handles",
    )
    # Real compressed files: the expectation follows what pydicom's installed plugins decode.
    for name, src in [
        ("dcm_jpeg_lossless_p14", "JPEG-LL.dcm"),
        ("dcm_jpeg_extended_12bit", "JPGExtended.dcm"),
        ("dcm_jpeg_ls", "MR_small_jpeg_ls_lossless.dcm"),
        ("dcm_rle", "MR_small_RLE.dcm"),
    ]:
        p = _testdata(src)
        rel = f"dicom/{name}.dcm"
        ds = pydicom.dcmread(p)
        if "ImagePositionPatient" not in ds:  # give it geometry: only the encoding is at issue
            ds.ImagePositionPatient = [0.0, 0.0, 0.0]
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            ds.PixelSpacing = [1.0, 1.0]
        ds.save_as(c.path(rel))
        ok = _pydicom_decodes(p)
        c.add(
            name,
            "dicom",
            rel,
            "ok" if ok else "error",
            phrases=[] if ok else TRANSFER,
            source=f"pydicom-data {src} (+ geometry tags if it had none)",
            note=f"compressed ({pydicom.dcmread(p).file_meta.TransferSyntaxUID.name}); "
            f"pydicom {'decodes' if ok else 'cannot decode'} it here",
        )

    ds = pydicom.dcmread(ct)
    ds.Rows, ds.Columns = 60000, 60000
    ds.NumberOfFrames = 5000
    ds.save_as(c.path("dicom/huge_dims.dcm"))
    c.add(
        "dcm_huge_dimensions",
        "dicom",
        "dicom/huge_dims.dcm",
        "error",
        phrases=["pixel data", "length", "size", "dimension", "large", "expected", "frames"],
        source="CT_small.dcm with Rows=Columns=60000, NumberOfFrames=5000",
        note="header promises 36 TB of pixels: must be refused without allocating",
    )

    # Series built from the real 5-slice CT5N series (16x16), file names shuffled.
    base = _series_files("98892001/CT5N")

    def series(
        name: str,
        edit: Callable[[int, pydicom.Dataset], None] | None,
        expect: str,
        note: str,
        phrases: list[str] | None = None,
        **extra,
    ) -> None:
        rel = f"dicom_series/{name}"
        d = c.path(rel + "/x").parent
        for k, f in enumerate(base):
            ds = pydicom.dcmread(f)
            if edit is not None:
                edit(k, ds)
            ds.save_as(d / f"IM{(k * 7) % 5:04d}.dcm")  # names in a different order than z
        c.add(
            name,
            "dicom",
            rel,
            expect,
            phrases=phrases,
            source="pydicom dicomdirtests CT5N",
            note=note,
            **extra,
        )

    series(
        "series_ok_ct5n",
        None,
        "ok",
        "control: 5 slices, 16x16, names shuffled",
        shape_xy=[16, 16],
        n_slices=5,
    )

    def tilt(k: int, ds) -> None:
        if k == 2:
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0, 1]

    series(
        "series_mixed_orientation",
        tilt,
        "error",
        "one slice is coronal, the rest axial",
        phrases=["orientation", "inconsistent", "differ"],
    )

    def resize(k: int, ds) -> None:
        if k == 3:
            ds.Rows, ds.Columns = 8, 32  # same byte count: only the shape is inconsistent

    series(
        "series_mixed_shape",
        resize,
        "error",
        "one slice has a different Rows x Columns",
        phrases=["shape", "size", "rows", "inconsistent", "differ", "dimension"],
    )

    def no_ipp(k: int, ds) -> None:
        if k == 1:
            del ds.ImagePositionPatient

    series(
        "series_missing_position",
        no_ipp,
        "error",
        "one slice lacks ImagePositionPatient",
        phrases=["imagepositionpatient", "position"],
    )

    def dup(k: int, ds) -> None:
        if k == 4:
            ds.ImagePositionPatient = [-72.199997, -143.0, 3.7625]  # same as slice 2

    series(
        "series_duplicate_position",
        dup,
        "error",
        "two slices at the same position",
        phrases=["duplicate", "same position", "position", "overlap", "spacing"],
    )

    d = c.path("dicom_series/series_uneven/x").parent
    for f in _series_files("77654033/CT2"):
        shutil.copy(f, d / f"s{f.name}.dcm")
    c.add(
        "series_uneven_spacing",
        "dicom",
        "dicom_series/series_uneven",
        "ok",
        source="pydicom dicomdirtests CT2",
        note="uneven slice spacing: reported, not fatal",
        shape_xy=[16, 16],
        n_slices=4,
    )

    c.path("dicom_series/empty_folder/.keep").unlink(missing_ok=True)
    c.path("dicom_series/empty_folder/x").parent.mkdir(exist_ok=True)
    c.add(
        "series_empty_folder",
        "dicom",
        "dicom_series/empty_folder",
        "error",
        phrases=EMPTY + ["no dicom"],
        source="written here",
        note="empty folder",
    )
    junk = c.path("dicom_series/only_junk/readme.txt")
    junk.write_text("nothing here\n")
    c.path("dicom_series/only_junk/image.dcm").write_bytes(b"\x00" * 50)
    c.add(
        "series_only_junk",
        "dicom",
        "dicom_series/only_junk",
        "error",
        phrases=NOT_DICOM + EMPTY + ["unsupported file", "no readable"],
        source="written here",
        note="folder without one DICOM file",
    )


# ----------------------------------------------------------------------------------- PHI
#: DICOM keyword → planted value. Every value (or, for dates, its digits) is unique, so any
#: occurrence in an output is a leak of that attribute.
PHI_MARKERS: dict[str, str] = {
    "PatientName": "Zqxfamily^Zqxgiven",
    "PatientID": "PIDZQX4417",
    "PatientBirthDate": "19230417",
    "OtherPatientIDs": "OPIDZQX2290",
    "PatientAddress": "12 Zqxpatient Lane",
    "StudyDate": "19310522",
    "SeriesDate": "19320623",
    "AcquisitionDate": "19330724",
    "ContentDate": "19340825",
    "AccessionNumber": "ACCZQX9931",
    "StudyID": "SIDZQX",
    "InstitutionName": "Zqxinstitution General",
    "InstitutionAddress": "77 Zqxaddress Street",
    "ReferringPhysicianName": "Zqxreferrer^Ann",
    "PerformingPhysicianName": "Zqxperformer^Bob",
    "OperatorsName": "Zqxoperator^Cy",
    "StationName": "ZQXSTATION",
    "DeviceSerialNumber": "SNZQX5531",
}


def phi_needles() -> dict[str, list[str]]:
    """keyword → strings whose presence in any output means that attribute leaked.

    Person names are split into components (a leak may reformat ``Family^Given``); dates are
    searched as ``YYYYMMDD`` and ``YYYY-MM-DD``.
    """
    out: dict[str, list[str]] = {}
    for kw, value in PHI_MARKERS.items():
        if kw.endswith("Date"):
            out[kw] = [value, f"{value[:4]}-{value[4:6]}-{value[6:]}"]
        elif "^" in value:
            out[kw] = [part for part in value.split("^") if part.lower().startswith("zqx")]
        else:
            out[kw] = [value]
    return out


def plant_phi(ds) -> None:
    """Replace every identifying attribute of ``ds`` by its planted marker (in place)."""
    for elem in list(ds.iterall()):
        if elem.VR == "PN":  # no original names survive
            elem.value = "Anon"
    for kw, value in PHI_MARKERS.items():
        setattr(ds, kw, value)
    ds.PatientIdentityRemoved = "NO"
    if "DeidentificationMethod" in ds:
        del ds.DeidentificationMethod


def write_phi_series(directory: Path, *, drop_position_of: int | None = None) -> list[Path]:
    """The real CT5N series with every identifying attribute replaced by a planted marker."""
    import pydicom

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for k, f in enumerate(_series_files("98892001/CT5N")):
        ds = pydicom.dcmread(f)
        plant_phi(ds)
        if drop_position_of == k:
            del ds.ImagePositionPatient
        p = directory / f"slice{k}.dcm"
        ds.save_as(p)
        written.append(p)
    return written


def write_phi_head_series(directory: Path) -> list[Path]:
    """A real MR head (the ITK T1 head, one instance per slice) with the planted markers: the
    shipped brain model finds a brain in it, so the paths that write a DICOM SEG run."""
    import pydicom

    from medseg.data.samples import sample_path
    from medseg.io import load_nifti, write_dicom_series

    plain = directory.with_name(directory.name + "_plain")
    files = write_dicom_series(load_nifti(str(sample_path("t1_head"))), plain, modality="MR")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        ds = pydicom.dcmread(f)
        plant_phi(ds)
        p = directory / f.name
        ds.save_as(p)
        written.append(p)
        f.unlink()
    plain.rmdir()
    return written


def _phi_cases(c: Corpus) -> None:
    write_phi_series(c.path("phi/series/x").parent)
    c.add(
        "phi_series",
        "dicom",
        "phi/series",
        "ok",
        source="CT5N with planted identifiers",
        note="privacy probe: every identifier is a marker (see PHI_MARKERS)",
        shape_xy=[16, 16],
        n_slices=5,
        phi=True,
    )
    write_phi_series(c.path("phi/series_bad/x").parent, drop_position_of=2)
    c.add(
        "phi_series_missing_position",
        "dicom",
        "phi/series_bad",
        "error",
        phrases=["imagepositionpatient", "position"],
        source="phi_series minus one position",
        note="the error message must not leak identifiers",
        phi=True,
    )


# ----------------------------------------------------------------------------------- NIfTI
def _nifti_cases(c: Corpus) -> None:
    import nibabel as nib

    aff = np.diag([1.5, 1.5, 3.0, 1.0])
    shutil.copy(_nibabel_data("anatomical.nii"), c.path("nifti/anatomical_ok.nii"))
    c.add(
        "nii_ok_anatomical",
        "nifti",
        "nifti/anatomical_ok.nii",
        "ok",
        source="nibabel tests/data/anatomical.nii",
        note="control: real 3-D MR volume",
    )
    vol = np.random.default_rng(0).normal(100, 20, (16, 16, 6)).astype(np.float32)
    v = vol.copy()
    v[3, 4, 2] = np.nan
    nib.save(nib.Nifti1Image(v, aff), c.path("nifti/has_nan.nii.gz"))
    c.add(
        "nii_nan",
        "nifti",
        "nifti/has_nan.nii.gz",
        "ok",
        source="written here",
        note="one voxel is NaN: set to the image minimum, with a warning in the report",
    )
    v = vol.copy()
    v[1, 1, 1] = np.inf
    v[2, 2, 2] = -np.inf
    nib.save(nib.Nifti1Image(v, aff), c.path("nifti/has_inf.nii.gz"))
    c.add(
        "nii_inf",
        "nifti",
        "nifti/has_inf.nii.gz",
        "ok",
        source="written here",
        note="+Inf and -Inf voxels: set to the image minimum, with a warning in the report",
    )
    nib.save(nib.Nifti1Image(np.zeros((16, 0, 6), np.float32), aff), c.path("nifti/zero_size.nii"))
    c.add(
        "nii_zero_size",
        "nifti",
        "nifti/zero_size.nii",
        "error",
        phrases=EMPTY + ["shape", "size"],
        source="written here",
        note="a dimension of length 0",
    )
    c.path("nifti/zero_bytes.nii.gz").write_bytes(b"")
    c.add(
        "nii_zero_bytes",
        "nifti",
        "nifti/zero_bytes.nii.gz",
        "error",
        phrases=EMPTY + TRUNCATED + ["gzip", "cannot read", "not a nifti"],
        source="written here",
        note="empty file",
    )
    shutil.copy(_nibabel_data("example4d.nii.gz"), c.path("nifti/example4d.nii.gz"))
    c.add(
        "nii_4d",
        "nifti",
        "nifti/example4d.nii.gz",
        "error",
        phrases=["4-d", "4d", "dimension", "3-d", "3d", "time", "volumes"],
        source="nibabel tests/data/example4d.nii.gz",
        note="4-D fMRI where a 3-D scan is expected",
        expect_library="ok_or_error",
    )  # a reader may return 4-D; segmenting it must refuse
    gz = gzip.compress(_nibabel_data("anatomical.nii").read_bytes())
    c.path("nifti/truncated.nii.gz").write_bytes(gz[: len(gz) // 2])
    c.add(
        "nii_gzip_truncated",
        "nifti",
        "nifti/truncated.nii.gz",
        "error",
        phrases=TRUNCATED + ["gzip", "compressed", "end of", "eof"],
        source="anatomical.nii gzipped, cut in half",
        note="gzip stream ends early",
    )
    bad = bytearray(gz)
    bad[len(bad) // 3 : len(bad) // 3 + 64] = b"\xff" * 64
    c.path("nifti/corrupt.nii.gz").write_bytes(bytes(bad))
    c.add(
        "nii_gzip_corrupt",
        "nifti",
        "nifti/corrupt.nii.gz",
        "error",
        phrases=TRUNCATED + ["gzip", "compressed", "crc", "invalid", "decompress"],
        source="anatomical.nii gzipped, 64 bytes overwritten",
        note="bad deflate data",
    )
    hdr = bytearray(_nibabel_data("anatomical.nii").read_bytes())
    hdr[0:4] = struct.pack("<i", 1234)  # sizeof_hdr must be 348
    hdr[344:348] = b"zzzz"  # magic
    c.path("nifti/bad_header.nii").write_bytes(bytes(hdr))
    c.add(
        "nii_bad_header",
        "nifti",
        "nifti/bad_header.nii",
        "error",
        phrases=["header", "not a nifti", "nifti", "magic", "sizeof"] + NOT_IMAGE,
        source="anatomical.nii with sizeof_hdr and magic overwritten",
        note="not a NIfTI header",
    )


# ----------------------------------------------------------------------------------- images
def _png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _image_cases(c: Corpus) -> None:
    from PIL import Image

    c.path("images/zero_bytes.png").write_bytes(b"")
    c.add(
        "img_zero_bytes",
        "image",
        "images/zero_bytes.png",
        "error",
        phrases=EMPTY + NOT_IMAGE,
        source="written here",
        note="empty file",
    )
    # Decompression bomb: the header says 50000 x 50000 (2.5 G pixels); the data is a few kB of
    # compressed zero rows. A reader must refuse it from the header, not try to decode it.
    w = h = 50000
    rows = zlib.compressobj(9)
    body = b"".join(rows.compress(b"\x00" * (w + 1)) for _ in range(64)) + rows.flush()
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    c.path("images/bomb.png").write_bytes(png)
    c.add(
        "img_decompression_bomb",
        "image",
        "images/bomb.png",
        "error",
        phrases=["too large", "bomb", "pixels", "exceeds", "limit", "size"],
        source="PNG header written here",
        note=f"{w}x{h} declared in {len(png)} bytes",
    )
    Image.new("L", (1, 1), 128).save(c.path("images/one_pixel.png"))
    c.add(
        "img_1x1",
        "image",
        "images/one_pixel.png",
        "ok",
        source="written here",
        note="a single pixel",
        shape_xy=[1, 1],
    )
    g16 = (np.arange(40 * 48, dtype=np.uint32).reshape(40, 48) * 31 % 65536).astype(np.uint16)
    Image.fromarray(g16).save(c.path("images/gray16.png"))
    c.add(
        "img_16bit_png",
        "image",
        "images/gray16.png",
        "ok",
        source="written here",
        note="16-bit grayscale (viewer export)",
        shape_hw=[40, 48],
        max_value=int(g16.max()),
    )
    Image.fromarray(g16).save(c.path("images/gray16.tif"))
    c.add(
        "img_16bit_tiff",
        "image",
        "images/gray16.tif",
        "ok",
        source="written here",
        note="16-bit grayscale TIFF",
        shape_hw=[40, 48],
        max_value=int(g16.max()),
    )
    rgb = np.zeros((32, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 30)
    Image.fromarray(rgb).convert("CMYK").save(c.path("images/cmyk.jpg"), quality=95)
    c.add(
        "img_cmyk_jpeg",
        "image",
        "images/cmyk.jpg",
        "ok_or_error",
        phrases=NOT_IMAGE + ["cmyk"],
        source="written here",
        note="CMYK JPEG (print workflow)",
        shape_hw=[32, 40],
    )
    frames = [Image.new("RGB", (24, 20), (i * 60, 255 - i * 60, 30)) for i in range(4)]
    frames[0].save(
        c.path("images/animated.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0
    )
    c.add(
        "img_animated_gif",
        "image",
        "images/animated.gif",
        "ok_or_error",
        phrases=NOT_IMAGE + ["animat", "frames", "gif"],
        source="written here",
        note="4-frame animated GIF",
        shape_hw=[20, 24],
    )
    Image.fromarray(rgb).convert("RGBA").save(c.path("images/rgba.png"))
    c.add(
        "img_rgba_png",
        "image",
        "images/rgba.png",
        "ok",
        source="written here",
        note="PNG with alpha",
        shape_hw=[32, 40],
    )
    full = _png_bytes(np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8))
    c.path("images/truncated.png").write_bytes(full[: len(full) // 2])
    c.add(
        "img_truncated_png",
        "image",
        "images/truncated.png",
        "error",
        phrases=TRUNCATED + NOT_IMAGE,
        source="written here",
        note="PNG cut in half",
    )
    c.path("images/text.png").write_text("<html>not an image</html>\n")
    c.add(
        "img_text_as_png",
        "image",
        "images/text.png",
        "error",
        phrases=NOT_IMAGE,
        source="written here",
        note="HTML with a .png name",
    )
    shutil.copy(_testdata("CT_small.dcm"), c.path("images/dicom_as.jpg"))
    c.add(
        "img_dicom_as_jpg",
        "image",
        "images/dicom_as.jpg",
        "error",
        phrases=NOT_IMAGE + ["dicom"],
        source="CT_small.dcm renamed .jpg",
        note="wrong extension for the content: not an image for load_image; medseg predict "
        "and the app go by the DICM marker and read it as DICOM",
        expect_cli="ok",
        expect_app="ok_or_error",  # the medical tab sniffs the DICM magic and may read it
    )


# ----------------------------------------------------------------------------------- video
def _video_cases(c: Corpus) -> None:
    import cv2

    def write(rel: str, n: int, size: tuple[int, int] = (64, 48)) -> Path:
        p = c.path(rel)
        vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
        for i in range(n):
            f = np.zeros((size[1], size[0], 3), np.uint8)
            f[:, : (i * 7) % size[0]] = (0, 128, 255)
            vw.write(f)
        vw.release()
        return p

    write("video/ok_tiny.avi", 6)
    c.add(
        "vid_ok_tiny",
        "video",
        "video/ok_tiny.avi",
        "ok",
        source="written here (MJPG)",
        note="control: 6 frames 64x48",
        n_frames=6,
    )
    write("video/zero_frames.avi", 0)
    c.add(
        "vid_zero_frames",
        "video",
        "video/zero_frames.avi",
        "error",
        phrases=NOT_VIDEO,
        source="OpenCV writer closed without frames",
        note="container with no frames",
    )
    c.path("video/random.webm").write_bytes(np.random.default_rng(2).bytes(20000))
    c.add(
        "vid_corrupt_random",
        "video",
        "video/random.webm",
        "error",
        phrases=NOT_VIDEO,
        source="written here",
        note="20 kB of random bytes named .webm",
    )
    c.path("video/zero_bytes.mp4").write_bytes(b"")
    c.add(
        "vid_zero_bytes",
        "video",
        "video/zero_bytes.mp4",
        "error",
        phrases=NOT_VIDEO,
        source="written here",
        note="empty file",
    )
    ok = write("video/_whole.avi", 12).read_bytes()
    c.path("video/truncated.avi").write_bytes(ok[: len(ok) // 2])
    (c.out / "video/_whole.avi").unlink()
    c.add(
        "vid_truncated",
        "video",
        "video/truncated.avi",
        "ok_or_error",
        phrases=NOT_VIDEO,
        source="12-frame MJPG cut in half",
        note="partial file: some frames or a clear error",
    )


# ----------------------------------------------------------------------------------- models
class _CodePayload:
    """Pickles to ``open(marker, "w")``: loading it with code allowed would create ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model_cases(c: Corpus) -> None:
    import torch

    from medseg.models import create_model

    target = "unet_medical"
    torch.manual_seed(0)
    other = create_model("unet", base_channels=8)
    torch.save(other.state_dict(), c.path("models/unet_rgb_state.pt"))
    c.add(
        "model_wrong_architecture",
        "model",
        "models/unet_rgb_state.pt",
        "error",
        phrases=["does not match"],
        source="state dict of create_model('unet', base_channels=8)",
        note=f"checkpoint of another architecture loaded as {target}",
        model=target,
    )
    med = create_model(target, num_classes=3)
    torch.save({"model": med.state_dict()}, c.path("models/three_classes.pt"))
    c.add(
        "model_wrong_num_classes",
        "model",
        "models/three_classes.pt",
        "error",
        phrases=["does not match"],
        source=f"{target} with num_classes=3",
        note="right architecture, wrong head shape",
        model=target,
    )
    for name, legacy in [
        ("model_pickle_with_code", False),
        ("model_legacy_pickle_with_code", True),
    ]:
        marker = c.out / "models" / f"{name}.EXECUTED"
        marker.unlink(missing_ok=True)
        rel = f"models/{name}.pt"
        torch.save(
            {"state_dict": _CodePayload(str(marker))},
            c.path(rel),
            _use_new_zipfile_serialization=not legacy,
        )
        c.add(
            name,
            "model",
            rel,
            "error",
            phrases=["weights_only", "refused", "unpickl", "pickle", "unsupported global"],
            source="torch.save of an object whose __reduce__ calls open(marker, 'w')",
            note="loading must refuse the code (weights_only=True); the marker must not appear",
            model=target,
            marker=str(marker.relative_to(c.out)),
        )
    good = c.path("models/good.pt")
    torch.save(create_model(target).state_dict(), good)
    c.add(
        "model_ok_state_dict",
        "model",
        "models/good.pt",
        "ok",
        source=f"{target} state dict",
        note="control",
        model=target,
    )
    b = good.read_bytes()
    c.path("models/truncated.pt").write_bytes(b[: len(b) // 2])
    c.add(
        "model_truncated",
        "model",
        "models/truncated.pt",
        "error",
        phrases=NOT_CKPT,
        source="good.pt cut in half",
        note="interrupted download",
        model=target,
    )
    c.path("models/text.pt").write_text("not a checkpoint\n")
    c.add(
        "model_not_a_checkpoint",
        "model",
        "models/text.pt",
        "error",
        phrases=NOT_CKPT,
        source="written here",
        note="text file named .pt",
        model=target,
    )
    torch.save(torch.zeros(3), c.path("models/bare_tensor.pt"))
    c.add(
        "model_bare_tensor",
        "model",
        "models/bare_tensor.pt",
        "error",
        phrases=NOT_CKPT,
        source="torch.save(torch.zeros(3))",
        note="a tensor, not a state dict",
        model=target,
    )


# ----------------------------------------------------------------------------------- uploads
def _zip_cases(c: Corpus) -> None:
    ct5 = _series_files("98892001/CT5N")
    with zipfile.ZipFile(c.path("zips/series_ok.zip"), "w") as z:
        for k, f in enumerate(ct5):
            z.write(f, f"scan/IM{k}.dcm")
    c.add(
        "zip_ok_series",
        "zip",
        "zips/series_ok.zip",
        "ok",
        source="CT5N zipped",
        note="control: a zipped DICOM series",
        shape_xy=[16, 16],
        n_slices=5,
    )
    with zipfile.ZipFile(c.path("zips/traversal.zip"), "w") as z:
        for k, f in enumerate(ct5):
            z.write(f, f"scan/IM{k}.dcm")
        z.writestr("../../../medseg_zip_escape.txt", "escaped")
        z.writestr("/tmp/medseg_zip_absolute.txt", "absolute")
    c.add(
        "zip_path_traversal",
        "zip",
        "zips/traversal.zip",
        "ok_or_error",
        phrases=["unsafe", "path", "travers", "outside", "zip"],
        source="CT5N + hostile members",
        note="members '../../../medseg_zip_escape.txt' and '/tmp/medseg_zip_absolute.txt' "
        "must never be written outside the upload folder",
        escape_names=["medseg_zip_escape.txt", "medseg_zip_absolute.txt"],
    )


def build_corpus(out: str | Path = DEFAULT_OUT) -> dict:
    """Write every case under ``out`` and return the manifest (also saved as manifest.json)."""
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    c = Corpus(out)
    for part in (
        _dicom_cases,
        _phi_cases,
        _nifti_cases,
        _image_cases,
        _video_cases,
        _model_cases,
        _zip_cases,
    ):
        part(c)
    names = [k["name"] for k in c.cases]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate case names")
    for case in c.cases:  # file / folder named after its case: batch case ids = case names
        old = Path(case["path"])
        ext = ".nii.gz" if old.name.endswith(".nii.gz") else old.suffix
        new = old.parent / f"{case['name']}{ext}"
        if new != old:
            (out / old).rename(out / new)
            case["path"] = new.as_posix()
    manifest = {
        "version": VERSION,
        "script_sha256": script_sha256(),
        "root": str(out),
        "cases": c.cases,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def script_sha256() -> str:
    """What the corpus depends on: this script and the model registry it builds checkpoints
    of (a model whose architecture changed makes the stored state dicts stale)."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    models = Path(__file__).resolve().parents[1] / "medseg" / "models"
    for f in sorted(models.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    m = build_corpus(argv[0] if argv else DEFAULT_OUT)
    counts: dict[str, int] = {}
    for k in m["cases"]:
        counts[k["expect"]] = counts.get(k["expect"], 0) + 1
    print(f"{len(m['cases'])} cases in {m['root']}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
