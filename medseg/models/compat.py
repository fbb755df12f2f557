"""Does an input suit a model? One check for the CLI, the Predictor, the app and the DICOM node.

A model declares what it was trained for in its :class:`~medseg.models.ModelCfg` (``task``,
``modalities``, ``contrast``, ``body_part``). :func:`check_input` compares that with what is
known about an input and refuses a mismatch with a message that names both, unless the caller
allows it (``--allow-modality-mismatch`` on the command line), in which case the message comes
back as a warning to report next to the result.

Example:
    >>> from medseg.models import get_model_cfg
    >>> cfg = get_model_cfg("unet_medical")
    >>> check_input(cfg, kind="volume", modality="")     # NIfTI: no modality information
    'no modality information in the input; unet_medical expects MR head scans'
    >>> check_input(cfg, kind="volume", modality="CT")
    Traceback (most recent call last):
    ...
    medseg.models.compat.InputMismatchError: a CT scan into unet_medical, a model trained on MR head scans; ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ``kind`` values :func:`check_input` accepts.
INPUT_KINDS = ("volume", "image")


class InputMismatchError(ValueError):
    """The input is of another kind than the model was trained for (e.g. CT into an MR model).

    ``problem`` is the mismatch alone (``"a CT scan into unet_medical, a model trained on
    ..."``), for callers that give their own advice; the message adds the command line's.
    """

    def __init__(self, problem: str, advice: str = "") -> None:
        super().__init__(f"{problem}; {advice}" if advice else problem)
        self.problem = problem


def trained_for(cfg: Any) -> str:
    """What a model was trained on, in words: ``"MR T1 head scans"``, ``"RGB street photos"``."""
    if cfg.task == "street":
        return "RGB street photos"
    parts = [" / ".join(cfg.modalities) if cfg.modalities else "", cfg.contrast, cfg.body_part]
    words = " ".join(p for p in parts if p)
    return f"{words} scans" if words else "grayscale medical images"


def is_color(image: np.ndarray, tol: float = 2.0) -> bool:
    """True for an RGB(A) image whose channels differ (a colour photo, not a grey slice saved
    as RGB). ``tol`` is the largest mean channel difference still taken as grey."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] < 3:
        return False
    c = a[..., :3].astype(np.float32)
    return float(np.abs(c[..., 0] - c[..., 1]).mean() + np.abs(c[..., 1] - c[..., 2]).mean()) > tol


def check_input(
    cfg: Any,
    *,
    kind: str,
    modality: str = "",
    color: bool = False,
    allow_mismatch: bool = False,
) -> str:
    """Check that an input suits the model ``cfg``.

    Args:
        cfg: the model's :class:`~medseg.models.ModelCfg`.
        kind: ``"volume"`` (a 3-D scan) or ``"image"`` (a 2-D picture or slice).
        modality: the DICOM Modality of the input (``"CT"``, ``"MR"``, ...), ``""`` when the
            file does not say (NIfTI, PNG).
        color: the image is a colour photo (see :func:`is_color`).
        allow_mismatch: return the mismatch as a warning instead of raising.

    Returns:
        A one-line note for the report (``""`` when there is nothing to say): the lack of
        modality information, or the allowed mismatch.

    Raises:
        InputMismatchError: the input is of another kind than the model was trained for, and
            ``allow_mismatch`` is false. The message names both and how to override.
        ValueError: ``kind`` is not one of :data:`INPUT_KINDS`.
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(INPUT_KINDS)}, got {kind!r}")
    modality = (modality or "").strip().upper()
    what = trained_for(cfg)
    problem = ""
    if cfg.task == "street":
        if kind == "volume":
            got = f"a {modality} volume" if modality else "a 3-D volume"
            problem = f"{got} into {cfg.name}, a model for {what}"
    else:
        if kind == "image" and color:
            problem = f"a colour photo into {cfg.name}, a model trained on {what}"
        elif cfg.modalities and modality and modality not in cfg.modalities:
            problem = f"a {modality} scan into {cfg.name}, a model trained on {what}"
    if problem:
        if allow_mismatch:
            return f"input mismatch allowed: {problem}; the result may be meaningless"
        raise InputMismatchError(
            problem,
            "choose a model for this input (medseg models lists them) or override "
            "with --allow-modality-mismatch",
        )
    if cfg.task != "street" and cfg.modalities and not modality:
        return f"no modality information in the input; {cfg.name} expects {what}"
    return ""


__all__ = ["INPUT_KINDS", "InputMismatchError", "check_input", "is_color", "trained_for"]
