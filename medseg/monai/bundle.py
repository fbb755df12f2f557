"""Small helpers that MONAI bundle configs call by dotted path (``$medseg.monai.bundle....``).

They keep the facts in one place: a bundle reads the model's spacing and weights file from
``medseg.models.get_model_cfg`` instead of copying them into YAML.
"""

from __future__ import annotations

import os
from pathlib import Path

from medseg.io.kinds import is_dicom_file, is_nifti_name

__all__ = [
    "as_bool",
    "data_root",
    "list_inputs",
    "list_labelled_inputs",
    "model_spacing",
    "shipped_weights",
]


def list_inputs(
    dataset_dir: str | os.PathLike, key: str = "image", series_uid: str | None = None
) -> list[dict[str, str]]:
    """The scans in a folder, as MONAI data dicts, sorted by path.

    Found by medseg's input layer (:func:`medseg.io.inputs.discover_cases`), as
    ``medseg predict`` finds them: every NIfTI file is one input ``{key: path}``; every DICOM
    series is one input — ``{key: folder}`` when the folder holds one series, and
    ``{key: folder, "series_uid": uid, "name": "<folder>_S<number>"}`` for each series of a
    folder holding several (:class:`~medseg.io.monai_readers.MedsegLoadImaged` reads the
    ``series_uid`` of each item, and ``name`` keeps their outputs apart). Files that cannot
    be read are left out with a warning, so one bad folder does not stop the batch; 2-D images
    are not bundle inputs.

    Args:
        dataset_dir: the folder to search (``--dataset_dir`` of the bundle), or one NIfTI file.
        key: the dict key for the path.
        series_uid: the bundle's ``series_uid`` setting: when given (``"largest"`` or a UID),
            a multi-series folder is one input and the loader picks that series.

    Raises:
        FileNotFoundError: when the folder does not exist or holds no NIfTI / DICOM input.
    """
    import warnings

    from medseg.io.inputs import discover_cases

    root = Path(dataset_dir).expanduser()
    if root.is_file() and is_nifti_name(root.name):
        return [{key: str(root)}]
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset_dir {str(root)!r} is not a folder; pass --dataset_dir <folder holding "
            ".nii/.nii.gz files and/or DICOM series folders>"
        )
    cases, _ = discover_cases([root])
    items: list[dict[str, str]] = []
    by_folder: dict[str, list] = {}
    for c in cases:
        if c.kind == "nifti":
            items.append({key: c.source})
        elif c.kind == "dicom":
            folder = os.path.commonpath([os.path.dirname(f) for f in c.files])
            by_folder.setdefault(folder, []).append(c)
        elif c.kind == "invalid" and Path(c.source) != root:
            warnings.warn(f"skipped {Path(c.source).name}: {c.problem}", stacklevel=2)
    for folder, series in by_folder.items():
        if len(series) == 1 or series_uid:
            items.append({key: folder})
            continue
        numbers = [s.info.get("number") for s in series]
        unique = None not in numbers and len(set(numbers)) == len(numbers)
        for s in series:
            tag = f"S{s.info['number']}" if unique else s.case_id.rsplit("_", 1)[-1]
            items.append(
                {key: folder, "series_uid": s.series_uid, "name": f"{Path(folder).name}_{tag}"}
            )
    if not items:
        raise FileNotFoundError(
            f"no NIfTI files (.nii, .nii.gz) or DICOM series folders under {str(root)!r}"
        )
    return sorted(items, key=lambda d: (d[key], d.get("name", "")))


def _holds_dicom(dirpath: str | os.PathLike, names: list[str] | None = None) -> bool:
    names = sorted(os.listdir(dirpath)) if names is None else names
    return any(is_dicom_file(os.path.join(dirpath, f)) for f in names if f != "DICOMDIR")


def data_root(dataset_dir: str | os.PathLike) -> str:
    """The folder that output paths are made relative to (``SaveImaged(data_root_dir=...)``).

    MONAI names an output after the input's parent folder relative to this root, so it is
    ``dataset_dir`` itself, or its parent when ``dataset_dir`` is itself an input (one NIfTI
    file, or a folder of DICOM files): the mask then lands in ``output_dir``, not beside it.
    """
    p = Path(dataset_dir).expanduser()
    if p.is_file() or (p.is_dir() and _holds_dicom(p)):
        return str(p.parent)
    return str(p)


def list_labelled_inputs(
    dataset_dir: str | os.PathLike, images: str = "images", labels: str = "labels"
) -> list[dict[str, str]]:
    """Image / label pairs for evaluation: ``{"image": path, "label": path}``.

    Layout: ``<dataset_dir>/<images>/`` holds the scans (NIfTI files or DICOM series folders,
    as for :func:`list_inputs`) and ``<dataset_dir>/<labels>/`` a label volume for each, under
    the same path relative to its folder (``images/ch2.nii.gz`` ↔ ``labels/ch2.nii.gz``).

    Raises:
        FileNotFoundError: when a folder is missing or an image has no label.
    """
    root = Path(dataset_dir).expanduser()
    img_dir, lab_dir = root / images, root / labels
    for d in (img_dir, lab_dir):
        if not d.is_dir():
            raise FileNotFoundError(
                f"{str(d)!r} is missing: an evaluation dataset_dir holds {images}/ (scans) and "
                f"{labels}/ (a label volume per scan, same relative path)"
            )
    out = []
    for item in list_inputs(img_dir):
        rel = Path(item["image"]).relative_to(img_dir)
        lab = lab_dir / rel
        if not lab.exists():
            raise FileNotFoundError(f"no label for {rel}: expected {lab}")
        out.append({"image": item["image"], "label": str(lab)})
    return out


def as_bool(value: object) -> bool:
    """A config flag given on the command line (``false``, ``False``, ``0``, ``no``...) as bool."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("false", "0", "no", "off", ""):
            return False
        if v in ("true", "1", "yes", "on"):
            return True
        raise ValueError(f"expected a boolean (true/false), got {value!r}")
    return bool(value)


def model_spacing(name: str = "unet_medical") -> tuple[float, float] | None:
    """In-plane spacing (mm) the model was trained at (``cfg.spacing``), or ``None``."""
    from medseg.models import get_model_cfg

    s = get_model_cfg(name).spacing
    return None if s is None else (float(s[0]), float(s[1]))


def shipped_weights(name: str = "unet_medical") -> str:
    """Path of the weights file shipped inside the package for model ``name``.

    Raises:
        FileNotFoundError: when the model ships no weights (then pass your own checkpoint,
            e.g. ``--ckpt_path /path/model.pt`` to the bundle).
    """
    from medseg.models import get_model_cfg
    from medseg.models.registry import WEIGHTS_DIR, sha256_file

    cfg = get_model_cfg(name)
    if not cfg.has_pretrained:
        raise FileNotFoundError(
            f"model {name!r} has no shipped weights in {WEIGHTS_DIR}; pass a checkpoint "
            "with --ckpt_path /path/to/model.pt"
        )
    path = WEIGHTS_DIR / cfg.weights
    if cfg.weights_sha256 and sha256_file(path) != cfg.weights_sha256:
        raise RuntimeError(f"checksum mismatch for {path}; the file is corrupt or was replaced")
    return str(path)
