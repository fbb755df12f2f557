"""The whole I/O corpus through one ``medseg predict`` run.

The run must finish every good case, report every bad one with a clear error (one row per
input, matching phrases), print no traceback, and leave only complete outputs. Case files are
named after their case, so the expected case id of each input is its case name.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from corpus import case_path, message_matches
from PIL import Image

# A tiny random U-Net: this test is about inputs, not accuracy (nor about the model guard,
# which has tests of its own: CT and colour inputs go through with a warning).
MODEL_ARGS = [
    "--model",
    "unet_medical",
    "--no-pretrained",
    "--model-arg",
    "base_channels=4",
    "--backend",
    "torch",
    "--allow-modality-mismatch",
]


def predict(inputs: list, out, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "medseg.cli", "predict", *map(str, inputs), "-o", str(out)]
    return subprocess.run(
        cmd + MODEL_ARGS + ["--quiet", *extra], capture_output=True, text=True, timeout=timeout
    )


def _expect(case: dict) -> str:
    return case.get("expect_cli", case["expect"])


def _row_id(ids, case: dict) -> str:
    """The case's id in the report: its name, or its file name (DICOM ids keep the suffix)."""
    name = case["path"].rsplit("/", 1)[-1]
    return case["name"] if case["name"] in ids else name


@pytest.fixture(scope="module")
def batch_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict_corpus")
    cases = [c for c in corpus["cases"] if c["kind"] in ("dicom", "nifti", "image")]
    proc = predict([case_path(corpus, c) for c in cases], out)
    report = json.loads((out / "report.json").read_text())
    with open(out / "report.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    print(
        f"medseg predict over {len(cases)} corpus inputs: rc={proc.returncode}, {report['summary']}"
    )
    return {"proc": proc, "out": out, "report": report, "csv": csv_rows, "cases": cases}


@pytest.mark.timeout(400)
def test_run_finishes_and_reports_every_case(batch_run):
    proc, report = batch_run["proc"], batch_run["report"]
    assert proc.returncode == 1, proc.stderr[-2000:]  # 1 = finished, some cases failed
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    ids = [r["case_id"] for r in report["cases"]]
    assert sorted(ids) == sorted(_row_id(ids, c) for c in batch_run["cases"])  # one per input
    s = report["summary"]
    assert s["cases"] == len(ids) == s["ok"] + s["errors"]
    assert [(r["case_id"], r["status"]) for r in batch_run["csv"]] == [
        (r["case_id"], r["status"]) for r in report["cases"]
    ]
    leftovers = [p.name for p in batch_run["out"].rglob("*") if ".part" in p.name]
    assert leftovers == []


@pytest.mark.timeout(400)
def test_case_outcome(batch_run, predict_case):
    case = predict_case
    rows = {r["case_id"]: r for r in batch_run["report"]["cases"]}
    row = rows[_row_id(rows, case)]
    out = batch_run["out"]
    if row["status"] == "error":
        assert _expect(case) != "ok", f"valid input failed in the batch run: {row['error']}"
        assert "Traceback" not in row["error"]
        if _expect(case) == "error":
            assert message_matches(case, row["error"]), f"unclear: {row['error']}"
        assert row["outputs"] == []
        assert not list(out.glob(f"{case['name']}.*")) and not list(out.glob(f"{case['name']}_*"))
        return
    assert row["status"] == "ok"
    assert _expect(case) != "error", f"bad input accepted by the batch run ({case['note']})"
    for name in row["outputs"]:
        assert (out / name).is_file()
    if row["kind"] == "image":  # the report's kind: a DICOM named .jpg is read as DICOM
        (mask_name,) = [o for o in row["outputs"] if o.endswith("_mask.png")]
        (overlay_name,) = [o for o in row["outputs"] if o.endswith("_overlay.png")]
        mask = np.asarray(Image.open(out / mask_name))
        with Image.open(out / overlay_name) as ov:
            # the image, with a legend panel on its right when a class is present
            assert ov.size[0] >= mask.shape[1] and ov.size[1] >= mask.shape[0]
        if "shape_hw" in case:
            assert list(mask.shape[:2]) == case["shape_hw"]
    else:
        (mask_name,) = [o for o in row["outputs"] if o.endswith(".nii.gz")]
        mask = nib.load(out / mask_name)
        if "shape_xy" in case:
            assert list(mask.shape[:2]) == case["shape_xy"]
        if "n_slices" in case:
            assert mask.shape[2] == case["n_slices"]


@pytest.mark.timeout(200)
def test_videos_through_driving_demo(corpus, video_case, tmp_path):
    """``python -m driving_demo VIDEO -o OUT``: a clear message and exit code, or a video."""
    import cv2

    case = video_case
    out = tmp_path / "out.avi"
    cmd = [
        sys.executable,
        "-m",
        "driving_demo",
        str(case_path(corpus, case)),
        "-o",
        str(out),
        "--random-weights",
        "--max-frames",
        "2",
        "--size",
        "64x128",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text[-3000:]
    if proc.returncode != 0:
        assert case["expect"] != "ok", text[-2000:]
        if case["expect"] == "error":
            assert message_matches(case, text), text[-2000:]
        assert not out.exists() or out.stat().st_size == 0 or case["expect"] == "ok_or_error"
        return
    assert case["expect"] != "error", f"bad video accepted ({case['note']})"
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == min(2, case.get("n_frames", 2))
