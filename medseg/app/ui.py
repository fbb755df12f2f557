"""Gradio wiring: one ``build_*_tab`` function per tab, each called inside an open
``gr.Blocks`` by :func:`medseg.app.server.build_app`.

Each tab lives in its own module (:mod:`.ui_medical`, :mod:`.ui_street`, :mod:`.ui_video`,
:mod:`.ui_tta`); what they share (the error handling of API and page events, lossless image
outputs) is in :mod:`.widgets`.
"""

from __future__ import annotations

from .ui_medical import build_medical_tab
from .ui_street import build_street_tab
from .ui_tta import build_tta_tab
from .ui_video import build_video_tab
from .widgets import guard, soft

__all__ = [
    "build_medical_tab",
    "build_street_tab",
    "build_tta_tab",
    "build_video_tab",
    "guard",
    "soft",
]
