"""Gradio entry point: ``python app.py`` (also what a Gradio host runs)."""

from __future__ import annotations

import sys

from medseg.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
