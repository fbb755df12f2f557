"""docs/pacs.md's walkthrough runs as written, against the test Orthanc.

Every ```sh block of the page is run in order in one bash session (``set -euo pipefail``),
with ``ORTHANC`` pointing at a fixture Orthanc, ``medseg`` and ``python`` on ``PATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from pacs_helpers import REPO, medseg_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)


def test_walkthrough_runs_against_the_test_orthanc(orthanc_factory, tmp_path):
    from medseg.pacs.orthanc import free_port

    blocks = sh_blocks((REPO / "docs" / "pacs.md").read_text())
    assert len(blocks) >= 6
    pacs = orthanc_factory()
    work = tmp_path / "work"
    work.mkdir()
    assert "." not in str(work)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, cmd in (("medseg", "-m medseg.cli "), ("python", "")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {cmd}"$@"\n')
        (bin_dir / name).chmod(0o755)
    env = medseg_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        MEDSEG_PACS_WORK=str(work),
        ORTHANC=pacs.url,
        ORTHANC_DICOM_PORT=str(pacs.dicom_port),
        MEDSEG_PORT=str(free_port()),
    )
    script = "set -euo pipefail\n" + "\n".join(blocks)
    r = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=800
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    segs = [line for line in r.stdout.splitlines() if line.startswith("FRACTIONAL")]
    assert len(segs) == 2, r.stdout  # one from predict --dicomweb, one from the listener
    assert all("segment: brain" in s and "references 181 instances" in s for s in segs)
    assert "/ohif/viewer?StudyInstanceUIDs=" in r.stdout
