"""Plain-Python helpers shared by the app's tabs (no gradio import here).

* :class:`AppError`: a message for the user; the Gradio wiring shows it as ``gr.Error``.
* :func:`require`: import a sibling ``medseg`` module, or say clearly that it is not built yet.
* :func:`get_predictor`: one cached :class:`~medseg.engine.predictor.Predictor` per
  (model, backend, weights state), so a 256² round trip does not rebuild a model.
* upload handling: file-type detection, safe zip extraction into a private temp dir,
  image-size limits checked from headers before any pixel is decoded.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("medseg.app")

#: largest image (pixels) accepted for a 2-D upload; larger ones are refused, not decoded.
MAX_IMAGE_PIXELS = 40_000_000
#: largest volume (voxels) accepted.
MAX_VOLUME_VOXELS = 200_000_000
#: zip extraction limits (zip bombs).
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_BYTES = 2 << 30
#: display / inference cap for photos: the long side is scaled down to this.
MAX_PHOTO_SIDE = 1024

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NIFTI_EXTS = (".nii", ".nii.gz")
VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
# --- issue 18 (perf): the back-ends the app offers, label -> name, read from
# medseg.engine.backends.BACKENDS (the one list); "Automatic" (auto) is the default: the
# fastest back-end on this machine whose labels agree with eager PyTorch fp32. The label of
# what really ran is backend_note(predictor).
APP_BACKENDS = ("auto", "torch", "onnxruntime", "openvino-fp32", "openvino-bf16")


def _app_backends() -> dict[str, str]:
    from ..engine.backends import BACKENDS as ALL

    return {ALL[n].label: n for n in APP_BACKENDS if n in ALL}


BACKENDS = _app_backends()
DEFAULT_BACKEND = next(iter(BACKENDS))  # "Automatic"


def backend_note(predictor: Any) -> str:
    """What runs ``predictor``: for auto, its choice and why (speed-up, label agreement)."""
    info = getattr(predictor, "backend_info", None)
    return info()["summary"] if info else str(getattr(predictor, "backend", "?"))


# --- end issue 18


class AppError(ValueError):
    """An error caused by the user's input (or a missing optional part); shown verbatim."""


def require(module: str, what: str, issue: int | None = None) -> Any:
    """Import ``module`` or raise :class:`AppError` saying ``what`` is not available yet.

    Only a missing module (or a missing name inside it) is turned into the friendly error;
    other import failures propagate so real bugs stay visible.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = getattr(e, "name", None) or ""
        if missing and not module.startswith(missing) and not missing.startswith("medseg"):
            raise
        where = f" (medseg issue {issue})" if issue else ""
        raise AppError(f"{what} is not available yet in this build{where}.") from None


def require_attr(module: str, name: str, what: str, issue: int | None = None) -> Any:
    """``getattr(require(module), name)`` with the same friendly error when absent."""
    mod = require(module, what, issue)
    try:
        return getattr(mod, name)
    except AttributeError:
        where = f" (medseg issue {issue})" if issue else ""
        raise AppError(f"{what} is not available yet in this build{where}.") from None


# --------------------------------------------------------------------------- predictors
_PRED_LOCK = threading.Lock()
_PREDICTORS: dict[tuple[str, str, bool], Any] = {}


def model_is_trained(name: str) -> bool:
    """Whether shipped weights for ``name`` are present (checked on every call)."""
    from ..models import get_model_cfg

    return get_model_cfg(name).has_pretrained


def model_choices(task: str) -> list[tuple[str, str]]:
    """``(label, name)`` pairs for a dropdown: trained models first, others marked untrained."""
    from ..models import list_models

    names = list_models(task=task)
    trained = [n for n in names if model_is_trained(n)]
    untrained = [n for n in names if n not in trained]
    return [(n, n) for n in trained] + [(f"{n} (untrained: random weights)", n) for n in untrained]


def default_model(task: str, preferred: str) -> str:
    """The model a dropdown starts on: ``preferred`` if trained, else the first trained model
    of ``task``, else ``preferred`` (or the first registered one)."""
    from ..models import list_models

    names = list_models(task=task)
    if not names:
        raise AppError(f"no {task} models are registered")
    trained = [n for n in names if model_is_trained(n)]
    if preferred in trained or (not trained and preferred in names):
        return preferred
    return trained[0] if trained else names[0]


def get_predictor(name: str, backend: str = "torch") -> tuple[Any, bool]:
    """A cached predictor for ``(name, backend)`` and whether it uses trained weights.

    The cache key includes the weights state, so weights that land while the server runs
    are picked up by the next request.
    """
    from ..models import list_models

    if name not in list_models():
        raise AppError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    backend = BACKENDS.get(backend, backend)
    if backend not in BACKENDS.values():
        raise AppError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    pretrained = model_is_trained(name)
    key = (name, backend, pretrained)
    with _PRED_LOCK:
        if key not in _PREDICTORS:
            predictor_cls = require_attr(
                "medseg.engine.predictor", "Predictor", "The inference engine", 7
            )
            if backend == "onnxruntime":
                require("onnxruntime", "ONNX Runtime")
            if backend.startswith("openvino"):
                require("openvino", "OpenVINO")
            log.info("building predictor %s (%s, pretrained=%s)", name, backend, pretrained)
            _PREDICTORS[key] = predictor_cls.from_name(name, pretrained=pretrained, backend=backend)
        return _PREDICTORS[key], pretrained


def warm_up(pairs: Iterable[tuple[str, str]]) -> None:
    """Build the predictors for ``(model, backend)`` pairs now (ONNX export included), so the
    first request does not pay for it. Failures are logged, never raised."""
    for name, backend in pairs:
        try:
            get_predictor(name, backend)
        except Exception as e:  # a missing backend must not stop the server
            log.warning("warm-up of %s on %s failed: %s", name, backend, e)


# --------------------------------------------------------------------------- uploads
_TEMP_ROOT: Path | None = None
_TEMP_LOCK = threading.Lock()
_TEMP_DIRS: deque[Path] = deque()
#: per-request folders kept on disk; older ones are deleted (uploads are patient data).
MAX_TEMP_DIRS = 200


def temp_dir(prefix: str) -> Path:
    """A fresh private directory under the app's temp root.

    The root is removed at exit; only the newest :data:`MAX_TEMP_DIRS` request folders are
    kept meanwhile (Gradio has copied any result into its own cache by then).
    """
    global _TEMP_ROOT
    with _TEMP_LOCK:
        if _TEMP_ROOT is None:
            _TEMP_ROOT = Path(tempfile.mkdtemp(prefix="medseg-app-"))
            atexit.register(shutil.rmtree, _TEMP_ROOT, True)
        d = Path(tempfile.mkdtemp(prefix=prefix, dir=_TEMP_ROOT))
        _TEMP_DIRS.append(d)
        while len(_TEMP_DIRS) > MAX_TEMP_DIRS:
            shutil.rmtree(_TEMP_DIRS.popleft(), ignore_errors=True)
    return d


def safe_name(name: str, default: str = "file") -> str:
    """A file name with no directories and only ``[A-Za-z0-9._-]`` characters."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    return base[:120] or default


def as_paths(files: Any) -> list[Path]:
    """Normalise what Gradio or a caller passes (path, list of paths, file dicts) to paths."""
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    elif isinstance(files, dict) or hasattr(files, "path"):
        files = [files]
    out = []
    for f in files:
        if f is None:
            continue
        if isinstance(f, dict):
            f = f.get("path") or f.get("name")
        elif hasattr(f, "path"):
            f = f.path
        elif hasattr(f, "name") and not isinstance(f, (str, os.PathLike)):
            f = f.name
        p = Path(f)
        if not p.is_file():
            raise AppError(f"uploaded file {safe_name(p.name)} could not be read")
        out.append(p)
    return out


def file_kind(path: Path) -> str:
    """``"dicom" | "nifti" | "image" | "zip" | "video"`` from the name and the first bytes."""
    name = path.name.lower()
    if name.endswith(NIFTI_EXTS):
        return "nifti"
    with open(path, "rb") as f:
        head = f.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return "dicom"
    if name.endswith(".zip") or head[:4] == b"PK\x03\x04":
        return "zip"
    if name.endswith(IMAGE_EXTS):
        return "image"
    if name.endswith(VIDEO_EXTS):
        return "video"
    if name.endswith((".dcm", ".dicom", ".ima")) or "." not in name:
        return "dicom"  # pre-amble-less DICOM; the reader decides and reports clearly
    raise AppError(
        f"unsupported file type: {safe_name(path.name)}; accepted: DICOM (.dcm or no "
        "extension, several files, or a .zip of a series), NIfTI (.nii, .nii.gz), "
        "PNG/JPEG/TIFF images"
    )


def extract_zip(path: Path) -> list[Path]:
    """Extract a zip into a private temp dir, refusing traversal, links and zip bombs.

    Member names are flattened to sanitised base names (an index keeps them unique), so
    nothing can be written outside the temp dir whatever the archive says.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise AppError(f"{safe_name(path.name)} is not a readable zip archive ({e})") from None
    out_dir = temp_dir("zip-")
    out: list[Path] = []
    total = 0
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise AppError(f"zip holds {len(members)} files; at most {MAX_ZIP_MEMBERS} accepted")
        for i, m in enumerate(members):
            mode = m.external_attr >> 16
            if stat.S_ISLNK(mode):
                continue  # never follow links from an archive
            base = safe_name(m.filename)
            if base.startswith("__MACOSX") or base in ("DS_Store", ".DS_Store"):
                continue
            total += m.file_size
            if total > MAX_ZIP_BYTES:
                raise AppError("zip expands to more than 2 GiB; upload a smaller series")
            dest = out_dir / f"{i:05d}_{base}"
            with zf.open(m) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            out.append(dest)
    if not out:
        raise AppError(f"zip {safe_name(path.name)} holds no files")
    return out


def expand_uploads(files: Any) -> list[Path]:
    """Paths of the uploaded files with any zip archives replaced by their contents."""
    paths = as_paths(files)
    if not paths:
        raise AppError("no file uploaded: choose a file (or click an example) first")
    out: list[Path] = []
    for p in paths:
        out.extend(extract_zip(p) if file_kind(p) == "zip" else [p])
    return out


def check_image_header(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """``(width, height)`` read from the header; refuses huge or unreadable images."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise AppError(f"{safe_name(path.name)} is not a readable image ({e})") from None
    except Image.DecompressionBombError:
        raise AppError(f"{safe_name(path.name)} is too large to decode") from None
    if w * h > max_pixels:
        raise AppError(
            f"image {safe_name(path.name)} is {w}×{h} pixels; at most "
            f"{max_pixels / 1e6:.0f} megapixels are accepted"
        )
    return w, h


def read_rgb(path: Any, max_side: int = MAX_PHOTO_SIDE) -> np.ndarray:
    """An uploaded photo as ``[H, W, 3]`` uint8 RGB, long side scaled down to ``max_side``."""
    from PIL import Image

    p = as_paths(path)
    if not p:
        raise AppError("no image uploaded: choose a photo (or click an example) first")
    p = p[0]
    if file_kind(p) != "image":
        raise AppError(f"{safe_name(p.name)} is not a photo; accepted: PNG, JPEG, BMP, TIFF images")
    check_image_header(p)
    try:
        with Image.open(p) as im:
            im = im.convert("RGB")
            if max(im.size) > max_side:
                s = max_side / max(im.size)
                im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
            return np.asarray(im)
    except OSError as e:
        raise AppError(f"{safe_name(p.name)} could not be decoded ({e})") from None


def ensure_rgb_array(image: Any) -> np.ndarray:
    """An image given as a path or an array → ``[H, W, 3]`` uint8 RGB."""
    if image is None:
        raise AppError("no image uploaded: choose a photo (or click an example) first")
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise AppError(f"expected an RGB image, got an array of shape {a.shape}")
        if a.shape[0] * a.shape[1] > MAX_IMAGE_PIXELS:
            raise AppError("image is too large; at most 40 megapixels are accepted")
        return np.ascontiguousarray(a[..., :3]).astype(np.uint8, copy=False)
    return read_rgb(image)


def inference_size(h: int, w: int, cfg: Any, long_side: int | None = None) -> tuple[int, int]:
    """Model input ``(h, w)`` keeping the aspect ratio: long side = the model's long side.

    Street models are trained at ``cfg.input_size`` (e.g. 256×512); running them at that
    scale is faster on large photos and matches training. Sides are multiples of
    ``cfg.divisor``; images smaller than that run at (at least) their own size.
    """
    target = int(long_side or max(cfg.input_size))
    s = min(1.0, target / max(h, w))
    d = int(cfg.divisor)
    return max(d, round(h * s / d) * d), max(d, round(w * s / d) * d)


def resize_rgb(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Scale ``[H, W, 3]`` uint8 down so its long side is at most ``max_side``."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    from PIL import Image

    s = max_side / max(h, w)
    im = Image.fromarray(rgb).resize((max(1, round(w * s)), max(1, round(h * s))))
    return np.asarray(im)


def class_shares(labels: np.ndarray, class_names: Iterable[str]) -> dict[str, float]:
    """Percentage of pixels per class present in ``labels`` (largest first)."""
    names = list(class_names)
    counts = np.bincount(np.asarray(labels).ravel().astype(np.int64), minlength=len(names))
    total = max(1, int(counts.sum()))
    share = {
        (names[i] if i < len(names) else f"label {i}"): round(100.0 * int(c) / total, 2)
        for i, c in enumerate(counts)
        if c
    }
    return dict(sorted(share.items(), key=lambda kv: -kv[1]))
