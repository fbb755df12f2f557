"""Two-process training under torchrun (gloo, CPU) on tiny data: both ranks must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    from medseg.engine import distributed as D
    from medseg.engine.trainer import Trainer, TrainConfig
    from medseg.losses import SegmentationLoss
    from medseg.models import create_model

    torch.set_num_threads(1)

    class TinySet(torch.utils.data.Dataset):
        def __init__(self, n, seed):
            g = torch.Generator().manual_seed(seed)
            self.x = torch.randn(n, 3, 16, 16, generator=g)
            self.y = (self.x[:, 0] > 0).long()
            self.y[:, -1] = 255
        def __len__(self):
            return len(self.x)
        def __getitem__(self, i):
            return self.x[i], self.y[i]

    out = sys.argv[1]
    assert D.init_distributed(), "torchrun environment missing"
    train_ds, val_ds = TinySet(8, 0), TinySet(7, 1)  # 7: uneven evaluation shards
    ts = D.make_sampler(train_ds, shuffle=True, seed=0, drop_last=True)
    vs = D.make_sampler(val_ds, shuffle=False, pad=False)
    train = torch.utils.data.DataLoader(train_ds, batch_size=2, sampler=ts)
    val = torch.utils.data.DataLoader(val_ds, batch_size=2, sampler=vs)
    torch.manual_seed(0)
    model = create_model("unet", num_classes=2, base_channels=4)
    cfg = TrainConfig(num_classes=2, epochs=2, lr=1e-2, out_dir=out, progress=False, amp="off")
    t = Trainer(model, SegmentationLoss(2), train, val, cfg)
    hist = t.fit()
    params = torch.cat([p.detach().flatten() for p in D.unwrap(t.model).parameters()])
    rec = {
        "rank": D.rank(), "world": D.world_size(),
        "param_sum": float(params.double().sum()), "param_abs": float(params.double().abs().sum()),
        "val_miou": [r["val_miou"] for r in hist], "train_loss": [r["train_loss"] for r in hist],
        "train_indices": list(iter(ts)), "val_indices": list(iter(vs)),
    }
    json.dump(rec, open(f"{out}/rank{D.rank()}.json", "w"))
    D.cleanup()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_process_training_agrees(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    # DDP keeps replicas identical; metrics and losses are all-reduced, so equal on both ranks.
    assert r0["param_sum"] == pytest.approx(r1["param_sum"], rel=1e-6, abs=1e-6)
    assert r0["param_abs"] == pytest.approx(r1["param_abs"], rel=1e-6)
    assert r0["val_miou"] == pytest.approx(r1["val_miou"], abs=1e-12)
    assert r0["train_loss"] == pytest.approx(r1["train_loss"], abs=1e-12)
    # DistributedSampler shards are disjoint and cover the training set; evaluation shards
    # cover the 7 validation samples exactly once.
    assert sorted(r0["train_indices"] + r1["train_indices"]) == list(range(8))
    assert sorted(r0["val_indices"] + r1["val_indices"]) == list(range(7))
    # The all-reduced metric equals a single-process evaluation of the saved weights.
    from medseg.engine.evaluator import evaluate
    from medseg.models import create_model

    model = create_model("unet", num_classes=2, base_channels=4, weights=tmp_path / "last.pt")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 3, 16, 16, generator=g)
    y = (x[:, 0] > 0).long()
    y[:, -1] = 255
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3)
    single = evaluate(model, dl, 2)["miou"]
    assert np.isclose(single, r0["val_miou"][-1], atol=1e-9)
