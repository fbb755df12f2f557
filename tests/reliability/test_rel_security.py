"""Security basics: uploads confined, no path traversal, explicit --share, auth, size limit."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from corpus import case_path

from .appserver import AppServer, call

USER, PASSWORD = "medic", "s3cret-pw"


def _case(corpus: dict, name: str) -> dict:
    return next(c for c in corpus["cases"] if c["name"] == name)


# ------------------------------------------------------------------ serving flags (no network)
def _app_args(*argv: str) -> argparse.Namespace:
    from medseg.commands import app as app_cmd

    p = argparse.ArgumentParser()
    app_cmd.add_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_are_loopback_without_share(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("MEDSEG_AUTH", raising=False)
    import importlib

    from medseg.app import server
    from medseg.commands import app as app_cmd

    importlib.reload(app_cmd)  # defaults are read from the environment at import
    kw = server.launch_kwargs(_app_args())
    assert kw["server_name"] == "127.0.0.1"
    assert kw["share"] is False
    assert kw["auth"] is None
    assert kw["max_file_size"]  # an upload limit is always set


class _FakeBlocks:
    """Stands in for gr.Blocks so ``main`` can run without opening any socket."""

    launched: dict = {}

    def queue(self, **kw):
        return self

    def launch(self, **kw):
        _FakeBlocks.launched = kw


@pytest.mark.parametrize("share", [False, True])
def test_share_needs_the_flag_and_warns(monkeypatch, share):
    from medseg.app import server

    monkeypatch.setattr(server, "build_app", lambda: _FakeBlocks())
    err = io.StringIO()
    with redirect_stderr(err):
        server.main(_app_args(*(["--share"] if share else [])))
    assert _FakeBlocks.launched["share"] is share
    text = err.getvalue().lower()
    if share:
        assert "public" in text and "patient" in text, text
    else:
        assert "public" not in text


def test_auth_flag_and_env(monkeypatch):
    from medseg.app import server

    assert server.launch_kwargs(_app_args("--auth", f"{USER}:{PASSWORD}"))["auth"] == (
        USER,
        PASSWORD,
    )
    monkeypatch.setenv("MEDSEG_AUTH", f"{USER}:{PASSWORD}")
    assert server.launch_kwargs(_app_args())["auth"] == (USER, PASSWORD)
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(ValueError):
            server.launch_kwargs(_app_args("--auth", bad))


# ------------------------------------------------------------------ zip members, file names
def test_zip_extraction_stays_inside_its_folder(corpus, tmp_path, monkeypatch):
    from medseg.app import common

    monkeypatch.chdir(tmp_path)  # a relative '../' would land next to the working dir
    case = _case(corpus, "zip_path_traversal")
    out = common.extract_zip(case_path(corpus, case))
    root = out[0].parent
    assert all(p.resolve().parent == root.resolve() for p in out)
    assert len(out) == 7  # 5 DICOM files + 2 hostile members, flattened
    for name in case["escape_names"]:
        assert not Path("/tmp", name).exists() and not Path("/", name).exists()
        assert not list(tmp_path.parent.rglob(name)), f"{name} escaped"


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\..\\win.ini", "a/b/c.dcm", "/abs/x.nii.gz", "…ünï cödé?.png", ""],
)
def test_safe_name_has_no_directories(name):
    from medseg.app.common import safe_name

    s = safe_name(name)
    assert s and "/" not in s and "\\" not in s and not s.startswith(".")
    assert all(ch.isalnum() or ch in "._-" for ch in s)


# ------------------------------------------------------------------ live server: auth + limit
@pytest.fixture(scope="module")
def locked_server(tmp_path_factory):
    """A server with --auth and a 1 MB upload limit."""
    server = AppServer(
        tmp_path_factory.mktemp("app_auth"), "--max-file-size", "1mb", auth=(USER, PASSWORD)
    ).start()
    yield server
    server.stop()


@pytest.mark.xdist_group("app")
@pytest.mark.timeout(300)
def test_auth_and_upload_limit(locked_server, corpus, tmp_path):
    from gradio_client import Client, handle_file

    good = case_path(corpus, _case(corpus, "dcm_ok_ct_small"))
    for auth in (None, (USER, "wrong")):
        with pytest.raises(Exception) as e:  # noqa: B017 - gradio_client raises several types
            c = Client(locked_server.url, verbose=False, auth=auth)
            call(c, [handle_file(str(good))], api_name="/medical_load", timeout=60)
        print(f"auth={auth!r}: refused with {type(e.value).__name__}: {str(e.value)[:120]}")
    client = locked_server.client()
    meta, *_ = call(client, [handle_file(str(good))], api_name="/medical_load", timeout=90)
    assert meta["shape"][:2] == [128, 128]

    big = tmp_path / "big.nii"  # 2 MB, over the 1 MB limit
    big.write_bytes(b"\0" * (2 << 20))
    with pytest.raises(Exception) as e:  # noqa: B017
        call(client, [handle_file(str(big))], api_name="/medical_load", timeout=60)
    assert (
        "size" in str(e.value).lower() or "large" in str(e.value).lower() or "413" in str(e.value)
    )
    print(f"2 MB upload refused: {str(e.value)[:200]}")
    meta, *_ = call(client, [handle_file(str(good))], api_name="/medical_load", timeout=90)
    assert meta["shape"][:2] == [128, 128]  # still serving

    # The server enforces both itself (a client that skips gradio_client's checks).
    import httpx

    with httpx.Client(base_url=locked_server.url, timeout=60) as h:
        r = h.post("gradio_api/upload", files={"files": ("x.nii", b"\0" * 1024)})
        assert r.status_code == 401, r.text
        assert h.post("login", data={"username": USER, "password": PASSWORD}).status_code == 200
        r = h.post("gradio_api/upload", files={"files": ("big.nii", b"\0" * (2 << 20))})
        assert r.status_code == 413, r.text
        r = h.post("gradio_api/upload", files={"files": ("small.nii", b"\0" * 1024)})
        assert r.status_code == 200, r.text
        assert all(Path(p).resolve().is_relative_to(locked_server.tmp.resolve()) for p in r.json())

    # Uploads stayed in the server's temp dirs: nothing in its working directory holds them.
    assert not [
        p for p in locked_server.cwd.rglob("*") if p.is_file() and p.name in (good.name, big.name)
    ]


@pytest.mark.xdist_group("app")
@pytest.mark.timeout(120)
def test_traversal_zip_through_app(app_server, corpus):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    case = _case(corpus, "zip_path_traversal")
    client = app_server.client()
    try:
        call(
            client,
            [handle_file(str(case_path(corpus, case)))],
            api_name="/medical_load",
            timeout=90,
        )
    except AppError as e:
        assert "Traceback" not in str(e)
    for name in case["escape_names"]:
        assert not Path("/tmp", name).exists()
        found = [p for p in app_server.root.rglob(name)]
        assert not found
        escaped = [
            p for p in app_server.root.parent.rglob(f"*{name}") if app_server.tmp not in p.parents
        ]
        assert not escaped, escaped


# ------------------------------------------------------------------ batch CLI output names
def test_sanitize_id_on_hostile_names():
    from medseg.io.inputs import sanitize_id

    for name in ["../../etc/passwd", "..", ".", "a/b\\c", "x\x00y", "名前 (1).nii", "-rf *", ""]:
        s = sanitize_id(name)
        assert s and s not in (".", "..") and "/" not in s and "\\" not in s and "\x00" not in s
        assert all(ch.isalnum() or ch in "._-" for ch in s), s


@pytest.mark.timeout(400)
def test_batch_cli_output_names_are_sanitised(corpus, tmp_path):
    """Hostile file names and series descriptions never steer where outputs are written."""
    import subprocess
    import sys

    import numpy as np
    import pydicom
    from PIL import Image

    inp = tmp_path / "in"
    series = inp / "series (copy); $(touch pwned) & more"
    series.mkdir(parents=True)
    for f in sorted(case_path(corpus, _case(corpus, "series_ok_ct5n")).iterdir()):
        ds = pydicom.dcmread(f)
        ds.SeriesDescription = "../../../escaped_series/..\\x"
        ds.save_as(series / f.name)
    Image.fromarray(np.full((24, 24), 90, np.uint8)).save(inp / "scan ü ..;|&.png")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "medseg.cli",
        "predict",
        str(series),
        str(inp / "scan ü ..;|&.png"),
        "-o",
        str(out),
        "--model",
        "unet_medical",
        "--no-pretrained",
        "--model-arg",
        "base_channels=4",
        "--allow-modality-mismatch",  # a CT series through the MR model: about names
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "pwned").exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and inp not in p.parents]
    assert all(out in p.parents for p in written), written  # nothing outside the output folder
    for p in out.iterdir():
        if p.is_file():
            assert all(ch.isalnum() or ch in "._-" for ch in p.name), p.name
    assert not list(tmp_path.rglob("escaped_series*"))
