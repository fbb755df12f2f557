"""One object per model for inference on images, batches of frames and 3-D volumes.

Preprocessing is read from ``model.cfg`` only (channels, normalisation, divisor); the model or
exported graph pads to the divisor internally, so any H×W is accepted. Probabilities are
resized back to the original image size *before* the argmax.

Example:
    >>> p = Predictor.from_name("lraspp_mobilenet_v3", pretrained=False)
    >>> pred = p.predict_image(np.zeros((100, 150, 3), np.uint8))
    >>> pred.labels.shape, pred.probs.shape
    ((100, 150), (19, 100, 150))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelCfg, create_model
from ..models.outputs import labels_dtype, logits_to_probs, probs_to_labels, resized_labels
from ..models.registry import sha256_file
from ..runners import OpenVinoRunner, OrtRunner, Runner, TorchScriptRunner
from ..transforms.intensity import normalize_for_model
from .backends import BACKENDS, make_runner, resolve_backend

#: back-ends that run an exported file, per format (``auto`` chooses among the others)
_FILE_BACKENDS = {
    "onnx": ("onnxruntime", "openvino-fp32", "openvino-bf16", "auto"),
    "openvino": ("openvino-fp32", "openvino-bf16", "auto"),
}


class Prediction:
    """Result for one image.

    Attributes:
        labels: ``[H, W]`` class per pixel (uint8 when classes fit, else int64).
        probs: ``[C, H, W]`` float32 class probabilities (softmax; sigmoid for 1 class),
            computed on first access (logits resized to the image, then softmax): the labels
            come straight from the logits, and most callers (the app, batch jobs, video) never
            read the probabilities.
        seconds: wall time of preprocessing + model + resizing + labels for this call (a batch
            call reports its time shared equally among its images).
        uncertainty: ``[H, W]`` float32 per-pixel uncertainty when TTA was used, else ``None``.
    """

    __slots__ = ("_logits", "_probs", "labels", "seconds", "uncertainty")

    def __init__(
        self,
        labels: np.ndarray,
        probs: np.ndarray | None = None,
        seconds: float = 0.0,
        uncertainty: np.ndarray | None = None,
        *,
        logits: torch.Tensor | None = None,
    ):
        if probs is None and logits is None:
            raise ValueError("a Prediction needs probs or the logits to compute them from")
        self.labels = labels
        self._probs = probs
        self._logits = logits  # [C, h, w] (model size), until probs are asked for
        self.seconds = seconds
        self.uncertainty = uncertainty

    @property
    def probs(self) -> np.ndarray:
        if self._probs is None:
            lg = self._logits[None]
            if tuple(lg.shape[-2:]) != tuple(self.labels.shape):
                lg = F.interpolate(lg, size=self.labels.shape, mode="bilinear", align_corners=False)
            self._probs = logits_to_probs(lg)[0].numpy().astype(np.float32, copy=False)
            self._logits = None
        return self._probs

    @probs.setter
    def probs(self, value: np.ndarray) -> None:
        self._probs, self._logits = value, None

    def __repr__(self) -> str:
        return (
            f"Prediction(labels={self.labels.shape} {self.labels.dtype}, "
            f"seconds={self.seconds:.4f}, uncertainty={self.uncertainty is not None})"
        )


def _resolve_cfg(cfg: ModelCfg | str | Path) -> ModelCfg:
    """A ModelCfg from itself, a ``*.cfg.json`` file (``medseg export``) or a registry name."""
    if isinstance(cfg, ModelCfg):
        return cfg
    p = Path(cfg)
    if p.suffix == ".json" and p.is_file():
        import json

        return ModelCfg.from_dict(json.loads(p.read_text()))
    from ..models import get_model_cfg

    return get_model_cfg(str(cfg))


def _state_dict_sha256(model: nn.Module) -> str:
    """SHA-256 over a model's parameters and buffers (names, shapes and bytes, in order)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


#: suffixes of the files ``medseg export`` writes that a Predictor runs
EXPORT_SUFFIXES = (".onnx", ".xml")


def _expected_cfg(path, cfg, expected_name: str | None) -> ModelCfg:
    """``cfg`` resolved; a file whose cfg names another model than ``expected_name`` is
    refused."""
    cfg = _resolve_cfg(cfg)
    if expected_name is not None and cfg.name != expected_name:
        raise ValueError(
            f"{Path(path).name} holds model {cfg.name!r}, not {expected_name!r}; pass "
            f"--model {cfg.name} (or leave --model out)"
        )
    return cfg


def _file_runner(path, cfg, backend, reference, built, threads) -> Runner:
    """A runner for an exported file: one back-end, or ``auto`` over those that run it."""
    from .autotune import AutoRunner, limit_candidates
    from .calibration import file_fingerprint

    def ov(precision):
        return lambda: OpenVinoRunner(path, precision=precision, threads=threads)

    factories = {
        "onnxruntime": lambda: built.get("onnxruntime") or OrtRunner(path, threads=threads)
    }
    factories.update({"openvino-fp32": ov("fp32"), "openvino-bf16": ov("bf16")})
    if backend != "auto":
        return factories[backend]()
    from .backends import auto_candidates

    avail = set(auto_candidates("cpu")) | {reference}
    names = [n for n in limit_candidates(list(factories), reference) if n in avail]
    if Path(path).suffix.lower() == ".xml":
        names = [n for n in names if n.startswith("openvino")]
        fid = file_fingerprint(path, Path(path).with_suffix(".bin"))
    else:
        fid = file_fingerprint(path)
    return AutoRunner({n: factories[n] for n in names}, reference=reference, cfg=cfg, model_id=fid)


class Predictor:
    """Inference on one model through one back-end.

    Args:
        runner: a :class:`~medseg.engine.backends.Runner` (``x [N,C,H,W] -> logits``).
        cfg: the model's :class:`ModelCfg` (preprocessing facts).
        model: the torch model, when there is one (TTA, re-export, benchmarks use it).
        batch_size: maximum images per forward pass in :meth:`predict_batch`.
    """

    def __init__(
        self,
        runner: Runner,
        cfg: ModelCfg,
        *,
        model: nn.Module | None = None,
        batch_size: int = 8,
    ):
        self.runner = runner
        self.cfg = cfg
        self.model = model
        self.batch_size = int(batch_size)
        #: where the weights came from: ``weights`` (a file name, or a description such as
        #: "random (untrained)") and ``weights_sha256``; see :attr:`provenance`.
        self.weights_info: dict[str, Any] = {"weights": None, "weights_sha256": None}

    @property
    def backend(self) -> str:
        """The back-end that runs (the runner's name)."""
        return str(getattr(self.runner, "name", type(self.runner).__name__))

    @property
    def provenance(self) -> dict[str, Any]:
        """What produces this predictor's results, for reports: ``model``, ``weights``,
        ``weights_sha256``, ``backend`` and ``medseg_version``. The checksum of an in-memory
        model's weights is computed on first use."""
        import medseg

        info = dict(self.weights_info)
        if (
            info.get("weights_sha256") is None
            and self.model is not None
            and info.get("weights") != "random (untrained)"
        ):
            info["weights_sha256"] = _state_dict_sha256(self.model)
            info["weights"] = info.get("weights") or "in-memory model"
            self.weights_info = info
        return {
            "model": self.cfg.name,
            **info,
            "backend": self.backend,
            "medseg_version": medseg.__version__,
        }

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_model(
        cls, model: nn.Module, *, backend: str = "torch", device: str = "cpu", **kw: Any
    ) -> Predictor:
        """Wrap a built model; ``backend`` as in :func:`~medseg.engine.backends.make_runner`."""
        if not hasattr(model, "cfg"):
            raise ValueError("model has no .cfg; build it with medseg.models.create_model")
        batch_size = kw.pop("batch_size", 8)
        runner = make_runner(model, backend, device=device, **kw)
        return cls(runner, model.cfg, model=model.eval(), batch_size=batch_size)

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        pretrained: bool = True,
        backend: str = "auto",
        device: str = "cpu",
        weights: str | Path | None = None,
        calibration: Sequence[np.ndarray] | None = None,
        ort_spin: bool = True,
        candidates: Sequence[str] | None = None,
        **model_kwargs: Any,
    ) -> Predictor:
        """Build a registered model (shipped weights by default) on ``backend``.

        Args:
            name: registry name (``medseg models`` lists them).
            pretrained: load the weights shipped in the package; ``False`` for random weights.
            backend: a name from :data:`~medseg.engine.backends.BACKENDS`: ``auto`` (default:
                the fastest back-end on this machine whose labels agree with eager fp32,
                measured on first use and cached, see :mod:`medseg.engine.autotune`),
                ``torch``, ``channels_last``, ``bf16``, ``torchscript``, ``onnxruntime``,
                ``ort-int8``, ``openvino-fp32``, ``openvino-bf16`` (exported on the fly into
                a temporary folder).
            device: torch device for the torch back-ends.
            weights: a checkpoint path instead of the shipped weights.
            calibration: images for ``ort-int8`` calibration (default: synthetic).
            ort_spin: ONNX Runtime threads spin-wait (see
                :func:`~medseg.engine.backends.make_runner`); ``False`` for pipelines.
            candidates: for ``auto``, the back-ends to choose from (default: all available
                here, limited by ``$MEDSEG_AUTO_BACKENDS``).
            **model_kwargs: architecture options for :func:`create_model`.
        """
        if weights is not None and Path(weights).suffix.lower() in EXPORT_SUFFIXES:
            return cls.from_export(weights, backend=backend, expected_name=name)
        model = create_model(
            name, pretrained=pretrained and weights is None, weights=weights, **model_kwargs
        )
        kw: dict[str, Any] = {"ort_spin": ort_spin}
        if calibration is not None:
            kw["calibration"] = calibration
        if candidates is not None:
            kw["candidates"] = candidates
        pred = cls.from_model(model, backend=backend, device=device, **kw)
        if weights is not None:
            pred.weights_info = {
                "weights": Path(weights).name,
                "weights_sha256": sha256_file(weights),
            }
        elif pretrained:
            pred.weights_info = {
                "weights": model.cfg.weights,
                "weights_sha256": model.cfg.weights_sha256,
            }
        else:
            pred.weights_info = {"weights": "random (untrained)", "weights_sha256": None}
        return pred

    @classmethod
    def from_checkpoint(
        cls, name: str, path: str | Path, *, backend: str = "auto", device: str = "cpu", **kw: Any
    ) -> Predictor:
        """A registered architecture with a user checkpoint (``torch.load(weights_only=True)``).

        An exported file works too: an OpenVINO IR (``.xml``, see :meth:`from_openvino`) or an
        ONNX graph (``.onnx``, see :meth:`from_onnx`); their stored ModelCfg is used, and
        ``backend`` must be one that runs them (``auto`` chooses among those).
        """
        if Path(path).suffix.lower() in EXPORT_SUFFIXES:
            p = cls.from_export(path, backend=backend)
            if p.cfg.name != name:
                import warnings

                warnings.warn(
                    f"{Path(path).name} holds model {p.cfg.name!r} (its stored config is used), "
                    f"not {name!r}",
                    stacklevel=2,
                )
            return p
        return cls.from_name(
            name, pretrained=False, weights=path, backend=backend, device=device, **kw
        )

    @classmethod
    def from_export(
        cls, path: str | Path, *, backend: str = "auto", expected_name: str | None = None
    ) -> Predictor:
        """A file written by ``medseg export``: an OpenVINO IR (``.xml``, see
        :meth:`from_openvino`) or an ONNX graph (``.onnx``, see :meth:`from_onnx`), with the
        ModelCfg stored in it. ``backend`` must be one that runs the file (``auto`` chooses
        among those); ``expected_name``: refuse a file whose cfg names another model."""
        suffix = Path(path).suffix.lower()
        if suffix not in EXPORT_SUFFIXES:
            raise ValueError(
                f"{Path(path).name}: an exported model is {' or '.join(EXPORT_SUFFIXES)}"
            )
        load = cls.from_openvino if suffix == ".xml" else cls.from_onnx
        return load(path, backend=backend, expected_name=expected_name)

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        cfg: ModelCfg | str | Path | None = None,
        *,
        threads: int | None = None,
        expected_name: str | None = None,
        backend: str = "onnxruntime",
    ) -> Predictor:
        """An exported ONNX graph (input ``[N,C,H,W]`` float32, output logits).

        Args:
            path: ``.onnx`` file written by :func:`medseg.export.export_onnx` (without
                in-graph preprocessing).
            cfg: the model's :class:`ModelCfg`, a registry name, or the ``<name>.cfg.json``
                file ``medseg export`` writes next to the graph; default: the cfg that
                :func:`medseg.export.export_onnx` stores in the graph's metadata.
            expected_name: refuse a graph whose stored cfg names another model.
            threads: inference threads (default: torch's).
            backend: ``onnxruntime``, ``openvino-fp32``, ``openvino-bf16``, or ``auto``
                (the fastest of those whose labels agree with ONNX Runtime fp32).
        """
        backend = resolve_backend(backend)
        if backend not in _FILE_BACKENDS["onnx"]:
            raise ValueError(
                f"an ONNX graph runs on {', '.join(_FILE_BACKENDS['onnx'])}, not {backend!r}"
            )
        try:
            runner = OrtRunner(path, threads=threads)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ValueError(
                f"{Path(path).name} is not a usable ONNX model ({type(e).__name__}); expected a "
                "graph written by `medseg export --format onnx`"
            ) from None
        if runner.session.get_inputs()[0].type != "tensor(float)":
            raise ValueError(
                f"{Path(path).name} takes {runner.session.get_inputs()[0].type} input: it was exported "
                "with in-graph preprocessing; run it with onnxruntime directly, or export "
                "without --with-preprocessing for the Predictor"
            )
        if cfg is None:
            from ..export.onnx import read_cfg

            cfg = read_cfg(path)
            if cfg is None:
                raise ValueError(
                    f"{Path(path).name} carries no medseg ModelCfg metadata; pass cfg= (a "
                    "ModelCfg, a registry name or a .cfg.json file)"
                )
        cfg = _expected_cfg(path, cfg, expected_name)
        if backend != "onnxruntime":
            runner = _file_runner(
                path, cfg, backend, "onnxruntime", {"onnxruntime": runner}, threads
            )
        pred = cls(runner, cfg)
        pred.weights_info = {"weights": Path(path).name, "weights_sha256": sha256_file(path)}
        return pred

    @classmethod
    def from_openvino(
        cls,
        path: str | Path,
        cfg: ModelCfg | str | Path | None = None,
        *,
        backend: str = "openvino-fp32",
        threads: int | None = None,
        expected_name: str | None = None,
    ) -> Predictor:
        """An OpenVINO IR written by :func:`medseg.export.export_openvino` (``medseg export
        --format openvino``).

        Args:
            path: the IR's ``.xml`` (its ``.bin`` beside it).
            cfg: default: the ModelCfg stored in the IR (or in ``<name>.cfg.json`` beside it).
            expected_name: refuse an IR whose stored cfg names another model.
            backend: ``openvino-fp32`` (default: exact), ``openvino-bf16`` (CPUs with
                AVX512-BF16 or AMX), or ``auto`` (bf16 where its labels agree with fp32 on
                ≥ 99.5 % of pixels and it is faster; see :mod:`medseg.engine.autotune`).
            threads: inference threads (default: torch's).
        """
        backend = resolve_backend(backend)
        if backend not in _FILE_BACKENDS["openvino"]:
            raise ValueError(
                f"an OpenVINO IR runs on {', '.join(_FILE_BACKENDS['openvino'])}, not {backend!r}"
            )
        if cfg is None:
            from ..export.openvino import read_openvino_cfg

            cfg = read_openvino_cfg(path)
            if cfg is None:
                raise ValueError(
                    f"{Path(path).name} carries no medseg ModelCfg (rt_info or .cfg.json); pass "
                    "cfg= (a ModelCfg, a registry name or a .cfg.json file)"
                )
        cfg = _expected_cfg(path, cfg, expected_name)
        if backend == "auto":
            runner = _file_runner(path, cfg, backend, "openvino-fp32", {}, threads)
        else:
            runner = OpenVinoRunner(path, precision=backend.split("-")[1], threads=threads)
        pred = cls(runner, cfg)  # the weights are the .bin's
        bin_path = Path(path).with_suffix(".bin")
        digest = sha256_file(bin_path) if bin_path.is_file() else sha256_file(path)
        pred.weights_info = {"weights": Path(path).name, "weights_sha256": digest}
        return pred

    @classmethod
    def from_torchscript(
        cls, path: str | Path, cfg: ModelCfg | str, *, device: str = "cpu"
    ) -> Predictor:
        """A TorchScript file written by :func:`medseg.export.export_torchscript`."""
        pred = cls(TorchScriptRunner(path, device=device), _resolve_cfg(cfg))
        pred.weights_info = {"weights": Path(path).name, "weights_sha256": sha256_file(path)}
        return pred

    # ------------------------------------------------------------------ back-end
    def backend_info(self) -> dict[str, Any]:
        """Which back-end runs this predictor, for reports and the app.

        Returns:
            ``backend`` (the name that runs: for ``auto`` its latest choice, ``"auto"`` before
            the first call), ``label`` (for people), ``auto`` (``True`` when chosen
            automatically), ``summary`` (one line: for ``auto`` the speed-up over eager fp32
            and the label agreement that decided it), ``choice`` (the
            :class:`~medseg.engine.autotune.AutoChoice` as a dict, or ``None``).
        """
        r = self.runner
        choice = getattr(r, "choice", None) if getattr(r, "name", "") == "auto" else None
        name = choice.backend if choice is not None else str(getattr(r, "name", "custom"))
        label = BACKENDS[name].label if name in BACKENDS else name
        if getattr(r, "name", "") == "auto":
            summary = r.describe()
        else:
            summary = name
        return {
            "backend": name,
            "label": label,
            "auto": getattr(r, "name", "") == "auto",
            "summary": summary,
            "choice": choice.to_dict() if choice is not None else None,
        }

    def _tta_batched(self, x: torch.Tensor, kw: dict) -> bool:
        """Batched or one-view-per-pass TTA for this back-end and size on this machine
        (measured once, see :func:`medseg.engine.tta.choose_batching`)."""
        from .autotune import size_bucket
        from .tta import choose_batching

        decide = getattr(self.runner, "decide", None)
        if decide is not None:  # ``auto`` chooses for this size first (no forward pass needed):
            decide(int(x.shape[-2]), int(x.shape[-1]))  # the key names what really runs
        info = self.backend_info()
        key = f"{self.cfg.name}|{info['backend']}|{size_bucket(*x.shape[-2:])}"
        opts = {k: kw[k] for k in ("scales", "flips") if k in kw}
        return choose_batching(self.logits, x[:1], key=key, **opts)

    # ------------------------------------------------------------------ preprocessing
    def _channels(self, image: np.ndarray) -> np.ndarray:
        """``[H, W]`` / ``[H, W, 1|3|4]`` → ``[H, W, C_in]`` for this model."""
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = img[..., :3]  # drop alpha
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
            raise ValueError(
                f"expected an image [H, W] (grayscale) or [H, W, 3] (RGB), got shape {img.shape}"
            )
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise ValueError(f"image is empty: shape {img.shape}")
        cin = self.cfg.in_channels
        if img.ndim == 2:
            return np.repeat(img[..., None], cin, axis=-1) if cin != 1 else img[..., None]
        if cin == 3:
            return img
        if cin == 1 or self.cfg.context_slices:  # RGB into a grayscale model: BT.601 luma
            lum = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            g = (np.round(lum).astype(np.uint8) if img.dtype == np.uint8 else lum)[..., None]
            return g if cin == 1 else np.repeat(g, cin, axis=-1)  # 2.5-D: slice in every channel
        raise ValueError(f"cannot feed a 3-channel image to a {cin}-channel model")

    def preprocess(self, image: np.ndarray, size: Sequence[int] | None = None) -> torch.Tensor:
        """One image → normalised ``[1, C_in, h, w]`` float32 (``(h, w) = size`` if given)."""
        img = self._channels(image)
        if self.cfg.normalization == "imagenet" and img.dtype != np.uint8:
            f = img.astype(np.float32)
            if f.size and (f.min() < 0.0 or f.max() > 1.0):
                # 16-bit or raw-valued input to an RGB model: stretch to [0, 1] (ImageNet
                # statistics assume that range) instead of feeding values the model never saw.
                lo, hi = float(f.min()), float(f.max())
                f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
            img = f
        size = tuple(int(s) for s in size) if size is not None else None
        if self.cfg.normalization == "imagenet" and size not in (None, img.shape[:2]):
            # A per-channel affine normalisation commutes with bilinear resizing (its weights
            # sum to 1): resize the raw image first, from a contiguous [C, H, W] copy, and
            # normalise the (usually smaller) result. Same numbers up to float rounding.
            chw = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
            t = F.interpolate(
                torch.from_numpy(chw)[None], size=size, mode="bilinear", align_corners=False
            )
            if img.dtype == np.uint8:
                t = t.numpy() / np.float32(255.0)
            x = normalize_for_model(np.asarray(t), self.cfg, channel_axis=1)
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        x = normalize_for_model(img, self.cfg, channel_axis=-1)
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)[None]
        if size is not None and tuple(size) != tuple(t.shape[-2:]):
            t = F.interpolate(
                t, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False
            )
        return t

    def preprocess_frames(self, frames: np.ndarray) -> torch.Tensor:
        """A batch of frames ``[N, H, W, 3]`` (uint8 RGB) → normalised ``[N, C_in, H, W]``.

        Video-rate preprocessing: for uint8 RGB into an ImageNet-normalised model the whole
        batch is normalised in one numpy pass (the formula of :meth:`preprocess`, without a
        ``torch.cat`` of N float frames: measured 37 ms per batch of 4 at 256×512 on a
        loaded 2-core machine, more than the model); other inputs go frame by frame.
        """
        frames = np.asarray(frames)
        if self.cfg.normalization == "imagenet" and frames.dtype == np.uint8 and frames.ndim == 4:
            if frames.shape[-1] != self.cfg.in_channels:
                raise ValueError(
                    f"frames of {frames.shape[-1]} channels into a {self.cfg.in_channels}-channel "
                    "model"
                )
            x = normalize_for_model(frames, self.cfg, channel_axis=-1)
            return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return torch.cat([self.preprocess(f) for f in frames])

    def prepare(self, h: int, w: int) -> None:
        """Settle what the back-end decides per input size before time-sensitive work: an
        ``auto`` runner measures its candidates at ``(h, w)`` now (no-op otherwise)."""
        decide = getattr(self.runner, "decide", None)
        if decide is not None:
            decide(int(h), int(w))

    # ------------------------------------------------------------------ inference
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw model output for a normalised batch ``[N, C_in, H, W]`` → ``[N, K, H, W]`` (CPU)."""
        return self.runner(x).float().cpu()

    __call__ = logits

    def _finish(
        self, logits: torch.Tensor, out_size: tuple[int, int]
    ) -> tuple[np.ndarray, torch.Tensor]:
        """Logits ``[N, K, h, w]`` → labels ``[N, H, W]`` (numpy) at ``out_size``, and the
        logits (at the model's size: probabilities are resized from them when read)."""
        dt = labels_dtype(self.cfg.num_classes)
        labels = resized_labels(logits, out_size, torch.uint8 if dt == np.uint8 else torch.int64)
        return labels.numpy(), logits

    def predict_image(
        self,
        image: np.ndarray,
        *,
        size: Sequence[int] | None = None,
        tta: bool | dict | None = None,
        window: Sequence[int] | None = None,
        overlap: float = 0.25,
    ) -> Prediction:
        """Segment one image.

        Args:
            image: ``[H, W, 3]`` uint8 RGB, or ``[H, W]`` grayscale (uint8, or raw values such
                as HU for a CT model).
            size: run the model at ``(h, w)`` instead of the native size (results are
                resized back to ``H × W``).
            tta: ``True`` for the default multi-scale × flip TTA, or a dict of keyword
                arguments for :func:`medseg.engine.tta.tta_predict` (``scales``, ``flips``).
            window: run sliding-window inference with this ``(h, w)`` patch instead of one
                pass (Gaussian blending, ``overlap``); see :mod:`medseg.engine.sliding`.

        Returns:
            :class:`Prediction` at the original size.
        """
        t0 = time.perf_counter()
        h, w = np.asarray(image).shape[:2]
        x = self.preprocess(image, size)
        unc = None
        if tta:
            from .tta import tta_predict

            kw = tta if isinstance(tta, dict) else {}
            dev = getattr(self.runner, "device", None)
            if isinstance(dev, torch.device) and dev.type != "cpu":
                # A torch runner on an accelerator: resize, softmax and average there too, and
                # bring back only the mean and the uncertainty.
                probs_t, unc_t = tta_predict(self.runner, x.to(dev), **kw)
                probs_t, unc_t = probs_t.float().cpu(), unc_t.float().cpu()
            else:
                if "batched" not in kw:
                    kw = {**kw, "batched": self._tta_batched(x, kw)}
                probs_t, unc_t = tta_predict(self.logits, x, **kw)
            if tuple(probs_t.shape[-2:]) != (h, w):
                probs_t = F.interpolate(probs_t, size=(h, w), mode="bilinear", align_corners=False)
                unc_t = F.interpolate(
                    unc_t[:, None], size=(h, w), mode="bilinear", align_corners=False
                )[:, 0]
            labels = probs_to_labels(probs_t)[0].numpy().astype(labels_dtype(self.cfg.num_classes))
            probs = probs_t[0].numpy().astype(np.float32, copy=False)
            unc = unc_t[0].numpy().astype(np.float32, copy=False)
        else:
            if window is not None:
                from .sliding import sliding_window_predict

                logits = sliding_window_predict(self.logits, x, roi_size=window, overlap=overlap)
            else:
                logits = self.logits(x)
            labels, logits = self._finish(logits, (h, w))
            return Prediction(labels[0], seconds=time.perf_counter() - t0, logits=logits[0])
        return Prediction(labels, probs, time.perf_counter() - t0, unc)

    def predict_batch(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        *,
        size: Sequence[int] | None = None,
    ) -> list[Prediction]:
        """Segment several images; same-size images share forward passes (``batch_size``).

        Args:
            images: a list of images, or an array ``[N, H, W, 3]`` / ``[N, H, W]``.
            size: optional model input size, as in :meth:`predict_image`.

        Returns:
            One :class:`Prediction` per image, in order.
        """
        imgs = list(images) if not isinstance(images, np.ndarray) else list(images)
        out: list[Prediction | None] = [None] * len(imgs)
        groups: dict[tuple, list[int]] = {}
        for i, im in enumerate(imgs):
            groups.setdefault(tuple(np.asarray(im).shape[:2]), []).append(i)
        for (h, w), idx in groups.items():
            for s in range(0, len(idx), self.batch_size):
                chunk = idx[s : s + self.batch_size]
                t0 = time.perf_counter()
                x = torch.cat([self.preprocess(imgs[i], size) for i in chunk])
                labels, logits = self._finish(self.logits(x), (h, w))
                dt = (time.perf_counter() - t0) / len(chunk)
                for j, i in enumerate(chunk):
                    out[i] = Prediction(labels[j], seconds=dt, logits=logits[j])
        return out  # type: ignore[return-value]

    def predict_volume(
        self,
        volume: Any,
        spacing: Sequence[float] | None = None,
        *,
        batch_size: int = 16,
        postprocess: bool = True,
        return_probs: bool = False,
        window: Sequence[int] | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Segment a 3-D volume slice by slice (axial), see :mod:`medseg.engine.volume`.

        Args:
            volume: a ``medseg.io.Volume`` (any orientation), or an array ``[X, Y, Z]``
                already in canonical (RAS) order.
            spacing: voxel spacing ``(sx, sy, sz)`` mm for a bare array (default 1 mm).
            batch_size: slices per forward pass.
            postprocess: keep the largest connected component of each foreground class and
                fill holes.
            return_probs: also return the probabilities ``[C, *volume shape]``.
            window: sliding-window patch ``(h, w)`` for each slice (Gaussian blending) instead
                of one pass per slice; for slices larger than the model was trained on.

        Returns:
            ``mask`` with the source array's shape and layout (uint8), and the
            probabilities when ``return_probs``.
        """
        from .volume import predict_volume

        return predict_volume(
            self,
            volume,
            spacing,
            batch_size=batch_size,
            postprocess=postprocess,
            return_probs=return_probs,
            window=window,
        )
