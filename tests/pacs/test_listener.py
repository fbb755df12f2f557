"""``medseg listen`` between a real Orthanc (sender and destination) and bad senders.

Orthanc pushes series to the listener (``/modalities/medseg/store``, a real C-STORE SCU),
the listener C-STOREs each SEG back to Orthanc, and the test reads it back over DICOMweb.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pacs_helpers import (
    ListenerProc,
    check_seg,
    echo,
    fetch_segs,
    phi_found,
    require_orthanc,
    seg_source_series,
    series_uid_of,
    sha256_tree,
    study_uid_of,
    wait_for,
)

from medseg.pacs.common import uid_key

pytestmark = [pytest.mark.timeout(900)]


def _start_node(root: Path, *listener_args: str, stable: float = 1.0):
    from medseg.pacs.orthanc import Orthanc, free_port

    port = free_port()
    pacs = Orthanc(root / "orthanc", modalities={"medseg": ("MEDSEG", "127.0.0.1", port)}).start()
    lp = ListenerProc(
        root / "state",
        port,
        [
            "--send-to",
            f"{pacs.aet}@127.0.0.1:{pacs.dicom_port}",
            "--stable-seconds",
            str(stable),
            *listener_args,
        ],
    ).start()
    return SimpleNamespace(pacs=pacs, listener=lp, root=root, state=root / "state")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    require_orthanc()
    n = _start_node(tmp_path_factory.mktemp("node"))
    yield n
    n.listener.stop()
    n.pacs.stop()


def _upload(pacs, folder: Path) -> str:
    """Upload a series; returns its Orthanc id."""
    return pacs.upload(sorted(Path(folder).glob("*.dcm")))[0]["ParentSeries"]


def _push(pacs, series_ids: list[str], *, asynchronous: bool = False):
    body = {"Resources": series_ids, "Synchronous": not asynchronous}
    return pacs.post("/modalities/medseg/store", body)


def _segs_by_source(pacs, study: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for seg in fetch_segs(pacs.dicomweb, study):
        out.setdefault(seg_source_series(seg), []).append(seg)
    return out


def _all_logs(state: Path, lp: ListenerProc) -> str:
    parts = [lp.output()]
    for name in ("listener.log", "report.json", "report.csv", "ignored.jsonl"):
        p = state / name
        if p.is_file():
            parts.append(p.read_text(errors="replace"))
    for p in (state / "jobs").glob("*/job.json"):
        parts.append(p.read_text())
    return "\n".join(parts)


def _report(state: Path) -> dict:
    return json.loads((state / "report.json").read_text())


def test_orthanc_pushes_a_series_and_gets_the_seg_back(node, crop_series, tmp_path):
    from medseg.cli import main

    pacs = node.pacs
    local_before = sha256_tree(crop_series)
    series_id = _upload(pacs, crop_series)
    md5_before = {
        i: pacs.get(f"/instances/{i}/attachments/dicom/md5") for i in pacs.get("/instances")
    }
    assert pacs.post("/modalities/medseg/echo", {}) == {}  # Orthanc's C-ECHO to the listener
    _push(pacs, [series_id])
    study = study_uid_of(crop_series)
    segs = wait_for(lambda: fetch_segs(pacs.dicomweb, study), 300, "the SEG in Orthanc")
    assert len(segs) == 1
    assert main(["predict", str(crop_series), "-o", str(tmp_path / "files"), "--quiet"]) == 0
    (mask,) = sorted((tmp_path / "files").glob("*.nii.gz"))
    check_seg(segs[0], crop_series, mask_nifti=mask)

    # Inputs untouched (local files and Orthanc's copies); one SEG added.
    assert sha256_tree(crop_series) == local_before
    for i, md5 in md5_before.items():
        assert pacs.get(f"/instances/{i}/attachments/dicom/md5") == md5
    # The report says it was delivered and when; logs hold no identifiers and no raw UIDs.
    key = uid_key(series_uid_of(crop_series))
    wait_for(lambda: _report(node.state)["summary"].get("delivered"), 30, "the report")
    (job,) = [j for j in _report(node.state)["jobs"] if j["series"] == key]
    assert job["state"] == "delivered" and job["seconds_to_delivery"] > 0
    logs = _all_logs(node.state, node.listener)
    assert phi_found(logs) == []
    assert study not in logs and series_uid_of(crop_series) not in logs


def _sr_with_phi(src: pydicom.Dataset) -> pydicom.Dataset:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sr = pydicom.Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    sr.SOPInstanceUID = generate_uid()
    sr.file_meta.MediaStorageSOPClassUID = sr.SOPClassUID
    sr.file_meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
    sr.Modality = "SR"
    for k in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID"):
        setattr(sr, k, src.get(k))
    sr.SeriesInstanceUID = generate_uid()
    return sr


@pytest.mark.filterwarnings("ignore:VR lookup failed")  # pynetdicom reading the garbled file
def test_bad_input_is_reported_and_the_listener_keeps_serving(node, crop_series, tmp_path):
    from pynetdicom import AE
    from pynetdicom.sop_class import BasicTextSRStorage, MRImageStorage

    files = sorted(crop_series.glob("*.dcm"))
    good = pydicom.dcmread(files[0])
    # 1. a non-image object (a text report carrying the patient's identity)
    sr = _sr_with_phi(good)
    # 2. corrupt instances: pixel data cut short, and a file cut in half
    short = pydicom.dcmread(files[1])
    short.SOPInstanceUID = pydicom.uid.generate_uid()
    short.PixelData = short.PixelData[: len(short.PixelData) // 3]
    from pynetdicom.dsutils import split_dataset

    # Keep the file meta and the dataset up to SOPInstanceUID (what pynetdicom reads to
    # send a file), garble the rest: the listener receives a damaged dataset.
    _, offset = split_dataset(files[2])
    raw = files[2].read_bytes()
    at = raw.index(b"\x08\x00\x18\x00UI", offset)
    end = at + 8 + int.from_bytes(raw[at + 6 : at + 8], "little")
    garbled = tmp_path / "garbled.dcm"
    garbled.write_bytes(raw[:end] + b"\xfe" * 301)
    # 3. a series without geometry
    nogeo_uid = pydicom.uid.generate_uid()
    nogeo = []
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = nogeo_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        for k in ("ImagePositionPatient", "ImageOrientationPatient"):
            delattr(ds, k)
        nogeo.append(ds)

    ae = AE(ae_title="BADSCU")
    ae.add_requested_context(MRImageStorage)
    ae.add_requested_context(BasicTextSRStorage)
    assoc = ae.associate("127.0.0.1", node.listener.port, ae_title="MEDSEG")
    assert assoc.is_established
    assert assoc.send_c_store(sr).Status == 0x0000  # acknowledged, ignored
    assert assoc.send_c_store(short).Status == 0xC000  # refused: cannot understand
    st = assoc.send_c_store(str(garbled))
    assert st.Status == 0xC000
    assert all(assoc.send_c_store(ds).Status == 0x0000 for ds in nogeo)
    assert assoc.send_c_store(pydicom.dcmread(files[3])).Status == 0x0000  # still serving
    assoc.release()

    key = uid_key(nogeo_uid)
    lp = node.listener
    wait_for(
        lambda: f"series {key}: job" in lp.output() and "failed" in lp.output(),
        120,
        "the failed job",
    )
    out = lp.output()
    assert "ignored non-image object from BADSCU" in out and "Basic Text SR Storage" in out
    corrupt = [line for line in out.splitlines() if "ignored corrupt object from BADSCU" in line]
    assert len(corrupt) == 2
    assert any("truncated" in line for line in corrupt)
    assert any("damaged" in line for line in corrupt)
    failed = [line for line in out.splitlines() if f"series {key}: job" in line]
    assert failed and "ImagePositionPatient" in failed[0]
    assert echo("127.0.0.1", lp.port)
    ignored = [json.loads(x) for x in (node.state / "ignored.jsonl").read_text().splitlines()]
    assert {i["kind"] for i in ignored} == {"non-image", "corrupt"}
    wait_for(  # the report follows the log within a scheduler tick
        lambda: any(
            j["series"] == key and j["state"] == "failed" for j in _report(node.state)["jobs"]
        ),
        30,
        "the failed job in the report",
    )
    assert phi_found(_all_logs(node.state, lp)) == []


@pytest.mark.slow
def test_burst_of_20_series_each_answered_exactly_once(node, burst_series):
    pacs = node.pacs
    ids = [_upload(pacs, s) for s in burst_series]
    study = study_uid_of(burst_series[0])
    sources = {series_uid_of(s): s for s in burst_series}
    _push(pacs, ids)
    by_source = wait_for(
        lambda: (lambda d: d if len(d) == 20 else None)(_segs_by_source(pacs, study)),
        600,
        "20 SEGs",
        interval=1.0,
    )
    assert set(by_source) == set(sources)
    for uid, segs in by_source.items():
        assert len(segs) == 1, "answered more than once"
        check_seg(segs[0], sources[uid])
    # The PACS sends the whole burst again: nothing is answered twice.
    _push(pacs, ids)
    wait_for(lambda: node.listener.output().count("not answered again") >= 20, 120, "20 skips")
    time.sleep(2)
    assert all(len(v) == 1 for v in _segs_by_source(pacs, study).values())


@pytest.mark.slow
def test_sigkill_mid_burst_then_restart_answers_each_series_once(tmp_path, burst_series):
    require_orthanc()
    n = _start_node(tmp_path, "--workers", "2", stable=1.0)
    try:
        pacs = n.pacs
        ids = [_upload(pacs, s) for s in burst_series]
        study = study_uid_of(burst_series[0])
        job = _push(pacs, ids, asynchronous=True)["ID"]

        def jobs() -> int:
            return len(list((n.state / "jobs").glob("*/job.json")))

        def seen() -> int:
            return len(list((n.state / "incoming").glob("series_*"))) + jobs()

        # Kill with series in every state: some answered, some running or queued, one
        # half received, the rest not sent yet.
        wait_for(lambda: jobs() >= 3 or seen() >= 10, 120, "a third of the burst", interval=0.02)
        n.listener.kill()  # SIGKILL mid-burst: no clean-up at all
        wait_for(
            lambda: pacs.get(f"/jobs/{job}")["State"] in ("Failure", "Success"),
            120,
            "Orthanc's store job to end",
        )
        n.listener.start()
        # The PACS retries its failed job: every series is sent again.
        if pacs.get(f"/jobs/{job}")["State"] == "Failure":
            pacs.post(f"/jobs/{job}/resubmit", {})
        else:
            _push(pacs, ids)
        by_source = wait_for(
            lambda: (lambda d: d if len(d) == 20 else None)(_segs_by_source(pacs, study)),
            600,
            "20 SEGs",
            interval=1.0,
        )
        time.sleep(5)  # time for any duplicate to show up
        by_source = _segs_by_source(pacs, study)
        sources = {series_uid_of(s): s for s in burst_series}
        assert set(by_source) == set(sources)
        for uid, segs in by_source.items():
            assert len(segs) == 1, "answered more than once"
            check_seg(segs[0], sources[uid])  # every instance referenced: none lost
        assert "resuming" in n.listener.output()
    finally:
        n.listener.stop()
        n.pacs.stop()


@pytest.mark.slow
def test_destination_down_retries_with_backoff_then_delivers(tmp_path, crop_series):
    require_orthanc()
    n = _start_node(tmp_path, stable=2.0)
    try:
        pacs = n.pacs
        series_id = _upload(pacs, crop_series)
        _push(pacs, [series_id])
        pacs.stop(kill=True)  # the PACS dies before the SEG is back
        lp = n.listener
        wait_for(lambda: lp.output().count("SEG not delivered") >= 3, 300, "3 failed tries")
        out = lp.output()
        assert "next try in 1 s" in out and "next try in 2 s" in out
        rep = _report(n.state)
        (undelivered,) = rep["undelivered"]
        assert "cannot connect" in undelivered["delivery_error"]
        assert all(Path(p).is_file() for p in undelivered["seg"])  # kept on disk
        from medseg.cli import main

        assert main(["listen", "--status", "--state-dir", str(n.state)]) == 0
        pacs.start()  # back, same storage and ports
        study = study_uid_of(crop_series)
        segs = wait_for(lambda: fetch_segs(pacs.dicomweb, study), 120, "the SEG")
        assert len(segs) == 1
        check_seg(segs[0], crop_series)
        wait_for(lambda: _report(n.state)["summary"]["undelivered"] == 0, 30, "the report")
    finally:
        n.listener.stop()
        n.pacs.stop()


@pytest.mark.slow
def test_whole_head_round_trip_time(node, head_series, capsys):
    """Last instance acknowledged → SEG stored in Orthanc (printed; no threshold in a test)."""
    pacs = node.pacs
    series_id = _upload(pacs, head_series)
    study = study_uid_of(head_series)
    _push(pacs, [series_id])  # returns when the listener acknowledged the last instance
    t0 = time.perf_counter()
    segs = wait_for(lambda: fetch_segs(pacs.dicomweb, study), 300, "the SEG", interval=0.1)
    dt = time.perf_counter() - t0
    frames = check_seg(segs[0], head_series)
    assert frames.shape == (181, 217, 181)
    assert np.count_nonzero(frames) > 0
    with capsys.disabled():
        print(
            f"\nwhole head (181 slices): last instance -> SEG in Orthanc {dt:.1f} s "
            "(stable-seconds 1)"
        )


@pytest.mark.slow
def test_series_segmented_ahead_is_answered_once_stable(tmp_path, crop_series):
    """While a series waits out --stable-seconds, an idle worker segments it; the SEG goes
    out once the series is stable, and it is the same SEG the usual path makes."""
    require_orthanc()
    n = _start_node(tmp_path, "--ahead-after", "0.5", stable=4.0)
    try:
        pacs = n.pacs
        _push(pacs, [_upload(pacs, crop_series)])
        study = study_uid_of(crop_series)
        (seg,) = wait_for(lambda: fetch_segs(pacs.dicomweb, study), 300, "the SEG")
        check_seg(seg, crop_series)
        assert "made while it was waiting" in n.listener.output()
        wait_for(lambda: _report(n.state)["summary"].get("delivered"), 30, "the report")
        (job,) = _report(n.state)["jobs"]
        assert job["ahead"] is True and job["state"] == "delivered"
        # Sent only once the series was stable, never before.
        assert job["seconds_to_delivery"] >= 4.0
    finally:
        n.listener.stop()
        n.pacs.stop()
