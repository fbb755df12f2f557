"""The medseg Gradio web app: Medical, Street, Video and TTA tabs.

``build_app()`` returns the ``gr.Blocks`` (not launched); ``main(args)`` launches it with the
options of ``medseg app``. Processing functions live in :mod:`.medical` (with its guard
rails in :mod:`.checks`), :mod:`.street`, :mod:`.video` and :mod:`.tta`, the readable
summaries in :mod:`.summaries` and the volume viewer's server side in :mod:`.viewer`; none
of these imports gradio. The Blocks wiring is in :mod:`.ui` (one ``ui_*`` module per tab,
shared helpers in :mod:`.widgets`).
"""

from __future__ import annotations

from .server import build_app, main

__all__ = ["build_app", "main"]
