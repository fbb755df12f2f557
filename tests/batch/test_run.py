"""Batch job on real pydicom series, corrupt inputs, images, DICOM SEG, resume, sharding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medseg.batch import discover_cases, run_batch, sanitize_id
from medseg.engine.predictor import Predictor


@pytest.fixture
def tree(tmp_path, ct5n_dir, ct2_dir):
    root = tmp_path / "in"
    shutil.copytree(ct5n_dir, root / "CT5N")
    shutil.copytree(ct2_dir, root / "CT2")
    # a series folder with one corrupt file among good ones: the series still loads
    shutil.copytree(ct5n_dir, root / "CT5N_plus_junk")
    (root / "CT5N_plus_junk" / "junk.dcm").write_bytes(os.urandom(1500))
    # a case that cannot load at all
    (root / "broken.nii.gz").write_bytes(os.urandom(300))
    return root


@pytest.fixture
def predictor(small_medical):
    return Predictor.from_model(small_medical)


def _inputs(root):
    return [root / "CT5N", root / "CT2", root / "CT5N_plus_junk", root / "broken.nii.gz"]


def _report(out):
    return json.loads((out / "report.json").read_text())


def _run(inputs, out, predictor, **kw):
    # the pydicom series are CT; the model under test is the MR brain model: these tests are
    # about the plumbing, so the modality guard is overridden (it has tests of its own)
    kw.setdefault("allow_mismatch", True)
    kw.setdefault("progress", False)
    return run_batch(inputs, out, predictor, **kw)


def test_real_series_and_corrupt_case(tree, predictor, tmp_path):
    import nibabel as nib

    from medseg.io import load_volume

    out = tmp_path / "out"
    rows = _run(_inputs(tree), out, predictor)
    by = {r["case_id"]: r for r in rows}
    assert set(by) == {"CT5N", "CT2", "CT5N_plus_junk", "broken"}
    assert by["broken"]["status"] == "error" and "broken.nii.gz" in by["broken"]["error"]
    for cid in ("CT5N", "CT2", "CT5N_plus_junk"):
        assert by[cid]["status"] == "ok", by[cid]
        assert by[cid]["outputs"] == [f"{cid}_mask.nii.gz"]
        img = nib.load(out / f"{cid}_mask.nii.gz")
        vol = load_volume(tree / ("CT5N" if cid != "CT2" else "CT2"))
        np.testing.assert_allclose(img.affine, vol.affine, atol=1e-5)  # the source affine
        mask = np.asarray(img.dataobj)
        assert mask.shape == vol.array.shape == tuple(by[cid]["shape"])
        expected_ml = (mask > 0).sum() * np.prod(vol.spacing) / 1000
        assert by[cid]["foreground_ml"] == pytest.approx(expected_ml)
        np.testing.assert_array_equal(mask, predictor.predict_volume(vol))
        assert any("mismatch allowed" in w for w in by[cid]["warnings"])
    rep = _report(out)
    assert rep["summary"] == {"cases": 4, "ok": 3, "errors": 1}
    csv_lines = (out / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("case_id,kind,status")
    assert not list(out.rglob("*.part*"))
    # no patient identifiers in any output name or report
    text = (out / "report.csv").read_text() + (out / "report.json").read_text()
    import pydicom

    ds = pydicom.dcmread(next(p for p in (tree / "CT5N").iterdir()))
    for tag in ("PatientName", "PatientID"):
        v = str(ds.get(tag, "") or "")
        if len(v) > 2:
            assert v not in text and all(v not in p.name for p in out.iterdir())


def test_report_says_what_produced_each_case(tree, predictor, tmp_path):
    import medseg

    rows = _run([tree / "CT5N"], tmp_path / "o", predictor)
    r = rows[0]
    assert r["model"] == "unet_medical" and r["backend"] == "torch"
    assert r["medseg_version"] == medseg.__version__
    assert r["weights"] == "in-memory model" and len(r["weights_sha256"]) == 64
    assert r["format"] == "nifti" and r["postprocess"] is True


def test_dicom_seg_output(tree, predictor, tmp_path):
    import highdicom as hd

    out = tmp_path / "seg"
    rows = _run([tree / "CT5N", tree / "broken.nii.gz"], out, predictor, fmt="seg")
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["outputs"] for r in ok] == [["CT5N_seg.dcm"]]
    seg = hd.seg.segread(out / "CT5N_seg.dcm")
    assert seg.Modality == "SEG"


def test_format_both_means_nifti_for_every_volume_and_seg_for_dicom(tree, predictor, tmp_path):
    from medseg.io import save_nifti

    save_nifti(np.ones((12, 10, 3), np.float32), np.eye(4), tmp_path / "scan.nii.gz")
    out = tmp_path / "both"
    rows = _run([tree / "CT5N", tmp_path / "scan.nii.gz"], out, predictor, fmt="both")
    by = {r["case_id"]: r for r in rows}
    assert by["CT5N"]["outputs"] == ["CT5N_mask.nii.gz", "CT5N_seg.dcm"]
    assert by["scan"]["status"] == "ok" and by["scan"]["outputs"] == ["scan_mask.nii.gz"]
    written = sorted(
        p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("report")
    )
    listed = sorted(o for r in rows for o in r["outputs"])
    assert written == listed  # no orphan file: the report lists every file written


def test_nifti_source_refuses_seg_but_run_continues(tmp_path, predictor):
    from medseg.io import save_nifti

    save_nifti(
        np.random.default_rng(0).normal(size=(12, 10, 3)).astype(np.float32),
        np.eye(4),
        tmp_path / "a.nii.gz",
    )
    out = tmp_path / "o"
    rows = _run([tmp_path / "a.nii.gz"], out, predictor, fmt="seg")
    assert rows[0]["status"] == "error" and "DICOM SEG" in rows[0]["error"]
    assert "--format nifti" in rows[0]["error"]
    assert [p.name for p in out.iterdir() if p.is_file() and "report" not in p.name] == []


def test_image_folder_overlays_with_legend(tmp_path, small_unet):
    from PIL import Image

    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i, shape in enumerate([(20, 30, 3), (17, 11, 3)]):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / f"frame {i}.png")
    (d / "notes.txt").write_text("ignored")
    p = Predictor.from_model(small_unet)
    rows = run_batch([d], tmp_path / "o", p, progress=False, workers=2)
    assert [r["case_id"] for r in rows] == ["frame_0", "frame_1"]
    for r, shape in zip(rows, [(20, 30), (17, 11)]):
        mask = np.asarray(Image.open(tmp_path / "o" / f"{r['case_id']}_mask.png"))
        ov = np.asarray(Image.open(tmp_path / "o" / f"{r['case_id']}_overlay.png"))
        assert mask.shape == shape
        # the overlay carries a legend panel of the classes present on its right
        assert ov.shape[1] > shape[1] and ov.shape[0] >= shape[0] and ov.shape[2] == 3
        src = np.asarray(Image.open(d / f"{r['case_id'].replace('_', ' ')}.png"))
        np.testing.assert_array_equal(mask, p.predict_image(src).labels)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption(tree, predictor, tmp_path):
    import nibabel as nib

    inputs = _inputs(tree)
    full = tmp_path / "full"
    _run(inputs, full, predictor)

    out = tmp_path / "resumed"
    calls = []
    real = predictor.predict_volume

    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a Ctrl-C in the middle of the second case
        return real(*a, **k)

    predictor.predict_volume = dying
    with pytest.raises(KeyboardInterrupt):
        _run(inputs, out, predictor)
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["CT5N_mask.nii.gz"]
    assert not list(out.rglob("*.part*")) and not (out / "report.json").exists()

    seen = []
    predictor.predict_volume = lambda *a, **k: seen.append(1) or real(*a, **k)
    rows = _run(inputs, out, predictor, resume=True)
    assert len(seen) == 2  # CT5N was not redone; broken.nii.gz fails before the model
    assert [r["case_id"] for r in rows] == [r["case_id"] for r in _report(full)["cases"]]
    assert len({r["case_id"] for r in rows}) == len(rows) == 4
    for name in ("CT5N", "CT2", "CT5N_plus_junk"):
        a = np.asarray(nib.load(out / f"{name}_mask.nii.gz").dataobj)
        b = np.asarray(nib.load(full / f"{name}_mask.nii.gz").dataobj)
        np.testing.assert_array_equal(a, b)
    # a second resume redoes only the failed case (failures are always retried)
    seen.clear()
    rows = _run(inputs, out, predictor, resume=True)
    assert seen == []  # broken.nii.gz fails again while loading, before the model
    assert _report(out)["summary"] == {"cases": 4, "ok": 3, "errors": 1}


def test_resume_retries_a_failure_once_its_cause_is_fixed(tree, predictor, tmp_path):
    from medseg.io import save_nifti

    out = tmp_path / "o"
    rows = _run(_inputs(tree), out, predictor, resume=True)
    assert {r["case_id"]: r["status"] for r in rows}["broken"] == "error"
    # the user fixes the broken file and reruns with --resume
    save_nifti(np.ones((12, 10, 3), np.float32), np.eye(4), tree / "broken.nii.gz")
    seen = []
    real = predictor.predict_volume
    predictor.predict_volume = lambda *a, **k: seen.append(1) or real(*a, **k)
    rows = _run(_inputs(tree), out, predictor, resume=True)
    assert len(seen) == 1  # only the formerly failed case ran
    assert all(r["status"] == "ok" for r in rows)
    assert (out / "broken_mask.nii.gz").is_file()


def test_resume_redoes_cases_made_with_other_options(tree, predictor, small_medical, tmp_path):
    import torch

    out = tmp_path / "o"
    _run([tree / "CT5N"], out, predictor, fmt="both")
    assert (out / "CT5N_seg.dcm").is_file()

    def count(p):
        seen = []
        real = p.predict_volume
        p.predict_volume = lambda *a, **k: seen.append(1) or real(*a, **k)
        return seen

    # same everything: kept
    seen = count(predictor)
    _run([tree / "CT5N"], out, predictor, fmt="both", resume=True)
    assert seen == []
    # another format: redone, and the SEG of the earlier run (medseg's own file) is gone
    seen = count(predictor)
    rows = _run([tree / "CT5N"], out, predictor, fmt="nifti", resume=True)
    assert seen == [1] and rows[0]["outputs"] == ["CT5N_mask.nii.gz"]
    assert not (out / "CT5N_seg.dcm").exists()
    # other weights: redone
    other = Predictor.from_model(small_medical)
    with torch.no_grad():
        next(other.model.parameters()).add_(1.0)
    other.weights_info = {"weights": None, "weights_sha256": None}
    seen = count(other)
    rows = _run([tree / "CT5N"], out, other, fmt="nifti", resume=True)
    assert seen == [1] and rows[0]["weights_sha256"] != predictor.provenance["weights_sha256"]
    # another back-end: redone
    ts = Predictor.from_model(small_medical, backend="channels_last")
    seen = count(ts)
    rows = _run([tree / "CT5N"], out, ts, fmt="nifti", resume=True)
    assert seen == [1] and rows[0]["backend"] == "channels_last"


def test_atomic_write_leaves_no_half_file(tmp_path, monkeypatch, predictor, ct5n_dir):
    import medseg.io

    def half_write(mask, vol, path):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(medseg.io, "save_mask_like", half_write)
    rows = _run([ct5n_dir], tmp_path / "o", predictor)
    assert rows[0]["status"] == "error" and "disk full" in rows[0]["error"]
    assert [
        p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(("report", ".medseg"))
    ] == []


def test_discovery_ids(tmp_path):
    assert sanitize_id("DOE^JOHN 1/2") == "DOE_JOHN_1_2"
    (tmp_path / "x.nii.gz").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.nii").write_bytes(b"")
    cases, _ = discover_cases([tmp_path, tmp_path / "missing"])
    assert [c.case_id for c in cases] == ["x", "x_2", "missing"]
    assert cases[-1].kind == "invalid"


def test_series_in_sub_folders_take_the_sub_folder_names(tmp_path, ct5n_dir, ct2_dir):
    root = tmp_path / "study"
    shutil.copytree(ct5n_dir, root / "head" / "axial")
    shutil.copytree(ct2_dir, root / "chest")
    cases, _ = discover_cases([root])
    assert sorted(c.case_id for c in cases) == ["study_chest", "study_head_axial"]


def test_earlier_outputs_in_an_input_folder_are_not_taken_for_scans(tmp_path, predictor):
    from medseg.io import save_nifti

    d = tmp_path / "scans"
    d.mkdir()
    save_nifti(np.ones((12, 10, 3), np.float32), np.eye(4), d / "a.nii.gz")
    _run([d / "a.nii.gz"], d, predictor)  # masks written next to the scan
    assert (d / "a_mask.nii.gz").is_file()
    cases, notes = discover_cases([d])
    assert [c.case_id for c in cases] == ["a"] and notes["skipped_outputs"] >= 1


@pytest.mark.slow
def test_cli_under_torchrun_shards_cases_and_reports_once(tree, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to the interpreter")
    import socket

    with socket.socket() as s:  # a free port: other distributed tests may run in parallel
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "dist"
    # the broken case first and a larger batch after it: the rank that meets the broken case
    # must not make torchrun stop the other rank mid-work
    inputs = [tree / "broken.nii.gz", tree / "CT5N", tree / "CT2", tree / "CT5N_plus_junk"]
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        f"--master_port={port}",
        "-m",
        "medseg.cli",
        "predict",
        *map(str, inputs),
        "-o",
        str(out),
        "--no-pretrained",
        "--backend",
        "torch",
        "--allow-modality-mismatch",
        "--model-arg",
        "base_channels=8",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode != 0, r.stderr[-2000:]  # one case is broken on purpose
    # the exit status comes after every rank finished its shard (torchrun may still stop an
    # idle rank on its way out, but none was stopped mid-work: every case is reported)
    rep = _report(out)
    assert rep["summary"] == {"cases": 4, "ok": 3, "errors": 1}
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [
        "CT2_mask.nii.gz",
        "CT5N_mask.nii.gz",
        "CT5N_plus_junk_mask.nii.gz",
    ]
    assert r.stdout.count("case(s) ok") == 1  # one summary, not one per rank


def test_stale_temp_files_of_killed_runs_are_removed(tmp_path):
    from medseg.io.files import remove_stale_parts

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)  # the process has exited: its pid is free
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".case_mask.png.{dead_pid}.part.png"
    live = tmp_path / f".case.nii.gz.{os.getpid()}.part.nii.gz"
    keep = tmp_path / "case.nii.gz"
    for p in (stale, live, keep):
        p.write_bytes(b"x")
    assert remove_stale_parts(tmp_path) == 1
    assert not stale.exists() and live.exists() and keep.exists()


def test_old_import_path_still_works_with_a_warning():
    import importlib

    import medseg.engine

    sys.modules.pop("medseg.engine.batch", None)
    with pytest.warns(DeprecationWarning, match="medseg.batch"):
        mod = importlib.import_module("medseg.engine.batch")
    assert mod.run_batch is run_batch
    assert medseg.engine is not None
