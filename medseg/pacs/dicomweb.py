"""``medseg predict --dicomweb URL --study UID``: segment a study held by a DICOMweb server.

QIDO-RS lists the study's series (non-image objects such as SEG, SR and presentation states
are skipped), WADO-RS retrieves each image series into a private temporary folder, the batch
job segments them exactly as it does files (:mod:`medseg.pacs.segment`), and with
``store=True`` each SEG goes back by STOW-RS to the same server, retried with back-off.

Outputs in ``outdir``: the batch job's masks/SEGs and ``report.csv``/``report.json``, plus
``pacs_report.json`` (per series: outputs, delivered or not and why) and
``.medseg-dicomweb.json``, the record that makes a second run with the same ``outdir``
resume: series already segmented there with the same model are not retrieved again, and a
SEG that could not be stored last time is stored now.

Credentials (basic auth or a bearer token) come from arguments or the environment
(``MEDSEG_DICOMWEB_USER``, ``MEDSEG_DICOMWEB_PASSWORD``, ``MEDSEG_DICOMWEB_TOKEN``); they are
sent only in the Authorization header and redacted from every message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .common import (
    NON_IMAGE_MODALITIES,
    Redactor,
    read_json,
    split_url_credentials,
    uid_key,
    write_json,
)
from .delivery import DeliveryError, stow, with_retry
from .segment import segment_series

LEDGER = ".medseg-dicomweb.json"
REPORT = "pacs_report.json"
ENV_USER, ENV_PASSWORD, ENV_TOKEN = (
    "MEDSEG_DICOMWEB_USER",
    "MEDSEG_DICOMWEB_PASSWORD",
    "MEDSEG_DICOMWEB_TOKEN",
)


class DicomwebError(RuntimeError):
    """The server could not be used (unreachable, refused, study not found)."""


@dataclass
class DicomwebAuth:
    """HTTP credentials: basic (user + password) or a bearer token (not both)."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def resolve(
        cls,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> DicomwebAuth:
        """Arguments first, then ``MEDSEG_DICOMWEB_USER/PASSWORD/TOKEN`` from ``env``."""
        env = os.environ if env is None else env
        auth = cls(
            user or env.get(ENV_USER) or None,
            password or env.get(ENV_PASSWORD) or None,
            token or env.get(ENV_TOKEN) or None,
        )
        if auth.token and (auth.user or auth.password):
            raise ValueError("give either a user and password or a bearer token, not both")
        if bool(auth.user) != bool(auth.password) and not auth.token:
            raise ValueError(
                "basic auth needs both a user and a password "
                f"(--dicomweb-user / {ENV_USER} and {ENV_PASSWORD})"
            )
        return auth

    def redactor(self) -> Redactor:
        return Redactor([self.password, self.token])


def make_client(url: str, auth: DicomwebAuth | None = None, *, timeout: float = 60.0):
    """A ``dicomweb_client.DICOMwebClient`` for ``url`` with the credentials attached.

    Credentials embedded in the URL (``https://user:pw@host/...``) are moved into the
    Authorization header, so no error message can show them.

    Returns:
        ``(client, url without credentials, redactor)``.
    """
    import requests
    from dicomweb_client import DICOMwebClient

    auth = auth or DicomwebAuth()
    clean, url_user, url_password = split_url_credentials(url)
    if url_user and not (auth.user or auth.token):
        auth = DicomwebAuth(url_user, url_password, None)
    if not clean.lower().startswith(("http://", "https://")):
        raise ValueError(f"--dicomweb needs an http(s) URL, got {clean!r}")
    session = requests.Session()
    headers = {}
    if auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    elif auth.user:
        session.auth = requests.auth.HTTPBasicAuth(auth.user, auth.password or "")
    client = DICOMwebClient(clean.rstrip("/"), session=session, headers=headers, timeout=timeout)
    # dicomweb-client retries every failed request itself (5 tries, up to 30 s of waiting on
    # a dead server, silently); medseg retries STOW-RS with its own visible back-off instead.
    client.set_http_retry_params(retry=False)
    red = auth.redactor()
    red.add(url_password)
    return client, clean, red


def _http_error(e: Exception, what: str, where: str) -> DicomwebError:
    import requests

    if isinstance(e, requests.exceptions.HTTPError) and e.response is not None:
        code = e.response.status_code
        hint = {
            401: " (credentials missing or wrong: --dicomweb-user/--dicomweb-password or "
            "--dicomweb-token, or the MEDSEG_DICOMWEB_* variables)",
            403: " (these credentials may not read this study)",
            404: " (is the URL the DICOMweb root, e.g. http://host:8042/dicom-web?)",
        }.get(code, "")
        return DicomwebError(f"{where}: {what} failed: HTTP {code}{hint}")
    return DicomwebError(
        f"{where}: {what} failed: cannot reach the server ({type(e).__name__}); check the URL "
        "and that the server is running"
    )


def find_series(client, study_uid: str, *, where: str) -> list[dict]:
    """QIDO-RS: the study's series as ``{"uid", "modality", "n_instances"}`` dicts."""
    import requests
    from pydicom import Dataset

    try:
        found = client.search_for_series(study_instance_uid=study_uid)
    except requests.exceptions.RequestException as e:
        raise _http_error(e, "QIDO-RS series search", where) from None
    out = []
    for item in found or []:
        ds = Dataset.from_json(item)
        n = ds.get("NumberOfSeriesRelatedInstances")
        out.append(
            {
                "uid": str(ds.get("SeriesInstanceUID", "")),
                "modality": str(ds.get("Modality", "")),
                "n_instances": int(n) if n not in (None, "") else None,
            }
        )
    return [s for s in out if s["uid"]]


def retrieve_series(client, study_uid: str, series_uid: str, folder: Path, *, where: str) -> int:
    """WADO-RS: save every instance of a series into ``folder``; returns the count."""
    import requests

    folder.mkdir(parents=True, exist_ok=False)
    n = 0
    try:
        for ds in client.iter_series(study_uid, series_uid):
            ds.save_as(folder / f"{uid_key(ds.SOPInstanceUID, 16)}.dcm", enforce_file_format=True)
            n += 1
    except requests.exceptions.RequestException as e:
        raise _http_error(e, "WADO-RS retrieval", where) from None
    return n


def predict_from_dicomweb(
    url: str,
    study_uid: str,
    outdir: str | os.PathLike,
    predictor,
    *,
    model_name: str,
    series_uid: str | None = None,
    fmt: str = "seg",
    store: bool = False,
    auth: DicomwebAuth | None = None,
    store_attempts: int = 4,
    timeout: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Segment the image series of one study on a DICOMweb server (see module docstring).

    Args:
        url: DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web``.
        study_uid: StudyInstanceUID to segment.
        outdir: output folder (the batch job's outputs and report, ``pacs_report.json``).
        predictor: a :class:`~medseg.engine.predictor.Predictor`.
        model_name: recorded with each result; a second run resumes only results of the
            same model.
        series_uid: only this series of the study.
        fmt: ``"seg"``, ``"nifti"`` or ``"both"``.
        store: send each SEG back with STOW-RS.
        auth: credentials (:meth:`DicomwebAuth.resolve`).
        store_attempts: tries per SEG (waits 1, 2, 4 ... s in between).
        timeout: seconds per HTTP request.
        log: one line per event (already free of secrets and identifiers).

    Returns:
        ``{"series": [per-series rows], "ok": n, "failed": n, "not_stored": n,
        "report": path}``. Rows carry the series key (a hash of its UID), never the UID.

    Raises:
        DicomwebError: the server cannot be reached, refuses, or has no such study/series.
    """
    if store and fmt == "nifti":
        raise ValueError("--store sends DICOM SEGs: use --format seg or both")
    client, where, red = make_client(url, auth, timeout=timeout)

    def say(msg: str) -> None:
        if log:
            log(red(msg))

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    ledger_path = out / LEDGER
    ledger = (read_json(ledger_path) or {}).get("series", {})
    study_key = uid_key(study_uid)
    listed = find_series(client, study_uid, where=where)
    if not listed:
        raise DicomwebError(f"{where}: study {study_key} (hash of --study) not found or empty")
    if series_uid is not None:
        listed = [s for s in listed if s["uid"] == series_uid]
        if not listed:
            raise DicomwebError(
                f"{where}: series {uid_key(series_uid)} (hash of --series) is not in study "
                f"{study_key}"
            )
    rows: dict[str, dict] = {}
    todo: list[tuple[str, dict]] = []
    for s in listed:
        key = uid_key(s["uid"])
        if s["modality"].upper() in NON_IMAGE_MODALITIES:
            say(f"series {key}: {s['modality']} objects, not images: skipped")
            continue
        prev = ledger.get(key)
        if (
            prev
            and prev.get("model") == model_name
            and prev.get("status") == "ok"
            and prev.get("fmt") == fmt
            and all((out / o).is_file() for o in prev.get("outputs", []))
        ):
            say(f"series {key}: already segmented in {out} (model {model_name}): not retrieved")
            rows[key] = dict(prev)
            continue
        todo.append((key, s))

    if not todo and not rows:
        raise DicomwebError(
            f"{where}: study {study_key} has no image series to segment (only "
            f"{', '.join(sorted({s['modality'] or '?' for s in listed}))} objects)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="medseg-dicomweb-"))  # private (mode 0700)
    try:
        folders = []
        for key, s in todo:
            folder = tmp / f"series_{key}"
            t0 = time.perf_counter()
            try:
                n = retrieve_series(client, study_uid, s["uid"], folder, where=where)
            except DicomwebError as e:
                say(f"series {key}: {e}")
                rows[key] = _row(key, s, model_name, fmt, status="error", error=red(str(e)))
                continue
            say(f"series {key}: retrieved {n} instance(s) in {time.perf_counter() - t0:.1f} s")
            rows[key] = _row(key, s, model_name, fmt, n_retrieved=n)
            folders.append(folder)
        if folders:
            for res in segment_series(folders, out, predictor, fmt=fmt):
                key = res.folder.name.removeprefix("series_")
                row = rows.setdefault(key, _row(key, {}, model_name, fmt))
                row.update(
                    case_id=res.case_id,
                    status=res.status,
                    error=red(res.error),
                    outputs=[p.name for p in res.outputs],
                    seg=[p.name for p in res.seg_files],
                    stored=None,
                    store_error="",
                )
                say(
                    f"series {key}: segmented ({res.case_id})"
                    if res.status == "ok"
                    else f"series {key}: failed: {red(res.error)}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if store:
        for key, row in rows.items():
            if row.get("status") != "ok" or row.get("stored") is True:
                continue
            for name in row.get("seg", []):

                def send(p=out / name):
                    return stow(client, p, where=where)

                try:
                    with_retry(
                        send,
                        attempts=store_attempts,
                        what=f"series {key}: storing {name} (STOW-RS)",
                        log=say,
                    )
                except DeliveryError as e:
                    row.update(stored=False, store_error=red(str(e)))
                    say(
                        f"series {key}: NOT DELIVERED: {red(e)}; the SEG is kept at "
                        f"{out / name}; run the same command again to store it"
                    )
                    break
            else:
                row.update(stored=True, store_error="", stored_at=time.time())
                say(f"series {key}: SEG stored on the server (STOW-RS)")

    ledger.update(rows)
    write_json(ledger_path, {"version": 1, "series": ledger})
    report_rows = [rows[k] for k in sorted(rows)]
    summary = {
        "study": study_key,
        "server": where,
        "model": model_name,
        "series": report_rows,
        "ok": sum(r.get("status") == "ok" for r in report_rows),
        "failed": sum(r.get("status") != "ok" for r in report_rows),
        "not_stored": sum(r.get("stored") is False for r in report_rows) if store else 0,
    }
    write_json(out / REPORT, summary)
    summary["report"] = str(out / REPORT)
    return summary


def _row(key: str, s: dict, model: str, fmt: str, **kw) -> dict:
    row = {
        "series": key,
        "modality": s.get("modality", ""),
        "model": model,
        "fmt": fmt,
        "case_id": "",
        "status": "",
        "error": "",
        "outputs": [],
        "seg": [],
        "stored": None,
        "store_error": "",
    }
    row.update(kw)
    return row
