"""MR synthesis primitives against independent computations (numpy, scipy, hand-worked)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from medseg.transforms import mr_synth as ms


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gmm_image_uses_each_labels_mean_and_std():
    labels = torch.tensor([[0, 1], [2, 1]])
    means = torch.tensor([0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        ms.gmm_image(labels, means, torch.zeros(3), gen()), [[0.1, 0.5], [0.9, 0.5]], atol=1e-7
    )
    big = torch.zeros(200_000, dtype=torch.long)
    big[100_000:] = 1
    img = ms.gmm_image(big, torch.tensor([0.2, 0.7]), torch.tensor([0.05, 0.1]), gen()).numpy()
    assert img[:100_000].mean() == pytest.approx(0.2, abs=1e-3)
    assert img[100_000:].std() == pytest.approx(0.1, rel=0.02)


def test_piecewise_linear_matches_numpy_interp():
    x = torch.rand(1000, generator=gen(1))
    xs, ys = torch.tensor([0.0, 0.3, 0.5, 1.0]), torch.tensor([0.2, 0.9, 0.1, 0.6])
    np.testing.assert_allclose(
        ms.piecewise_linear(x, xs, ys), np.interp(x.numpy(), xs.numpy(), ys.numpy()), atol=1e-6
    )


def test_random_lut_is_seeded_and_stays_in_unit_range():
    x = torch.linspace(-0.5, 1.5, 101)
    a, b = ms.random_lut(x, gen(3)), ms.random_lut(x, gen(3))
    assert torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, ms.random_lut(x, gen(4)))


@pytest.mark.parametrize("max_log", [0.1, 0.6])
def test_bias_field_is_bounded_and_smooth(max_log):
    f = ms.bias_field((20, 24, 18), max_log, gen(2))
    assert f.shape == (20, 24, 18)
    assert float(f.min()) >= math.exp(-max_log) - 1e-6
    assert float(f.max()) <= math.exp(max_log) + 1e-6
    # smooth: neighbouring voxels differ far less than the full range
    assert float((f[1:] - f[:-1]).abs().max()) < 0.5 * (math.exp(max_log) - math.exp(-max_log))


@pytest.mark.parametrize("sigmas", [(1.0, 0.0, 2.0), (2.0, 1.0, 1.0)])
def test_blur3d_matches_scipy(sigmas):
    x = torch.rand((14, 15, 16), generator=gen(5))
    ref = ndi.gaussian_filter(x.numpy().astype(np.float64), sigmas, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(ms.blur3d(x, sigmas).numpy(), ref, atol=1e-5)


def test_thick_slices_keeps_the_grid_and_averages_runs():
    ramp = torch.arange(4.0)[None, None, :].expand(2, 3, 4)
    out = ms.thick_slices(ramp, 2, 2)
    assert out.shape == ramp.shape
    # hand-worked: runs [0,1] [2,3] -> 0.5, 2.5 ; linear back at (i + .5) / 2 - .5, edges clamped
    np.testing.assert_allclose(out[0, 0], [0.5, 1.0, 2.0, 2.5], atol=1e-6)
    assert torch.equal(ms.thick_slices(ramp, 0, 1), ramp)
    const = torch.full((5, 7, 6), 3.0)
    np.testing.assert_allclose(ms.thick_slices(const, 1, 3), const, atol=1e-6)


def test_noise_is_seeded_and_rician_is_non_negative():
    x = torch.zeros(1000)
    assert torch.equal(ms.add_noise(x, 0.1, gen(7)), ms.add_noise(x, 0.1, gen(7)))
    r = ms.add_noise(x - 0.05, 0.1, gen(7), rician=True)
    assert float(r.min()) >= 0


def test_rotation_matrix_is_a_rotation():
    r = ms.rotation_matrix((0.3, -0.2, 1.1))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    assert float(torch.det(r)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(
        ms.rotation_matrix((0, 0, math.pi / 2)) @ torch.tensor([1.0, 0, 0]), [0, 1, 0], atol=1e-6
    )


def test_identity_and_flip_warps():
    vol = torch.rand((6, 7, 5), generator=gen(8))
    center = [(n - 1) / 2 for n in vol.shape]
    grid = ms.sampling_grid(vol.shape, vol.shape, torch.eye(3), center)
    np.testing.assert_allclose(ms.warp(vol, grid), vol, atol=1e-5)
    flip = ms.sampling_grid(vol.shape, vol.shape, torch.diag(torch.tensor([-1.0, 1, 1])), center)
    np.testing.assert_allclose(ms.warp(vol, flip), vol.flip(0), atol=1e-5)
    # a shift of one voxel along y, nearest sampling: out[:, j] = vol[:, j + 1], 0 outside
    shifted = [center[0], center[1] + 1, center[2]]
    g = ms.sampling_grid(vol.shape, vol.shape, torch.eye(3), shifted)
    out = ms.warp(vol, g, mode="nearest")
    np.testing.assert_allclose(out[:, :-1], vol[:, 1:], atol=1e-6)
    assert float(out[:, -1].abs().max()) == 0


def test_smooth_displacement_bounded():
    d = ms.smooth_displacement((8, 9, 10), 2.5, gen(9))
    assert d.shape == (8, 9, 10, 3)
    assert float(d.abs().max()) <= 2.5 + 1e-6
