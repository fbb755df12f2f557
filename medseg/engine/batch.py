"""Batch inference job behind ``medseg predict``: many cases in, masks and a report out.

* Inputs: DICOM folders (one case per series), NIfTI files, image files, or folders of them.
* Outputs per case: ``<case>.nii.gz`` (mask with the source affine) or ``<case>_seg.dcm``
  (DICOM SEG, ``fmt="seg"``) for volumes; ``<case>_mask.png`` + ``<case>_overlay.png`` for
  images. Written to a temporary name, then ``os.replace``d: a killed run leaves no half file.
* ``report.csv`` / ``report.json``: per case ``status, kind, shape, spacing, foreground_ml,
  seconds, error, outputs``. Case ids come from file/folder names (sanitised) and a hash of the
  SeriesInstanceUID, never from patient tags; errors are reported and the run goes on.
* ``resume=True`` skips cases with a completion record (``.medseg-done/<case>.json``, written
  after the outputs); the report is rebuilt from those records, so nothing is duplicated.
* ``workers`` threads load cases ahead of the model; under ``torchrun`` cases are sharded
  across ranks and rank 0 writes the report.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DONE_DIR = ".medseg-done"
REPORT_FIELDS = (
    "case_id",
    "kind",
    "status",
    "shape",
    "spacing",
    "foreground_ml",
    "foreground_fraction",
    "seconds",
    "error",
    "outputs",
    "backend",  # issue 18: which back-end ran (for auto: its choice and why)
)


@dataclass
class Case:
    """One unit of work. ``source`` is a file or folder; ``series_uid`` picks a DICOM series."""

    case_id: str
    kind: str  # "dicom" | "nifti" | "image" | "invalid"
    source: str
    series_uid: str | None = None
    problem: str = ""


def sanitize_id(text: str) -> str:
    """File-name-safe id: letters, digits, ``.-_`` only, at most 80 characters."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "case"
    return s[:80]


def _stem(p: Path) -> str:
    name = p.name
    for suf in (".nii.gz", ".nii"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return p.stem


def discover_cases(inputs: Sequence[str | os.PathLike]) -> list[Case]:
    """Expand inputs into cases (sorted, ids unique). Unusable inputs become ``invalid`` cases."""
    from ..io import is_image_file, is_nifti, list_series

    cases: list[Case] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_file():
            if is_nifti(p):
                cases.append(Case(sanitize_id(_stem(p)), "nifti", str(p)))
            elif is_image_file(p):
                cases.append(Case(sanitize_id(p.stem), "image", str(p)))
            else:
                cases.append(Case(sanitize_id(p.name), "dicom", str(p)))
            continue
        if not p.is_dir():
            cases.append(
                Case(sanitize_id(p.name), "invalid", str(p), problem="no such file or folder")
            )
            continue
        found = 0
        for f in sorted(p.rglob("*")):
            if f.is_file() and is_nifti(f):
                cases.append(Case(sanitize_id(_stem(f)), "nifti", str(f)))
                found += 1
            elif f.is_file() and is_image_file(f):
                cases.append(Case(sanitize_id(f.stem), "image", str(f)))
                found += 1
        try:
            series = list_series(p)
        except Exception:  # noqa: BLE001 - a folder without DICOM is fine if it had other files
            series = []
        base = sanitize_id(p.resolve().name)
        for s in series:
            # A hash of the UID keeps ids stable and unique without writing the UID itself.
            sid = (
                base
                if len(series) == 1
                else f"{base}_{hashlib.sha1(s['uid'].encode()).hexdigest()[:8]}"
            )
            cases.append(Case(sid, "dicom", str(p), series_uid=s["uid"]))
            found += 1
        if not found:
            cases.append(
                Case(
                    base,
                    "invalid",
                    str(p),
                    problem="no readable DICOM series, NIfTI or image file inside",
                )
            )
    seen: dict[str, int] = {}
    for c in cases:  # make ids unique in discovery order
        n = seen.get(c.case_id, 0)
        seen[c.case_id] = n + 1
        if n:
            c.case_id = f"{c.case_id}_{n + 1}"
    return cases


def _atomic(path: Path, write: Callable[[str], object]) -> str:
    """Call ``write(tmp_path)`` then rename onto ``path`` (same folder, so the rename is atomic)."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part{suffix}")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)


_PART_RE = re.compile(r"^\..+\.(\d+)\.part(\.[A-Za-z0-9.]+)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_parts(out: Path) -> int:
    """Delete temporary files (see :func:`_atomic`) left by runs that were killed.

    Only files whose writer process is gone are removed, so ranks of a running ``torchrun``
    job never lose each other's files in progress. Returns the number removed.
    """
    n = 0
    for p in out.rglob(".*.part*"):
        m = _PART_RE.match(p.name)
        if m and p.is_file() and not _pid_alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            n += 1
    return n


def _write_json(path: Path, obj) -> None:
    def w(t: str) -> None:
        with open(t, "w") as f:
            json.dump(obj, f, indent=1)

    _atomic(path, w)


def _load(case: Case):
    from ..io import load_image, load_volume
    from ..io.errors import MedsegIOError

    if case.kind == "invalid":
        raise MedsegIOError(case.source, case.problem)
    if case.kind == "image":
        return load_image(case.source)
    return load_volume(case.source, series_uid=case.series_uid)


def _process(case: Case, data, predictor, outdir: Path, fmt: str, postprocess: bool) -> dict:
    from PIL import Image

    from ..viz.overlay import overlay

    cfg = predictor.cfg
    row: dict = {"case_id": case.case_id, "kind": case.kind}
    outputs: list[str] = []
    if case.kind == "image":
        pred = predictor.predict_image(data)
        labels = pred.labels.astype(np.uint8)
        outputs.append(
            _atomic(
                outdir / f"{case.case_id}_mask.png",
                lambda t: Image.fromarray(labels).save(t, format="PNG"),
            )
        )
        ov = overlay(
            data, labels, cfg.palette, skip_classes=(0, 255) if cfg.task == "medical" else (255,)
        )
        outputs.append(
            _atomic(
                outdir / f"{case.case_id}_overlay.png",
                lambda t: Image.fromarray(ov).save(t, format="PNG"),
            )
        )
        row.update(
            shape=list(labels.shape),
            spacing=None,
            foreground_ml=None,
            foreground_fraction=float((labels > 0).mean()),
        )
    else:
        from ..io import save_mask_like, write_dicom_seg

        mask = predictor.predict_volume(data, postprocess=postprocess)
        mask = np.asarray(mask, np.uint8)
        if fmt in ("nifti", "both"):
            outputs.append(
                _atomic(outdir / f"{case.case_id}.nii.gz", lambda t: save_mask_like(mask, data, t))
            )
        if fmt in ("seg", "both"):
            if not getattr(data, "source_files", None):
                raise ValueError(
                    "DICOM SEG needs a DICOM source; this case is NIfTI (use --format nifti)"
                )
            labels = list(cfg.class_names[1:]) or ["foreground"]
            outputs.append(
                _atomic(
                    outdir / f"{case.case_id}_seg.dcm",
                    lambda t: write_dicom_seg(mask, data, t, segment_labels=labels),
                )
            )
        voxel_ml = float(np.prod(data.spacing[:3])) / 1000.0
        row.update(
            shape=list(mask.shape),
            spacing=[round(float(s), 6) for s in data.spacing],
            foreground_ml=float((mask > 0).sum()) * voxel_ml,
            foreground_fraction=float((mask > 0).mean()),
        )
    row["outputs"] = [os.path.basename(o) for o in outputs]
    # issue 18: record which back-end ran (backend="auto" chooses per machine)
    info = getattr(predictor, "backend_info", None)
    row["backend"] = info()["summary"] if info else None
    return row


def _dist() -> tuple[int, int]:
    """(rank, world size) under torchrun; initialises a gloo group if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def _error_text(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    return msg[:500]


def run_batch(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    predictor,
    *,
    fmt: str = "nifti",
    resume: bool = False,
    workers: int = 1,
    postprocess: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run the job; returns the report rows (all cases, also those done in earlier runs).

    Args:
        inputs: files and folders (see module docstring).
        outdir: output folder (created).
        predictor: a :class:`~medseg.engine.predictor.Predictor`.
        fmt: ``"nifti"``, ``"seg"`` (DICOM SEG) or ``"both"``, for volumes.
        resume: skip cases completed by an earlier run.
        workers: threads loading cases ahead of inference.
        postprocess: largest component + hole filling on volume masks.
    """
    if fmt not in ("nifti", "seg", "both"):
        raise ValueError(f"format must be nifti, seg or both, got {fmt!r}")
    out = Path(outdir)
    done_dir = out / DONE_DIR
    done_dir.mkdir(parents=True, exist_ok=True)
    # A SIGKILLed run cannot clean up after itself: its half-written temp files go now.
    stale = remove_stale_parts(out)
    if log and stale:
        log(f"removed {stale} temporary file(s) left by an interrupted run")
    rank, world = _dist()
    cases = discover_cases(inputs)
    mine = cases[rank::world]
    todo = [c for c in mine if not (resume and _complete(done_dir, out, c.case_id))]
    if log and resume:
        log(f"resume: {len(mine) - len(todo)} of {len(mine)} case(s) already done")
    _run_cases(
        todo,
        predictor,
        out,
        done_dir,
        fmt,
        postprocess,
        max(1, int(workers)),
        progress and rank == 0,
    )
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    rows = [_read_done(done_dir, c.case_id) for c in cases]
    rows = [r for r in rows if r is not None]
    if rank == 0:
        write_report(rows, out)
    return rows


def _complete(done_dir: Path, out: Path, case_id: str) -> bool:
    row = _read_done(done_dir, case_id)
    return row is not None and all((out / o).is_file() for o in row.get("outputs") or [])


def _read_done(done_dir: Path, case_id: str) -> dict | None:
    p = done_dir / f"{case_id}.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _run_cases(
    cases: list[Case],
    predictor,
    out: Path,
    done_dir: Path,
    fmt: str,
    postprocess: bool,
    workers: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    def load(c: Case):
        t0 = time.perf_counter()
        try:
            return c, _load(c), None, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - reported per case
            return c, None, e, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded: Iterable = _prefetch(pool, load, cases, window=2 * workers)
        for c, data, err, t_load in tqdm(
            loaded, total=len(cases), disable=not progress, desc="predict", unit="case"
        ):
            t0 = time.perf_counter()
            if err is None:
                try:
                    row = _process(c, data, predictor, out, fmt, postprocess)
                    row.update(status="ok", error="")
                except Exception as e:  # noqa: BLE001 - one bad case must not stop the run
                    err = e
                    if os.environ.get("MEDSEG_DEBUG"):
                        traceback.print_exc()
            if err is not None:
                row = {
                    "case_id": c.case_id,
                    "kind": c.kind,
                    "status": "error",
                    "error": _error_text(err),
                    "shape": None,
                    "spacing": None,
                    "foreground_ml": None,
                    "foreground_fraction": None,
                    "outputs": [],
                }
            row["seconds"] = round(t_load + time.perf_counter() - t0, 4)
            _write_json(done_dir / f"{c.case_id}.json", {k: row.get(k) for k in REPORT_FIELDS})


def _prefetch(pool: ThreadPoolExecutor, fn, items: list, window: int):
    futures = []
    it = iter(items)
    for _ in range(window):
        nxt = next(it, None)
        if nxt is None:
            break
        futures.append(pool.submit(fn, nxt))
    while futures:
        f = futures.pop(0)
        nxt = next(it, None)
        if nxt is not None:
            futures.append(pool.submit(fn, nxt))
        yield f.result()


def write_report(rows: list[dict], outdir: str | os.PathLike) -> tuple[str, str]:
    """Write ``report.json`` and ``report.csv`` (atomically) and return their paths."""
    out = Path(outdir)
    summary = {
        "cases": len(rows),
        "ok": sum(r.get("status") == "ok" for r in rows),
        "errors": sum(r.get("status") == "error" for r in rows),
    }
    _write_json(out / "report.json", {"summary": summary, "cases": rows})

    def w(t: str) -> None:
        with open(t, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(REPORT_FIELDS))
            wr.writeheader()
            for r in rows:
                wr.writerow(
                    {
                        k: (json.dumps(r.get(k)) if isinstance(r.get(k), list) else r.get(k))
                        for k in REPORT_FIELDS
                    }
                )

    _atomic(out / "report.csv", w)
    return str(out / "report.json"), str(out / "report.csv")


__all__ = ["Case", "discover_cases", "run_batch", "sanitize_id", "write_report"]
