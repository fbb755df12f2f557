"""The listener's on-disk state (no network): sealing, merging, exactly-once, recovery."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from medseg.pacs.jobs import StateBusy, StateDir


def _receive(state: StateDir, series: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        tmp = state.new_tmp()
        tmp.write_bytes(b"x" * 10)
        state.add_instance(tmp, series, f"i{i:03d}")


def _seal_all(state: StateDir):
    return [state.seal(name) for name in state.stable_series(now=time.time() + 3600)]


def test_series_waits_until_stable(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=5)
    _receive(state, "aaa", 3)
    assert state.stable_series() == []
    assert state.stable_series(now=time.time() + 6) == ["series_aaa"]
    outcome, job = state.seal("series_aaa")
    assert outcome == "queued" and job["n_instances"] == 3
    assert len(list(state.input_folder(job).glob("*.dcm"))) == 3
    assert not (tmp_path / "incoming" / "series_aaa").exists()


def test_late_instances_merge_into_a_queued_job_and_resends_are_not_answered_twice(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=0)
    _receive(state, "aaa", 2)
    ((outcome, job),) = _seal_all(state)
    assert outcome == "queued"
    _receive(state, "aaa", 3, start=1)  # one duplicate, two new
    ((outcome, merged),) = _seal_all(state)
    assert outcome == "merged" and merged["id"] == job["id"] and merged["n_instances"] == 4
    claimed = state.claim()
    assert claimed["id"] == job["id"] and state.claim() is None
    out = state.out_folder(claimed)
    out.mkdir(parents=True)
    (out / "x_seg.dcm").write_bytes(b"seg")
    state.inferred(claimed, [out / "x_seg.dcm"])
    _receive(state, "aaa", 4)  # the whole series again, after it was answered
    ((outcome, skipped),) = _seal_all(state)
    assert outcome == "skipped" and skipped["state"] == "skipped"
    assert [j["state"] for j in state.jobs()].count("inferred") == 1


def test_force_answers_again_and_other_models_are_independent(tmp_path):
    a = StateDir(tmp_path, "m", stable_seconds=0)
    _receive(a, "aaa", 1)
    _seal_all(a)
    job = a.claim()
    a.inferred(job, [])
    _receive(a, "aaa", 1)
    assert _seal_all(a)[0][0] == "skipped"
    forced = StateDir(tmp_path, "m", stable_seconds=0, force=True)
    forced.recover()
    _receive(forced, "aaa", 1)
    assert _seal_all(forced)[0][0] == "queued"
    other = StateDir(tmp_path, "other-model", stable_seconds=0)
    other.recover()
    _receive(other, "aaa", 1)
    assert _seal_all(other)[0][0] == "queued"


def test_recover_after_a_kill_at_any_point(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=0)
    for s in ("run", "sent", "half"):
        _receive(state, s, 2)
    jobs = {o[1]["series"]: o[1] for o in _seal_all(state)}
    running = state.claim()  # killed mid-inference
    assert running["series"] in jobs
    second = state.claim()
    state.inferred(second, [])  # killed before its SEG was confirmed delivered
    # killed while sealing: job folder written, not yet renamed
    _receive(state, "sealing", 1)
    new = tmp_path / "jobs" / "20990101T000000-sealing-abc.new"
    (new / "input").mkdir(parents=True)
    (tmp_path / "incoming" / "series_sealing").rename(new / "input" / "series_sealing")
    record = state._new_job("sealing", 1, time.time())
    record["id"] = new.name[: -len(".new")]
    (new / "job.json").write_text(json.dumps(record))
    # killed while receiving: a half-written temp file and a series still arriving
    (tmp_path / "tmp" / "junk.dcm").write_bytes(b"half")
    _receive(state, "arriving", 1)

    again = StateDir(tmp_path, "m", stable_seconds=5, resume_grace=20)
    counts = again.recover()
    assert counts == {"requeued": 1, "resend": 1, "pending_series": 1}
    states = {j["series"]: j["state"] for j in again.jobs()}
    assert states[running["series"]] == "queued"
    assert states[second["series"]] == "inferred"
    assert states["sealing"] == "queued"
    assert list((tmp_path / "tmp").iterdir()) == []
    # the series that was arriving waits for its sender (at most resume_grace) ...
    assert again.stable_series(now=time.time() + 6) == []
    assert again.stable_series(now=time.time() + 21) == ["series_arriving"]
    # ... and once the sender sends again, the usual stable_seconds rule applies
    _receive(again, "arriving", 1, start=1)
    assert again.stable_series(now=time.time() + 1) == []
    assert again.stable_series(now=time.time() + 6) == ["series_arriving"]


def test_delivery_bookkeeping_and_report(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=0)
    _receive(state, "aaa", 1)
    _seal_all(state)
    job = state.claim()
    seg = state.out_folder(job) / "a_seg.dcm"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"seg")
    state.inferred(job, [seg])
    due = state.next_delivery()
    assert due["id"] == job["id"] and state.seg_paths(due) == [seg]
    state.delivery_failed(due, "cannot connect to X", retry_in=30)
    assert state.next_delivery() is None  # backing off
    assert state.next_delivery(now=time.time() + 31)["id"] == job["id"]
    rep = json.loads(state.write_report().read_text())
    assert rep["summary"]["undelivered"] == 1
    assert rep["undelivered"][0]["delivery_error"] == "cannot connect to X"
    state.delivered(due)
    rep = json.loads(state.write_report().read_text())
    assert rep["summary"]["undelivered"] == 0 and rep["jobs"][0]["attempts"] == 2
    assert rep["jobs"][0]["seconds_to_delivery"] >= 0
    assert (tmp_path / "report.csv").read_text().startswith("id,series,model,state")


def test_one_listener_per_state_folder(tmp_path):
    a = StateDir(tmp_path, "m")
    a.acquire()
    with pytest.raises(StateBusy, match="in use"):
        StateDir(tmp_path, "m").acquire()
    a.release()
    b = StateDir(Path(tmp_path), "m")
    b.acquire()
    b.release()


def _fake_result(folder: Path) -> list[Path]:
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "s_seg.dcm").write_bytes(b"seg")
    return [out / "s_seg.dcm"]


def test_segmenting_ahead_is_adopted_only_for_exactly_the_same_instances(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=10)
    _receive(state, "aaa", 3)
    assert state.ahead_candidate(2.0) is None  # not idle long enough
    name, folder = state.ahead_candidate(2.0, now=time.time() + 3)
    assert name == "series_aaa" and len(list((folder / "input" / name).glob("*.dcm"))) == 3
    assert state.ahead_candidate(2.0, now=time.time() + 3) is None  # already running
    assert state.ahead_done(name, folder, _fake_result(folder)) is None  # not stable yet
    ((outcome, job),) = _seal_all(state)
    assert outcome == "queued" and job["state"] == "inferred" and job["ahead"] is True
    assert state.seg_paths(job)[0].read_bytes() == b"seg"
    assert state.claim() is None and state.next_delivery()["id"] == job["id"]
    assert not folder.exists()


def test_a_late_instance_discards_the_result_made_ahead(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=10)
    _receive(state, "aaa", 3)
    name, folder = state.ahead_candidate(2.0, now=time.time() + 3)
    state.ahead_done(name, folder, _fake_result(folder))
    _receive(state, "aaa", 1, start=3)  # one more instance: the snapshot is stale
    ((outcome, job),) = _seal_all(state)
    assert outcome == "queued" and job["state"] == "queued" and not job["ahead"]
    assert state.counts()["ahead_discarded"] == 1
    assert state.claim()["id"] == job["id"]


def test_a_running_computation_holds_its_job_until_done_or_failed(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=10)
    _receive(state, "aaa", 2)
    _receive(state, "bbb", 2)
    a, fa = state.ahead_candidate(2.0, now=time.time() + 3)
    b, fb = state.ahead_candidate(2.0, now=time.time() + 3)
    _seal_all(state)
    assert state.claim() is None  # both held by their computations
    job = state.ahead_done(a, fa, _fake_result(fa))  # sealed meanwhile: adopted now
    assert job["state"] == "inferred" and job["ahead"]
    assert state.ahead_done(b, fb, None) is None  # failed: its job runs the usual way
    assert state.claim()["series"] == "bbb"


def test_nothing_is_segmented_ahead_for_answered_or_resuming_series(tmp_path):
    state = StateDir(tmp_path, "m", stable_seconds=0)
    _receive(state, "aaa", 1)
    _seal_all(state)
    state.inferred(state.claim(), [])
    _receive(state, "aaa", 1)  # re-sent after its answer
    assert state.ahead_candidate(0.0, now=time.time() + 1) is None
    _receive(state, "ccc", 1)
    again = StateDir(tmp_path, "m", stable_seconds=5)
    again.recover()  # ccc may be incomplete: wait for its sender
    assert again.ahead_candidate(0.0, now=time.time() + 1) is None
