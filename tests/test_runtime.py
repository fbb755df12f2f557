"""medseg.runtime.tune_allocator: applies glibc mallopt settings in a fresh process only when
allowed, and really changes malloc's behaviour (checked through page-fault counts)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

CHILD = r"""
import json, resource, sys
from medseg.runtime import tune_allocator, allocator_settings
applied = tune_allocator() if sys.argv[1] == "tune" else None
import numpy as np
# Like a forward pass: several 8 MiB activations alive at once, then all freed. With the
# defaults glibc trims the freed top of the heap (more than its trim threshold) back to the OS,
# so the next pass faults every page in again; tuned, the heap keeps the pages for reuse.
def forward_like():
    blocks = [np.ones(1 << 20) for _ in range(8)]
    del blocks
forward_like()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    forward_like()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
print(json.dumps({"applied": applied, "again": tune_allocator(), "seen": allocator_settings(),
                  "faults": faults}))
"""


def _child(mode: str, **env) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    e.pop("MEDSEG_TUNE_MALLOC", None)
    e.update(env)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=e, check=True
    )
    return json.loads(out.stdout)


@glibc
def test_tuning_applies_once_and_stops_the_page_faults():
    plain = _child("plain")
    tuned = _child("tune")
    assert plain["applied"] is None
    want = {"trim_threshold": 1 << 30, "mmap_max": 0}
    assert tuned["applied"] == tuned["again"] == tuned["seen"] == want
    # 10 passes × 64 MiB touched: the defaults fault ~40 000 pages in, tuned none (measured).
    assert plain["faults"] > 20_000  # measured 40 900
    assert tuned["faults"] < plain["faults"] / 10


@glibc
@pytest.mark.parametrize(
    "env",
    [{"MEDSEG_TUNE_MALLOC": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}, {"MALLOC_MMAP_MAX_": "4"}],
)
def test_opt_out_and_user_settings_win(env):
    r = _child("tune", **env)
    assert r["applied"] is None and r["seen"] is None


def test_bad_arguments_are_rejected():
    from medseg import runtime

    # Checked before anything is applied, so also in a process where it already was.
    with pytest.raises(ValueError, match="trim_threshold"):
        runtime.tune_allocator(trim_threshold=1 << 31)
    with pytest.raises(ValueError, match="mmap_max"):
        runtime.tune_allocator(mmap_max=-1)
