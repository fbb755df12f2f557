"""predict_volume follows the shared preprocessing contract (checked step by step)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.data.samples import MRICRON
from medseg.engine.postprocess import clean_mask
from medseg.engine.predictor import Predictor


def _zscore(a):
    lo, hi = np.percentile(a, [0.5, 99.5])
    c = np.clip(a, lo, hi)
    return (c - c.mean()) / c.std()


def _manual(model, canon):
    z = torch.tensor(_zscore(canon.astype(np.float64)), dtype=torch.float32)
    out = np.zeros(canon.shape, np.uint8)
    with torch.no_grad():
        for k in range(canon.shape[2]):
            out[:, :, k] = model(z[None, None, :, :, k]).argmax(1)[0].numpy()
    return out


@pytest.fixture
def blob_volume():
    rng = np.random.default_rng(0)
    v = rng.normal(0, 1, (24, 30, 7)).astype(np.float32)
    v[6:18, 8:22, 1:6] += 4.0
    return v


def test_bare_array_matches_manual_loop(small_medical, blob_volume):
    p = Predictor.from_model(small_medical)
    got = p.predict_volume(blob_volume, (1.0, 1.0, 2.0), batch_size=3, postprocess=False)
    np.testing.assert_array_equal(got, _manual(small_medical, blob_volume))
    mask, probs = p.predict_volume(blob_volume, batch_size=4, postprocess=False, return_probs=True)
    assert probs.shape == (2, *blob_volume.shape)
    np.testing.assert_array_equal(mask, probs.argmax(0))
    post = p.predict_volume(blob_volume, batch_size=4, postprocess=True)
    np.testing.assert_array_equal(post, clean_mask(got))


def test_volume_object_reoriented_like_nibabel(small_medical, blob_volume):
    import nibabel as nib

    from medseg.io import Volume

    # an LPS-like, axis-swapped source layout
    affine = np.array([[0, -1.0, 0, 10], [-1.0, 0, 0, 20], [0, 0, 2.0, -5], [0, 0, 0, 1]])
    vol = Volume(blob_volume, affine, (1.0, 1.0, 2.0))
    p = Predictor.from_model(small_medical)
    got = p.predict_volume(vol, postprocess=False)
    assert got.shape == blob_volume.shape
    # independent: nibabel's closest canonical, predict there, then map back with nibabel
    img = nib.Nifti1Image(blob_volume, affine)
    can = nib.as_closest_canonical(img)
    ref_can = _manual(small_medical, np.asarray(can.dataobj))
    back = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(can.affine), nib.orientations.io_orientation(affine)
    )
    ref = nib.orientations.apply_orientation(ref_can, back)
    np.testing.assert_array_equal(got, ref)


def test_inplane_resampling_to_cfg_spacing(small_medical, blob_volume):
    small_medical.cfg = small_medical.cfg.replace(spacing=(2.0, 2.0))
    p = Predictor.from_model(small_medical)
    seen = []
    inner = p.runner
    p.runner = lambda x: seen.append(tuple(x.shape)) or inner(x)
    mask = p.predict_volume(blob_volume, (1.0, 0.5, 3.0), batch_size=4)
    assert mask.shape == blob_volume.shape
    # x: 24 px * 1 mm / 2 mm = 12 ; y: 30 px * 0.5 mm / 2 mm = 7.5 → 8 ; z untouched (7 = 4 + 3)
    assert seen == [(4, 1, 12, 8), (3, 1, 12, 8)]


def test_ct_window_normalisation(small_medical):
    small_medical.cfg = small_medical.cfg.replace(normalization="ct_window", window=(40.0, 400.0))
    p = Predictor.from_model(small_medical)
    hu = np.random.default_rng(1).uniform(-1000, 1000, (16, 16, 3)).astype(np.float32)
    got = p.predict_volume(hu, postprocess=False)
    x = np.clip((hu - (40 - 200)) / 400.0, 0, 1)
    with torch.no_grad():
        ref = np.stack(
            [
                small_medical(torch.tensor(x[None, None, :, :, k])).argmax(1)[0].numpy()
                for k in range(3)
            ],
            -1,
        )
    np.testing.assert_array_equal(got, ref)


def test_rgb_model_refuses_volume(small_unet):
    with pytest.raises(ValueError, match="medical model"):
        Predictor.from_model(small_unet).predict_volume(np.zeros((8, 8, 2), np.float32))


def test_bad_volumes(small_medical):
    p = Predictor.from_model(small_medical)
    with pytest.raises(ValueError, match="volume"):
        p.predict_volume(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="spacing"):
        p.predict_volume(np.zeros((8, 8, 2), np.float32), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="NaN"):  # nothing finite to segment
        p.predict_volume(np.full((8, 8, 2), np.nan, np.float32))


def test_nan_voxels_are_the_minimum_with_a_warning(small_medical):
    p = Predictor.from_model(small_medical)
    arr = np.random.default_rng(0).normal(5, 1, (16, 16, 3)).astype(np.float32)
    bad = arr.copy()
    bad[0] = np.nan
    ref = arr.copy()
    ref[0] = arr[1:].min()  # the minimum of the finite voxels
    with pytest.warns(UserWarning, match="NaN/Inf"):
        got = p.predict_volume(bad)
    np.testing.assert_array_equal(got, p.predict_volume(ref))
    assert np.isnan(bad[0]).all()  # the caller's array is left as it was


def test_real_dicom_series(small_medical, ct5n_dir):
    from medseg.io import load_volume

    vol = load_volume(ct5n_dir)
    mask = Predictor.from_model(small_medical).predict_volume(vol, batch_size=2)
    assert mask.shape == vol.array.shape and mask.dtype == np.uint8


def test_sliding_window_per_slice(small_medical, blob_volume):
    from medseg.engine.sliding import sliding_window_predict

    p = Predictor.from_model(small_medical)
    got = p.predict_volume(blob_volume, window=(16, 16), postprocess=False)
    z = torch.tensor(_zscore(blob_volume.astype(np.float64)), dtype=torch.float32).permute(2, 0, 1)[
        :, None
    ]
    ref = sliding_window_predict(small_medical, z, (16, 16)).argmax(1).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, ref)


@pytest.mark.slow
def test_shipped_brain_model_on_held_out_volume():

    from medseg.io import load_volume
    from medseg.models import get_model_cfg

    t1, bet = (
        MRICRON / "ch2.nii.gz",
        MRICRON / "ch2bet.nii.gz",
    )
    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("unet_medical weights not shipped")
    if not (t1.is_file() and bet.is_file()):
        pytest.skip("Debian mricron-data (ch2 / ch2bet) not installed")
    vol = load_volume(t1)
    ref = load_volume(bet).array > 0
    mask = Predictor.from_name("unet_medical").predict_volume(vol).astype(bool)
    dice = 2 * (mask & ref).sum() / (mask.sum() + ref.sum())
    # the model card reports 0.944 on this held-out pair with the same post-processing
    assert dice > 0.9, dice


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_batch_size_must_be_a_positive_integer(bad):
    # regression: batch_size=0 used to return all-zero probabilities and an empty mask
    from medseg.engine.predictor import Predictor

    p = Predictor.from_name("unet_medical", pretrained=False, base_channels=4)
    with pytest.raises(ValueError, match="batch_size"):
        p.predict_volume(np.zeros((8, 8, 3), np.float32), batch_size=bad)


def test_engine_dispatches_tri_planar_models(small_medical):
    """Predictor.predict_volume of a model with volume_planes == predict_views + reorientation."""
    from medseg.io import Volume
    from medseg.transforms import volume_views as vv

    small_medical.cfg = small_medical.cfg.replace(
        spacing=(2.0, 2.0), volume_planes=("axial", "sagittal")
    )
    rng = np.random.default_rng(1)
    arr = rng.normal(0, 1, (20, 18, 10)).astype(np.float32)
    arr[5:15, 4:14, 2:8] += 3
    p = Predictor.from_model(small_medical)
    with torch.no_grad():
        ref = vv.predict_views(small_medical, arr, (1.0, 1.0, 2.0), small_medical.cfg)
    np.testing.assert_array_equal(p.predict_volume(arr, (1.0, 1.0, 2.0)), ref)
    # an axis-flipped source layout comes back in its own layout
    affine = np.diag([-1.0, 1.0, 2.0, 1.0])
    got = p.predict_volume(Volume(arr[::-1].copy(), affine, (1.0, 1.0, 2.0)))
    np.testing.assert_array_equal(got, ref[::-1])
