"""User inputs → cases → volumes or images: the one input layer of the CLI, the app and the node.

What people hand medseg — paths on the command line, files uploaded in the browser, a series
received from a PACS — becomes a list of :class:`Case`: one DICOM series, one NIfTI file or one
2-D image each, with an id that is safe as a file name and carries nothing from the DICOM
headers' patient fields. :func:`load_case` reads a case with the size limits checked from its
headers first.

* :func:`discover_cases` — files and folders (recursive; a folder may hold several series, NIfTI
  files and images; zips are extracted into a private folder the caller gives).
* :func:`cases_from_files` — a flat list of files (an upload): DICOM files grouped by series.
* :func:`extract_zip` — safe extraction (no traversal, no links, member and size caps).

Files that an earlier ``medseg predict`` wrote (listed in the ``.medseg-done`` records of their
folder, see :func:`medseg_outputs_in`) are skipped, so masks are never taken for scans.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MedsegIOError
from .kinds import accepted_inputs, case_stem, file_kind
from .series import describe_series, group_by_series, read_headers

PathLike = str | os.PathLike

#: marker folder a medseg output folder holds (completion records); such folders are skipped.
OUTPUT_MARKER = ".medseg-done"
#: zip extraction limits (zip bombs).
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_BYTES = 2 << 30


@dataclass
class Case:
    """One unit of work: a DICOM series, a NIfTI file or a 2-D image.

    Attributes:
        case_id: file-name-safe id (``[A-Za-z0-9._-]``, unique within a discovery), from the
            file or folder names the user chose — never from patient tags.
        kind: ``"dicom"``, ``"nifti"``, ``"image"`` or ``"invalid"``.
        source: the file or folder it was found in (what a message may name).
        files: the files it reads (a DICOM series' instances; the file itself otherwise).
        series_uid: SeriesInstanceUID of a DICOM case.
        problem: why an ``"invalid"`` case cannot be read.
        info: PHI-free facts for pickers and reports (modality, description, number, slices,
            rows, columns) of a DICOM case.
    """

    case_id: str
    kind: str
    source: str
    files: tuple[str, ...] = ()
    series_uid: str | None = None
    problem: str = ""
    info: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """One line for a person: ``"MR · T1 axial · 176 slices"`` or the file kind."""
        if self.kind != "dicom":
            return f"{self.case_id} ({self.kind})"
        i = self.info
        parts = [i.get("modality") or "DICOM", i.get("description") or "no description"]
        n = i.get("n_frames")
        if n:
            parts.append(f"{n} slice{'s' if n != 1 else ''}")
        if i.get("rows") and i.get("columns"):
            parts.append(f"{i['columns']}×{i['rows']}")
        return " · ".join(str(p) for p in parts)


def sanitize_id(text: str) -> str:
    """File-name-safe id: letters, digits, ``.-_`` only, at most 80 characters."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "case"
    return s[:80]


def uid_key(uid: str, n: int = 8) -> str:
    """A short stable name for a UID (the first ``n`` hex digits of its SHA-1): ids, logs and
    reports use it, so they stay stable and unique without writing the UID itself."""
    return hashlib.sha1(str(uid).encode()).hexdigest()[:n]


def medseg_outputs_in(folder: PathLike) -> set[str]:
    """Names of the files in ``folder`` that ``medseg predict`` wrote there: those its
    completion records (``.medseg-done/*.json``) list, and its reports."""
    import json

    d = Path(folder) / OUTPUT_MARKER
    if not d.is_dir():
        return set()
    names = {"report.json", "report.csv"}
    for p in d.glob("*.json"):
        try:
            row = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(row, dict):
            for key in ("outputs", "pending_outputs", "stale_outputs"):
                names.update(str(o) for o in row.get(key) or [])
    return names


def _walk_files(root: Path) -> tuple[list[Path], int]:
    """Files under ``root`` (sorted, recursive) without medseg's own outputs and records;
    also how many outputs were left out."""
    files: list[Path] = []
    skipped = 0
    seen: set[str] = set()
    # linked folders are followed (datasets are often assembled from links), each real
    # folder once, so a link cycle cannot loop
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        d = Path(dirpath)
        real = os.path.realpath(d)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        ours = medseg_outputs_in(d)
        dirnames[:] = sorted(n for n in dirnames if n != OUTPUT_MARKER)
        for f in sorted(filenames):
            if f in ours:
                skipped += 1
            else:
                files.append(d / f)
    return files, skipped


def _dicom_cases(
    found: list[tuple[str, object]], root: Path | None, source: str, base: str
) -> list[Case]:
    """One case per series; ids from the sub-folder names below ``root`` where they tell the
    series apart, else ``base`` with the SeriesNumber (or a hash of the UID)."""
    groups = group_by_series(found)
    cases = []
    for uid, items in groups.items():
        files = tuple(p for p, _ in items)
        desc = describe_series(uid, items)
        info = {k: desc[k] for k in ("number", "description", "modality", "n_files", "n_frames")}
        info.update(rows=desc["rows"], columns=desc["columns"])
        folder = Path(os.path.commonpath([os.path.dirname(f) for f in files]))
        rel = ""
        if root is not None:
            try:
                rel = folder.relative_to(root).as_posix()
            except ValueError:
                rel = ""
        rel = "" if rel == "." else rel
        cid = sanitize_id(f"{base}_{rel}" if rel else base)
        cases.append(Case(cid, "dicom", source, files, uid, info=info))
    # series that share a folder: tell them apart by number, else by a hash of the UID
    by_id: dict[str, list[Case]] = {}
    for c in cases:
        by_id.setdefault(c.case_id, []).append(c)
    for same in by_id.values():
        if len(same) < 2:
            continue
        numbers = [c.info.get("number") for c in same]
        use_numbers = None not in numbers and len(set(numbers)) == len(numbers)
        for c in same:
            tag = f"S{c.info['number']}" if use_numbers else uid_key(c.series_uid or "")
            c.case_id = sanitize_id(f"{c.case_id}_{tag}")
    return cases


def _file_case(p: Path, kind: str) -> Case:
    return Case(sanitize_id(case_stem(p)), kind, str(p), (str(p),))


def discover_cases(
    inputs: Sequence[PathLike], *, workdir: PathLike | None = None
) -> tuple[list[Case], dict]:
    """Expand files and folders into cases (ids unique, in the order given).

    Args:
        inputs: DICOM files or folders (one case per series), NIfTI files, image files, zips
            of any of these, or folders holding them (searched recursively).
        workdir: a private folder to extract zips into (the caller owns and removes it);
            without one, a zip becomes an ``"invalid"`` case.

    Returns:
        ``(cases, notes)``: unusable inputs become ``"invalid"`` cases (reported, never
        silently dropped); ``notes`` counts what was left out on purpose
        (``skipped_files``: non-scan files inside folders and zips; ``skipped_outputs``:
        files in medseg output folders).
    """
    cases: list[Case] = []
    notes = {"skipped_files": 0, "skipped_outputs": 0}
    for inp in inputs:
        p = Path(inp)
        if p.is_file():
            kind = file_kind(p)
            if kind == "zip":
                cases.extend(_zip_cases(p, workdir, notes))
            elif kind in ("nifti", "image"):
                cases.append(_file_case(p, kind))
            elif kind == "dicom":
                found, _ = read_headers([p])
                if found:
                    cases.extend(_dicom_cases(found, None, str(p), case_stem(p)))
                else:
                    cases.append(_invalid(p, _dicom_problem(p)))
            else:
                cases.append(
                    _invalid(p, f"unsupported file type ({kind}); accepted: {accepted_inputs()}")
                )
            continue
        if not p.is_dir():
            cases.append(_invalid(p, "no such file or folder"))
            continue
        files, skipped_out = _walk_files(p)
        notes["skipped_outputs"] += skipped_out
        cases.extend(_folder_cases(p, files, workdir, notes))
    _make_unique(cases)
    return cases, notes


def _folder_cases(root: Path, files: list[Path], workdir, notes: dict) -> list[Case]:
    base = sanitize_id(root.resolve().name)
    out: list[Case] = []
    maybe_dicom: list[Path] = []
    for f in files:
        kind = file_kind(f)
        if kind in ("nifti", "image"):
            out.append(_file_case(f, kind))
        elif kind == "zip":
            out.extend(_zip_cases(f, workdir, notes))
        else:
            maybe_dicom.append(f)
    found, skipped = read_headers(maybe_dicom)
    notes["skipped_files"] += skipped
    out.extend(_dicom_cases(found, root.resolve(), str(root), base) if found else [])
    if not out:
        out.append(_invalid(root, "no readable DICOM series, NIfTI or image file inside", cid=base))
    return out


def _zip_cases(path: Path, workdir, notes: dict) -> list[Case]:
    if workdir is None:
        return [_invalid(path, "a zip archive: extract it first, or pass a work folder")]
    dest = Path(workdir) / f"zip_{len(list(Path(workdir).iterdir()))}_{sanitize_id(path.stem)}"
    try:
        members = extract_zip(path, dest)
    except MedsegIOError as e:
        return [_invalid(path, e.problem)]
    cases = cases_from_files(members, skip_strays=True, notes=notes, root=dest)
    stem = sanitize_id(path.stem)
    for c in cases:  # ids from the zip's name, not from the private folder
        c.source = str(path)
        if c.case_id.startswith(dest.name):
            c.case_id = sanitize_id(stem + c.case_id[len(dest.name) :])
    return cases


def cases_from_files(
    paths: Iterable[PathLike],
    *,
    skip_strays: bool = False,
    notes: dict | None = None,
    root: PathLike | None = None,
) -> list[Case]:
    """Cases from a flat list of files (an upload, a zip's members, a received series).

    Args:
        paths: files; DICOM instances are grouped by series (one case each).
        skip_strays: leave out (and count in ``notes["skipped_files"]``) files that are not
            scans when the list holds a DICOM series — a zipped series often carries a
            README or thumbnails. Otherwise such a file becomes an ``"invalid"`` case.
        notes: a dict to count skipped files in.
        root: folder the files lie under, for ids from their sub-folders.

    Returns:
        The cases, ids unique. Videos and unknown files are ``"invalid"`` cases with the reason.
    """
    notes = notes if notes is not None else {}
    files = [Path(p) for p in paths]
    kinds = [(f, file_kind(f)) for f in files]
    cases: list[Case] = []
    candidates = [f for f, k in kinds if k in ("dicom", "unknown")]
    found, _ = read_headers([f for f in candidates])
    dicom_paths = {p for p, _ in found}
    if found:
        base = sanitize_id(Path(root).name) if root is not None else "series"
        rootp = Path(root).resolve() if root is not None else None
        if rootp is not None:
            found = [(str(Path(p).resolve()), ds) for p, ds in found]
            dicom_paths = {p for p, _ in found} | dicom_paths
        cases.extend(_dicom_cases(found, rootp, str(root or ""), base))
    stray = 0
    for f, k in kinds:
        if str(f) in dicom_paths or str(f.resolve()) in dicom_paths:
            continue
        if k in ("nifti", "image") and not (skip_strays and found):
            cases.append(_file_case(f, k))
        elif skip_strays and found:
            stray += 1
        elif k == "video":
            cases.append(_invalid(f, "a video, not a scan (use medseg video or the Video tab)"))
        elif k == "zip":
            cases.append(_invalid(f, "a zip inside a zip: extract it first"))
        elif k == "dicom":
            cases.append(_invalid(f, _dicom_problem(f)))
        else:
            cases.append(_invalid(f, f"unsupported file type; accepted: {accepted_inputs()}"))
    notes["skipped_files"] = notes.get("skipped_files", 0) + stray
    _make_unique(cases)
    return cases


def _dicom_problem(path: Path) -> str:
    """Why a file taken for DICOM holds no image: the reader's own precise message (these are
    non-image objects, small, so reading them is cheap)."""
    from .series import load_dicom

    try:
        load_dicom(path)
    except MedsegIOError as e:
        return e.problem
    return "a DICOM object without an image to segment"


def _invalid(path: Path, problem: str, cid: str | None = None) -> Case:
    name = cid or sanitize_id(case_stem(path) if Path(path).suffix else Path(path).name)
    return Case(name, "invalid", str(path), (), problem=problem)


def _make_unique(cases: list[Case]) -> None:
    seen: dict[str, int] = {}
    for c in cases:
        n = seen.get(c.case_id, 0)
        seen[c.case_id] = n + 1
        if n:
            c.case_id = f"{c.case_id}_{n + 1}"


def extract_zip(
    path: PathLike,
    dest: PathLike,
    *,
    max_members: int | None = None,
    max_bytes: int | None = None,
) -> list[Path]:
    """Extract a zip into ``dest``, refusing traversal, links and zip bombs.

    Member names are flattened to sanitised base names (an index keeps them unique), so
    nothing can be written outside ``dest`` whatever the archive says; sizes are counted
    while decompressing, not taken from the (forgeable) directory.

    Args:
        path: the zip.
        dest: the folder to extract into (created).
        max_members, max_bytes: caps (default :data:`MAX_ZIP_MEMBERS`, :data:`MAX_ZIP_BYTES`).

    Returns:
        The extracted files, in archive order (macOS resource forks and links left out).

    Raises:
        MedsegIOError: not a zip, too many members, or more than ``max_bytes`` unpacked.
    """
    max_members = MAX_ZIP_MEMBERS if max_members is None else int(max_members)
    max_bytes = MAX_ZIP_BYTES if max_bytes is None else int(max_bytes)
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise MedsegIOError(path, f"not a readable zip archive ({e})") from None
    out_dir = Path(dest)
    out_dir.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    total = 0
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > max_members:
            raise MedsegIOError(path, f"holds {len(members)} files; at most {max_members} accepted")
        for i, m in enumerate(members):
            if stat.S_ISLNK(m.external_attr >> 16):
                continue  # never follow links from an archive
            base = sanitize_id(re.split(r"[\\/]", m.filename)[-1])
            if m.filename.startswith("__MACOSX") or base in ("DS_Store", "case"):
                continue
            target = out_dir / f"{i:05d}_{base}"
            with zf.open(m) as src, open(target, "wb") as dst:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_bytes:
                        dst.close()
                        shutil.rmtree(out_dir, ignore_errors=True)
                        raise MedsegIOError(
                            path,
                            f"expands to more than {max_bytes >> 20} MiB; upload a smaller series",
                        )
                    dst.write(chunk)
            out.append(target)
    if not out:
        raise MedsegIOError(path, "the archive holds no files")
    return out


def load_case(case: Case, *, max_bytes: int | None = None, max_pixels: int | None = None):
    """Read a case: a :class:`~medseg.io.Volume` (DICOM, NIfTI) or an image array.

    Args:
        case: from :func:`discover_cases` or :func:`cases_from_files`.
        max_bytes: largest volume (bytes as float32), checked from the headers first.
        max_pixels: largest 2-D image (pixels), checked from the header first.

    Raises:
        MedsegIOError: an invalid case (its problem) or any reading problem.
    """
    from . import load_image, load_volume

    if case.kind == "invalid":
        raise MedsegIOError(case.source, case.problem)
    if case.kind == "image":
        kw = {"max_pixels": max_pixels} if max_pixels else {}
        return load_image(case.source, **kw)
    if case.kind == "nifti":
        return load_volume(case.source, max_bytes=max_bytes)
    if len(case.files) == 1:  # one file: errors name the file, not its folder
        return load_volume(case.files[0], max_bytes=max_bytes)
    files = list(case.files) if case.files else case.source
    return load_volume(files, series_uid=case.series_uid, max_bytes=max_bytes)


def input_paths(case: Case) -> list[str]:
    """Every file or folder a case reads (what outputs must never replace or go into)."""
    return list(case.files) or [case.source]


def is_volume(data) -> bool:
    return hasattr(data, "affine") and np.asarray(getattr(data, "array", None)).ndim == 3


__all__ = [
    "Case",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_MEMBERS",
    "OUTPUT_MARKER",
    "cases_from_files",
    "discover_cases",
    "extract_zip",
    "input_paths",
    "is_volume",
    "load_case",
    "medseg_outputs_in",
    "sanitize_id",
]
