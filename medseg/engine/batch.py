"""Deprecated: the batch job moved to :mod:`medseg.batch` (``from medseg.batch import run_batch``).

Kept importable for one release; importing it warns.
"""

from __future__ import annotations

import warnings

warnings.warn(
    "medseg.engine.batch is deprecated; import from medseg.batch instead",
    DeprecationWarning,
    stacklevel=2,
)

from ..batch import (  # noqa: E402
    REPORT_FIELDS,
    Case,
    discover_cases,
    run_batch,
    sanitize_id,
    write_report,
)

__all__ = ["REPORT_FIELDS", "Case", "discover_cases", "run_batch", "sanitize_id", "write_report"]
