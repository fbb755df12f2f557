"""Shared fixtures for the app tests: real sample files and a live server on loopback."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ITK = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is missing (scripts/setup.sh installs it)")
    return path


@pytest.fixture(scope="session")
def ct_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def mr_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("MR_small.dcm"))


@pytest.fixture(scope="session")
def t1_nifti() -> Path:
    return _need(ITK / "KmeansTest_T1UCharRaw.nii.gz")


@pytest.fixture(scope="session")
def t1_brain_nifti() -> Path:
    return _need(ITK / "KmeansTest_T1RawSkullStrip.nii.gz")


@pytest.fixture(scope="session")
def brain_png() -> Path:
    return _need(ITK / "BrainT1Slice.png")


@pytest.fixture(scope="session")
def street_jpg() -> Path:
    return _need(OPENCV / "leuvenA.jpg")


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, ct_small) -> dict[str, Path]:
    """Inputs the app must refuse with a clear message."""
    from PIL import Image

    d = tmp_path_factory.mktemp("bad")
    out = {}
    data = ct_small.read_bytes()
    out["corrupt_dicom"] = d / "corrupt.dcm"
    out["corrupt_dicom"].write_bytes(data[: len(data) // 3])  # header intact, pixels cut
    out["text"] = d / "notes.txt"
    out["text"].write_text("not an image\n")
    out["fake_png"] = d / "fake.png"
    out["fake_png"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    # 8000 x 6000 = 48 MP (> the 40 MP limit) but only ~50 kB on disk.
    out["huge_png"] = d / "huge.png"
    Image.new("L", (8000, 6000)).save(out["huge_png"], optimize=True)
    return out


@pytest.fixture(scope="session")
def slice256(tmp_path_factory) -> Path:
    """A 256×256 grey PNG: a bright disc on a textured background."""
    from PIL import Image

    yy, xx = np.mgrid[:256, :256]
    rng = np.random.default_rng(0)
    img = 40 + 30 * rng.random((256, 256))
    img[(yy - 128) ** 2 + (xx - 120) ** 2 < 70**2] += 120
    p = tmp_path_factory.mktemp("s256") / "slice256.png"
    Image.fromarray(img.astype(np.uint8)).save(p)
    return p


@pytest.fixture(scope="session")
def port_factory():
    """``port_factory() -> int``: a free TCP port on loopback."""
    return free_port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def app_url(start_server):
    """URL of one live app per test process (shared by the live-server and browser tests).

    Session scope: ``--dist loadgroup`` does not keep ``xdist_group`` tests together under
    pytest 9 (pytest-xdist 3.8 sets ``item._nodeid``, which pytest 9 no longer reads), so a
    module's tests may land on both workers; a per-process server bounds the cost at one
    server per worker.
    """
    demo, url = start_server()
    yield url
    demo.close()


@pytest.fixture(scope="session")
def start_server():
    """``start_server(**launch) -> (demo, url)``: the app on a free loopback port."""
    return _start_server


def _start_server(concurrency: int = 2, queue_size: int = 32, **launch) -> tuple[object, str]:
    """Build the app and launch it on a free loopback port (non-blocking)."""
    from medseg.app import build_app
    from medseg.app.server import configure_queue

    demo = configure_queue(build_app(), concurrency, queue_size)
    port = free_port()
    kwargs = dict(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        max_file_size="20mb",
        run_history=False,
    )
    kwargs.update(launch)
    demo.launch(**kwargs)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    return demo, url


def pytest_terminal_summary(terminalreporter):
    """Print the measurements app tests recorded (``record_property("app_report", line)``).

    Worker output is hidden under pytest-xdist; user properties travel with the reports.
    """
    for rep in terminalreporter.stats.get("passed", []):
        for key, value in getattr(rep, "user_properties", []):
            if key == "app_report":
                terminalreporter.write_line(str(value))
