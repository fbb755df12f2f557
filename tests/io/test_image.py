"""2-D image files: real PNG/JPEG, written 16-bit PNG/TIFF, and bad files."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from medseg_io_data import itk_file

from medseg.data.samples import OPENCV_DATA
from medseg.io import MedsegIOError, load_image

LEUVEN = str(OPENCV_DATA / "leuvenA.jpg")


def test_png_palette_gray_matches_opencv():
    path = itk_file("BrainProtonDensitySlice.png")  # palette PNG with a gray palette
    a = load_image(path)
    ref = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    assert a.dtype == np.uint8 and a.ndim == 2
    np.testing.assert_array_equal(a, ref)


def test_gray_stored_as_rgb():
    path = itk_file("BrainT1Slice.png")  # a gray slice exported as RGB
    ref = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert load_image(path).shape == ref.shape
    gray = load_image(path, mode="gray")
    np.testing.assert_array_equal(gray, ref[..., 0])
    rgb = load_image(itk_file("BrainProtonDensitySlice.png"), mode="rgb")
    assert rgb.shape[-1] == 3 and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_one_bit_mask_png():
    path = itk_file("BrainProtonDensitySliceBorder20Mask.png")
    a = load_image(path)
    ref = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(a, ref)


def test_jpeg_rgb_matches_opencv():
    import os

    if not os.path.exists(LEUVEN):
        pytest.skip(f"{LEUVEN} missing (Debian package opencv-doc)")
    a = load_image(LEUVEN)
    ref = cv2.cvtColor(cv2.imread(LEUVEN, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert a.shape == ref.shape and a.dtype == np.uint8
    # Two JPEG decoders (Pillow's and OpenCV's libjpeg builds) may round differently.
    assert np.abs(a.astype(int) - ref).mean() < 1.0


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_gray_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 65535, (37, 51), dtype=np.uint16)
    p = str(tmp_path / f"slice16{suffix}")
    assert cv2.imwrite(p, ref)
    a = load_image(p)
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(a, ref)


def test_rgba_png_drops_alpha(tmp_path):
    rng = np.random.default_rng(1)
    bgra = rng.integers(0, 255, (9, 11, 4), dtype=np.uint8)
    p = str(tmp_path / "rgba.png")
    cv2.imwrite(p, bgra)
    a = load_image(p)
    np.testing.assert_array_equal(a, bgra[..., [2, 1, 0]])


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_refused(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(60000, 60000))  # 3.6 gigapixels declared in 100 bytes
    with pytest.raises(MedsegIOError, match="bomb.png: .*(too large|exceeds)"):
        load_image(p)


def test_size_limit_is_configurable(tmp_path):
    p = str(tmp_path / "small.png")
    cv2.imwrite(p, np.zeros((20, 20), np.uint8))
    with pytest.raises(MedsegIOError, match=r"20×20 pixels .* over the limit of 0.0001 megapixels"):
        load_image(p, max_pixels=100)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.png", b"", "empty file"),
        ("noise.png", bytes(range(256)) * 4, "not a readable image"),
        ("notes.txt", b"hello", "not a readable image"),
    ],
)
def test_bad_files(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(MedsegIOError, match=f"{name}: {match}"):
        load_image(p)


def test_truncated_png(tmp_path):
    src = itk_file("BrainT1Slice.png")
    data = open(src, "rb").read()
    p = tmp_path / "cut.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MedsegIOError, match="cut.png: damaged or truncated"):
        load_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(MedsegIOError, match="gone.png: no such file"):
        load_image(tmp_path / "gone.png")
