"""ONNX export: dynamic batch / height / width, opset >= 17, one self-contained file.

Two exporters are supported and verified equal in the tests:

* ``"dynamo"`` (``torch.onnx.export(..., dynamo=True)``, built on ``torch.export``; needs
  ``onnxscript``): the maintained path, opset 18, ~10 s for the light model on 2 cores.
* ``"legacy"`` (TorchScript tracing): opset 17, well under a second; the predictor uses it
  to convert models on the fly.

With ``with_preprocessing=True`` the graph takes a uint8 image and returns the label map and
probabilities, so a deployment needs no Python preprocessing (see :class:`WithPreprocessing`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .wrappers import PadCrop, WithPreprocessing


def _dims(names: Sequence[tuple[int, str]]):
    from torch.export import Dim

    return {i: Dim(n, min=1 if n == "batch" else 8, max=8192) for i, n in names}


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: Sequence[int] | None = None,
    dynamic: bool = True,
    with_preprocessing: bool = False,
    layout: str = "nhwc",
    opset: int | None = None,
    exporter: str = "dynamo",
    verify: bool = True,
    atol: float = 1e-4,
) -> dict:
    """Export ``model`` to a single ONNX file and check it against PyTorch with ONNX Runtime.

    Args:
        model: a medseg model (needs ``model.cfg``).
        path: output ``.onnx`` file (written to a temporary name, then renamed).
        input_size: ``(H, W)`` of the example input (default ``model.cfg.input_size``).
        dynamic: dynamic batch, height and width (otherwise fixed to the example).
        with_preprocessing: graph input is a uint8 image (``layout`` ``"nhwc"``:
            ``[N, H, W, C]``, or ``"nchw"``), outputs ``labels [N, H, W]`` uint8 and
            ``probs [N, K, H, W]``; otherwise input ``input [N, C, H, W]`` float32
            (normalised) and output ``logits [N, K, H, W]``.
        opset: ONNX opset (default 18 for dynamo, 17 for legacy).
        exporter: ``"dynamo"`` or ``"legacy"``.
        verify: compare ONNX Runtime with eager PyTorch on an input of another size.
        atol: raise ``RuntimeError`` if the max abs difference exceeds it.

    Returns:
        ``{"path", "opset", "exporter", "max_abs_diff"}``.
    """
    if exporter not in ("dynamo", "legacy"):
        raise ValueError(f"exporter must be 'dynamo' or 'legacy', got {exporter!r}")
    cfg = model.cfg
    size = tuple(int(s) for s in (input_size or cfg.input_size))
    opset = opset or (18 if exporter == "dynamo" else 17)
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    was_training = model.training
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.onnx")
    try:
        if with_preprocessing:
            wrapper = WithPreprocessing(model, layout).eval()
            shape = (2, *size, cfg.in_channels) if layout == "nhwc" else (2, cfg.in_channels, *size)
            x = torch.randint(0, 256, shape, dtype=torch.uint8)
            in_names, out_names = ["image"], ["labels", "probs"]
            hw = (1, 2) if layout == "nhwc" else (2, 3)
            dyn_in = [(0, "batch"), (hw[0], "height"), (hw[1], "width")]
            axes = {
                "image": {0: "batch", hw[0]: "height", hw[1]: "width"},
                "labels": {0: "batch", 1: "height", 2: "width"},
                "probs": {0: "batch", 2: "height", 3: "width"},
            }
            dyn_key = "image"
        else:
            wrapper = PadCrop(model).eval()
            x = torch.randn(2, cfg.in_channels, *size)
            in_names, out_names = ["input"], ["logits"]
            dyn_in = [(0, "batch"), (2, "height"), (3, "width")]
            axes = {
                "input": {0: "batch", 2: "height", 3: "width"},
                "logits": {0: "batch", 2: "height", 3: "width"},
            }
            dyn_key = "x"
        # Example batch 2: torch.export specialises dimensions of size 0/1 to constants.
        # The exporters are chatty (progress lines, deprecation and tracer warnings).
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                key = dyn_key if not with_preprocessing else "image"
                kw = dict(
                    dynamo=True,
                    dynamic_shapes={key: _dims(dyn_in)} if dynamic else None,
                    external_data=False,
                    verbose=False,
                )
            else:
                kw = dict(
                    dynamo=False, dynamic_axes=axes if dynamic else None, do_constant_folding=True
                )
            torch.onnx.export(
                wrapper,
                (x,),
                str(tmp),
                opset_version=opset,
                input_names=in_names,
                output_names=out_names,
                **kw,
            )
        _embed_cfg(tmp, cfg, with_preprocessing=with_preprocessing, layout=layout)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
        model.train(was_training)
    diff = (
        verify_onnx(
            model,
            path,
            with_preprocessing=with_preprocessing,
            layout=layout,
            size=size if not dynamic else None,
        )
        if verify
        else None
    )
    if diff is not None and diff > atol:
        raise RuntimeError(f"ONNX Runtime output differs from PyTorch by {diff:.3g} > {atol}")
    return {"path": str(path), "opset": opset, "exporter": exporter, "max_abs_diff": diff}


def _embed_cfg(path: Path, cfg, *, with_preprocessing: bool, layout: str) -> None:
    """Store the model's ModelCfg (JSON) in the graph's metadata, so a deployment (and
    :meth:`Predictor.from_onnx`, :func:`quantize_onnx_int8`) needs no other file."""
    import json

    import onnx

    m = onnx.load(str(path))
    props = {
        "medseg_cfg": json.dumps(cfg.to_dict()),
        "medseg_input": f"uint8 {layout} image"
        if with_preprocessing
        else "float32 NCHW normalised",
    }
    onnx.helper.set_model_props(m, props)
    onnx.save(m, str(path))


def read_cfg(path: str | Path):
    """The :class:`ModelCfg` stored in an ONNX file by :func:`export_onnx`, or ``None``."""
    import json

    import onnx

    from ..models import ModelCfg

    m = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in m.metadata_props}
    if "medseg_cfg" not in props:
        return None
    return ModelCfg.from_dict(json.loads(props["medseg_cfg"]))


def verify_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    with_preprocessing: bool = False,
    layout: str = "nhwc",
    size: Sequence[int] | None = None,
) -> float:
    """Max abs difference between ONNX Runtime and eager PyTorch (logits, or probabilities for
    a graph with preprocessing) on a batch of 2 at an odd size (``size`` for static graphs)."""
    from ..runners import OrtRunner
    from .verify import parity_input, torch_logits

    cfg = model.cfg
    runner = OrtRunner(path)
    if not with_preprocessing:
        x = parity_input(cfg, size or cfg.input_size)
        if size is not None:
            x = torch.randn(2, cfg.in_channels, *size)
        ref = torch_logits(model, x)
        got = runner(x)
        return float((got - ref).abs().max())
    h, w = size or (cfg.input_size[0] // 2 + 3, cfg.input_size[1] // 2 + 5)
    rng = np.random.default_rng(0)
    shape = (2, h, w, cfg.in_channels) if layout == "nhwc" else (2, cfg.in_channels, h, w)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    labels, probs = runner.session.run(None, {runner.input_name: img})
    with torch.no_grad():
        ref_l, ref_p = WithPreprocessing(model, layout).eval()(torch.from_numpy(img))
    return float(np.abs(probs - ref_p.numpy()).max())
