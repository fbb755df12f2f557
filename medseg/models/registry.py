"""Model registry: ``create_model`` / ``list_models`` over decorated builder functions.

Each registered builder returns an ``nn.Module`` that carries ``model.cfg`` (a
:class:`ModelCfg`); the facts about a model (classes, palette, normalisation, divisor,
weights file and its checksum, licence) live only there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
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
class _Entry:
    builder: Callable[..., nn.Module]
    cfg: ModelCfg
    description: str = ""
    fixed_in_channels: tuple[int, ...] | None = field(default=None)


_REGISTRY: dict[str, _Entry] = {}


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
        _REGISTRY[cfg.name] = _Entry(fn, cfg, description, in_channels)
        return fn

    return deco


def list_models(task: str | None = None) -> list[str]:
    """Registered model names, sorted; optionally only those of one ``task``."""
    _ensure_builtin()
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.cfg.task == task)


def get_model_cfg(name: str) -> ModelCfg:
    """The default :class:`ModelCfg` of a registered model (no model is built)."""
    return _entry(name).cfg


def model_description(name: str) -> str:
    return _entry(name).description


def _entry(name: str) -> _Entry:
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name (see :func:`list_models`).
        num_classes: output channels; defaults to the model's ``cfg.num_classes``.
        in_channels: input channels; defaults to ``cfg.in_channels``.
        pretrained: load the weights shipped inside the package (no download).
        weights: path to a user checkpoint (a state dict, or a dict with ``"model"`` /
            ``"state_dict"``), loaded with ``torch.load(weights_only=True)``. torchvision
            state dicts load where the architecture matches.
        **kwargs: architecture options (e.g. ``output_stride=8`` for DeepLabV3).

    Returns:
        ``nn.Module`` with ``forward(x [N, C_in, H, W]) -> logits [N, num_classes, H, W]`` and a
        ``cfg`` attribute.

    Example:
        >>> m = create_model("unet", num_classes=3, base_channels=8)
        >>> m(torch.zeros(1, 3, 37, 50)).shape
        torch.Size([1, 3, 37, 50])
    """
    entry = _entry(name)
    cfg = entry.cfg
    if pretrained and weights is not None:
        raise ValueError("pass either pretrained=True or weights=PATH, not both")
    nc = cfg.num_classes if num_classes is None else int(num_classes)
    ic = cfg.in_channels if in_channels is None else int(in_channels)
    if nc < 1:
        raise ValueError(f"num_classes must be >= 1, got {nc}")
    if entry.fixed_in_channels is not None and ic not in entry.fixed_in_channels:
        raise ValueError(
            f"model {name!r} accepts in_channels in {entry.fixed_in_channels}, got {ic}"
        )
    if ic < 1:
        raise ValueError(f"in_channels must be >= 1, got {ic}")
    if pretrained:
        if not cfg.weights:
            raise ValueError(
                f"model {name!r} has no shipped weights; models with weights: "
                + ", ".join(n for n in list_models() if get_model_cfg(n).weights)
            )
        if nc != cfg.num_classes or ic != cfg.in_channels:
            raise ValueError(
                f"shipped weights of {name!r} need num_classes={cfg.num_classes}, "
                f"in_channels={cfg.in_channels}"
            )
    model = entry.builder(num_classes=nc, in_channels=ic, **kwargs)
    changes: dict[str, Any] = {"num_classes": nc, "in_channels": ic}
    if nc != cfg.num_classes:
        changes["class_names"] = tuple(f"class_{i}" for i in range(nc))
        changes["palette"] = _default_palette(nc)
    if ic != cfg.in_channels and cfg.context_slices:
        # a 2.5-D model built with another channel count: the context follows (1 -> plain 2-D)
        changes["context_slices"] = max(0, (ic - 1) // 2)
    if ic != cfg.in_channels and cfg.normalization == "imagenet":
        changes["mean"] = (cfg.mean * ic)[:ic] if ic > len(cfg.mean) else cfg.mean[:ic]
        changes["std"] = (cfg.std * ic)[:ic] if ic > len(cfg.std) else cfg.std[:ic]
    model.cfg = cfg.replace(**changes)
    if pretrained:
        path = WEIGHTS_DIR / cfg.weights
        if not path.is_file():
            raise FileNotFoundError(f"shipped weights for {name!r} are missing: {path}")
        if cfg.weights_sha256 and sha256_file(path) != cfg.weights_sha256:
            raise RuntimeError(f"checksum mismatch for {path}; the file is corrupt or was replaced")
        load_checkpoint(model, path)
    elif weights is not None:
        load_checkpoint(model, weights)
    return model


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
        raise ValueError(
            f"cannot load checkpoint {path.name}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            " (only plain state dicts are accepted; pickled code is refused)"
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


def _default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
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


_BUILTIN_LOADED = False
_BUILTIN_LOCK = threading.RLock()


def _ensure_builtin() -> None:
    # Explicit imports (not star-imports) of the modules that register the built-in models.
    # The flag is set only after the imports finished, under a lock, so a second thread (the
    # app warms models up in the background) never sees a half-filled registry.
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    with _BUILTIN_LOCK:
        if _BUILTIN_LOADED:
            return
        from . import deeplabv3, fcn, light, unet  # noqa: F401

        _BUILTIN_LOADED = True
