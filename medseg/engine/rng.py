"""Random state: seeding every generator, and capturing / restoring it for exact resumes."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states, as tensors and plain values only, so
    a checkpoint holding them loads with ``torch.load(weights_only=True)``."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, pstate, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [int(version), list(pstate), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()  # dropout etc. on the GPU
    return state


def set_rng_state(s: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(s["torch"])
    keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, pstate, gauss = s["python"]
    random.setstate((version, tuple(pstate), gauss))
    if s.get("cuda") and torch.cuda.is_available() and torch.cuda.device_count() == len(s["cuda"]):
        torch.cuda.set_rng_state_all(s["cuda"])


__all__ = ["rng_state", "seed_all", "set_rng_state"]
