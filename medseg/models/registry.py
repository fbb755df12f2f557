"""The registry's mechanism: :class:`ModelCfg`, the ``register_model`` decorator, safe loading.

Architecture modules (``unet.py``, ``fcn.py``, ...) import this module to register their
builders; :mod:`medseg.models.zoo` looks models up (``create_model``, ``list_models``) and
loads the built-in architectures on first use. Each registered builder returns an
``nn.Module`` that carries ``model.cfg`` (a :class:`ModelCfg`); the facts about a model
(classes, palette, normalisation, divisor, weights file and its checksum, licence) live only
there.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCfg:
    """Everything other code needs to know to feed, display and ship a model.

    Attributes:
        name: registry name.
        task: ``"street"`` (RGB, Cityscapes train IDs) or ``"medical"`` (grayscale slices).
        num_classes: number of output channels (logits).
        in_channels: expected input channels.
        class_names: one name per output channel.
        palette: one RGB colour per class.
        normalization: ``"imagenet"`` (RGB in [0,1] then mean/std), ``"zscore"``
            (per-image percentile clip + z-score, MR), or ``"ct_window"`` (window then [0,1]).
        mean, std: per-channel statistics used when ``normalization == "imagenet"``.
        window: ``(center, width)`` in HU when ``normalization == "ct_window"``.
        spacing: in-plane pixel spacing (mm) a medical model was trained at; volume inference
            resamples slices to it (``None``: use pixels as they are).
        divisor: the model pads inputs internally to a multiple of this; callers may resize
            to a multiple of it to avoid the padding.
        input_size: default ``(H, W)`` used by the app, benchmarks and export.
        weights: file name in ``medseg/models/weights`` of the shipped weights, or ``None``.
        weights_sha256: SHA-256 of that file (checked on load).
        license: licence of the shipped weights / training data notes.
        notes: provenance and limits, one paragraph.
        modalities: DICOM Modality codes the model was trained for (e.g. ``("MR",)``);
            empty for models that take any input of their task (street photos).
        contrast: image contrast it was trained for (e.g. ``"T1"``), ``""`` if not specific.
        body_part: anatomy it expects (e.g. ``"head"``), ``""`` if not specific.
        context_slices: 2.5-D input: neighbouring slices on each side stacked as channels
            (``in_channels == 2 * context_slices + 1``); 0 for plain 2-D models.
        volume_planes: planes (``"axial"``, ``"coronal"``, ``"sagittal"``) whose 2.5-D slice
            predictions are averaged for a volume, on an isotropic grid of ``spacing[0]`` mm
            (:mod:`medseg.transforms.volume_views`); empty: axial slices at the volume's own
            z spacing, resampled in-plane only.
    """

    name: str
    task: str
    num_classes: int
    in_channels: int
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    normalization: str = "imagenet"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    window: tuple[float, float] | None = None
    spacing: tuple[float, float] | None = None
    divisor: int = 32
    input_size: tuple[int, int] = (256, 512)
    weights: str | None = None
    weights_sha256: str | None = None
    license: str = ""
    notes: str = ""
    modalities: tuple[str, ...] = ()
    contrast: str = ""
    body_part: str = ""
    context_slices: int = 0
    volume_planes: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples become lists); :meth:`from_dict` reverses it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCfg:
        """A ModelCfg from :meth:`to_dict` output (e.g. read back from JSON metadata).

        Unknown keys (written by a newer medseg) are ignored; lists become tuples.
        """
        names = {f.name for f in dataclasses.fields(cls)}

        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        return cls(**{k: tup(v) for k, v in data.items() if k in names})

    @property
    def has_pretrained(self) -> bool:
        return self.weights is not None and (WEIGHTS_DIR / self.weights).is_file()


@dataclass
class Entry:
    builder: Callable[..., nn.Module]
    cfg: ModelCfg
    description: str = ""
    fixed_in_channels: tuple[int, ...] | None = field(default=None)


_REGISTRY: dict[str, Entry] = {}


def registered() -> dict[str, Entry]:
    """The registered entries by name (a copy; the zoo loads the built-ins before asking)."""
    return dict(_REGISTRY)


def register_model(
    cfg: ModelCfg, *, description: str = "", in_channels: tuple[int, ...] | None = None
):
    """Decorator registering ``builder(num_classes, in_channels, **kwargs) -> nn.Module``.

    Args:
        cfg: default :class:`ModelCfg` for the model.
        description: one line for ``medseg models``.
        in_channels: accepted input channel counts, or ``None`` for any.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if cfg.name in _REGISTRY:
            raise ValueError(f"model {cfg.name!r} registered twice")
        _REGISTRY[cfg.name] = Entry(fn, cfg, description, in_channels)
        return fn

    return deco


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> nn.Module:
    """Load a checkpoint safely (``weights_only=True``) into ``model``.

    Accepts a raw state dict or a dict holding one under ``"model"``, ``"state_dict"`` or
    ``"model_state"``. Half-precision tensors are cast to the model's dtype. torchvision
    segmentation checkpoints (keys without our ``net.`` prefix, ``aux_classifier.*``) are
    mapped when the model defines ``adapt_state_dict``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors, truncated files, non-checkpoints
        # torch's own message advises weights_only=False, i.e. running the file's code: never
        # pass that on. Say what the file is not and what is accepted.
        raise ValueError(
            f"{path.name} is not a usable weights file ({type(e).__name__}); expected a PyTorch "
            "state dict of tensors (torch.save(model.state_dict(), PATH); files holding pickled "
            "code are refused), an .onnx file from `medseg export --format onnx`, or an "
            "OpenVINO .xml from `medseg export --format openvino`"
        ) from None
    state = obj
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], dict):
                state = obj[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path.name} does not hold a state dict of tensors")
    if hasattr(model, "adapt_state_dict"):
        state = model.adapt_state_dict(state)
    ref = model.state_dict()
    state = {
        k: (v.to(ref[k].dtype) if k in ref and v.is_floating_point() else v)
        for k, v in state.items()
    }
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        msg = str(e)
        raise ValueError(
            f"checkpoint {path.name} does not match model {getattr(model, 'cfg', None) and model.cfg.name!r}: "
            + msg[:500]
        ) from None
    return model


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """``n`` deterministic, well-separated RGB colours (for models with custom classes)."""
    # Deterministic, well-separated colours (the VOC bit-interleaving scheme).
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return tuple(out)
