"""medseg inside MONAI workflows: transforms, handlers and bundle helpers.

Importing this subpackage imports MONAI (``import medseg`` alone does not). The MONAI image
readers live in :mod:`medseg.io.monai_readers`. See ``docs/monai.md``.
"""

from __future__ import annotations

from .transforms import (
    InPlaneResample,
    InPlaneResampled,
    inplane_size,
)

__all__ = [
    "InPlaneResample",
    "InPlaneResampled",
    "inplane_size",
]
