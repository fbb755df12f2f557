"""Session fixture for the generated bad-input corpus."""

from __future__ import annotations

import pytest

from corpus import ensure_corpus


@pytest.fixture(scope="session")
def corpus() -> dict:
    """The corpus manifest (``tests/corpus/generated/manifest.json``), built if needed."""
    return ensure_corpus()
