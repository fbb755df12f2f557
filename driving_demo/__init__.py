"""driving_demo: real-time street-video segmentation, a thin application over ``medseg``.

Run ``python -m driving_demo VIDEO -o OUT.webm`` (see ``--help``). The streaming pipeline,
models, preprocessing and palettes all live in :mod:`medseg` (:mod:`medseg.video`); this
package only picks driving-friendly defaults (legend and FPS counter on).
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
