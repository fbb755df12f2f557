"""``medseg listen``: a DICOM Storage SCP that segments each received series and sends the SEG.

Threads: pynetdicom's association threads only validate and write what arrives (receiving
never waits for inference); a scheduler seals a series into a job once no instance of it
arrived for ``stable_seconds``; ``workers`` threads run jobs through the batch job; one
delivery thread C-STOREs finished SEGs, retrying with back-off while the destination is
down. All state lives on disk (:mod:`medseg.pacs.jobs`), so a killed listener resumes.

What is accepted: every storage SOP class (so a PACS pushing a whole study does not fail on
its reports); image instances are kept, non-image objects (SR, SEG, RTSTRUCT, presentation
states, ...) are acknowledged and ignored, corrupt instances are refused (status 0xC000);
each ignored object is one log line. Log lines name series and instances by UID hashes.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .common import NON_IMAGE_MODALITIES, RemoteAE, uid_key
from .delivery import DeliveryError, backoff_delays, c_store
from .jobs import StateDir
from .segment import segment_series

#: DIMSE status answers (PS3.4 B.2.3)
SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700


@dataclass
class ListenerConfig:
    aet: str = "MEDSEG"
    host: str = "127.0.0.1"
    port: int = 11112
    send_to: RemoteAE | None = None
    stable_seconds: float = 10.0
    workers: int = 1
    keep_inputs: bool = False
    calling_aets: tuple[str, ...] = ()
    max_retry_delay: float = 60.0
    ahead_after: float | None = 2.0  # idle seconds before segmenting ahead; None: never
    poll_seconds: float = 0.2
    extra: dict = field(default_factory=dict)


def _native_pixel_bytes(ds) -> int | None:
    """Bytes an uncompressed Pixel Data must hold, or None when it cannot be known."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or ts.is_compressed:
        return None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    return (rows * cols * spp * frames * bits + 7) // 8


def classify(raw: bytes):
    """``(kind, dataset or None, reason)``; kind is ``image``, ``non-image`` or ``corrupt``."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(raw), force=False)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types on damaged data
        return "corrupt", None, f"cannot be parsed ({type(e).__name__})"
    missing = [k for k in ("SOPInstanceUID", "SeriesInstanceUID") if k not in ds]
    if missing:
        return "corrupt", ds, f"no {' or '.join(missing)} (damaged or incomplete dataset)"
    modality = str(ds.get("Modality", "")).upper()
    if modality in NON_IMAGE_MODALITIES or "Rows" not in ds or "PixelData" not in ds:
        kind = getattr(ds.SOPClassUID, "name", "") or modality or "object"
        return "non-image", ds, f"{kind} ({modality or 'no modality'}): not an image"
    need = _native_pixel_bytes(ds)
    have = len(ds.PixelData)
    if need is not None and have < need:
        return "corrupt", ds, f"Pixel Data holds {have} bytes where {need} are needed (truncated)"
    return "image", ds, ""


class Listener:
    """The running node: ``start()``, then ``stop()``; ``serve_forever()`` blocks.

    Args:
        config: network, destination and scheduling settings.
        state: the on-disk state (:class:`~medseg.pacs.jobs.StateDir`), already acquired.
        predictor: a :class:`~medseg.engine.predictor.Predictor` shared by the workers.
        log: a ``logging.Logger`` (one line per event, no identifiers).
    """

    def __init__(self, config: ListenerConfig, state: StateDir, predictor, log):
        self.cfg = config
        self.state = state
        self.predictor = predictor
        self.log = log
        self.stop_event = threading.Event()
        # Wake-ups, so a sealed series or a finished SEG does not wait for the next poll.
        self._jobs_ready = threading.Event()
        self._segs_ready = threading.Event()
        self._server = None
        self._threads: list[threading.Thread] = []
        self._n_ignored = 0

    # ------------------------------------------------------------------ DIMSE side
    def _on_store(self, event) -> int:
        who = event.assoc.requestor.ae_title
        try:
            raw = event.encoded_dataset(include_meta=True)
        except Exception as e:  # noqa: BLE001 - never let a bad request kill the SCP thread
            self._ignore("corrupt", None, f"undecodable request ({type(e).__name__})", who)
            return CANNOT_UNDERSTAND
        kind, ds, reason = classify(raw)
        if kind != "image":
            self._ignore(kind, ds, reason, who)
            return SUCCESS if kind == "non-image" else CANNOT_UNDERSTAND
        skey = uid_key(ds.SeriesInstanceUID)
        ikey = uid_key(ds.SOPInstanceUID, 16)
        try:
            tmp = self.state.new_tmp()
            tmp.write_bytes(raw)
            first = self.state.add_instance(tmp, skey, ikey)
        except OSError as e:
            self.log.error(f"cannot store an instance of series {skey}: {type(e).__name__}: {e}")
            return OUT_OF_RESOURCES
        if first:
            self.log.info(f"series {skey}: receiving from {who} ({ds.get('Modality', '?')})")
        return SUCCESS

    def _ignore(self, kind: str, ds, reason: str, who: str) -> None:
        self._n_ignored += 1
        ikey = uid_key(ds.SOPInstanceUID, 16) if ds is not None and "SOPInstanceUID" in ds else "?"
        skey = (
            uid_key(ds.SeriesInstanceUID) if ds is not None and "SeriesInstanceUID" in ds else "?"
        )
        self.log.warning(
            f"ignored {kind} object from {who}: instance {ikey} of series {skey}: {reason}"
        )
        self.state.record_ignored(
            {"kind": kind, "reason": reason, "from": who, "instance": ikey, "series": skey}
        )

    def _make_ae(self):
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.cfg.aet)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        if self.cfg.calling_aets:
            ae.require_calling_aet = list(self.cfg.calling_aets)
        ae.maximum_pdu_size = 0  # no limit on what we receive
        return ae

    # ------------------------------------------------------------------ threads
    def _scheduler(self) -> None:
        while not self.stop_event.is_set():
            for name in self.state.stable_series():
                outcome, job = self.state.seal(name)
                key = name.removeprefix("series_")
                if outcome in ("queued", "merged"):
                    self._jobs_ready.set()
                if job is not None and job["state"] == "inferred":  # answered ahead of time
                    self._answered_ahead(job)
                    continue
                if outcome == "queued":
                    self.log.info(
                        f"series {key}: stable after {job['n_instances']} instance(s): "
                        f"job {job['id']} queued"
                    )
                elif outcome == "merged":
                    self.log.info(
                        f"series {key}: more instances, added to queued job {job['id']} "
                        f"({job['n_instances']} now)"
                    )
                elif outcome == "skipped":
                    self.log.info(
                        f"series {key}: already answered for model {self.state.model}: not "
                        "answered again (restart with --force to answer re-sent series)"
                    )
            if self.state.dirty:
                self.state.write_report()
            nxt = self.state.seconds_to_next_stable()
            self.stop_event.wait(min(self.cfg.poll_seconds, max(0.01, nxt)))

    def _worker(self) -> None:
        while not self.stop_event.is_set():
            self._jobs_ready.clear()
            job = self.state.claim()
            if job is not None:
                self._run_job(job)
                continue
            ahead = None
            if self.cfg.ahead_after is not None:
                ahead = self.state.ahead_candidate(self.cfg.ahead_after)
            if ahead is not None:
                self._run_ahead(*ahead)
                continue
            self._jobs_ready.wait(self.cfg.poll_seconds)

    def _run_job(self, job: dict) -> None:
        key = job["series"]
        t0 = time.perf_counter()
        try:
            results = segment_series(
                [self.state.input_folder(job)], self.state.out_folder(job), self.predictor
            )
            res = results[0] if results else None
            if res is None or res.status != "ok":
                raise RuntimeError(res.error if res else "the batch job returned no result")
            if not res.seg_files:
                raise RuntimeError("the batch job wrote no DICOM SEG")
        except Exception as e:  # noqa: BLE001 - a bad series must not stop the listener
            msg = str(e) or type(e).__name__
            self.state.failed(job, msg)
            self.log.error(f"series {key}: job {job['id']} failed: {msg}")
            if not self.cfg.keep_inputs:
                self.state.cleanup_inputs(job)
            return
        self.state.inferred(job, res.seg_files)
        self._segs_ready.set()
        if not self.cfg.keep_inputs:
            self.state.cleanup_inputs(job)
        self.log.info(
            f"series {key}: segmented {job['n_instances']} instance(s) in "
            f"{time.perf_counter() - t0:.1f} s: {res.seg_files[0].name}"
        )

    def _run_ahead(self, name: str, folder) -> None:
        """Segment a snapshot of a series that is still waiting to be stable."""
        try:
            res = segment_series([folder / "input" / name], folder / "out", self.predictor)
            segs = res[0].seg_files if res and res[0].status == "ok" else None
        except Exception:  # noqa: BLE001 - the job runs again the usual way
            segs = None
        job = self.state.ahead_done(name, folder, segs)
        self._jobs_ready.set()  # a job this computation held back may be free now
        if job is not None:
            self._answered_ahead(job)

    def _answered_ahead(self, job: dict) -> None:
        self._segs_ready.set()
        if not self.cfg.keep_inputs:
            self.state.cleanup_inputs(job)
        self.log.info(
            f"series {job['series']}: stable after {job['n_instances']} instance(s); its SEG, "
            f"made while it was waiting, is ready (job {job['id']})"
        )

    def _deliverer(self) -> None:
        dest = self.cfg.send_to
        while not self.stop_event.is_set():
            self._segs_ready.clear()
            job = self.state.next_delivery()
            if job is None or dest is None:
                self._segs_ready.wait(self.cfg.poll_seconds)
                continue
            try:
                for p in self.state.seg_paths(job):
                    c_store(p, dest, calling_aet=self.cfg.aet)
            except DeliveryError as e:
                delays = backoff_delays(cap=self.cfg.max_retry_delay)
                retry = None
                if e.retryable:
                    for _ in range(job["attempts"] + 1):
                        retry = next(delays)
                j = self.state.delivery_failed(job, str(e), retry_in=retry)
                kept = ", ".join(str(p) for p in self.state.seg_paths(job))
                when = f"next try in {retry:g} s" if retry is not None else "not retried"
                self.log.error(
                    f"series {job['series']}: SEG not delivered to {dest} (attempt "
                    f"{j['attempts']}): {e}; {when}; kept at {kept}"
                )
                continue
            except Exception as e:  # noqa: BLE001 - e.g. the SEG file vanished
                self.state.delivery_failed(job, f"{type(e).__name__}: {e}", retry_in=None)
                self.log.error(
                    f"series {job['series']}: SEG not delivered: {type(e).__name__}: {e}"
                )
                continue
            self.state.delivered(job)
            lag = time.time() - job["received_last"]
            self.log.info(
                f"series {job['series']}: SEG delivered to {dest} ({lag:.1f} s after its last "
                "instance arrived)"
            )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from pynetdicom import evt

        counts = self.state.recover()
        if any(counts.values()):
            self.log.info(
                f"resuming: {counts['requeued']} job(s) to run again, {counts['resend']} "
                f"SEG(s) to send, {counts['pending_series']} series that were arriving (each "
                f"waits up to {self.state.resume_grace:g} s for its sender to send again)"
            )
        ae = self._make_ae()
        self._server = ae.start_server(
            (self.cfg.host, self.cfg.port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
        )
        targets: list[tuple[str, Callable[[], None]]] = [("scheduler", self._scheduler)]
        targets += [(f"worker-{i}", self._worker) for i in range(max(1, self.cfg.workers))]
        targets.append(("delivery", self._deliverer))
        for name, fn in targets:
            t = threading.Thread(target=fn, name=f"medseg-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        dest = self.cfg.send_to or "nowhere (SEGs kept in the state folder)"
        self.log.info(
            f"listening as {self.cfg.aet} on {self.cfg.host}:{self.cfg.port}; SEGs go to {dest}; "
            f"a series runs {self.cfg.stable_seconds:g} s after its last instance"
        )

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self._jobs_ready.set()
        self._segs_ready.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        deadline = time.time() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.time()))
        self.state.write_report()

    def serve_forever(self) -> None:
        while not self.stop_event.wait(0.5):
            pass
