"""What ``backend="auto"`` checks candidates with: a calibration batch that looks like real
input, label agreement with the reference and, for medical models, a whole real volume.

Real volumes come from Debian packages listed in DATA.md (:data:`REFERENCE_VOLUMES`) or from
``$MEDSEG_AUTO_VOLUME``; street models are calibrated on synthetic street scenes, the data
their shipped weights were trained on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.outputs import logits_to_labels
from ..runners import Runner

#: a NIfTI volume (and optionally its mask) for the medical volume check
ENV_VOLUME, ENV_VOLUME_MASK = "MEDSEG_AUTO_VOLUME", "MEDSEG_AUTO_VOLUME_MASK"
#: a candidate's labels must equal the reference's on at least this fraction of pixels
MIN_AGREEMENT = 0.995
#: medical models: largest allowed drop of the volume Dice against the reference
MAX_DICE_DROP = 0.002

#: real volumes with a reference mask installed by Debian packages (see DATA.md), for the
#: medical volume check: (label, volume, mask, modalities). Colin27 first: held out from
#: unet_medical's training; KmeansTest is its training subject.
REFERENCE_VOLUMES = (
    (
        "MRIcron ch2 (Colin27 T1, 1 mm) vs ch2bet > 0",
        "/usr/share/mricron/templates/ch2.nii.gz",
        "/usr/share/mricron/templates/ch2bet.nii.gz",
        ("MR",),
    ),
    (
        "ITK KmeansTest T1 vs its skull-stripped version > 0",
        "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz",
        "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1RawSkullStrip.nii.gz",
        ("MR",),
    ),
)


def model_fingerprint(model: torch.nn.Module) -> str:
    """A cheap identity of a model's weights (name, shapes, sums and a few values per tensor):
    a retrained model gets a new decision."""
    h = hashlib.sha1(str(getattr(getattr(model, "cfg", None), "name", "")).encode())
    with torch.no_grad():
        for k, t in model.state_dict().items():
            h.update(f"{k}{tuple(t.shape)}{t.dtype}".encode())
            if t.numel() and (t.is_floating_point() or t.dtype in (torch.int64, torch.int32)):
                flat = t.detach().reshape(-1).cpu()
                h.update(flat[:16].numpy().tobytes())
                h.update(flat[-16:].numpy().tobytes())
                h.update(np.float64(flat.double().sum()).tobytes())
    return h.hexdigest()[:16]


def file_fingerprint(*paths: str | Path) -> str:
    """SHA-1 of files (an IR's .xml and .bin, an ONNX graph)."""
    h = hashlib.sha1()
    for p in paths:
        p = Path(p)
        if p.is_file():
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def reference_volume(cfg) -> tuple[str, Any, np.ndarray | None] | None:
    """``(label, Volume, mask or None)`` of a real volume fit for ``cfg``'s modality, or ``None``.

    ``$MEDSEG_AUTO_VOLUME`` (and ``$MEDSEG_AUTO_VOLUME_MASK``) name one; otherwise the first
    of :data:`REFERENCE_VOLUMES` that is installed and matches ``cfg.modalities``.
    """
    from ..io import load_volume

    items: list[tuple[str, str, str | None]] = []
    if os.environ.get(ENV_VOLUME):
        items.append(
            (os.environ[ENV_VOLUME], os.environ[ENV_VOLUME], os.environ.get(ENV_VOLUME_MASK))
        )
    mods = set(getattr(cfg, "modalities", ()) or ())
    for label, vol, mask, vm in REFERENCE_VOLUMES:
        if not mods or mods & set(vm):
            items.append((label, vol, mask))
    for label, vol, mask in items:
        if not Path(vol).is_file():
            continue
        v = load_volume(vol)
        gt = None
        if mask and Path(mask).is_file():
            gt = np.asarray(load_volume(mask).array) > 0
            if gt.shape != np.asarray(v.array).shape:
                gt = None
        return label, v, gt
    return None


def calibration_batch(cfg, size: Sequence[int], n: int = 3) -> tuple[torch.Tensor, str]:
    """A normalised ``[n, C, h, w]`` float32 batch that looks like real input, and what it is.

    Medical models: ``n`` axial slices from the middle of a real volume
    (:func:`reference_volume`), normalised over the whole volume as volume inference does,
    resized to ``size``; street models: synthetic street scenes
    (:func:`medseg.export.quantize.synthetic_calibration`); otherwise smooth random fields.
    """
    import torch.nn.functional as F

    from ..export.quantize import _prepare, synthetic_calibration

    h, w = int(size[0]), int(size[1])
    if cfg.task == "medical" and cfg.normalization in ("zscore", "ct_window"):
        ref = reference_volume(cfg)
        if ref is not None:
            from ..transforms.intensity import normalize_for_model
            from .volume import canonical_array

            label, vol, _ = ref
            arr, _, _ = canonical_array(vol)
            arr = np.asarray(normalize_for_model(arr.astype(np.float32), cfg), np.float32)
            nz, c = arr.shape[2], cfg.in_channels
            ks = [int(nz * f) for f in np.linspace(0.4, 0.6, n)]
            sl = [
                np.stack([arr[:, :, min(nz - 1, max(0, k + j - c // 2))] for j in range(c)])
                for k in ks
            ]
            x = torch.from_numpy(np.stack(sl))
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            return x.contiguous(), f"{n} middle axial slices of {label}"
    imgs = synthetic_calibration(cfg, n=n, size=(h, w))
    what = "synthetic street scenes" if cfg.task == "street" else "smooth random images"
    return torch.from_numpy(np.concatenate([_prepare(im, cfg, None) for im in imgs])), f"{n} {what}"


def label_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of pixels where logits ``a`` and ``b`` ``[N, K, H, W]`` give the same label."""
    return float((logits_to_labels(a) == logits_to_labels(b)).to(torch.float64).mean())


class _LogitsOf:
    """The part of a Predictor that :func:`medseg.engine.volume.predict_volume` uses."""

    def __init__(self, runner: Callable[[torch.Tensor], torch.Tensor], cfg):
        self.runner, self.cfg = runner, cfg

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x).float().cpu()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(a, b).sum()) / s


def volume_check(cfg, reference: Runner, candidate: Runner) -> dict:
    """Segment a whole real volume with both runners and compare (medical models).

    Returns:
        ``volume`` (what was used), ``agreement`` (voxels with equal labels), ``dice_ref``
        and ``dice`` (against the volume's reference mask, foreground = label > 0, when it has
        one), ``dice_drop`` (``dice_ref - dice``, or ``1 - Dice(candidate, reference)``
        without a mask), ``seconds_ref``/``seconds`` (whole-volume inference) and ``passed``
        (agreement ≥ :data:`MIN_AGREEMENT` and drop ≤ :data:`MAX_DICE_DROP`). Without an
        installed volume: ``{"volume": None, "passed": True, "note": ...}``.
    """
    from .volume import predict_volume

    ref = reference_volume(cfg)
    if ref is None:
        return {
            "volume": None,
            "passed": True,
            "note": "no real volume installed for this modality: decided on slice agreement only",
        }
    label, vol, gt = ref
    t0 = time.perf_counter()
    a = predict_volume(_LogitsOf(reference, cfg), vol)
    t1 = time.perf_counter()
    b = predict_volume(_LogitsOf(candidate, cfg), vol)
    t2 = time.perf_counter()
    agreement = float((a == b).mean())
    out = {"volume": label, "agreement": agreement, "seconds_ref": t1 - t0, "seconds": t2 - t1}
    if gt is not None:
        out["dice_ref"], out["dice"] = _dice(a > 0, gt), _dice(b > 0, gt)
        out["dice_drop"] = out["dice_ref"] - out["dice"]
    else:
        out["dice_drop"] = 1.0 - _dice(a > 0, b > 0)
    out["passed"] = agreement >= MIN_AGREEMENT and out["dice_drop"] <= MAX_DICE_DROP
    return out
