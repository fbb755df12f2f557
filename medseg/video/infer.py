"""What the video pipeline needs from a predictor: RGB frames in, scores out.

The pipeline takes a :class:`medseg.engine.predictor.Predictor` (any back-end, ``auto``
included) or a medseg RGB model (run eagerly, as ``Predictor.from_model(model,
backend="torch")``), the one vocabulary of medseg (runner: normalised batch → logits;
predictor: a runner with its model config). :func:`frame_adapter` turns a predictor into the
three calls the stages make per batch of frames:

* ``infer(frames [N, H, W, 3] uint8 RGB) -> probabilities [N, C, H, W]`` (temporal smoothing
  averages probabilities; a binary head gives ``[background, foreground]``),
* ``scores(frames)`` — the logits, which give the same labels without the softmax (about 20 %
  of the light model's per-frame work at 256×512, used when there is no smoothing),
* ``prepare(h, w)`` — before the first frame, so ``auto`` measures its back-ends outside the
  timed run.

``Segmenter`` and the ``*_segmenter`` helpers are the older names of this; they still work,
with a deprecation warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

InferFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class FrameAdapter:
    """A predictor seen by the pipeline (built by :func:`frame_adapter`; not a new concept).

    Attributes:
        infer: frames → probabilities ``[N, C, H, W]`` float32 at the frames' size.
        cfg: the model's :class:`~medseg.models.ModelCfg`.
        name: the back-end (before ``auto`` has chosen: ``"auto"``).
        scores: frames → any ``[N, C, H, W]`` with the probabilities' per-pixel labels.
        prepare: called with the inference ``(H, W)`` before the first frame.
        describe: what ran, once known (``auto``: its choice and why).
    """

    infer: InferFn
    cfg: Any
    name: str = "custom"
    scores: InferFn | None = None
    prepare: Callable[[int, int], None] | None = None
    describe: Callable[[], str] | None = field(default=None)

    def backend_name(self) -> str:
        """What runs the model: :attr:`describe` when given, else :attr:`name`."""
        return self.describe() if self.describe is not None else self.name


class Segmenter(FrameAdapter):
    """Deprecated: pass a :class:`~medseg.engine.predictor.Predictor` to
    :func:`~medseg.video.process_video` (a custom function fits as its runner:
    ``Predictor(runner, cfg)`` with ``runner(x [N, C, H, W]) -> logits``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        warnings.warn(
            "medseg.video.Segmenter is deprecated; pass a medseg Predictor to process_video "
            "(Predictor(runner, cfg) wraps any function of normalised frames)",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)


def frame_adapter(predictor) -> FrameAdapter:
    """The pipeline's view of a :class:`~medseg.engine.predictor.Predictor`.

    Frames are normalised by the predictor (:meth:`~medseg.engine.predictor.Predictor.
    preprocess_frames`, one numpy pass per batch) and run through its runner; probabilities
    come from :mod:`medseg.models.outputs` (a binary head as two channels).
    """
    import torch

    from ..models.outputs import logits_to_probs, two_class_probs

    def logits(frames: np.ndarray) -> torch.Tensor:
        return predictor.logits(predictor.preprocess_frames(frames)).float()

    def infer(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return two_class_probs(logits_to_probs(logits(frames))).numpy()

    def scores(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            lg = logits(frames)
            return lg.numpy() if lg.shape[1] > 1 else two_class_probs(torch.sigmoid(lg)).numpy()

    return FrameAdapter(
        infer,
        predictor.cfg,
        str(predictor.backend),
        scores,
        prepare=predictor.prepare,
        describe=lambda: predictor.backend_info()["summary"],
    )


def as_frame_adapter(obj) -> FrameAdapter:
    """A Predictor, a medseg RGB model or a (deprecated) :class:`Segmenter`, for the pipeline.

    Raises:
        TypeError: anything else; ValueError: a model that does not take RGB frames.
    """
    if isinstance(obj, FrameAdapter):
        seg = obj
    elif hasattr(obj, "preprocess_frames") and hasattr(obj, "cfg"):
        seg = frame_adapter(obj)
    else:
        from torch import nn

        if not isinstance(obj, nn.Module) or not hasattr(obj, "cfg"):
            raise TypeError(
                "expected a medseg Predictor or a medseg model (nn.Module with .cfg), got "
                f"{type(obj).__name__}"
            )
        from ..engine.predictor import Predictor

        seg = frame_adapter(Predictor.from_model(obj, backend="torch"))
    if seg.cfg.in_channels != 3:
        raise ValueError(
            f"model {seg.cfg.name!r} takes {seg.cfg.in_channels}-channel input; video frames "
            "are RGB: use a street model (medseg models --task street)"
        )
    return seg


def video_predictor(
    model: str = "lraspp_mobilenet_v3",
    *,
    backend: str = "auto",
    pretrained: bool | None = None,
    weights: str | None = None,
):
    """A :class:`~medseg.engine.predictor.Predictor` set up for the video pipeline.

    Args:
        model: registry name (an RGB street model).
        backend: any name of :data:`medseg.engine.backends.BACKENDS` (default ``auto``: the
            fastest back-end here whose labels agree with eager fp32, chosen at the video's
            inference size before the first frame).
        pretrained: load the shipped weights; ``None`` = when the package ships them.
        weights: a checkpoint path instead of the shipped weights.
    """
    from ..engine.predictor import Predictor
    from ..models import get_model_cfg

    cfg = get_model_cfg(model)
    if pretrained is None:
        pretrained = weights is None and cfg.has_pretrained
    # The pipeline decodes and encodes in other threads: ONNX Runtime must not spin.
    kwargs: dict[str, Any] = {"pretrained": pretrained, "backend": backend, "ort_spin": False}
    if weights is not None:
        kwargs["weights"] = weights
    pred = Predictor.from_name(model, **kwargs)
    as_frame_adapter(pred)  # refuses a model that does not take RGB frames, now
    return pred


# ------------------------------------------------------------------ deprecated names
def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"medseg.video.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def predictor_segmenter(predictor) -> FrameAdapter:
    """Deprecated: :func:`frame_adapter`."""
    _deprecated("predictor_segmenter", "a Predictor directly (process_video takes it)")
    return frame_adapter(predictor)


def torch_segmenter(model) -> FrameAdapter:
    """Deprecated: ``Predictor.from_model(model, backend="torch")``."""
    _deprecated("torch_segmenter", 'Predictor.from_model(model, backend="torch")')
    return as_frame_adapter(model)


def as_segmenter(obj) -> FrameAdapter:
    """Deprecated: :func:`as_frame_adapter`."""
    _deprecated("as_segmenter", "a Predictor directly (process_video takes it)")
    return as_frame_adapter(obj)


def load_segmenter(model: str = "lraspp_mobilenet_v3", **kwargs: Any) -> FrameAdapter:
    """Deprecated: :func:`video_predictor`."""
    _deprecated("load_segmenter", "medseg.video.video_predictor")
    return frame_adapter(video_predictor(model, **kwargs))


__all__ = [
    "FrameAdapter",
    "Segmenter",
    "as_frame_adapter",
    "as_segmenter",
    "frame_adapter",
    "load_segmenter",
    "predictor_segmenter",
    "torch_segmenter",
    "video_predictor",
]
