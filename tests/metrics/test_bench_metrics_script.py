"""scripts/bench_metrics.py runs on tiny data and both methods agree (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_metrics.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_metrics", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_run_small_and_markdown():
    bm = _load()
    res = bm.run(n_images=3, repeats=1, height=32, width=64, num_classes=5, batch_size=2)
    assert [(r["threads"], r["dtype"]) for r in res["rows"]] == [
        (1, "uint8"),
        (1, "int64"),
        (2, "uint8"),
        (2, "int64"),
    ]
    assert all(r["equal"] and r["ratio"] > 0 for r in res["rows"])
    md = bm.format_markdown(res)
    assert "| uint8 |" in md and "speed-up" in md


def test_baseline_loop_matches_hand_count():
    bm = _load()
    import torch

    p = torch.tensor([[[0, 1], [1, 1]]], dtype=torch.uint8)
    t = torch.tensor([[[0, 1], [0, 255]]], dtype=torch.uint8)
    # class 0: inter 1, union 2 ; class 1: inter 1, union 2 (the ignored pixel is dropped)
    np.testing.assert_allclose(bm.tutorial_loop_iou(p, t, 2), [0.5, 0.5])
