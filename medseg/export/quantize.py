"""ONNX Runtime static int8 quantization (QDQ, per-channel weights, calibrated activations).

``torch.ao`` dynamic quantization leaves ``Conv2d`` in float, so it is no int8 path for CNNs;
``onnxruntime.quantization.quantize_static`` quantizes the convolutions. Calibration runs the
fp32 graph on real images when given, else on synthetic ones
(:func:`synthetic_calibration`). The accuracy change is measured by the caller
(``scripts/bench_inference.py`` / the tests) on held-out images, never assumed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..transforms.intensity import normalize_for_model


def _prepare(image: np.ndarray, cfg, size: Sequence[int] | None) -> np.ndarray:
    """Image → normalised ``[1, C, h, w]`` float32 like the predictor does."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] != cfg.in_channels:
        if img.shape[-1] == 1:  # grey into RGB or 2.5-D (context slices) models
            img = np.repeat(img, cfg.in_channels, axis=-1)
        elif cfg.in_channels == 1 and img.shape[-1] >= 3:
            img = (img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[
                ..., None
            ]
        else:
            raise ValueError(
                f"calibration image shape {img.shape} does not fit {cfg.in_channels} channels"
            )
    x = torch.from_numpy(np.ascontiguousarray(normalize_for_model(img, cfg), np.float32))
    x = x.permute(2, 0, 1)[None]
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
    return x.numpy()


def synthetic_calibration(
    cfg, n: int = 16, size: Sequence[int] | None = None, seed: int = 0
) -> list[np.ndarray]:
    """Calibration images when no real ones are at hand.

    Street models: scenes from ``medseg.data.synthetic_streets`` when that module exists (the
    data the shipped street weights were trained on), else smooth random colour fields.
    Medical models: smooth random grayscale fields. Returns ``[H, W, 3]`` / ``[H, W]`` uint8.
    """
    h, w = tuple(size) if size is not None else tuple(min(s, 256) for s in cfg.input_size)
    if cfg.task == "street" and cfg.in_channels == 3:
        try:
            from ..data.synthetic_streets import render_scene
        except ImportError:  # the generator is optional here; fall back to noise
            render_scene = None
        if render_scene is not None:
            # Seeds far from the training range (0..N) so calibration never sees test scenes.
            return [render_scene(seed + 900_000 + i, size=(h, w))[0] for i in range(n)]
    rng = np.random.default_rng(seed)
    out = []
    c = 3 if cfg.in_channels == 3 else 1
    for _ in range(n):
        small = rng.uniform(0, 255, (c, max(2, h // 16), max(2, w // 16))).astype(np.float32)
        big = F.interpolate(
            torch.from_numpy(small)[None], size=(h, w), mode="bicubic", align_corners=False
        )[0]
        big = big + torch.from_numpy(rng.normal(0, 8, (c, h, w)).astype(np.float32))
        img = big.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        out.append(img if c == 3 else img[..., 0])
    return out


class _Reader:
    """``CalibrationDataReader`` over preprocessed images (ORT's duck-typed interface)."""

    def __init__(self, input_name: str, batches: list[np.ndarray]):
        self.input_name = input_name
        self._it = iter(batches)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self.input_name: x}

    def rewind(self):  # pragma: no cover - only used by some calibrators
        pass


def quantize_onnx_int8(
    onnx_path: str | Path,
    out_path: str | Path,
    calibration_images: Sequence[np.ndarray],
    *,
    cfg=None,
    size: Sequence[int] | None = None,
    per_channel: bool = True,
) -> dict:
    """Static int8 quantization of an fp32 ONNX graph (input ``[N, C, H, W]`` normalised).

    Args:
        onnx_path: fp32 graph from :func:`medseg.export.export_onnx` (no in-graph
            preprocessing).
        out_path: where to write the int8 QDQ graph (single file).
        calibration_images: ``[H, W, 3]`` uint8 RGB or ``[H, W]`` images (real or
            :func:`synthetic_calibration`); normalised with ``cfg`` like the predictor.
        cfg: the model's :class:`ModelCfg` (normalisation); default: the one
            :func:`~medseg.export.export_onnx` stored in the graph's metadata.
        size: resize calibration images to ``(h, w)`` (default: keep their size).
        per_channel: per-output-channel weight scales (better accuracy for convolutions).

    Returns:
        ``{"path", "calibration_images", "size_mb_fp32", "size_mb_int8"}``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    if cfg is None:
        from .onnx import read_cfg

        cfg = read_cfg(onnx_path)
    if cfg is None:
        raise ValueError(
            f"{Path(onnx_path).name} carries no medseg ModelCfg (not exported by medseg); "
            "pass cfg= (the model's ModelCfg) to normalise the calibration images"
        )
    if len(calibration_images) == 0:
        raise ValueError("need at least one calibration image")
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    input_name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    batches = [_prepare(im, cfg, size) for im in calibration_images]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="medseg-q-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Symbolic shape inference fails on the dynamic pad/crop arithmetic; ONNX shape
        # inference is enough for quantization.
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        part = out_path.with_name(out_path.stem + ".part.onnx")
        quantize_static(
            str(pre),
            str(part),
            _Reader(input_name, batches),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        part.replace(out_path)
    return {
        "path": str(out_path),
        "calibration_images": len(batches),
        "size_mb_fp32": onnx_path.stat().st_size / 1e6,
        "size_mb_int8": out_path.stat().st_size / 1e6,
    }
