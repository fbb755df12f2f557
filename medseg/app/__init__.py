"""The medseg Gradio web app: Medical, Street, Video and TTA tabs.

``build_app()`` returns the ``gr.Blocks`` (not launched); ``main(args)`` launches it with the
options of ``medseg app``. Processing functions live in :mod:`.medical`, :mod:`.street`,
:mod:`.video` and :mod:`.tta` and import no gradio; the Blocks wiring is in :mod:`.ui`.
"""

from __future__ import annotations

from .server import build_app, main

__all__ = ["build_app", "main"]
