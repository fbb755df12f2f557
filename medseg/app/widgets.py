"""Gradio helpers shared by the tabs' wiring (:mod:`.ui_medical`, :mod:`.ui_street`, ...).

Two kinds of events:

* **API endpoints** (``api_name`` set, listed in docs/app.md) keep their names, inputs and
  outputs from release to release; their handlers are wrapped by :func:`guard`, which turns
  user errors into ``gr.Error`` messages for the client and hides internals of unexpected
  failures (the traceback goes to the server log only).
* **Page events** (private) drive what a person sees. Their handlers are wrapped by
  :func:`soft`: a failure becomes one plain-words line in the tab's status area and every
  other output keeps its value, so no red "Error" badge replaces a control.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np

from ..io import MedsegIOError
from ..models.compat import InputMismatchError
from .common import AppError, temp_dir

log = logging.getLogger("medseg.app")

USER_ERRORS: tuple[type[BaseException], ...] = (AppError, MedsegIOError, InputMismatchError)


def error_text(e: BaseException, what: str) -> str:
    """The words a person sees for a failure (no traceback, no server paths)."""
    if isinstance(e, USER_ERRORS):
        return str(e)
    if isinstance(e, MemoryError):
        return f"{what}: out of memory; try a smaller input."
    log.exception("%s failed", what)
    return (
        f"{what} failed unexpectedly ({type(e).__name__}). The server is still running; "
        "check the input and try again."
    )


def _on_error(fn: Callable[..., Any], handle: Callable[[Exception], Any]) -> Callable[..., Any]:
    """``fn`` wrapped so that an exception goes to ``handle``, whose value is returned (for a
    generator: yielded, and the generator stops); ``handle`` may raise instead."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                yield handle(e)

        return gen

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            return handle(e)

    return wrapper


def guard(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for API handlers: every failure becomes a clean ``gr.Error``."""

    def raise_clean(e: Exception) -> None:
        if isinstance(e, gr.Error):
            raise e from None
        raise gr.Error(error_text(e, what), print_exception=False) from None

    return lambda fn: _on_error(fn, raise_clean)


def status_md(text: str, kind: str = "error") -> str:
    """A status line: ``kind`` is ``"error"``, ``"info"`` or ``"ok"``."""
    icon = {"error": "❌", "info": "ℹ️", "ok": "✅"}.get(kind, "")
    return f"{icon} {text}".strip()


def soft(what: str, status: gr.components.Component):
    """Decorator for page handlers that return ``{component: value}`` dicts.

    A failure returns ``{status: "❌ <what went wrong>"}`` (for a generator: yields it and
    stops), leaving every other output as it was.
    """
    return lambda fn: _on_error(fn, lambda e: {status: status_md(error_text(e, what))})


def png(label: str, **kw: Any) -> gr.Image:
    """An output image kept lossless (Gradio's default output format, WebP, alters masks)."""
    return gr.Image(label=label, format="png", type="filepath", interactive=False, **kw)


def png_files(*arrays: np.ndarray | None) -> list[str | None]:
    """Write output images as PNG files in a fresh request folder and return their paths.

    Returning paths rather than arrays matters under load: Gradio caches arrays under a
    content hash and rewrites that file in place, so two concurrent requests with identical
    outputs could serve a half-written image; files are copied into its cache atomically.
    """
    from PIL import Image

    out_dir = temp_dir("out-")
    paths: list[str | None] = []
    for i, a in enumerate(arrays):
        if a is None:
            paths.append(None)
            continue
        p = out_dir / f"image{i}.png"
        Image.fromarray(np.ascontiguousarray(a)).save(p, compress_level=3)
        paths.append(str(p))
    return paths


def session_of(request: gr.Request | None) -> str | None:
    """The browser session a page event came from (for Cancel)."""
    return getattr(request, "session_hash", None) if request is not None else None


def api_trigger() -> gr.Button:
    """An invisible button that carries an API endpoint (the page uses its own events)."""
    return gr.Button(visible=False)
