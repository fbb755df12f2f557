"""ConfusionMatrix.sync() sums the matrix over a real 2-process gloo group."""

from __future__ import annotations

import datetime
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from medseg.metrics import ConfusionMatrix, InstanceIoU

C = 4


def _data(rank: int):
    g = np.random.default_rng(100 + rank)
    t = g.integers(0, C, size=(2, 5, 6))
    t[g.random(t.shape) < 0.2] = 255
    p = g.integers(0, C, size=t.shape)
    return p, t


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60)
    )
    try:
        p, t = _data(rank)
        cm = ConfusionMatrix(C).update(p, t)
        cm.sync()
        np.save(os.path.join(out_dir, f"cm{rank}.npy"), cm.confusion)
        inst = InstanceIoU(
            num_classes=C, instance_classes=(1,), avg_instance_size={1: 10.0}, label_map=None
        )
        ids = np.where(t == 1, 1000 + 1 + rank, 0)  # one instance per rank
        inst.update(p, t, ids).sync()
        np.save(os.path.join(out_dir, f"tp{rank}.npy"), inst.tp_weighted)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sync_sums_over_two_gloo_processes(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed not available")
    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn"
    )
    ref = ConfusionMatrix(C)
    for r in range(2):
        ref.update(*_data(r))
    for r in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"cm{r}.npy"), ref.confusion)
    tp = [np.load(tmp_path / f"tp{r}.npy") for r in range(2)]
    np.testing.assert_allclose(tp[0], tp[1])
    # instance class 1: each rank's single instance contributes tp * 10 / size
    expect = 0.0
    for r in range(2):
        p, t = _data(r)
        m = t == 1
        expect += np.count_nonzero(p[m] == 1) * 10.0 / np.count_nonzero(m)
    assert tp[0][1] == pytest.approx(expect)
