from __future__ import annotations

import os
import tempfile

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: keep each worker's intra-op threads at one.
torch.set_num_threads(1)
# backend="auto" (the default) times back-ends on first use: tests that do not test it run
# eager PyTorch only (no timing), and every decision goes to a throwaway folder, never to the
# user's ~/.cache. Tests of auto pass their candidates explicitly.
os.environ.setdefault("MEDSEG_AUTO_BACKENDS", "torch")
os.environ["MEDSEG_CACHE_DIR"] = tempfile.mkdtemp(prefix="medseg-test-cache-")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
