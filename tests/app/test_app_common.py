"""Upload handling: names, file kinds, zip extraction, size limits (no server, no gradio)."""

from __future__ import annotations

import stat
import zipfile

import numpy as np
import pytest

from medseg.app import common
from medseg.app.common import AppError


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\scan 1.dcm", "scan_1.dcm"),
        ("..hidden", "hidden"),
        ("ä ö.nii.gz", "_.nii.gz"),
        ("", "file"),
    ],
)
def test_safe_name(name, expected):
    assert common.safe_name(name) == expected


def test_file_kind(ct_small, t1_nifti, brain_png, street_jpg, bad_files, tmp_path):
    assert common.file_kind(ct_small) == "dicom"
    assert common.file_kind(t1_nifti) == "nifti"
    assert common.file_kind(brain_png) == "image"
    assert common.file_kind(street_jpg) == "image"
    z = tmp_path / "series.bin"  # a zip recognised by its magic bytes, whatever the name
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.dcm", b"x")
    assert common.file_kind(z) == "zip"
    with pytest.raises(AppError, match="unsupported file type: notes.txt; accepted: DICOM"):
        common.file_kind(bad_files["text"])


def test_extract_zip_refuses_traversal_and_links(tmp_path, ct_small):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../escaped.dcm", ct_small.read_bytes())
        zf.writestr("/abs/path.dcm", b"abs")
        zf.writestr("sub/dir/ok.dcm", b"ok")
        link = zipfile.ZipInfo("link.dcm")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    out = common.extract_zip(z)
    names = sorted(p.name for p in out)
    assert names == ["00000_escaped.dcm", "00001_path.dcm", "00002_ok.dcm"]
    root = out[0].parent
    assert all(p.parent == root for p in out)  # everything inside one private temp dir
    assert not (tmp_path.parent / "escaped.dcm").exists()
    assert out[0].read_bytes() == ct_small.read_bytes()


def test_extract_zip_limits(tmp_path, monkeypatch):
    z = tmp_path / "big.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"\0" * 10_000)
    import medseg.io.inputs

    monkeypatch.setattr(medseg.io.inputs, "MAX_ZIP_BYTES", 5_000)
    with pytest.raises(AppError, match="expands to more than"):
        common.extract_zip(z)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(AppError, match="not a readable zip"):
        common.extract_zip(bad)


def test_huge_image_refused_from_header(bad_files):
    with pytest.raises(AppError, match=r"8000×6000 pixels; at most 40 megapixels"):
        common.read_rgb(bad_files["huge_png"])


def test_read_rgb_scales_long_side(street_jpg):
    from PIL import Image

    with Image.open(street_jpg) as im:
        w, h = im.size
    a = common.read_rgb(street_jpg, max_side=400)
    assert a.dtype == np.uint8 and a.shape[2] == 3
    assert max(a.shape[:2]) == 400
    assert abs(a.shape[1] / a.shape[0] - w / h) < 0.01


def test_inference_size_keeps_aspect_and_divisor():
    from medseg.models import get_model_cfg

    cfg = get_model_cfg("lraspp_mobilenet_v3")
    h, w = common.inference_size(600, 800, cfg)
    assert h % cfg.divisor == 0 and w % cfg.divisor == 0
    assert max(h, w) == max(cfg.input_size)
    assert abs(w / h - 800 / 600) < 0.1
    assert common.inference_size(100, 120, cfg) == (96, 128)  # small images are not upscaled


def test_class_shares_matches_bincount():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(37, 53))
    shares = common.class_shares(labels, ["a", "b", "c", "d"])
    for i, name in enumerate("abcd"):
        assert shares[name] == pytest.approx(100 * (labels == i).mean(), abs=0.01)
    assert list(shares.values()) == sorted(shares.values(), reverse=True)


def test_unknown_model_and_backend():
    with pytest.raises(AppError, match="unknown model 'nope'"):
        common.get_predictor("nope")
    with pytest.raises(AppError, match="unknown backend"):
        common.get_predictor("unet_medical", "tensorrt")


def test_model_choices_label_untrained():
    choices = common.model_choices("street")
    for label, name in choices:
        assert ("untrained" in label) == (not common.model_is_trained(name))


def test_temp_dirs_are_bounded(monkeypatch):
    from collections import deque

    monkeypatch.setattr(common, "MAX_TEMP_DIRS", 3)
    monkeypatch.setattr(common, "_TEMP_DIRS", deque())  # leave other tests' folders alone
    made = [common.temp_dir("t-") for _ in range(5)]
    assert [d.exists() for d in made] == [False, False, True, True, True]
    assert len({d.parent for d in made}) == 1


def test_default_model_prefers_trained(monkeypatch):
    trained = {"unet"}
    monkeypatch.setattr(common, "model_is_trained", lambda n: n in trained)
    assert common.default_model("street", "lraspp_mobilenet_v3") == "unet"
    trained.add("lraspp_mobilenet_v3")
    assert common.default_model("street", "lraspp_mobilenet_v3") == "lraspp_mobilenet_v3"
    trained.clear()
    assert common.default_model("street", "lraspp_mobilenet_v3") == "lraspp_mobilenet_v3"
