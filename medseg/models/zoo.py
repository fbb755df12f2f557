"""The model zoo: ``create_model`` / ``list_models`` over the registered architectures.

The built-in architectures register themselves (``@register_model`` in their modules) and are
imported on first use, so ``import medseg.models`` stays light.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch  # noqa: F401  (doctest namespace)
from torch import nn

from .registry import (
    WEIGHTS_DIR,
    Entry,
    ModelCfg,
    default_palette,
    load_checkpoint,
    registered,
    sha256_file,
)


def list_models(task: str | None = None) -> list[str]:
    """Registered model names, sorted; optionally only those of one ``task``."""
    _ensure_builtin()
    return sorted(n for n, e in registered().items() if task is None or e.cfg.task == task)


def get_model_cfg(name: str) -> ModelCfg:
    """The default :class:`ModelCfg` of a registered model (no model is built)."""
    return _entry(name).cfg


def model_description(name: str) -> str:
    return _entry(name).description


def _entry(name: str) -> Entry:
    _ensure_builtin()
    try:
        return registered()[name]
    except KeyError:
        known = ", ".join(sorted(registered()))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None


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
        changes["palette"] = default_palette(nc)
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
        from . import deeplabv3, fcn, light, unet  # noqa: F401  (they register themselves)

        _BUILTIN_LOADED = True
