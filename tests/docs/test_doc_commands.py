"""Every shell command and Python snippet in README.md and the docs runs, on real sample data.

Each fenced block marked ``bash``/``sh``/``shell`` or ``python`` in README.md, docs/, the
bundle's READMEs and the model cards is one test. It runs in a fresh copy of a workspace that
holds the inputs the docs name, made from real files that install offline (see
:mod:`medseg.data.samples`):

=====================  =====================================================================
``scan.nii.gz``        the real ITK T1 head (NIfTI)
``series_folder/``     a DICOM MR series written from that head (one instance per slice)
``study1/``            the same series; ``study2/`` a second real head (Colin27) as DICOM MR
``dicom_root/``        ``study1/`` and ``study2/``
``ct_series_folder/``  pydicom's real 5-slice CT series
``scans/``             ``scan.nii.gz`` and ``study1/`` (for the MONAI bundle)
``eval/``              ``images/t1.nii.gz`` and ``labels/t1.nii.gz``: the ITK head and its
                       skull-stripped version (> 0 = brain), for the bundle's evaluation
``photos/``            the real Leuven street photos; ``leuvenA.jpg`` also at the top
``street.avi``         the real opencv-doc pedestrian video (vtest.avi)
``configs``, ``scripts``, ``examples``, ``app.py``, ``run.sh``: links into the repository
=====================  =====================================================================

A comment on the line before a block changes how it runs, and nothing is skipped silently:

* ``<!-- docs-test: skip REASON -->`` — not run; the test is reported as skipped with REASON.
* ``<!-- docs-test: server -->`` — each command starts a server: it must answer HTTP on its
  port (127.0.0.1:7860 and ``--port N`` are moved to a free port) within two minutes, then it
  is stopped.
* ``<!-- docs-test: app -->`` — a Python snippet that talks to the web app: one is started on
  a free port first and ``127.0.0.1:7860`` in the snippet points at it.
* ``<!-- docs-test: timeout=SECONDS -->`` — a longer time limit (default 300 s).

Blocks tagged ``text`` (or without a language) are output listings and are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "configs").rglob("*.md")),
    *sorted((ROOT / "medseg" / "models" / "weights").glob("*.md")),
]
RUN_LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M
)
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<what>.*?)\s*-->")
LINKS = ("configs", "scripts", "examples", "app.py")
#: the README's first block is exactly the two commands (no directive may precede it): run.sh
#: serves the app; test.sh is this very suite, which cannot run inside itself
README_TOP = "README.md:1"
#: commands that act on the checkout itself run in the repository, not in the workspace
REPO_COMMANDS = ("./run.sh", "./test.sh")


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    body: str
    directive: str
    command: str | None = None  # one command of a server block (each is its own test)

    @property
    def id(self) -> str:
        base = f"{self.path.relative_to(ROOT)}:{self.line}"
        return f"{base}[{self.command.split()[0]}]" if self.command else base


def _commands(body: str) -> list[str]:
    """Shell commands of a block, continuation lines joined, comments and blanks dropped."""
    out, cur = [], ""
    for ln in body.splitlines():
        s = ln.rstrip()
        if not cur and (not s.strip() or s.strip().startswith("#")):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        out.append(cur + s)
        cur = ""
    if cur:
        out.append(cur)
    return out


def collect() -> list[Block]:
    blocks = []
    for doc in DOCS:
        text = doc.read_text()
        for m in _FENCE.finditer(text):
            lang = m.group("lang").lower()
            if lang not in RUN_LANGS:
                continue
            before = text[: m.start()].rstrip().splitlines()
            d = _DIRECTIVE.search(before[-1]) if before else None
            line = text[: m.start()].count("\n") + 1
            body = "\n".join(ln[len(m.group("indent")) :] for ln in m.group("body").splitlines())
            block = Block(doc, line, lang, body, d.group("what") if d else "")
            if block.id == README_TOP:
                block.directive = "server"
            if block.directive.startswith("server"):
                for cmd in _commands(body):
                    blocks.append(Block(doc, line, lang, body, block.directive, cmd))
            else:
                blocks.append(block)
    return blocks


BLOCKS = collect()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["MEDSEG_REPO"] = str(ROOT)
    if port is not None:
        env["GRADIO_SERVER_PORT"] = str(port)
    return env


@pytest.fixture(scope="session")
def workspace_template(tmp_path_factory) -> Path:
    """The inputs the docs name, built once from real sample data."""
    import nibabel as nib

    from medseg.data.samples import sample_path
    from medseg.io import load_volume, write_dicom_series

    ws = tmp_path_factory.mktemp("docs_ws")
    try:
        head = sample_path("t1_head")
        colin = sample_path("ch2")
        ct = sample_path("ct_series")
        photos = [sample_path("leuvenA"), sample_path("leuvenB")]
        video = sample_path("vtest")
    except FileNotFoundError as e:  # scripts/setup.sh installs them; say which is missing
        pytest.fail(f"sample data missing: {e}")
    shutil.copy(head, ws / "scan.nii.gz")
    vol = load_volume(head)
    write_dicom_series(vol, ws / "series_folder", modality="MR", series_description="T1 head")
    shutil.copytree(ws / "series_folder", ws / "study1")
    # a second real head: Colin27 (held out from training; a plain input here), as DICOM MR
    img = nib.load(colin)
    write_dicom_series(load_volume(colin), ws / "study2", modality="MR", series_description="T1")
    del img
    (ws / "dicom_root").mkdir()
    for s in ("study1", "study2"):
        shutil.copytree(ws / s, ws / "dicom_root" / s)
    shutil.copytree(ct, ws / "ct_series_folder")
    (ws / "scans").mkdir()
    shutil.copy(head, ws / "scans" / "scan.nii.gz")
    shutil.copytree(ws / "study1", ws / "scans" / "study1")
    for sub, src in (("images", head), ("labels", sample_path("t1_brain"))):
        (ws / "eval" / sub).mkdir(parents=True)
        shutil.copy(src, ws / "eval" / sub / "t1.nii.gz")
    (ws / "photos").mkdir()
    for p in photos:
        shutil.copy(p, ws / "photos" / p.name)
    shutil.copy(photos[0], ws / photos[0].name)
    shutil.copy(video, ws / "street.avi")
    for name in LINKS:
        if (ROOT / name).exists():
            (ws / name).symlink_to(ROOT / name)
    return ws


@pytest.fixture
def workspace(workspace_template, tmp_path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(workspace_template, ws, symlinks=True)
    return ws


def _serve_and_stop(cmd: str, ws: Path, timeout: float) -> None:
    port = _free_port()
    if cmd.startswith(REPO_COMMANDS):
        ws = ROOT  # run.sh sets up and serves the checkout it lives in
    cmd = re.sub(r"--port[ =]\d+", f"--port {port}", cmd)
    cmd = cmd.replace("127.0.0.1:7860", f"127.0.0.1:{port}")
    proc = subprocess.Popen(
        ["bash", "-c", cmd],
        cwd=ws,
        env=_env(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"`{cmd}` exited with {proc.returncode} before serving:\n{out[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    if r.status in (200, 401):
                        return
            except urllib.error.HTTPError as e:
                if e.code in (401, 403):  # a login page answers: served, with auth on
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"`{cmd}` did not answer on port {port} within {timeout:.0f} s")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, workspace: Path):
    d = block.directive
    if d.startswith("skip"):
        reason = d[4:].strip() or "no reason given"
        pytest.skip(f"{block.id}: {reason}")
    m = re.search(r"timeout=(\d+)", d)
    timeout = float(m.group(1)) if m else 300.0
    if d.startswith("server"):
        if block.command.startswith("./test.sh"):
            pytest.skip(f"{block.id}: ./test.sh is this test suite; CI runs it (.ci/run)")
        _serve_and_stop(block.command, workspace, min(timeout, 240.0))
        return
    port = None
    server = None
    body = block.body
    if d.startswith("app"):
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "medseg.cli", "app", "--port", str(port)],
            cwd=workspace,
            env=_env(port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        body = body.replace("127.0.0.1:7860", f"127.0.0.1:{port}")
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
    try:
        if block.lang == "python":
            cmd = [sys.executable, "-"]
        else:
            cmd = ["bash", "-euo", "pipefail", "-s"]
        # own process group: on a timeout the whole tree goes, not only the shell
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workspace,
            env=_env(port),
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(body, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{block.id} did not finish within {timeout:.0f} s:\n{err[-3000:]}")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything the block left running
            except ProcessLookupError:
                pass
        r = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    assert r.returncode == 0, (
        f"{block.id} failed ({r.returncode}):\n--- block\n{block.body}\n--- stdout\n"
        f"{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-5000:]}"
    )


def test_the_docs_have_runnable_blocks():
    # the harness itself must see the docs: a broken fence pattern would pass every test
    assert len(BLOCKS) >= 15
    assert any(b.path.name == "README.md" and "medseg predict" in b.body for b in BLOCKS)
    langs = {b.lang for b in BLOCKS}
    assert {"bash", "python"} <= langs


def test_commands_join_continuation_lines():
    body = "# comment\nmedseg predict a \\\n    -o out/   # trailing\n\nls\n"
    assert _commands(body) == ["medseg predict a      -o out/   # trailing", "ls"]
