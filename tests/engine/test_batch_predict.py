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

from medseg.engine.batch import discover_cases, run_batch, sanitize_id
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


def test_real_series_and_corrupt_case(tree, predictor, tmp_path):
    import nibabel as nib

    from medseg.io import load_volume

    out = tmp_path / "out"
    rows = run_batch(_inputs(tree), out, predictor, progress=False)
    by = {r["case_id"]: r for r in rows}
    assert set(by) == {"CT5N", "CT2", "CT5N_plus_junk", "broken"}
    assert by["broken"]["status"] == "error" and "broken.nii.gz" in by["broken"]["error"]
    for cid in ("CT5N", "CT2", "CT5N_plus_junk"):
        assert by[cid]["status"] == "ok", by[cid]
        img = nib.load(out / f"{cid}.nii.gz")
        vol = load_volume(tree / ("CT5N" if cid != "CT2" else "CT2"))
        np.testing.assert_allclose(img.affine, vol.affine, atol=1e-5)  # the source affine
        mask = np.asarray(img.dataobj)
        assert mask.shape == vol.array.shape == tuple(by[cid]["shape"])
        expected_ml = (mask > 0).sum() * np.prod(vol.spacing) / 1000
        assert by[cid]["foreground_ml"] == pytest.approx(expected_ml)
        np.testing.assert_array_equal(mask, predictor.predict_volume(vol))
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


def test_dicom_seg_output(tree, predictor, tmp_path):
    import highdicom as hd

    out = tmp_path / "seg"
    rows = run_batch(
        [tree / "CT5N", tree / "broken.nii.gz"], out, predictor, fmt="seg", progress=False
    )
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["outputs"] for r in ok] == [["CT5N_seg.dcm"]]
    seg = hd.seg.segread(out / "CT5N_seg.dcm")
    assert seg.Modality == "SEG"


def test_nifti_source_refuses_seg_but_run_continues(tmp_path, predictor):
    from medseg.io import save_nifti

    save_nifti(
        np.random.default_rng(0).normal(size=(12, 10, 3)).astype(np.float32),
        np.eye(4),
        tmp_path / "a.nii.gz",
    )
    rows = run_batch([tmp_path / "a.nii.gz"], tmp_path / "o", predictor, fmt="seg", progress=False)
    assert rows[0]["status"] == "error" and "DICOM SEG" in rows[0]["error"]


def test_image_folder_overlays(tmp_path, small_unet):
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
        assert mask.shape == shape and ov.shape == (*shape, 3)
        src = np.asarray(Image.open(d / f"{r['case_id'].replace('_', ' ')}.png"))
        np.testing.assert_array_equal(mask, p.predict_image(src).labels)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption(tree, predictor, tmp_path):
    import nibabel as nib

    inputs = _inputs(tree)
    full = tmp_path / "full"
    run_batch(inputs, full, predictor, progress=False)

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
        run_batch(inputs, out, predictor, progress=False)
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["CT5N.nii.gz"]
    assert not list(out.rglob("*.part*")) and not (out / "report.json").exists()

    seen = []
    predictor.predict_volume = lambda *a, **k: seen.append(1) or real(*a, **k)
    rows = run_batch(inputs, out, predictor, resume=True, progress=False)
    assert len(seen) == 2  # CT5N was not redone; broken.nii.gz fails before the model
    assert [r["case_id"] for r in rows] == [r["case_id"] for r in _report(full)["cases"]]
    assert len({r["case_id"] for r in rows}) == len(rows) == 4
    for name in ("CT5N", "CT2", "CT5N_plus_junk"):
        a = np.asarray(nib.load(out / f"{name}.nii.gz").dataobj)
        b = np.asarray(nib.load(full / f"{name}.nii.gz").dataobj)
        np.testing.assert_array_equal(a, b)
    # a second resume does nothing and keeps the report identical
    seen.clear()
    run_batch(inputs, out, predictor, resume=True, progress=False)
    assert seen == []
    assert _report(out)["summary"] == {"cases": 4, "ok": 3, "errors": 1}


def test_atomic_write_leaves_no_half_file(tmp_path, monkeypatch, predictor, ct5n_dir):
    import medseg.io

    def half_write(mask, vol, path):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(medseg.io, "save_mask_like", half_write)
    rows = run_batch([ct5n_dir], tmp_path / "o", predictor, progress=False)
    assert rows[0]["status"] == "error" and "disk full" in rows[0]["error"]
    assert [
        p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(("report", ".medseg"))
    ] == []


def test_discovery_ids(tmp_path):
    assert sanitize_id("DOE^JOHN 1/2") == "DOE_JOHN_1_2"
    (tmp_path / "x.nii.gz").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.nii").write_bytes(b"")
    cases = discover_cases([tmp_path, tmp_path / "missing"])
    assert [c.case_id for c in cases] == ["x", "x_2", "missing"]
    assert cases[-1].kind == "invalid"


@pytest.mark.slow
def test_cli_under_torchrun_shards_cases(tree, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to the interpreter")
    import socket

    with socket.socket() as s:  # a free port: other distributed tests may run in parallel
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "dist"
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        f"--master_port={port}",
        "-m",
        "medseg.cli",
        "predict",
        *map(str, _inputs(tree)),
        "-o",
        str(out),
        "--no-pretrained",
        "--model-arg",
        "base_channels=8",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1, r.stderr[-2000:]  # one case is broken on purpose
    rep = _report(out)
    assert rep["summary"] == {"cases": 4, "ok": 3, "errors": 1}
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [
        "CT2.nii.gz",
        "CT5N.nii.gz",
        "CT5N_plus_junk.nii.gz",
    ]


def test_stale_temp_files_of_killed_runs_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from medseg.engine.batch import remove_stale_parts

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
