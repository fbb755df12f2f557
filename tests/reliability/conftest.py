"""Fixtures shared by the reliability tests: the corpus, and its cases as parameters.

A test asks for one of the ``*_case`` arguments below and runs once per matching corpus
case (ids = case names). Known defects of other modules are listed in :data:`XFAIL` so the
test stays red-to-green honest (``strict=True``: it fails once the defect is fixed, and the
entry must then be removed).
"""

from __future__ import annotations

import pytest
from corpus import ensure_corpus

#: parameter name → corpus kinds it runs over
CASE_PARAMS: dict[str, tuple[str, ...]] = {
    "io_case": ("dicom", "nifti", "image"),
    "video_case": ("video",),
    "model_case": ("model",),
    "predict_case": ("dicom", "nifti", "image"),
    "app_case": ("dicom", "nifti", "image", "zip"),
    "street_case": ("image",),
}

#: (parameter name, case name) → what is wrong and where
XFAIL: dict[tuple[str, str], str] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for param, kinds in CASE_PARAMS.items():
        if param in metafunc.fixturenames:
            cases = [c for c in ensure_corpus()["cases"] if c["kind"] in kinds]
            metafunc.parametrize(
                param,
                [
                    pytest.param(
                        c,
                        id=c["name"],
                        marks=[pytest.mark.xfail(strict=True, reason=XFAIL[(param, c["name"])])]
                        if (param, c["name"]) in XFAIL
                        else [],
                    )
                    for c in cases
                ],
            )


@pytest.fixture(scope="session")
def corpus() -> dict:
    """The corpus manifest, built into ``tests/corpus/generated/`` if needed."""
    return ensure_corpus()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """A ``medseg app`` on a free 127.0.0.1 port with default settings.

    Session-scoped (start-up costs ~15 s on two busy cores); every test using it is marked
    ``xdist_group("app")`` so one worker runs them all against one server.

    ``MALLOC_ARENA_MAX=2``: glibc gives each of Gradio's worker threads its own malloc arena,
    so the RSS of a threaded server climbs with concurrency for reasons unrelated to leaks
    (measured here: +23 % after 400 requests by default, +10 % after 300 with 2 arenas). The load test's
    memory check is about leaks, so it runs with the allocator tamed (docs/reliability.md).
    """
    from .appserver import AppServer

    server = AppServer(tmp_path_factory.mktemp("app"), env={"MALLOC_ARENA_MAX": "2"}).start()
    yield server
    server.stop()
