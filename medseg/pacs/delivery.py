"""Sending SEGs back: DIMSE C-STORE (pynetdicom) and DICOMweb STOW-RS, with retry.

Each sender raises :class:`DeliveryError` with a message a user can act on (who refused,
how) and ``retryable`` telling whether trying again later can help (a server that is down
or busy) or not (a refusal that will repeat, such as 401 or an unsupported SOP class).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .common import RemoteAE


class DeliveryError(RuntimeError):
    """A SEG could not be delivered. ``retryable``: worth trying again later."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


def backoff_delays(first: float = 1.0, factor: float = 2.0, cap: float = 60.0):
    """1, 2, 4, ... seconds, capped (an endless generator)."""
    d = first
    while True:
        yield min(d, cap)
        d *= factor


def with_retry(
    send: Callable[[], object],
    *,
    attempts: int,
    what: str,
    log: Callable[[str], None] | None = None,
    first_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
):
    """Call ``send()`` until it succeeds, at most ``attempts`` times, backing off 1, 2, 4 s...

    Raises the last :class:`DeliveryError` (at once when it is not retryable).
    """
    delays = backoff_delays(first_delay)
    for i in range(1, max(1, attempts) + 1):
        try:
            return send()
        except DeliveryError as e:
            if not e.retryable or i >= attempts:
                raise
            d = next(delays)
            if log:
                log(f"{what}: attempt {i} of {attempts} failed ({e}); retrying in {d:g} s")
            sleep(d)
    raise AssertionError("unreachable")


# DIMSE status codes (PS3.4 B.2.3, Storage Service Class): 0xA7xx = out of resources
# (transient), 0xA9xx / 0xCxxx = the object was refused (will repeat).
def _status_error(code: int, dest: RemoteAE) -> DeliveryError:
    if 0xA700 <= code <= 0xA7FF:
        return DeliveryError(f"{dest} is out of resources (status 0x{code:04X})")
    return DeliveryError(f"{dest} refused the SEG (status 0x{code:04X})", retryable=False)


def c_store(
    path: str | os.PathLike,
    dest: RemoteAE,
    *,
    calling_aet: str = "MEDSEG",
    timeout: float = 30.0,
) -> None:
    """Send one DICOM file to ``dest`` with C-STORE; raise :class:`DeliveryError` on failure."""
    import pydicom
    from pynetdicom import AE
    from pynetdicom.sop_class import SegmentationStorage

    header = pydicom.dcmread(path, stop_before_pixels=True)
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = min(timeout, 10.0)
    sop_class = str(header.SOPClassUID or SegmentationStorage)
    ts = str(header.file_meta.TransferSyntaxUID)
    ae.add_requested_context(sop_class, [ts] + [t for t in (_EXPLICIT, _IMPLICIT) if t != ts])
    assoc = ae.associate(dest.host, dest.port, ae_title=dest.aet)
    if not assoc.is_established:
        if assoc.is_rejected:
            raise DeliveryError(f"{dest} rejected the association (wrong AE title?)")
        raise DeliveryError(f"cannot connect to {dest} (is the PACS running and reachable?)")
    try:
        if not assoc.accepted_contexts:
            raise DeliveryError(
                f"{dest} does not accept DICOM SEG ({sop_class}) objects", retryable=False
            )
        status = assoc.send_c_store(os.fspath(path))
        if not status or "Status" not in status:
            raise DeliveryError(f"{dest} did not answer the C-STORE (connection lost)")
        code = int(status.Status)
        # 0x0000 success; 0xB000-0xBFFF warnings (e.g. coerced elements): stored.
        if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:
            raise _status_error(code, dest)
    finally:
        if assoc.is_established:
            assoc.release()


_EXPLICIT = "1.2.840.10008.1.2.1"
_IMPLICIT = "1.2.840.10008.1.2"


def stow(client, path: str | os.PathLike, *, where: str) -> None:
    """Store one DICOM file with STOW-RS through a ``dicomweb_client`` client."""
    import pydicom
    import requests

    ds = pydicom.dcmread(path)
    try:
        response = client.store_instances([ds])
    except requests.exceptions.HTTPError as e:
        code = e.response.status_code if e.response is not None else 0
        transient = code in (408, 429) or code >= 500
        raise DeliveryError(
            f"{where} answered HTTP {code} to STOW-RS", retryable=transient
        ) from None
    except requests.exceptions.RequestException as e:
        raise DeliveryError(
            f"cannot reach {where} for STOW-RS ({type(e).__name__}; is the server running?)"
        ) from None
    failed = response.get("FailedSOPSequence") if response is not None else None
    if failed:
        reason = failed[0].get("FailureReason", "?")
        raise DeliveryError(
            f"{where} refused the SEG in STOW-RS (failure reason {reason})", retryable=False
        )
