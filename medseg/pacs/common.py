"""Small pieces the PACS modules share: UID keys, secret redaction, AE addresses, logging."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..io.files import write_json  # noqa: F401  (this package's JSON writer)
from ..io.inputs import uid_key as _uid_key

#: DICOM objects that are not images to segment (reports, structure sets, our own SEGs,
#: presentation states, key objects, registrations, documents, dose, plans, waveforms).
NON_IMAGE_MODALITIES = frozenset(
    {"SEG", "SR", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "PR", "KO", "REG", "DOC", "ECG"}
)


def uid_key(uid: str, n: int = 12) -> str:
    """A short stable name for a UID (:func:`medseg.io.inputs.uid_key`, 12 hex digits here):
    logs, reports and file names of the node use it instead of the UID itself."""
    return _uid_key(uid, n)


class Redactor:
    """Replaces secrets (passwords, tokens) with ``***`` in any text before it is shown."""

    def __init__(self, secrets=()):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and secret not in self._secrets:
            self._secrets = sorted({*self._secrets, secret}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for s in self._secrets:
            out = out.replace(s, "***")
        # Whatever slipped through: userinfo in URLs and Authorization header values.
        out = re.sub(r"(?i)(\w+://)[^/\s:@]+(:[^/\s@]*)?@", r"\1***@", out)
        return re.sub(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(\w+)\s+[^\s'\",}]+", r"\1\2 ***", out
        )


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``http://user:pw@host/x`` → (``http://host/x``, ``user``, ``pw``); no userinfo → Nones."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    from urllib.parse import unquote

    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


@dataclass(frozen=True)
class RemoteAE:
    """A DICOM application entity: ``AET@HOST:PORT``."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> RemoteAE:
        m = re.fullmatch(r"([^@\s]{1,16})@(\[[^\]]+\]|[^:\s]+):(\d{1,5})", text.strip())
        if not m or not 0 < int(m.group(3)) < 65536:
            raise ValueError(
                f"destination must look like AET@HOST:PORT (AE title of at most 16 "
                f"characters, e.g. ORTHANC@127.0.0.1:4242), got {text!r}"
            )
        return cls(m.group(1), m.group(2).strip("[]"), int(m.group(3)))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging API
        t = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{t}.{int(record.msecs):03d}Z"


def setup_logging(name: str, logfile=None, *, redact: Redactor | None = None) -> logging.Logger:
    """A logger writing one line per event to stderr (and ``logfile``), secrets redacted.

    Third-party loggers (pynetdicom, dicomweb-client) are kept at WARNING and pass through
    the same redaction, so nothing they print can carry a password or token.
    """
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = _UTCFormatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile is not None:
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
    red = redact or Redactor()

    class _Redact(logging.Filter):
        def filter(self, record):
            record.msg = red(record.getMessage())
            record.args = ()
            return True

    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(_Redact())
        log.addHandler(h)
    for other in ("pynetdicom", "dicomweb_client"):
        lg = logging.getLogger(other)
        lg.setLevel(logging.WARNING)
        lg.propagate = False
        for h in list(lg.handlers):
            lg.removeHandler(h)
        for h in handlers:
            lg.addHandler(h)
    return log


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
