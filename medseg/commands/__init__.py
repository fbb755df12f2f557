"""Subcommands of the ``medseg`` console script (one module each; see ``medseg.cli``)."""

from __future__ import annotations

import argparse


def hw_size(text: str) -> tuple[int, int]:
    """argparse type for ``HxW`` sizes such as ``256x512``."""
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x512, got {text!r}") from None
