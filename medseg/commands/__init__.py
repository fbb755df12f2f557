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


def model_kwargs(items: list[str] | None) -> dict:
    """``--model-arg KEY=VALUE`` options as keyword arguments (values parsed as JSON)."""
    import json

    out = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep:
            raise ValueError(f"--model-arg expects KEY=VALUE, got {it!r}")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def add_backend_argument(
    p: argparse.ArgumentParser, *, default: str = "auto", ran: str = ""
) -> None:
    """The ``--backend`` option every inference command shares: the choices are
    :data:`medseg.engine.backends.BACKENDS` (the one list), and the help names each."""
    from ..engine.backends import BACKENDS

    where = f"; {ran} records which ran" if ran else ""
    p.add_argument(
        "--backend",
        default=default,
        choices=list(BACKENDS),
        help="how the model runs (auto: the fastest back-end here whose labels agree with "
        f"eager PyTorch fp32, measured once per machine and cached{where}): "
        + "; ".join(f"{b.name}: {b.description}" for b in BACKENDS.values() if b.name != "auto"),
    )
