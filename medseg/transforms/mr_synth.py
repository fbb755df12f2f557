"""MR image synthesis and corruption for 3-D volumes (SynthStrip / SynthSeg style).

Pure functions on torch tensors ``[X, Y, Z]`` (float32) with an explicit
``torch.Generator`` for every random draw, so a seed reproduces a volume exactly. Used by
:mod:`medseg.data.synthetic_heads` to turn label maps into endless training heads of random
contrast, and by the tests and ``scripts/eval_brain.py``.

MONAI has array transforms for some of these (``RandBiasField``, ``RandGaussianNoise``,
``RandAdjustContrast``), but they draw from NumPy's ``RandomState`` one call at a time and work
channel by channel on CPU arrays; the synthesis draws hundreds of numbers per volume (one mean
and std per label) and warps label maps on a torch grid, so one torch generator is simpler to
seed and ~5× faster here. The formulas follow SynthSeg (Billot et al., 2023) and SynthStrip
(Hoopes et al., 2022): Gaussian mixture per label, multiplicative bias field
``exp(smooth field)``, gamma, anisotropic blur and thick-slice down/up-sampling, noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def uniform(gen: torch.Generator, lo: float, hi: float, size: Sequence[int] = ()) -> torch.Tensor:
    """Uniform samples in ``[lo, hi)`` (a 0-d tensor for ``size=()``)."""
    return lo + (hi - lo) * torch.rand(tuple(size), generator=gen)


def gmm_image(
    labels: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Gaussian mixture image: voxel ``v`` ~ ``N(means[labels[v]], stds[labels[v]]²)``.

    Args:
        labels: integer label map (any shape), values in ``[0, len(means))``.
        means, stds: ``[L]`` float per label.
        gen: random generator.

    Returns:
        float32 tensor of the shape of ``labels``.
    """
    lab = labels.long()
    noise = torch.randn(lab.shape, generator=gen)
    return (means.float()[lab] + stds.float()[lab] * noise).float()


def random_lut(x: torch.Tensor, gen: torch.Generator, points: int = 6) -> torch.Tensor:
    """Remap intensities in ``[0, 1]`` through a random piecewise-linear curve.

    ``points`` control values are drawn uniformly in ``[0, 1]`` at evenly spaced inputs, so the
    curve may invert the tissue order (T1 → T2-like) or flatten it (PD-like). Inputs outside
    ``[0, 1]`` are clamped first.
    """
    xs = torch.linspace(0, 1, points)
    ys = torch.rand(points, generator=gen)
    return piecewise_linear(x.clamp(0, 1), xs, ys)


def piecewise_linear(x: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """``np.interp``-like mapping of ``x`` through the points ``(xs, ys)`` (``xs`` increasing)."""
    xs, ys = xs.float(), ys.float()
    i = torch.bucketize(x.contiguous(), xs).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0, 1)
    return y0 + t * (y1 - y0)


def bias_field(
    shape: Sequence[int], max_log: float, gen: torch.Generator, coarse: int = 4
) -> torch.Tensor:
    """Smooth multiplicative field ``exp(f)`` with ``|f| <= max_log`` everywhere.

    ``f`` is drawn uniformly in ``[-max_log, max_log]`` on a ``coarse³`` grid and upsampled
    trilinearly (a convex combination, so the bound holds on the full grid).
    """
    c = torch.empty((1, 1, coarse, coarse, coarse)).uniform_(-max_log, max_log, generator=gen)
    f = F.interpolate(c, size=tuple(shape), mode="trilinear", align_corners=True)[0, 0]
    return f.exp()


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian, radius ``ceil(3 σ)`` (a single 1 for ``σ <= 0``)."""
    if sigma <= 0:
        return torch.ones(1)
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur3d(x: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Separable Gaussian blur of ``x [X, Y, Z]``, one σ (voxels) per axis, edges replicated."""
    out = x[None, None].float()
    for axis, s in enumerate(sigmas):
        k = gaussian_kernel1d(float(s))
        if k.numel() == 1:
            continue
        r = k.numel() // 2
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = k.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = r
        out = F.conv3d(F.pad(out, pad, mode="replicate"), k.reshape(shape))
    return out[0, 0]


def thick_slices(x: torch.Tensor, axis: int, factor: int) -> torch.Tensor:
    """Simulate slices ``factor`` voxels thick along ``axis``; the grid is kept.

    Each run of ``factor`` voxels is averaged (box slice profile, like a thick-slice
    acquisition) and the result is linearly interpolated back to the original length, as an
    isotropic resampling of a thick-slice scan would do.
    """
    if factor <= 1:
        return x.clone()
    n = x.shape[axis]
    v = x.movedim(axis, -1)[None]  # [1, A, B, n]
    lead = v.shape[:-1]
    v = v.reshape(1, -1, n)
    m = math.ceil(n / factor)
    pad = m * factor - n
    if pad:
        v = F.pad(v, (0, pad), mode="replicate")
    low = F.avg_pool1d(v, factor, factor)
    up = F.interpolate(low, size=m * factor, mode="linear", align_corners=False)[..., :n]
    return up.reshape(*lead, n)[0].movedim(-1, axis).contiguous()


def add_noise(
    x: torch.Tensor, std: float, gen: torch.Generator, rician: bool = False
) -> torch.Tensor:
    """Gaussian noise, or Rician (magnitude of a complex signal with Gaussian noise)."""
    n1 = torch.randn(x.shape, generator=gen) * std
    if not rician:
        return x + n1
    n2 = torch.randn(x.shape, generator=gen) * std
    return torch.sqrt((x + n1) ** 2 + n2**2)


def rescale01(x: torch.Tensor, lo_q: float = 0.0, hi_q: float = 0.999) -> torch.Tensor:
    """Map the ``lo_q`` / ``hi_q`` quantiles of ``x`` to 0 / 1 and clamp."""
    flat = x.flatten()
    if flat.numel() > 1_000_000:  # a strided subsample is plenty for two quantiles
        flat = flat[:: flat.numel() // 1_000_000 + 1]
    lo, hi = torch.quantile(flat.float(), torch.tensor([lo_q, hi_q]))
    return ((x - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1)


def rotation_matrix(angles: Sequence[float]) -> torch.Tensor:
    """3×3 rotation ``Rz @ Ry @ Rx`` for angles (radians) about x, y, z."""
    ax, ay, az = (float(a) for a in angles)
    cx, sx, cy, sy, cz, sz = (
        math.cos(ax),
        math.sin(ax),
        math.cos(ay),
        math.sin(ay),
        math.cos(az),
        math.sin(az),
    )
    rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=torch.float32)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float32)
    rz = torch.tensor([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=torch.float32)
    return rz @ ry @ rx


def smooth_displacement(
    shape: Sequence[int], max_disp: float, gen: torch.Generator, coarse: int = 5
) -> torch.Tensor:
    """Smooth random displacement ``[X, Y, Z, 3]`` (voxels), each component in ``±max_disp``."""
    c = torch.empty((1, 3, coarse, coarse, coarse)).uniform_(-max_disp, max_disp, generator=gen)
    d = F.interpolate(c, size=tuple(shape), mode="trilinear", align_corners=True)[0]
    return d.permute(1, 2, 3, 0)


def sampling_grid(
    out_shape: Sequence[int],
    src_shape: Sequence[int],
    matrix: torch.Tensor,
    center_src: Sequence[float],
    displacement: torch.Tensor | None = None,
) -> torch.Tensor:
    """A ``grid_sample`` grid that maps output voxel ``o`` to source voxel ``s``.

    ``s = matrix @ (o - c_out) + center_src (+ displacement[o])`` with ``c_out`` the centre of
    the output grid; ``matrix`` is in voxels per voxel (rotation × scale). Returns
    ``[1, X, Y, Z, 3]`` in ``grid_sample``'s normalised ``(z, y, x)`` order
    (``align_corners=True`` convention).
    """
    axes = [torch.arange(n, dtype=torch.float32) - (n - 1) / 2 for n in out_shape]
    o = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)  # [X, Y, Z, 3]
    s = o @ matrix.T.float() + torch.as_tensor(center_src, dtype=torch.float32)
    if displacement is not None:
        s = s + displacement
    size = torch.as_tensor(src_shape, dtype=torch.float32)
    norm = 2 * s / (size - 1).clamp_min(1) - 1
    return norm.flip(-1)[None]


def warp(vol: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``vol [C, X, Y, Z]`` (or ``[X, Y, Z]``) on ``grid``; outside is 0."""
    squeeze = vol.dim() == 3
    v = vol[None] if squeeze else vol
    out = F.grid_sample(v[None].float(), grid, mode=mode, padding_mode="zeros", align_corners=True)[
        0
    ]
    return out[0] if squeeze else out
