"""Synthetic MR heads of random contrast from label maps, for contrast-agnostic brain extraction.

SynthStrip (Hoopes et al., 2022) and SingleStrip (2025) train skull stripping only on images
synthesised from label maps. Here the label maps come from what installs offline:

* **itk** — the real ITK head (``KmeansTest_T1UCharRaw`` + its k-means segmentation and
  skull-stripped mask, Debian ``insighttoolkit5-examples``, Apache-2.0): k-means tissue
  classes, each split into intensity bins of the real T1 (SingleStrip's trick).
* **hybrid** — the MNI152 2009 brain (nilearn's grey/white-matter maps and skull-stripped T1)
  placed in the ITK head's skull and scalp (brain masks aligned by their centroid and extent;
  the gap becomes extra-cerebral CSF).
* **shells** — the MNI152 brain wrapped in random layers (CSF, skull tables, diploë, scalp,
  fat) whose thickness varies smoothly over the head.

:func:`synth_head` draws one head: a source, a contrast (random Gaussian mixture per label,
T1/T2/PD/FLAIR-like ranges per tissue, or the real T1 through a random curve), an affine +
elastic deformation onto a 2 mm grid, blur, bias field, gamma, noise and thick slices; it
returns the z-scored image and the brain mask. Every draw uses one ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..transforms import mr_synth as ms
from ..transforms.intensity import zscore_normalize

ITK_DIR = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")

# Tissue types: they only steer the contrast presets.
BG, CSF, GM, WM, DARK, SOFT, FAT = range(7)
# Label layout shared by all sources (20 labels).
N_LABELS = 20
BRAIN_LABELS = tuple(range(1, 7))  # csf, csf, gm, gm, wm, wm (two intensity bins each)
ITK_OUTSIDE = tuple(range(7, 13))  # six intensity bins of the ITK non-brain tissue
ECSF = 13  # extra-cerebral CSF (hybrid gap, innermost shell)
SHELLS = tuple(range(14, 19))  # inner table, diploë, outer table, scalp, fat
TISSUE = torch.tensor(
    [BG, CSF, CSF, GM, GM, WM, WM, DARK, DARK, SOFT, SOFT, FAT, FAT, CSF]
    + [DARK, FAT, DARK, SOFT, FAT, SOFT]
)
# Mean intensity ranges per tissue type (BG, CSF, GM, WM, DARK, SOFT, FAT) in [0, 1].
CONTRASTS = {
    "t1": [(0, 0.08), (0.05, 0.3), (0.35, 0.55), (0.6, 0.85), (0, 0.2), (0.25, 0.55), (0.7, 1)],
    "t2": [(0, 0.08), (0.75, 1), (0.4, 0.6), (0.25, 0.45), (0, 0.2), (0.15, 0.4), (0.4, 0.85)],
    "pd": [(0, 0.08), (0.6, 0.9), (0.55, 0.75), (0.45, 0.65), (0, 0.25), (0.35, 0.6), (0.55, 0.9)],
    "flair": [(0, 0.08), (0.0, 0.2), (0.5, 0.7), (0.35, 0.5), (0, 0.2), (0.2, 0.5), (0.5, 0.95)],
}


@dataclass
class HeadSource:
    """One label map on a 2 mm RAS grid.

    Attributes:
        name: ``"itk"``, ``"hybrid"`` or ``"shells"``.
        labels: ``[X, Y, Z]`` int64 in ``[0, N_LABELS)``.
        brain: ``[X, Y, Z]`` float brain fraction (the target is ``>= 0.5``).
        real: ``[X, Y, Z]`` real T1 intensities in ``[0, 1]``, or ``None``.
        outside_mm: for ``shells``: distance (mm) outside the brain, else ``None``.
    """

    name: str
    labels: torch.Tensor
    brain: torch.Tensor
    real: torch.Tensor | None = None
    outside_mm: torch.Tensor | None = None
    center: tuple[float, float, float] = field(init=False)

    def __post_init__(self):
        idx = torch.nonzero(self.brain >= 0.5).float()
        self.center = tuple(float(c) for c in idx.mean(0)) if len(idx) else (0.0, 0.0, 0.0)


def _canonical(path: Path):
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine, img.header.get_zooms()[:3]


def _bins(values: torch.Tensor, n: int) -> torch.Tensor:
    """Index ``0..n-1`` of the quantile bin of each value (equal counts)."""
    if values.numel() == 0:
        return values.long()
    q = torch.quantile(values.float(), torch.linspace(0, 1, n + 1)[1:-1])
    return torch.bucketize(values.contiguous(), q)


def load_itk_head(data_dir: Path = ITK_DIR, spacing: float = 2.0):
    """The ITK head as a :class:`HeadSource` plus its RAS affine at ``spacing`` mm."""
    t1, aff, zooms = _canonical(data_dir / "KmeansTest_T1UCharRaw.nii.gz")
    km, _, _ = _canonical(data_dir / "KmeansTest_T1KmeansPrelimSegmentation.nii.gz")
    ss, _, _ = _canonical(data_dir / "KmeansTest_T1RawSkullStrip.nii.gz")
    size = tuple(round(n * z / spacing) for n, z in zip(t1.shape, zooms))

    def rs(a, mode):
        t = torch.from_numpy(a)[None, None]
        kw = {} if mode == "nearest-exact" else {"align_corners": False}
        return F.interpolate(t, size=size, mode=mode, **kw)[0, 0]

    real = ms.rescale01(rs(t1, "trilinear"), 0.0, 0.995)
    brain = rs((ss > 0).astype(np.float32), "trilinear")
    km = rs(km, "nearest-exact").long()
    labels = torch.zeros(size, dtype=torch.long)
    inside = brain >= 0.5
    # brain: k-means 4 (dark, CSF-like), 5 (grey), 6 (white); anything else inside -> CSF
    cls = torch.where(km == 6, 2, torch.where(km == 5, 1, 0))
    for c in range(3):
        m = inside & (cls == c)
        labels[m] = 1 + 2 * c + _bins(real[m], 2)
    out = ~inside & (km >= 2)
    labels[out] = ITK_OUTSIDE[0] + _bins(real[out], len(ITK_OUTSIDE))
    scale = np.diag([spacing / z for z in zooms] + [1.0])
    return HeadSource("itk", labels, brain, real), aff @ scale


def load_mni_brain(spacing: float = 2.0):
    """MNI152 2009a (symmetric) brain at ``spacing`` mm: ``(labels, brain, t1, affine)`` (needs nilearn)."""
    import nibabel as nib
    import nilearn

    d = Path(nilearn.__file__).parent / "datasets" / "data"
    name = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
    img = nib.load(str(d / name.format("t1")))
    t1 = np.asarray(img.dataobj, np.float32)
    gm = np.asarray(nib.load(str(d / name.format("gm"))).dataobj, np.float32) / 255
    wm = np.asarray(nib.load(str(d / name.format("wm"))).dataobj, np.float32) / 255
    f = int(round(spacing / float(img.header.get_zooms()[0])))

    def pool(a):
        t = torch.from_numpy(a)[None, None]
        pad = [0, (-t.shape[4]) % f, 0, (-t.shape[3]) % f, 0, (-t.shape[2]) % f]
        return F.avg_pool3d(F.pad(t, pad), f)[0, 0]

    brain = pool((t1 > 0).astype(np.float32))
    g, w, t = pool(gm), pool(wm), pool(t1)
    t = t / brain.clamp_min(1e-3)  # mean T1 over the brain part of each voxel
    csf = (brain - g - w).clamp_min(0)
    cls = torch.stack([csf, g, w]).argmax(0)
    labels = torch.zeros(brain.shape, dtype=torch.long)
    inside = brain >= 0.5
    for c in range(3):
        m = inside & (cls == c)
        labels[m] = 1 + 2 * c + _bins(t[m], 2)
    real = (t / torch.quantile(t[inside], 0.995)).clamp(0, 1) * inside
    affine = img.affine @ np.diag([f, f, f, 1.0])
    affine[:3, 3] += img.affine[:3, :3] @ np.full(3, (f - 1) / 2)
    return labels, brain, real, affine


def _moments(mask: torch.Tensor, affine: np.ndarray):
    idx = torch.nonzero(mask).double().numpy()
    mm = idx @ affine[:3, :3].T + affine[:3, 3]
    return mm.mean(0), mm.std(0)


def build_sources(spacing: float = 2.0, margin: int = 10) -> list[HeadSource]:
    """The three label-map sources (``itk``, ``hybrid``, ``shells``) at ``spacing`` mm."""
    from scipy import ndimage as ndi

    itk, itk_aff = load_itk_head(spacing=spacing)
    labels, brain, real, aff = load_mni_brain(spacing)
    # hybrid grid: the MNI grid with a margin for the scalp
    shape = tuple(n + 2 * margin for n in brain.shape)
    pad = [margin] * 6
    labels, brain, real = (F.pad(a, pad) for a in (labels, brain, real))
    aff = aff.copy()
    aff[:3, 3] -= aff[:3, :3] @ np.full(3, margin)
    # map every hybrid voxel to ITK voxel coordinates by aligning the brain masks' moments
    c_mni, s_mni = _moments(brain >= 0.5, aff)
    c_itk, s_itk = _moments(itk.brain >= 0.5, itk_aff)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    mm = ijk.reshape(-1, 3) @ aff[:3, :3].T + aff[:3, 3]
    mm_itk = c_itk + (mm - c_mni) * (s_itk / s_mni)
    vox = (mm_itk - itk_aff[:3, 3]) @ np.linalg.inv(itk_aff[:3, :3]).T
    size = np.array(itk.labels.shape)
    grid = torch.from_numpy((2 * vox / (size - 1) - 1)[:, ::-1].copy()).float()
    grid = grid.reshape(1, *shape, 3)
    it_lab = ms.warp(itk.labels.float(), grid, mode="nearest").long()
    it_real = ms.warp(itk.real, grid)
    it_brain = ms.warp(itk.brain, grid)
    inside = brain >= 0.5
    gap = ~inside & (it_brain >= 0.5)
    h_lab = torch.where(inside, labels, it_lab)
    h_lab[gap] = ECSF
    csf_level = float(itk.real[(itk.labels == 1) | (itk.labels == 2)].median())
    wm_scale = float(itk.real[itk.labels == 6].median()) / float(real[labels == 6].median())
    h_real = torch.where(inside, real * wm_scale, it_real)
    h_real[gap] = csf_level
    hybrid = HeadSource("hybrid", h_lab, brain, h_real.clamp(0, 1))
    out_mm = ndi.distance_transform_edt(~inside.numpy(), sampling=spacing).astype(np.float32)
    shells = HeadSource("shells", labels.clone(), brain.clone(), None, torch.from_numpy(out_mm))
    return [itk, hybrid, shells]


def shell_labels(src: HeadSource, gen: torch.Generator) -> torch.Tensor:
    """Labels of a ``shells`` source with random, smoothly varying layer thicknesses (mm)."""
    d = src.outside_mm + ms.smooth_displacement(src.outside_mm.shape, 2.5, gen, coarse=4)[..., 0]
    t = torch.cumsum(
        torch.stack(
            [
                ms.uniform(gen, 0.5, 4.0),  # CSF
                ms.uniform(gen, 1.0, 3.0),  # inner table
                ms.uniform(gen, 0.0, 4.0),  # diploë
                ms.uniform(gen, 1.0, 3.0),  # outer table
                ms.uniform(gen, 2.0, 6.0),  # scalp
                ms.uniform(gen, 0.0, 5.0),  # fat
            ]
        ),
        0,
    )
    lab = src.labels.clone()
    out = src.brain < 0.5
    layer = torch.bucketize(d.contiguous(), t)  # 0..6 (6 = beyond the head)
    codes = torch.tensor([ECSF, *SHELLS, 0])
    lab[out] = codes[layer[out]]
    return lab


@dataclass
class SynthConfig:
    """Probabilities and ranges of :func:`synth_head` (defaults: the shipped recipe)."""

    out_shape: tuple[int, int, int] = (96, 112, 96)
    source_weights: tuple[float, float, float] = (0.35, 0.4, 0.25)  # itk, hybrid, shells
    p_real: float = 0.35  # real T1 (through a random curve half of the time)
    p_preset: float = 0.3  # T1/T2/PD/FLAIR-like ranges per tissue; else fully random GMM
    max_rotation_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    max_shift_vox: float = 6.0
    max_elastic_vox: float = 3.0
    max_blur_vox: float = 1.0
    p_thick: float = 0.3
    thick_factor: tuple[int, int] = (2, 4)  # 4-8 mm slices on the 2 mm grid
    max_bias_log: float = 0.6
    gamma_log_std: float = 0.3
    max_noise: float = 0.08


def _contrast(src: HeadSource, labels: torch.Tensor, gen: torch.Generator, cfg: SynthConfig):
    r = float(torch.rand((), generator=gen))
    if src.real is not None and r < cfg.p_real:
        img = src.real.clone()
        if float(torch.rand((), generator=gen)) < 0.5:
            img = ms.random_lut(img, gen, points=int(torch.randint(3, 8, (), generator=gen)))
            if float(torch.rand((), generator=gen)) < 0.8:  # air stays dark (MR physics)
                bg = src.real < 0.03
                img[bg] = img[bg] * 0.1
        return img + 0.02 * torch.randn(img.shape, generator=gen)
    if r < cfg.p_real + cfg.p_preset:
        keys = sorted(CONTRASTS)
        preset = torch.tensor(CONTRASTS[keys[int(torch.randint(len(keys), (), generator=gen))]])
        lo, hi = preset[TISSUE, 0], preset[TISSUE, 1]
        means = lo + (hi - lo) * torch.rand(N_LABELS, generator=gen)
        stds = ms.uniform(gen, 0.0, 0.05, (N_LABELS,))
    else:
        means = torch.rand(N_LABELS, generator=gen)
        if float(torch.rand((), generator=gen)) < 0.8:
            means[0] = ms.uniform(gen, 0.0, 0.1)
        stds = ms.uniform(gen, 0.0, 0.1, (N_LABELS,))
    return ms.gmm_image(labels, means, stds, gen)


def synth_head(
    sources: list[HeadSource], gen: torch.Generator, cfg: SynthConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One synthetic head on a 2 mm grid of ``cfg.out_shape``.

    Returns:
        ``(image, mask, name)``: z-scored float32 ``[X, Y, Z]`` (as
        :func:`medseg.transforms.intensity.zscore_normalize` gives at inference), uint8 brain
        mask of the same shape, and the source name.
    """
    cfg = cfg or SynthConfig()
    w = torch.tensor(cfg.source_weights[: len(sources)], dtype=torch.float)
    src = sources[int(torch.multinomial(w, 1, generator=gen))]
    labels = shell_labels(src, gen) if src.outside_mm is not None else src.labels
    img = _contrast(src, labels, gen, cfg)
    # spatial: rotation x scale (+ left-right flip), shift, smooth elastic displacement
    ang = [math.radians(float(a)) for a in ms.uniform(gen, -1, 1, (3,)) * cfg.max_rotation_deg]
    scale = ms.uniform(gen, *cfg.scale, (3,)) * ms.uniform(gen, 0.95, 1.05)
    flip = torch.ones(3)
    flip[0] = -1.0 if float(torch.rand((), generator=gen)) < 0.5 else 1.0
    matrix = ms.rotation_matrix(ang) @ torch.diag(flip / scale)
    center = torch.tensor(src.center) + ms.uniform(gen, -1, 1, (3,)) * cfg.max_shift_vox
    disp = ms.smooth_displacement(
        cfg.out_shape, float(ms.uniform(gen, 0, cfg.max_elastic_vox)), gen
    )
    grid = ms.sampling_grid(cfg.out_shape, labels.shape, matrix, center, disp)
    img, brain = ms.warp(torch.stack([img, src.brain]), grid)
    # acquisition: partial volume blur, bias field, contrast curve, noise, thick slices
    img = ms.blur3d(img.clamp_min(0), ms.uniform(gen, 0, cfg.max_blur_vox, (3,)).tolist())
    if float(torch.rand((), generator=gen)) < 0.8:
        img = img * ms.bias_field(
            img.shape, float(ms.uniform(gen, 0, cfg.max_bias_log)), gen, coarse=4
        )
    img = ms.rescale01(img) ** float(torch.exp(torch.randn((), generator=gen) * cfg.gamma_log_std))
    if float(torch.rand((), generator=gen)) < 0.8:
        std = float(ms.uniform(gen, 0, cfg.max_noise))
        img = ms.add_noise(img, std, gen, rician=float(torch.rand((), generator=gen)) < 0.5)
    if float(torch.rand((), generator=gen)) < cfg.p_thick:
        axis = int(torch.randint(3, (), generator=gen))
        f = int(torch.randint(cfg.thick_factor[0], cfg.thick_factor[1] + 1, (), generator=gen))
        img = ms.thick_slices(img, axis, f)
    img = torch.from_numpy(zscore_normalize(img.numpy()))
    return img, (brain >= 0.5).to(torch.uint8), src.name
