"""Label-map post-processing: largest connected component, hole filling, small islands.

Built on ``scipy.ndimage`` (labelling, hole filling, distance transform); the tests check
the results against MONAI's ``KeepLargestConnectedComponent`` / ``FillHoles`` and
scikit-image's ``remove_small_objects``. Works on 2-D and 3-D label maps.

Dense-CRF is not offered: ``pydensecrf`` is unmaintained (last release 2018, no wheels for
current Python) and ``pydensecrf2`` needs a C++ build; see docs/inference.md.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage as ndi


def _classes(labels: np.ndarray, classes: Iterable[int] | None, background: int) -> list[int]:
    if classes is not None:
        return [int(c) for c in classes]
    top = int(labels.max()) if labels.size else 0
    if labels.dtype.kind in "ub" and top < 16:
        # few classes (medical masks): one comparison pass per class beats sorting or
        # hashing every pixel (np.unique) and the int64 copy np.bincount makes
        present = [c for c in range(top + 1) if c == top or (labels == c).any()]
    else:
        present = np.unique(labels)
    return [int(c) for c in present if c != background]


def _structure(ndim: int, connectivity: int | None) -> np.ndarray:
    return ndi.generate_binary_structure(ndim, connectivity or ndim)


def _foreground_box(labels: np.ndarray, background: int) -> tuple[slice, ...] | None:
    """The bounding box of the pixels that are not ``background`` (``None``: there are none).

    Components, and holes enclosed by a class, lie inside it, so the work below runs on that
    box only (a head fills about half of its MR volume). For holes this relies on everything
    outside the box being background, hence connected to the array border: a region touching
    the box's side touches the outside too.
    """
    fg = labels != background
    box = []
    for ax in range(fg.ndim):
        idx = np.flatnonzero(fg.any(axis=tuple(a for a in range(fg.ndim) if a != ax)))
        if idx.size == 0:
            return None
        box.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return tuple(box)


def _enclosed(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Pixels outside ``mask`` whose region (``structure`` connectivity) does not reach the
    array border: what ``scipy.ndimage.binary_fill_holes`` adds, from one labelling pass
    instead of a dilation repeated until nothing changes (measured 4x faster on ch2)."""
    comp, n = ndi.label(~mask, structure=structure)
    reaches_border = np.zeros(n + 1, bool)
    reaches_border[0] = True  # label 0 is the mask itself
    for ax in range(mask.ndim):
        reaches_border[np.take(comp, 0, axis=ax).ravel()] = True
        reaches_border[np.take(comp, -1, axis=ax).ravel()] = True
    return ~reaches_border[comp]


def keep_largest_component(
    labels: np.ndarray,
    classes: Iterable[int] | None = None,
    *,
    background: int = 0,
    connectivity: int | None = None,
) -> np.ndarray:
    """Keep only the largest connected component of each class; the rest becomes background.

    Args:
        labels: ``[H, W]`` or ``[X, Y, Z]`` integer label map.
        classes: classes to process (default: every class present except ``background``).
        background: label given to removed pixels.
        connectivity: 1 = faces only, ``ndim`` (default) = full neighbourhood (MONAI's default).

    Returns:
        A new label map of the same shape and dtype.
    """
    out = np.array(labels, copy=True)
    box = _foreground_box(out, background)
    if box is None:
        return out
    sub = out[box]  # a view: changes go to ``out``
    st = _structure(out.ndim, connectivity)
    for c in _classes(sub, classes, background):
        comp, n = ndi.label(sub == c, structure=st)
        if n <= 1:
            continue
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        drop = np.ones(n + 1, bool)
        drop[0] = False
        drop[sizes.argmax()] = False
        sub[drop[comp]] = background
    return out


def fill_holes(
    labels: np.ndarray,
    classes: Iterable[int] | None = None,
    *,
    background: int = 0,
    connectivity: int | None = None,
) -> np.ndarray:
    """Fill background holes fully enclosed by one class (2-D or 3-D).

    Only ``background`` pixels are filled, so a region of another class inside a class is
    left as it is. Same result as ``scipy.ndimage.binary_fill_holes`` per class (tested
    against MONAI's ``FillHoles``).
    """
    out = np.array(labels, copy=True)
    box = _foreground_box(out, background)
    if box is None:
        return out
    sub = out[box]
    st = _structure(out.ndim, connectivity or 1)
    for c in _classes(sub, classes, background):
        holes = _enclosed(sub == c, st)
        sub[holes & (sub == background)] = c
    return out


def remove_small_islands(
    labels: np.ndarray,
    min_size: int,
    classes: Iterable[int] | None = None,
    *,
    connectivity: int | None = None,
) -> np.ndarray:
    """Relabel connected components smaller than ``min_size`` pixels/voxels.

    Each removed pixel takes the label of the nearest kept pixel (Euclidean distance
    transform), so a street scene keeps no unlabelled holes. ``classes`` limits which classes'
    islands are removed (default: all).
    """
    out = np.array(labels, copy=True)
    st = _structure(out.ndim, connectivity)
    small = np.zeros(out.shape, bool)
    for c in _classes(out, classes, background=-1):
        comp, n = ndi.label(out == c, structure=st)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        bad = np.flatnonzero(sizes < min_size)
        bad = bad[bad > 0]
        if bad.size:
            small |= np.isin(comp, bad)
    if not small.any() or small.all():
        return out
    idx = ndi.distance_transform_edt(small, return_distances=False, return_indices=True)
    return out[tuple(idx)]


def clean_mask(
    labels: np.ndarray,
    *,
    background: int = 0,
    largest: bool = True,
    holes: bool = True,
    min_size: int = 0,
) -> np.ndarray:
    """The medical default: largest component per class, then hole filling (then islands)."""
    out = labels
    if min_size > 0:
        out = remove_small_islands(out, min_size)
    if largest:
        out = keep_largest_component(out, background=background)
    if holes:
        out = fill_holes(out, background=background)
    return out
