"""medseg transforms in a MONAI Compose next to MONAI's own, checked against plain functions."""

from __future__ import annotations

import nibabel as nib
import nibabel.orientations as nio
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    Invertd,
    LoadImaged,
    Orientationd,
    ScaleIntensityRanged,
)

from medseg.monai import InPlaneResample, InPlaneResampled, inplane_size
from medseg.transforms.dictionary import CTWindowd, MultiWindowd, PercentileZScored
from medseg.transforms.intensity import apply_window, zscore_normalize

READER = "medseg.io.monai_readers.MedsegReader"


def _canonical(path):
    img = nib.as_closest_canonical(nib.load(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine


def test_ct_window_in_compose_matches_apply_window(ct5n):
    from medseg.io import load_volume

    pipe = Compose(
        [
            LoadImaged("image", reader=READER, image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", "RAS", labels=None),
            CTWindowd("image", "brain"),
            MultiWindowd("stack", ("brain", "bone"), allow_missing_keys=True),
        ]
    )
    d = pipe({"image": str(ct5n)})
    vol = load_volume(ct5n)
    ornt = nio.io_orientation(vol.affine)
    expected = apply_window(nio.apply_orientation(vol.array, ornt), 40.0, 80.0)
    assert isinstance(d["image"], MetaTensor)
    np.testing.assert_allclose(d["image"][0].numpy(), expected, rtol=0, atol=1e-6)
    # the MONAI Orientationd before it is still recorded: the history survives our transform
    assert [op["class"] for op in d["image"].applied_operations] == ["Orientation"]


def test_multi_window_next_to_monai_scale_intensity(ct5n):
    pipe = Compose(
        [
            LoadImaged(["image", "copy"], reader=READER, image_only=True),
            EnsureChannelFirstd(["image", "copy"]),
            MultiWindowd("image", ("brain", "bone")),
            # MONAI's own windowing on the copy: HU [0, 80] -> [0, 1], clipped
            ScaleIntensityRanged("copy", a_min=0, a_max=80, b_min=0, b_max=1, clip=True),
        ]
    )
    d = pipe({"image": str(ct5n), "copy": str(ct5n)})
    assert d["image"].shape[0] == 2
    torch.testing.assert_close(d["image"][0], d["copy"][0].float(), rtol=0, atol=1e-6)


def test_zscore_after_monai_orientation_matches_plain_function(t1_crop):
    pipe = Compose(
        [
            LoadImaged("image", reader=READER, image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", "RAS", labels=None),
            PercentileZScored("image"),
        ]
    )
    out = pipe({"image": str(t1_crop)})["image"]
    arr, affine = _canonical(t1_crop)
    np.testing.assert_allclose(out[0].numpy(), zscore_normalize(arr), rtol=0, atol=1e-5)
    np.testing.assert_allclose(out.affine.numpy(), affine, atol=1e-5)


def test_inplane_resample_matches_interpolate_and_updates_affine(t1_crop):
    arr, affine = _canonical(t1_crop)  # spacing (2, 3, 2) mm
    img = MetaTensor(torch.from_numpy(arr)[None], affine=torch.as_tensor(affine))
    out = InPlaneResample((2.0, 2.0))(img)
    size = (round(72 * 2 / 2), round(40 * 3 / 2))
    assert inplane_size(arr.shape, (2.0, 3.0), (2.0, 2.0)) == size
    ref = F.interpolate(
        torch.from_numpy(arr).permute(2, 0, 1)[:, None],
        size=size,
        mode="bilinear",
        align_corners=False,
    )[:, 0].permute(1, 2, 0)
    assert out.shape == (1, *size, arr.shape[2])
    torch.testing.assert_close(out[0].as_tensor(), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(out.pixdim.numpy(), [2.0, 40 * 3 / 60, 2.0], atol=1e-6)

    # field of view kept: the outer voxel edges stay at the same world position
    def corner(aff, shape):
        return (aff @ np.array([-0.5, -0.5, -0.5, 1]))[:3], (
            aff @ np.array([*(np.array(shape) - 0.5), 1])
        )[:3]

    for a, b in zip(corner(affine, arr.shape), corner(out.affine.numpy(), out.shape[1:])):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_inplane_resample_2d_nearest_and_none():
    img = MetaTensor(
        torch.arange(12.0).reshape(1, 3, 4), affine=torch.diag(torch.tensor([1.0, 1, 1, 1]))
    )
    out = InPlaneResample((0.5, 2.0), mode="nearest")(img)
    assert out.shape == (1, 6, 2)
    assert set(out.unique().tolist()) <= set(range(12))  # nearest: no new values
    assert InPlaneResample(None)(img) is img
    with pytest.raises(TypeError, match="MetaTensor"):
        InPlaneResample((1.0, 1.0))(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="positive"):
        InPlaneResample((0.0, 1.0))


def test_invertd_restores_grid_and_values(t1_crop):
    """Invertd undoes MONAI Orientationd + medseg InPlaneResampled (+ z-score, not geometric)."""
    src = nib.load(t1_crop)
    pre = Compose(
        [
            LoadImaged("image", reader=READER, image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", "RAS", labels=None),
            InPlaneResampled("image", (2.0, 2.0)),
            PercentileZScored("image"),
        ]
    )
    d = pre({"image": str(t1_crop)})
    assert d["image"].shape == (1, 72, 60, 64)
    d["pred"] = d["image"].clone()
    back = Invertd("pred", pre, orig_keys="image", nearest_interp=False)(d)["pred"]
    assert back.shape == (1, *src.shape)
    np.testing.assert_allclose(back.affine.numpy(), src.affine, atol=1e-5)
    # the same inverse written by hand: resize back, then undo the reorientation
    can = d["image"][0].as_tensor()
    r = (
        F.interpolate(
            can.permute(2, 0, 1)[:, None], size=(72, 40), mode="bilinear", align_corners=False
        )[:, 0]
        .permute(1, 2, 0)
        .numpy()
    )
    ornt = nio.io_orientation(src.affine)
    expected = nio.apply_orientation(r, nio.ornt_transform(nio.axcodes2ornt("RAS"), ornt))
    np.testing.assert_allclose(back[0].numpy(), expected, rtol=0, atol=1e-4)


def test_invert_is_exact_when_spacing_already_matches(t1_crop):
    pre = Compose(
        [
            LoadImaged("image", reader=READER, image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", "RAS", labels=None),
            InPlaneResampled("image", (2.0, 3.0)),  # the canonical in-plane spacing: no-op
        ]
    )
    d = pre({"image": str(t1_crop)})
    d["pred"] = d["image"].clone()
    back = Invertd("pred", pre, orig_keys="image")(d)["pred"]
    np.testing.assert_array_equal(
        back[0].numpy(), np.asarray(nib.load(t1_crop).dataobj, np.float32)
    )
