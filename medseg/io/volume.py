"""The :class:`Volume` container and orientation helpers.

Layout convention (the same as ``monai.transforms.LoadImage``):

* ``Volume.array`` has spatial axes only, 3-D, in *voxel index order*: for DICOM
  ``(x = column, y = row, z = slice)`` (MONAI ``PydicomReader``'s ``swap_ij=True`` layout),
  for NIfTI the order stored in the file.
* ``Volume.affine`` maps voxel indices ``(i, j, k, 1)`` to RAS+ world millimetres
  (x grows to the patient's Right, y to Anterior, z to Superior), as MONAI's readers give
  with ``affine_lps_to_ras=True`` and as NIfTI stores it.

So a MONAI ``MetaTensor`` is ``torch.as_tensor(volume.array)[None]`` with
``affine=volume.affine``, and any MONAI spatial transform applies directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class Volume:
    """A 3-D scan with its geometry.

    Attributes:
        array: ``(X, Y, Z)`` float32 (CT in Hounsfield units; other modalities after the
            modality LUT / rescale, i.e. the stored values' real-world scale).
        affine: ``(4, 4)`` float64, voxel index → RAS world millimetres.
        spacing: voxel size in mm along each array axis (norms of the affine's columns).
        meta: PHI-free facts (modality, series description, shape, spacing, orientation
            code, number of slices, uneven-spacing flag, ...). Never names, IDs, UIDs, dates
            or institutions.
        source_files: DICOM files in slice order (``array[..., k]`` came from
            ``source_files[k]``; one entry for a multi-frame file); empty for NIfTI.
    """

    array: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, ...]
    meta: dict = field(default_factory=dict)
    source_files: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def orientation(self) -> str:
        """Three-letter axis code such as ``"RAS"`` or ``"LPS"`` (nibabel's ``aff2axcodes``)."""
        return orientation_code(self.affine)

    def to_metatensor(self):
        """The volume as a channel-first MONAI ``MetaTensor`` ``(1, X, Y, Z)`` with its affine."""
        import torch
        from monai.data import MetaTensor

        return MetaTensor(
            torch.as_tensor(self.array)[None],
            affine=torch.as_tensor(self.affine, dtype=torch.float64),
            meta={"spacing": np.asarray(self.spacing), **self.meta},
        )


def spacing_from_affine(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel size along each array axis: the norms of the affine's first three columns."""
    a = np.asarray(affine, dtype=np.float64)
    return tuple(float(v) for v in np.linalg.norm(a[:3, :3], axis=0))


def orientation_code(affine: np.ndarray) -> str:
    """The closest axis codes of ``affine`` (e.g. ``"LPS"``, ``"RAS"``)."""
    import nibabel as nib

    return "".join(nib.aff2axcodes(np.asarray(affine, dtype=np.float64)))


def _ornt(volume: Volume) -> np.ndarray:
    from nibabel import orientations as no

    return no.io_orientation(volume.affine)


def to_canonical(volume: Volume) -> Volume:
    """Reorient to the closest canonical RAS+ layout, like ``nibabel.as_closest_canonical``.

    Only axis flips and permutations are applied (no resampling), so voxels are copied
    exactly. The affine is updated so every voxel keeps its world position.

    Args:
        volume: any :class:`Volume`.

    Returns:
        A new :class:`Volume` whose array axes point (as closely as the scan allows) to
        Right, Anterior, Superior; ``meta["orientation"]`` is updated.
    """
    from nibabel import orientations as no

    ornt = _ornt(volume)
    shape = volume.array.shape[:3]
    array = np.ascontiguousarray(no.apply_orientation(volume.array, ornt))
    affine = volume.affine @ no.inv_ornt_aff(ornt, shape)
    meta = {**volume.meta, "orientation": orientation_code(affine), "shape": list(array.shape)}
    meta["spacing"] = list(spacing_from_affine(affine))
    return replace(
        volume, array=array, affine=affine, spacing=spacing_from_affine(affine), meta=meta
    )


def from_canonical(array: np.ndarray, original: Volume) -> np.ndarray:
    """Undo :func:`to_canonical` for an array computed on the canonical volume (e.g. a mask).

    Args:
        array: ``(X', Y', Z', ...)`` in the layout ``to_canonical(original)`` produced;
            trailing non-spatial axes are carried along.
        original: the volume before :func:`to_canonical`.

    Returns:
        The array in ``original.array``'s layout (same dtype), so it can be saved with
        ``original.affine``.
    """
    from nibabel import orientations as no

    ornt = _ornt(original)
    a = np.asarray(array)
    expected = tuple(original.array.shape[int(i)] for i in np.argsort(ornt[:, 0]))
    if a.shape[:3] != expected:
        raise ValueError(
            f"array shape {a.shape} does not match the canonical volume's shape {expected}"
        )
    # ornt row i = (output axis j, flip): input axis i goes to output axis j. The inverse
    # sends output axis j back to input axis i with the same flip.
    inverse = np.empty_like(ornt)
    for i, (j, flip) in enumerate(ornt):
        inverse[int(j)] = (i, flip)
    return np.ascontiguousarray(no.apply_orientation(a, inverse))


#: physical voxel sizes medseg accepts (mm): from micro-CT (µm) to the thickest slabs.
MIN_SPACING_MM = 1e-3
MAX_SPACING_MM = 1e3


def check_spacing(spacing, where: str | None = None) -> tuple[float, ...]:
    """Refuse non-physical voxel sizes (zero, negative, NaN, or outside
    :data:`MIN_SPACING_MM`..:data:`MAX_SPACING_MM`) with an error naming them.

    A NIfTI with a 1e-9 mm x spacing used to run "ok" and return an empty mask: the resample
    to the model's spacing collapsed it to one pixel.
    """
    from .errors import MedsegIOError

    sp = tuple(float(s) for s in spacing)
    bad = [s for s in sp if not (np.isfinite(s) and MIN_SPACING_MM <= s <= MAX_SPACING_MM)]
    if bad:
        shown = ", ".join(f"{s:.4g}" for s in sp)
        raise MedsegIOError(
            where,
            f"voxel spacing ({shown}) mm is not physical: each must lie in "
            f"{MIN_SPACING_MM:g}..{MAX_SPACING_MM:g} mm; fix the header (pixdim / PixelSpacing)",
        )
    return sp


def fill_nonfinite(array: np.ndarray, where: str | None = None) -> tuple[np.ndarray, int]:
    """Replace NaN/Inf voxels by the smallest finite value (processing pipelines write NaN
    backgrounds); returns ``(array, how many)``. Refuses a volume with no finite voxel.

    The array is changed in place when it is writable float data.
    """
    from .errors import MedsegIOError

    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.floating):
        return a, 0
    bad = ~np.isfinite(a)
    n = int(bad.sum())
    if not n:
        return a, 0
    if n == a.size:
        raise MedsegIOError(where, "every voxel is NaN or Inf: there is no image to segment")
    if not a.flags.writeable:
        a = a.copy()
    a[bad] = a[~bad].min()
    return a, n
