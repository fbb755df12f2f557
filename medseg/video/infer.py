"""The one thing the video pipeline needs from a model: RGB frames in, probabilities out.

A :class:`Segmenter` pairs ``infer(frames [N, H, W, 3] uint8 RGB) -> probs [N, C, H, W]
float32`` with the model's :class:`~medseg.models.ModelCfg` (class names, palette).
:func:`as_segmenter` builds one from a :class:`medseg.engine.predictor.Predictor` (any
backend, ``auto`` included), from a medseg ``nn.Module`` (eager
PyTorch), or passes a ready ``Segmenter`` through. Probabilities, not labels, because the
temporal smoothing averages them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

InferFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Segmenter:
    """``infer`` maps ``[N, H, W, 3]`` uint8 RGB to ``[N, C, H, W]`` float32 probabilities
    at the same H, W; ``cfg`` is the model's config; ``name`` describes the backend.

    ``scores`` (optional) returns any ``[N, C, H, W]`` array with the same per-pixel argmax
    as the probabilities, e.g. the raw logits: without smoothing the pipeline only needs
    the argmax, and skipping the softmax saves ~20 % of the per-frame work of the light
    model at 256×512.
    """

    infer: InferFn
    cfg: Any
    name: str = "custom"
    scores: InferFn | None = None
    #: optional hook called with the inference ``(H, W)`` before the first frame (``auto``
    #: measures its back-ends there, outside the timed run)
    prepare: Callable[[int, int], None] | None = None
    #: optional: what ran, once known (``auto``: its choice and why)
    describe: Callable[[], str] | None = None

    def backend_name(self) -> str:
        """What runs the model: :attr:`describe` when given, else :attr:`name`."""
        return self.describe() if self.describe is not None else self.name


def _probs_from_logits(logits):
    import torch

    if logits.shape[1] == 1:  # binary head: sigmoid, then [background, foreground]
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def torch_segmenter(model) -> Segmenter:
    """Eager-PyTorch :class:`Segmenter` for a medseg model (reads ``model.cfg``)."""
    import torch

    from ..transforms.intensity import normalize_for_model

    cfg = getattr(model, "cfg", None)
    if cfg is None:
        raise ValueError("the model has no .cfg; build it with medseg.models.create_model")
    model.eval()

    @torch.inference_mode()
    def logits(frames: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(frames))
        x = normalize_for_model(x, cfg, channel_axis=-1).permute(0, 3, 1, 2).contiguous()
        return model(x).float()

    return _from_logits(logits, cfg, "torch")


def _from_logits(logits_fn, cfg, name: str) -> Segmenter:
    import torch

    def infer(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return _probs_from_logits(logits_fn(frames)).numpy()

    def scores(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            lg = logits_fn(frames)
            return lg.numpy() if lg.shape[1] > 1 else _probs_from_logits(lg).numpy()

    return Segmenter(infer, cfg, name, scores)


def predictor_segmenter(predictor) -> Segmenter:
    """:class:`Segmenter` over a ``medseg.engine`` Predictor (any backend).

    Uses the predictor's own ``preprocess`` and ``logits`` (so preprocessing is the
    predictor's, not a copy) and does the softmax here: ``predict_batch`` would also
    compute labels and resize, work the pipeline does not need per frame. Predictors
    without those methods fall back to ``predict_batch(...).probs``.
    """
    if hasattr(predictor, "preprocess") and hasattr(predictor, "logits"):
        import torch

        cfg = predictor.cfg

        def logits(frames: np.ndarray):
            frames = np.asarray(frames)
            if cfg.normalization == "imagenet" and frames.dtype == np.uint8 and frames.ndim == 4:
                # the whole batch at once, in numpy: the same formula as preprocess() per
                # frame, without a torch.cat of N float frames (measured: 37 ms per batch of
                # 4 at 256×512 on a loaded 2-core machine, more than the model)
                from ..transforms.intensity import normalize_for_model

                x = normalize_for_model(frames, cfg, channel_axis=-1)
                x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            else:
                x = torch.cat([predictor.preprocess(f) for f in frames])
            return predictor.logits(x).float()

        runner = getattr(predictor, "runner", None)
        seg = _from_logits(logits, predictor.cfg, str(getattr(runner, "name", "predictor")))
        if hasattr(runner, "decide"):  # an AutoRunner: choose at the video's size up front
            seg.prepare = runner.decide
        if hasattr(predictor, "backend_info"):
            seg.describe = lambda: predictor.backend_info()["summary"]
        return seg

    def infer(frames: np.ndarray) -> np.ndarray:
        preds = predictor.predict_batch(frames)
        probs = [getattr(p, "probs", None) for p in preds]
        if any(p is None for p in probs):
            raise ValueError("the predictor returned no probabilities (Prediction.probs)")
        return np.stack([np.asarray(p, dtype=np.float32) for p in probs])

    runner = getattr(predictor, "runner", None)
    name = str(getattr(runner, "name", None) or getattr(predictor, "backend", "predictor"))
    return Segmenter(infer, predictor.cfg, name)


def as_segmenter(obj) -> Segmenter:
    """Accept a :class:`Segmenter`, a Predictor (has ``predict_batch``) or a medseg model."""
    if isinstance(obj, Segmenter):
        seg = obj
    elif hasattr(obj, "predict_batch") and hasattr(obj, "cfg"):
        seg = predictor_segmenter(obj)
    else:
        from torch import nn

        if not isinstance(obj, nn.Module):
            raise TypeError(
                "expected a medseg Predictor, a medseg model (nn.Module with .cfg) or a "
                f"medseg.video.Segmenter, got {type(obj).__name__}"
            )
        seg = torch_segmenter(obj)
    if seg.cfg.in_channels != 3:
        raise ValueError(
            f"model {seg.cfg.name!r} takes {seg.cfg.in_channels}-channel input; video frames "
            "are RGB: use a street model (medseg models --task street)"
        )
    return seg


def load_segmenter(
    model: str = "lraspp_mobilenet_v3",
    *,
    backend: str = "auto",
    pretrained: bool | None = None,
    weights: str | None = None,
) -> Segmenter:
    """Build a :class:`Segmenter` for a registered model on a backend.

    Args:
        model: registry name (an RGB street model).
        backend: any name of :data:`medseg.engine.backends.BACKENDS` (default ``auto``: the
            fastest back-end here whose labels agree with eager fp32, chosen at the video's
            inference size before the first frame).
        pretrained: load the shipped weights; ``None`` = when the package ships them.
        weights: a checkpoint path instead of the shipped weights.
    """
    from ..models import create_model, get_model_cfg

    cfg = get_model_cfg(model)
    if pretrained is None:
        pretrained = weights is None and cfg.has_pretrained
    try:
        from ..engine.predictor import Predictor
    except ImportError:
        Predictor = None
    if Predictor is not None:
        # The pipeline decodes and encodes in other threads: ONNX Runtime must not spin.
        kwargs: dict[str, Any] = {"pretrained": pretrained, "backend": backend, "ort_spin": False}
        if weights is not None:
            kwargs["weights"] = weights
        return as_segmenter(Predictor.from_name(model, **kwargs))
    if backend not in ("torch", "auto"):
        raise ValueError(
            f"backend {backend!r} needs medseg.engine.predictor, which is not installed; "
            "use --backend torch"
        )
    return as_segmenter(create_model(model, pretrained=pretrained, weights=weights))
