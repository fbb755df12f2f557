"""MONAI ``ImageReader`` subclasses backed by medseg's DICOM / NIfTI readers.

With these, ``monai.transforms.LoadImage`` / ``LoadImaged`` read scans through
:func:`medseg.io.load_volume`, so a MONAI pipeline gets medseg's series grouping, slice
sorting by position, modality LUT (CT in Hounsfield units) and PHI-free metadata::

    from monai.transforms import LoadImaged
    load = LoadImaged("image", reader="medseg.io.monai_readers.MedsegReader")
    # or: reader=MedsegReader(series_uid="largest")

The array layout and affine are MONAI's (``(X, Y, Z)``, voxel index → RAS+ mm; see
:mod:`medseg.io.volume`), so every MONAI spatial transform, ``Invertd`` and ``SaveImage`` work
on the result as they do on MONAI's own readers' output.

MONAI finds a reader given as a string either by dotted path (always works, as above) or by
a short name in ``monai.transforms.io.array.SUPPORTED_READERS``; :func:`register_readers`
adds ``"medsegreader"``, ``"medsegdicomreader"`` and ``"medsegniftireader"`` there. It is opt-in
(not done on import) because MONAI also builds its default reader list from that table.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.data import ImageReader
from monai.transforms import LoadImage, LoadImaged

from .kinds import is_dicom_file, is_nifti_name

__all__ = [
    "MedsegDicomReader",
    "MedsegLoadImage",
    "MedsegLoadImaged",
    "MedsegNiftiReader",
    "MedsegReader",
    "register_readers",
]


def _collatable(value: Any) -> bool:
    # MONAI's list_data_collate chokes on None and on nested containers of mixed types.
    if value is None:
        return False
    if isinstance(value, (str, bool, int, float, np.ndarray)):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
    return False


class MedsegReader(ImageReader):
    """Read NIfTI files, DICOM files and DICOM series folders with :func:`medseg.io.load_volume`.

    Args:
        series_uid: which series to read from a folder holding several: a SeriesInstanceUID,
            or ``"largest"``; ``None`` (default) raises a
            :class:`~medseg.io.MedsegIOError` that lists the series when there are several.
        dtype: dtype of the returned array (float32 by default; ``LoadImage`` may cast again).
        **kwargs: accepted for compatibility with ``LoadImage(reader=..., **kwargs)``; ignored.

    A list of paths is read as several images stacked on a new first (channel) axis, as
    MONAI's own readers do; they must share their spatial shape.
    """

    def __init__(self, series_uid: str | None = None, dtype: Any = np.float32, **kwargs: Any):
        super().__init__()
        self.series_uid = series_uid
        self.dtype = dtype
        self.last_error: Exception | None = None

    # ------------------------------------------------------------------ ImageReader API
    def verify_suffix(self, filename: Sequence[os.PathLike | str] | os.PathLike | str) -> bool:
        """True when every name is a NIfTI file, a DICOM file or a folder (a DICOM series)."""
        names = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
        return bool(names) and all(self._accepts(os.fspath(n)) for n in names)

    def _accepts(self, name: str) -> bool:
        return os.path.isdir(name) or is_nifti_name(name) or is_dicom_file(name)

    def read(self, data: Sequence[os.PathLike | str] | os.PathLike | str, **kwargs: Any):
        """Load each path as a :class:`~medseg.io.Volume` (one, or a list for several paths)."""
        from medseg.io import MedsegIOError, load_volume

        self.last_error = None
        names = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        vols = []
        try:
            for n in names:
                name = os.fspath(n)
                if not self._accepts(name):
                    raise MedsegIOError(name, f"{type(self).__name__} reads {self._what()}")
                vols.append(load_volume(name, series_uid=self.series_uid))
        except Exception as e:  # kept for MedsegLoadImage, which re-raises it as it is
            self.last_error = e
            raise
        return vols[0] if len(vols) == 1 else vols

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        """Array ``(X, Y, Z)`` (or ``(N, X, Y, Z)`` for several images) and MONAI metadata.

        The metadata holds MONAI's keys (``affine``, ``original_affine``, ``spatial_shape``,
        ``space`` = ``"RAS"``, ``original_channel_dim``) plus the volume's PHI-free
        ``meta`` entries that a DataLoader can collate.
        """
        vols = img if isinstance(img, (list, tuple)) else [img]
        arrays = [np.asarray(v.array, dtype=self.dtype) for v in vols]
        first = vols[0]
        meta: dict[str, Any] = {k: v for k, v in first.meta.items() if _collatable(v)}
        affine = np.asarray(first.affine, dtype=np.float64)
        meta.update(
            {
                "affine": affine.copy(),
                "original_affine": affine.copy(),
                "spatial_shape": np.asarray(arrays[0].shape),
                "space": "RAS",
                "original_channel_dim": math.nan,
            }
        )
        if len(arrays) == 1:
            return arrays[0], meta
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(
                f"cannot stack images of different shapes {sorted(shapes)} as channels; "
                "load them one by one"
            )
        meta["original_channel_dim"] = 0
        return np.stack(arrays, axis=0), meta

    def _what(self) -> str:
        return "NIfTI files (.nii, .nii.gz), DICOM files and DICOM series folders"


class MedsegDicomReader(MedsegReader):
    """:class:`MedsegReader` restricted to DICOM (files, with or without suffix, and folders)."""

    def _accepts(self, name: str) -> bool:
        return os.path.isdir(name) or is_dicom_file(name)

    def _what(self) -> str:
        return "DICOM files and DICOM series folders"


class MedsegNiftiReader(MedsegReader):
    """:class:`MedsegReader` restricted to NIfTI files (``.nii``, ``.nii.gz``)."""

    def _accepts(self, name: str) -> bool:
        return is_nifti_name(name)

    def _what(self) -> str:
        return "NIfTI files (.nii, .nii.gz)"


@contextlib.contextmanager
def _without_nvimgcodec_notice():
    """MONAI's ``LoadImage`` builds every reader it knows, and its GPU DICOM reader warns on
    every CPU machine that the nvImageCodec plugin did not register; medseg never uses that
    reader, so the notice is not the user's concern. Only that message is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="NvImgCodecPydicomReader: nvImageCodec", category=UserWarning
        )
        yield


class MedsegLoadImage(LoadImage):
    """``LoadImage`` that reads with a medseg reader only, and raises medseg's own errors.

    MONAI's ``LoadImage(reader=...)`` quietly falls back to its other readers when the named
    one fails; for a folder holding two DICOM series that means MONAI's ``PydicomReader`` may
    stack both into one volume. Here the medseg reader is the only reader, and its
    :class:`~medseg.io.MedsegIOError` (e.g. "2 series found; choose one with series_uid=...")
    reaches the caller unchanged.

    Args:
        reader: a :class:`MedsegReader` (or subclass) instance; default ``MedsegReader(series_uid)``.
        series_uid: passed to the default reader (``"largest"`` or a SeriesInstanceUID).
        image_only, dtype, ensure_channel_first, **kwargs: as for MONAI's ``LoadImage``.
    """

    def __init__(
        self,
        reader: MedsegReader | None = None,
        series_uid: str | None = None,
        image_only: bool = True,
        dtype: Any = np.float32,
        ensure_channel_first: bool = False,
        **kwargs: Any,
    ) -> None:
        reader = reader if reader is not None else MedsegReader(series_uid=series_uid)
        if not isinstance(reader, MedsegReader):
            raise TypeError(f"reader must be a MedsegReader instance, got {type(reader).__name__}")
        with _without_nvimgcodec_notice():
            super().__init__(
                reader=reader,
                image_only=image_only,
                dtype=dtype,
                ensure_channel_first=ensure_channel_first,
                **kwargs,
            )
        self.readers = [reader]

    def __call__(self, filename, reader=None):  # type: ignore[override]
        try:
            return super().__call__(filename, reader)
        except RuntimeError:
            err = self.readers[-1].last_error
            if err is not None:
                raise err from None
            raise


class MedsegLoadImaged(LoadImaged):
    """Dictionary version of :class:`MedsegLoadImage` (no fallback to MONAI's readers).

    A data dict may pick the series of a multi-series DICOM folder itself: when it holds a
    ``series_uid_key`` entry (default ``"series_uid"``) that series is read, and a
    ``name_key`` entry (default ``"name"``) replaces the folder name in the image's
    ``filename_or_obj``, so ``SaveImaged`` writes each series of one folder to its own file
    (:func:`medseg.monai.bundle.list_inputs` makes such dicts).

    Args:
        keys: keys holding paths.
        reader, series_uid, image_only, dtype, ensure_channel_first: see :class:`MedsegLoadImage`.
        allow_missing_keys: don't raise if a key is missing.
        series_uid_key, name_key: per-item series choice and output name (see above).
        **kwargs: other ``LoadImaged`` arguments (``meta_keys``, ``overwriting``, ...).
    """

    def __init__(
        self,
        keys: KeysCollection,
        reader: MedsegReader | None = None,
        series_uid: str | None = None,
        image_only: bool = True,
        dtype: Any = np.float32,
        ensure_channel_first: bool = False,
        allow_missing_keys: bool = False,
        series_uid_key: str | None = "series_uid",
        name_key: str | None = "name",
        **kwargs: Any,
    ) -> None:
        with _without_nvimgcodec_notice():
            super().__init__(
                keys,
                image_only=image_only,
                dtype=dtype,
                ensure_channel_first=ensure_channel_first,
                allow_missing_keys=allow_missing_keys,
                **kwargs,
            )
        self._loader = MedsegLoadImage(reader, series_uid, image_only, dtype, ensure_channel_first)
        self._args = (image_only, dtype, ensure_channel_first)
        self.series_uid_key, self.name_key = series_uid_key, name_key

    def __call__(self, data, reader=None):  # type: ignore[override]
        uid = data.get(self.series_uid_key) if self.series_uid_key else None
        if not uid:
            return super().__call__(data, reader)
        default = self._loader
        self._loader = MedsegLoadImage(MedsegReader(series_uid=uid), None, *self._args)
        try:
            out = super().__call__(data, reader)
        finally:
            self._loader = default
        name = data.get(self.name_key) if self.name_key else None
        if name:
            for key in self.key_iterator(out):
                img = out[key]
                meta = getattr(img, "meta", None)
                if isinstance(meta, dict) and meta.get("filename_or_obj"):
                    src = os.fspath(meta["filename_or_obj"])
                    meta["filename_or_obj"] = os.path.join(
                        os.path.dirname(src.rstrip(os.sep)), name
                    )
        return out


_NAMES = {
    "medsegreader": MedsegReader,
    "medsegdicomreader": MedsegDicomReader,
    "medsegniftireader": MedsegNiftiReader,
}


def register_readers() -> list[str]:
    """Make the readers known to MONAI by short name (``LoadImage(reader="MedsegReader")``).

    They are inserted at the *front* of MONAI's ``SUPPORTED_READERS`` so that MONAI's automatic
    reader choice (which tries the last-registered reader first) is unchanged: only code that
    names a medseg reader gets one. Calling it again is harmless.

    Returns:
        The names added (lower case, as MONAI looks them up).
    """
    from monai.transforms.io.array import SUPPORTED_READERS

    rest = [(k, v) for k, v in SUPPORTED_READERS.items() if k not in _NAMES]
    SUPPORTED_READERS.clear()
    SUPPORTED_READERS.update(list(_NAMES.items()) + rest)
    return list(_NAMES)
