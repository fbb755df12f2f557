"""The batch job behind ``medseg predict``: inputs in, masks, DICOM SEG, overlays and a report out.

Order of work: discover cases (:mod:`medseg.io.inputs`), refuse anything that could lose a
file (:mod:`.plan`), remove temporary files a killed run left, then run this process' share of
the cases — loading ahead in ``workers`` threads while the model runs — writing each case's
outputs all-or-nothing (:mod:`.process`) and its completion record (:mod:`.records`). Under
``torchrun`` the cases are sharded across ranks; every rank finishes its shard, then rank 0
writes the one report and every rank returns the same rows.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..engine import distributed as D
from ..io.files import remove_stale_parts
from ..io.inputs import Case, discover_cases, load_case
from .plan import FORMATS, check_outputs_safe
from .process import process_case
from .records import can_skip, owned_outputs, read_record, records_dir, write_record
from .report import REPORT_FIELDS, write_report


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
    allow_mismatch: bool = False,
    overwrite: bool = False,
    max_bytes: int | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run the job; returns the report rows of all cases (also those kept from earlier runs).

    Args:
        inputs: DICOM files/folders, NIfTI files, images, zips, or folders of them.
        outdir: output folder (created; never an input folder or inside one).
        predictor: a :class:`~medseg.engine.predictor.Predictor`.
        fmt: ``"nifti"`` (a NIfTI mask per volume), ``"seg"`` (DICOM SEG; DICOM sources only)
            or ``"both"`` (NIfTI for every volume and a SEG where the source is DICOM).
        resume: keep results of an earlier run made with the same model, weights, back-end
            and output options; failed cases always run again.
        workers: threads loading cases ahead of inference.
        postprocess: largest component + hole filling on volume masks.
        progress: show a progress bar.
        allow_mismatch: run inputs of another kind than the model was trained for (e.g. CT
            into an MR model) with a warning in the report instead of refusing them.
        overwrite: replace existing files in ``outdir`` that medseg did not write (inputs are
            never replaced).
        max_bytes: largest volume accepted (see :func:`medseg.io.load_volume`).
        log: where one-line notes go (e.g. ``print`` to stderr).

    Raises:
        medseg.batch.plan.UnsafeOutputError: before anything is written, when an output would
            replace or go inside an input, or replace a file medseg did not write.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    say = log or (lambda m: None)
    out = Path(outdir)
    D.init_distributed("gloo")
    rank, world = D.rank(), D.world_size()
    with tempfile.TemporaryDirectory(prefix="medseg-inputs-") as work:
        cases, notes = discover_cases(inputs, workdir=work)
        check_outputs_safe(
            list(inputs), cases, out, fmt, owned=owned_outputs(out), overwrite=overwrite
        )
        if rank == 0:
            if notes["skipped_files"]:
                say(f"skipped {notes['skipped_files']} file(s) that are not scans or images")
            if notes["skipped_outputs"]:
                say(f"skipped {notes['skipped_outputs']} file(s) written by earlier medseg runs")
        records_dir(out).mkdir(parents=True, exist_ok=True)
        stale = remove_stale_parts(out)
        if stale and rank == 0:
            say(f"removed {stale} temporary file(s) left by an interrupted run")
        provenance = {**predictor.provenance, "format": fmt, "postprocess": bool(postprocess)}
        # ``backend`` of a row is what ran it (auto's choice, known after its first call);
        # what the run asked for is what --resume compares
        provenance["backend_requested"] = provenance.pop("backend")
        mine = cases[rank::world]
        todo = [
            c
            for c in mine
            if not (resume and can_skip(read_record(out, c.case_id), provenance, out))
        ]
        if resume and rank == 0:
            say(
                f"resume: {len(mine) - len(todo)} of {len(mine)} case(s) kept from an earlier run "
                "with the same model, weights, back-end and options"
            )
        _run_cases(
            todo,
            predictor,
            out,
            provenance,
            dict(fmt=fmt, postprocess=postprocess, allow_mismatch=allow_mismatch),
            max_bytes,
            max(1, int(workers)),
            progress and rank == 0,
        )
    D.barrier()
    rows = None
    if rank == 0:
        rows = [r for r in (read_record(out, c.case_id) for c in cases) if r is not None]
        rows = [{k: r.get(k) for k in REPORT_FIELDS} for r in rows]
        write_report(rows, out)
    rows = D.broadcast_object(rows)
    D.barrier()
    return rows


def _run_cases(
    cases: list[Case],
    predictor,
    out: Path,
    provenance: dict,
    options: dict,
    max_bytes: int | None,
    workers: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    def load(c: Case):
        t0 = time.perf_counter()
        try:
            return c, load_case(c, max_bytes=max_bytes), None, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - reported per case
            return c, None, e, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded: Iterable = _prefetch(pool, load, cases, window=2 * workers)
        for c, data, err, t_load in tqdm(
            loaded, total=len(cases), disable=not progress, desc="predict", unit="case"
        ):
            t0 = time.perf_counter()
            previous = read_record(out, c.case_id)
            row: dict = {}
            if err is None:
                try:
                    row = process_case(
                        c, data, predictor, out, provenance=provenance, previous=previous, **options
                    )
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
                    "warnings": [],
                    "outputs": [],
                    # an earlier result of this case stays on disk and stays medseg's
                    "stale_outputs": list((previous or {}).get("outputs") or [])
                    + list((previous or {}).get("stale_outputs") or []),
                }
            row.update(provenance)
            row.update(_backend_ran(predictor))
            row["seconds"] = round(t_load + time.perf_counter() - t0, 4)
            write_record(out, c.case_id, row)


def _backend_ran(predictor) -> dict:
    """``backend`` (what ran: for ``auto`` its choice) and ``backend_note`` (one line why)."""
    info = predictor.backend_info() if hasattr(predictor, "backend_info") else {}
    return {
        "backend": info.get("backend") or getattr(predictor, "backend", None),
        "backend_note": info.get("summary", ""),
    }


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


__all__ = ["run_batch"]
