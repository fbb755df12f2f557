"""``medseg predict --dicomweb`` against a real Orthanc (QIDO-RS, WADO-RS, STOW-RS)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_helpers import (
    check_seg,
    fetch_segs,
    medseg_cmd,
    medseg_env,
    phi_found,
    series_uid_of,
    sha256_tree,
    study_uid_of,
    wait_for,
)

pytestmark = [pytest.mark.timeout(600)]


def run_medseg(*args: str, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        medseg_cmd(*args),
        capture_output=True,
        text=True,
        env=medseg_env(**(env or {})),
        timeout=timeout,
    )


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def medseg_inproc(capsys, monkeypatch):
    """``run(*argv, env={})``: ``medseg`` in this process (no interpreter start-up per run)."""
    from medseg.cli import main

    def run(*argv: str, env: dict | None = None) -> Ran:
        with monkeypatch.context() as m:
            for k, v in (env or {}).items():
                m.setenv(k, v)
            capsys.readouterr()
            rc = main(list(argv))
            out = capsys.readouterr()
        return Ran(rc, out.out, out.err)

    return run


def _text_of(folder: Path) -> str:
    parts = []
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.suffix in (".json", ".csv", ".log", ".jsonl", ".out", ""):
            parts.append(p.read_text(errors="replace"))
    return "\n".join(parts)


def _orthanc_md5(pacs) -> dict[str, str]:
    return {
        i: pacs.get(f"/instances/{i}/attachments/dicom/md5").decode()
        for i in pacs.get("/instances")
    }


def test_predict_dicomweb_store_round_trip(orthanc_factory, crop_series, tmp_path):
    pacs = orthanc_factory()
    files = sorted(crop_series.glob("*.dcm"))
    local_before = sha256_tree(crop_series)
    pacs.upload(files)
    md5_before = _orthanc_md5(pacs)
    study = study_uid_of(crop_series)

    # The same series from files, as users run it today.
    r_files = run_medseg("predict", str(crop_series), "-o", str(tmp_path / "files"), "--quiet")
    assert r_files.returncode == 0, r_files.stderr
    (mask_from_files,) = sorted((tmp_path / "files").glob("*.nii.gz"))

    out = tmp_path / "web"
    r = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "-o",
        str(out),
        "--format",
        "both",
        "--store",
    )
    assert r.returncode == 0, r.stderr
    assert "1 SEG(s) stored" in r.stdout

    # Read the SEG back from Orthanc over DICOMweb and check it against the source.
    segs = fetch_segs(pacs.dicomweb, study)
    assert len(segs) == 1
    seg = segs[0]
    frames = check_seg(seg, crop_series, mask_nifti=mask_from_files)
    assert frames.shape == (len(files), 171, 141)  # odd number of columns

    # The NIfTI mask from DICOMweb equals the one from files.
    (mask_web,) = sorted(out.glob("*.nii.gz"))
    import nibabel as nib

    a, b = nib.load(str(mask_from_files)), nib.load(str(mask_web))
    np.testing.assert_array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-6)

    # Orthanc stored what medseg wrote, unchanged (every element, pixel data included).
    (seg_file,) = sorted(out.glob("*_seg.dcm"))
    written = pydicom.dcmread(seg_file)
    for elem in written:
        assert seg[elem.tag].value == elem.value, elem.keyword

    # Nothing identifying, nothing of the inputs changed, nothing but one SEG added.
    assert phi_found(r.stdout + r.stderr + _text_of(out)) == []
    assert study not in r.stdout + r.stderr + _text_of(out)
    assert sha256_tree(crop_series) == local_before
    md5_after = _orthanc_md5(pacs)
    assert {k: md5_after[k] for k in md5_before} == md5_before
    assert len(md5_after) == len(md5_before) + 1

    # A second run with the same -o resumes: nothing retrieved again, nothing stored twice.
    r2 = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "-o",
        str(out),
        "--format",
        "both",
        "--store",
    )
    assert r2.returncode == 0, r2.stderr
    assert "already segmented" in r2.stderr and "instance(s) in" not in r2.stderr
    assert len(fetch_segs(pacs.dicomweb, study)) == 1


def test_series_filter_and_clear_errors(orthanc_factory, crop_series, tmp_path, medseg_inproc):
    run_medseg = medseg_inproc
    pacs = orthanc_factory()
    pacs.upload(sorted(crop_series.glob("*.dcm")))
    study = study_uid_of(crop_series)
    r = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        "1.2.3.4.5.6.7",
        "-o",
        str(tmp_path / "a"),
    )
    assert r.returncode == 2 and "not found" in r.stderr
    r = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "--series",
        "1.2.3.999",
        "-o",
        str(tmp_path / "b"),
    )
    assert r.returncode == 2 and "is not in study" in r.stderr
    r = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "--series",
        series_uid_of(crop_series),
        "-o",
        str(tmp_path / "c"),
        "--format",
        "seg",
    )
    assert r.returncode == 0, r.stderr
    (seg_file,) = sorted((tmp_path / "c").glob("*_seg.dcm"))
    # A SEG series alone is not something to segment.
    pacs.upload([seg_file])
    seg_series = str(pydicom.dcmread(seg_file, stop_before_pixels=True).SeriesInstanceUID)
    r = run_medseg(
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "--series",
        seg_series,
        "-o",
        str(tmp_path / "e"),
    )
    assert r.returncode == 2 and "no image series" in r.stderr and "SEG" in r.stderr
    pacs.stop()
    r = run_medseg(
        "predict", "--dicomweb", pacs.dicomweb, "--study", study, "-o", str(tmp_path / "d")
    )
    assert r.returncode == 2 and "cannot reach the server" in r.stderr


def test_argument_mistakes_are_reported_before_any_work(tmp_path, capsys):
    from medseg.cli import main

    cases = [
        (["predict", "-o", str(tmp_path)], "at least one INPUT"),
        (["predict", "--dicomweb", "http://127.0.0.1:9/dicom-web", "-o", str(tmp_path)], "--study"),
        (["predict", "x", "--dicomweb", "http://h/d", "--study", "1.2", "-o", "o"], "not both"),
        (
            ["predict", "--dicomweb", "http://h/d", "--study", "1.2", "--store", "-o", "o"],
            "--format seg",
        ),
        (["predict", "x", "--store", "-o", "o"], "--store needs --dicomweb"),
        (
            [
                "predict",
                "--dicomweb",
                "http://h/d",
                "--study",
                "1",
                "-o",
                "o",
                "--dicomweb-user",
                "u",
            ],
            "both a user and a password",
        ),
    ]
    for argv, phrase in cases:
        assert main(argv) == 2
        assert phrase in capsys.readouterr().err


def _token_filter(tmp_path: Path, token: str) -> Path:
    # Orthanc has no bearer-token check of its own; its Lua request filter is the standard
    # way to add one. REST (used by the test to upload) stays open; DICOMweb needs the token.
    lua = tmp_path / "token.lua"
    lua.write_text(
        "function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)\n"
        "  if string.sub(uri, 1, 10) ~= '/dicom-web' then return true end\n"
        f"  return httpHeaders['authorization'] == 'Bearer {token}'\n"
        "end\n"
    )
    return lua


def test_credentials_work_and_are_never_printed(
    orthanc_factory, crop_series, tmp_path, medseg_inproc
):
    run_medseg = medseg_inproc
    password, token = "Pw-Zq9-s3cr3t!x", "tok-Zq9-8f3a1c5e7b"
    files = sorted(crop_series.glob("*.dcm"))
    study = study_uid_of(crop_series)
    basic = orthanc_factory("basic", users={"medseg": password})
    basic.upload(files)
    bearer = orthanc_factory("bearer", lua_scripts=[_token_filter(tmp_path, token)])
    bearer.upload(files)
    host = basic.dicomweb.split("://", 1)[1]
    runs = {
        "env password": run_medseg(
            "predict",
            "--dicomweb",
            basic.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o1"),
            "--format",
            "seg",
            "--store",
            env={"MEDSEG_DICOMWEB_USER": "medseg", "MEDSEG_DICOMWEB_PASSWORD": password},
        ),
        "flag password": run_medseg(
            "predict",
            "--dicomweb",
            basic.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o2"),
            "--format",
            "seg",
            "--dicomweb-user",
            "medseg",
            "--dicomweb-password",
            password,
        ),
        "password in URL": run_medseg(
            "predict",
            "--dicomweb",
            f"http://medseg:{password}@{host}",
            "--study",
            study,
            "-o",
            str(tmp_path / "o3"),
            "--format",
            "seg",
        ),
        "token": run_medseg(
            "predict",
            "--dicomweb",
            bearer.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o4"),
            "--format",
            "seg",
            "--store",
            env={"MEDSEG_DICOMWEB_TOKEN": token},
        ),
    }
    for name, r in runs.items():
        assert r.returncode == 0, (name, r.stderr)
    refused = {
        "wrong password": run_medseg(
            "predict",
            "--dicomweb",
            basic.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o5"),
            "--dicomweb-user",
            "medseg",
            "--dicomweb-password",
            password + "WRONG",
        ),
        "token where basic is wanted": run_medseg(
            "predict",
            "--dicomweb",
            basic.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o6"),
            "--dicomweb-token",
            token,
        ),
        "wrong token": run_medseg(
            "predict",
            "--dicomweb",
            bearer.dicomweb,
            "--study",
            study,
            "-o",
            str(tmp_path / "o7"),
            "--dicomweb-token",
            token + "x",
        ),
    }
    for name, r in refused.items():
        assert r.returncode == 2, name
        assert "HTTP 401" in r.stderr or "HTTP 403" in r.stderr, (name, r.stderr)
    everything = "".join(r.stdout + r.stderr for r in [*runs.values(), *refused.values()])
    everything += "".join(_text_of(tmp_path / f"o{i}") for i in range(1, 8))
    assert password not in everything and token not in everything
    assert "Zq9" not in everything


@pytest.mark.slow
def test_orthanc_down_while_storing_then_next_run_delivers(
    orthanc_factory, crop_series, tmp_path, medseg_inproc
):
    pacs = orthanc_factory("retry")
    pacs.upload(sorted(crop_series.glob("*.dcm")))
    study = study_uid_of(crop_series)
    out = tmp_path / "out"
    args = [
        "predict",
        "--dicomweb",
        pacs.dicomweb,
        "--study",
        study,
        "-o",
        str(out),
        "--format",
        "seg",
        "--store",
        "--store-attempts",
        "3",
        "--dicomweb-timeout",
        "5",
    ]
    err = tmp_path / "stderr.txt"
    with open(err, "w") as ef:
        p = subprocess.Popen(
            medseg_cmd(*args), stdout=subprocess.PIPE, stderr=ef, text=True, env=medseg_env()
        )
        # The PACS dies once the series is retrieved: the SEG is stored after inference.
        wait_for(lambda: "retrieved" in err.read_text(), 300, "the retrieval")
        pacs.stop(kill=True)
        stdout, _ = p.communicate(timeout=300)
    text = err.read_text()
    assert p.returncode == 1, text
    assert "NOT delivered" in stdout or "NOT DELIVERED" in text
    assert "retrying in 1 s" in text and "retrying in 2 s" in text
    assert "cannot reach" in text and "run the same command again" in text
    report = json.loads((out / "pacs_report.json").read_text())
    (row,) = report["series"]
    assert row["stored"] is False and "cannot reach" in row["store_error"]
    (kept,) = sorted(out.glob("*_seg.dcm"))
    kept_uid = pydicom.dcmread(kept, stop_before_pixels=True).SOPInstanceUID

    pacs.start()  # same storage, same ports
    r = medseg_inproc(*args)
    assert r.returncode == 0, r.stderr
    assert "already segmented" in r.stderr
    (seg,) = fetch_segs(pacs.dicomweb, study)
    assert seg.SOPInstanceUID == kept_uid  # the kept SEG, not a new one
    assert json.loads((out / "pacs_report.json").read_text())["series"][0]["stored"] is True
