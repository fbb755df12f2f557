"""Fixtures for the PACS tests: a real Orthanc, real MR series built from a real head.

* ``orthanc_factory(**config)`` starts Debian's Orthanc (+ DICOMweb plugin) as a plain child
  process with a temporary JSON configuration on free loopback ports, waits for ``/system``
  and stops it by its own pid at the end of the test (:class:`medseg.pacs.orthanc.Orthanc`).
  Tests skip with a visible reason only when the ``orthanc`` binary or the DICOMweb plugin
  is not installed (``scripts/setup.sh`` installs both).
* ``head_series`` / ``crop_series`` / ``burst_series``: Colin27 (``ch2.nii.gz``,
  mricron-data; held out of training, fine as an input here) written as MR series, one
  instance per slice, with real geometry and planted identifiers (``PHI`` in
  pacs_helpers.py) so logs can be searched for leaks.
* ``listener_factory(...)``: ``medseg listen`` as a subprocess, stopped by its pid.
"""

from __future__ import annotations

import pytest
from pacs_helpers import ListenerProc, crop_volume, require_orthanc, write_series


@pytest.fixture
def orthanc_factory(tmp_path):
    """``make(**orthanc_config_kw) -> Orthanc`` (started); all are stopped after the test."""
    require_orthanc()
    from medseg.pacs.orthanc import Orthanc

    started = []

    def make(name: str = "orthanc", **kw):
        pacs = Orthanc(tmp_path / name, **kw).start()
        started.append(pacs)
        return pacs

    yield make
    import os
    import signal

    for p in started:  # SIGTERM all first: each takes a few seconds to shut down
        if p.proc is not None and p.proc.poll() is None:
            os.kill(p.proc.pid, signal.SIGTERM)
    for p in started:
        p.stop()


# ----------------------------------------------------------------------------- data
def _volume():
    from medseg.data.samples import sample_path
    from medseg.io import load_volume

    try:
        return load_volume(sample_path("ch2"))
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def head_volume():
    return _volume()


@pytest.fixture(scope="session")
def head_series(head_volume, tmp_path_factory):
    """The whole ch2 head (181 x 217 x 181, 1 mm): 181 axial MR instances, 181 columns."""
    return write_series(head_volume, tmp_path_factory.mktemp("head") / "ch2", description="ch2 T1")


@pytest.fixture(scope="session")
def head_series_upright(head_volume, tmp_path_factory):
    """The whole head with rows written top-down (anterior first), as a scanner writes them."""
    folder = tmp_path_factory.mktemp("head_upright") / "ch2"
    return write_series(head_volume, folder, description="ch2 T1", upright=True)


@pytest.fixture(scope="session")
def crop_series(head_volume, tmp_path_factory):
    """A mid-brain crop with an odd number of columns (141 x 171 x 12): quick to segment."""
    vol = crop_volume(head_volume, slice(20, 161), slice(25, 196), slice(70, 82))
    return write_series(vol, tmp_path_factory.mktemp("crop") / "crop", description="ch2 crop")


@pytest.fixture(scope="session")
def burst_series(head_volume, tmp_path_factory):
    """20 small series (4 axial slices of 161 x 197 each, at different heights), one study."""
    from pydicom.uid import generate_uid

    root = tmp_path_factory.mktemp("burst")
    study = generate_uid()
    out = []
    for i in range(20):
        z0 = 40 + 4 * i
        vol = crop_volume(head_volume, slice(10, 171), slice(10, 207), slice(z0, z0 + 4))
        out.append(write_series(vol, root / f"s{i:02d}", description=f"burst {i}", study_uid=study))
    return out


@pytest.fixture
def listener_factory(tmp_path):
    """``make(state_dir, *extra_args, port=None) -> ListenerProc`` (started; stopped after)."""
    from medseg.pacs.orthanc import free_port

    running = []

    def make(state_dir, *args, port: int | None = None, start: bool = True):
        lp = ListenerProc(state_dir, port or free_port(), list(args))
        running.append(lp)
        return lp.start() if start else lp

    yield make
    for lp in running:
        if lp.proc is not None and lp.proc.poll() is None:
            lp.stop()
