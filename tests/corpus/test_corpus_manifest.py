"""The corpus is what its manifest says: each bad file is bad for the reference reader too.

These checks use pydicom, nibabel, Pillow, OpenCV and torch directly (not medseg), so a case
that silently stopped being bad (e.g. a generator change) is caught here, not mistaken for a
medseg fix.
"""

from __future__ import annotations

import gzip
import json
import zipfile

import numpy as np
import pytest

from corpus import GENERATED, case_path

REQUIRED = {
    "dicom": [
        "dcm_truncated_header",
        "dcm_truncated_pixels",
        "dcm_not_dicom_text",
        "dcm_dicomdir",
        "dcm_structured_report",
        "dcm_unsupported_syntax",
        "series_mixed_orientation",
        "dcm_huge_dimensions",
    ],
    "nifti": ["nii_nan", "nii_inf", "nii_zero_size", "nii_4d", "nii_gzip_truncated"],
    "image": [
        "img_zero_bytes",
        "img_decompression_bomb",
        "img_1x1",
        "img_16bit_png",
        "img_cmyk_jpeg",
        "img_animated_gif",
    ],
    "video": ["vid_zero_frames", "vid_corrupt_random"],
    "model": ["model_wrong_architecture", "model_pickle_with_code"],
}


def _by_name(corpus: dict) -> dict[str, dict]:
    return {c["name"]: c for c in corpus["cases"]}


def test_manifest_size_and_coverage(corpus):
    cases = corpus["cases"]
    assert len(cases) >= 30
    names = _by_name(corpus)
    for kind, required in REQUIRED.items():
        for n in required:
            assert names[n]["kind"] == kind
    for c in cases:
        assert case_path(corpus, c).exists(), c["name"]
        assert c["expect"] in ("ok", "error", "ok_or_error")
        if c["expect"] == "error":
            assert c["phrases"], c["name"]
    assert json.loads((GENERATED / "manifest.json").read_text())["cases"] == cases


def _dicom_decodes(path) -> bool:
    import pydicom

    try:
        pydicom.dcmread(path).pixel_array  # noqa: B018
        return True
    except Exception:
        return False


def test_dicom_files_match_reference(corpus):
    for c in corpus["cases"]:
        p = case_path(corpus, c)
        if c["kind"] == "dicom" and p.is_file():
            assert _dicom_decodes(p) == (c["expect"] == "ok"), c["name"]


def test_dicom_series_defects_are_present(corpus):
    import pydicom

    def read(name):
        d = case_path(corpus, _by_name(corpus)[name])
        return [pydicom.dcmread(f) for f in sorted(d.iterdir())]

    ok = read("series_ok_ct5n")
    assert len({tuple(map(float, d.ImageOrientationPatient)) for d in ok}) == 1
    assert len({float(d.ImagePositionPatient[2]) for d in ok}) == 5
    assert (
        len(
            {tuple(map(float, d.ImageOrientationPatient)) for d in read("series_mixed_orientation")}
        )
        == 2
    )
    assert len({(d.Rows, d.Columns) for d in read("series_mixed_shape")}) == 2
    assert sum("ImagePositionPatient" not in d for d in read("series_missing_position")) == 1
    assert len({float(d.ImagePositionPatient[2]) for d in read("series_duplicate_position")}) == 4
    z = sorted(float(d.ImagePositionPatient[2]) for d in read("series_uneven_spacing"))
    assert len(set(np.round(np.diff(z), 3))) > 1


def test_nifti_files_match_reference(corpus):
    import nibabel as nib

    names = _by_name(corpus)
    load = lambda n: nib.load(case_path(corpus, names[n]))  # noqa: E731
    assert np.isnan(load("nii_nan").get_fdata()).sum() == 1
    assert np.isinf(load("nii_inf").get_fdata()).sum() == 2
    assert 0 in load("nii_zero_size").shape
    assert load("nii_4d").ndim == 4
    assert load("nii_ok_anatomical").ndim == 3
    for n in ("nii_gzip_truncated", "nii_gzip_corrupt", "nii_zero_bytes", "nii_bad_header"):
        with pytest.raises(Exception):  # noqa: B017 - any failure of the reference reader
            np.asarray(load(n).dataobj)
    with pytest.raises((EOFError, OSError, gzip.BadGzipFile)):
        gzip.decompress(case_path(corpus, names["nii_gzip_truncated"]).read_bytes())


def test_images_match_reference(corpus):
    from PIL import Image

    for c in corpus["cases"]:
        if c["kind"] != "image":
            continue
        p = case_path(corpus, c)
        if c["expect"] == "error":
            with pytest.raises(Exception):  # noqa: B017
                with Image.open(p) as im:
                    im.load()
        else:
            with Image.open(p) as im:
                im.load()
                hw = c.get("shape_hw") or c["shape_xy"][::-1]
                assert list(im.size[::-1]) == hw, c["name"]
    with Image.open(case_path(corpus, _by_name(corpus)["img_animated_gif"])) as im:
        assert im.n_frames == 4
    with Image.open(case_path(corpus, _by_name(corpus)["img_cmyk_jpeg"])) as im:
        assert im.mode == "CMYK"
    with Image.open(case_path(corpus, _by_name(corpus)["img_16bit_png"])) as im:
        assert np.asarray(im).max() > 255


def _frames(path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.isOpened():
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def test_videos_match_reference(corpus):
    for c in corpus["cases"]:
        if c["kind"] == "video" and c["expect"] != "ok_or_error":
            n = _frames(case_path(corpus, c))
            assert (n == c["n_frames"]) if c["expect"] == "ok" else (n == 0), c["name"]


def test_models_match_reference(corpus):
    import torch

    for c in corpus["cases"]:
        if c["kind"] != "model":
            continue
        p = case_path(corpus, c)
        if "marker" in c:
            with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
                torch.load(p, weights_only=True)
            assert not (GENERATED / c["marker"]).exists()
        elif c["name"] in ("model_truncated", "model_not_a_checkpoint"):
            with pytest.raises(Exception):  # noqa: B017
                torch.load(p, weights_only=True)
        else:
            torch.load(p, weights_only=True)


def test_zip_cases(corpus):
    z = zipfile.ZipFile(case_path(corpus, _by_name(corpus)["zip_path_traversal"]))
    names = z.namelist()
    assert any(n.startswith("../") for n in names) and any(n.startswith("/") for n in names)
