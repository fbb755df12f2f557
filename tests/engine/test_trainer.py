from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medseg.engine.evaluator import evaluate
from medseg.engine.trainer import TrainConfig, Trainer
from medseg.losses import SegmentationLoss
from medseg.models import create_model


class TinySet(torch.utils.data.Dataset):
    """Label = 1 where the first channel is positive, 2 in a fixed corner, 255 in one row."""

    def __init__(self, n: int = 8, size: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, size, size, generator=g)
        y = (self.x[:, 0] > 0).long()
        y[:, :4, :4] = 2
        y[:, -1] = 255
        self.y = y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        # A little augmentation randomness, so resume must restore RNG to match.
        x = self.x[i] + 0.01 * torch.randn(self.x[i].shape)
        return x, self.y[i]


def tiny_model():
    torch.manual_seed(0)
    return create_model("unet", num_classes=3, base_channels=4)


def loaders(batch: int = 4, n: int = 8, sampler=None, val_sampler=None):
    g = torch.Generator().manual_seed(0)
    train = torch.utils.data.DataLoader(
        TinySet(n), batch_size=batch, shuffle=sampler is None, sampler=sampler, generator=g
    )
    val = torch.utils.data.DataLoader(TinySet(n, seed=1), batch_size=batch, sampler=val_sampler)
    return train, val


def _trainer(tmp_path, **kw):
    opts = dict(num_classes=3, epochs=2, lr=1e-2, out_dir=str(tmp_path), progress=False, amp="off")
    opts.update(kw)
    train, val = loaders()
    loss = SegmentationLoss(3, ce_weight=1.0, dice_weight=0.5)
    return Trainer(tiny_model(), loss, train, val, TrainConfig(**opts))


def test_fit_writes_checkpoints_logs_and_curves(tmp_path):
    t = _trainer(tmp_path, grad_clip=1.0, warmup_iters=1)
    hist = t.fit()
    assert [r["epoch"] for r in hist] == [1, 2]
    for f in (
        "last.pt",
        "best.pt",
        "best_model.pt",
        "history.csv",
        "history.json",
        "loss.png",
        "metric.png",
        "config.json",
    ):
        assert (tmp_path / f).is_file(), f
    ck = torch.load(tmp_path / "last.pt", weights_only=True)  # safe loading works
    assert ck["epoch"] == 2 and set(ck) >= {"model", "optimizer", "scheduler", "rng", "history"}
    best = max(r["val_miou"] for r in hist)
    assert ck["best"] == pytest.approx(best)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and "train_loss" in rows[0] and "val_miou" in rows[0]
    assert json.loads((tmp_path / "history.json").read_text())[0]["epoch"] == 1
    # The best weights load through the model registry's checkpoint path.
    from medseg.models import create_model

    m = create_model("unet", num_classes=3, base_channels=4, weights=tmp_path / "best.pt").eval()
    assert m(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_loss_decreases_on_learnable_data(tmp_path):
    t = _trainer(tmp_path, epochs=6, lr=2e-2)
    hist = t.fit()
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]


def test_resume_continues_exactly(tmp_path):
    a = _trainer(tmp_path / "a", epochs=2)
    a.fit()
    b1 = _trainer(tmp_path / "b", epochs=2)
    b1.fit(max_epochs=1)  # "interrupted" after one epoch
    b2 = _trainer(tmp_path / "b", epochs=2)
    b2.resume(tmp_path / "b" / "last.pt")
    assert b2.epoch == 1
    b2.fit()
    sa, sb = a.model.state_dict(), b2.model.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=1e-6, msg=k)
    assert a.history[-1]["val_miou"] == pytest.approx(b2.history[-1]["val_miou"])
    assert a.lr == pytest.approx(b2.lr)


def test_early_stopping_and_plateau(tmp_path):
    # lr so small the metric cannot change: no improvement after epoch 1.
    t = _trainer(
        tmp_path,
        epochs=10,
        optimizer="sgd",
        lr=1e-12,
        scheduler="plateau",
        plateau_patience=0,
        plateau_factor=0.5,
        early_stop_patience=2,
    )
    hist = t.fit()
    assert len(hist) == 3  # best at 1, then 2 bad epochs
    assert t.lr == pytest.approx(1e-12 * 0.5**2)


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd"])
def test_optimizers_and_poly_schedule(tmp_path, opt):
    t = _trainer(tmp_path, epochs=1, optimizer=opt, scheduler="poly", poly_power=1.0)
    t.fit()
    assert t.lr == pytest.approx(0.0, abs=1e-12)  # poly ends at 0 after all iterations
    assert isinstance(
        t.optimizer,
        {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[opt],
    )


def test_bad_options_are_reported(tmp_path):
    with pytest.raises(ValueError, match="optimizer"):
        _trainer(tmp_path, optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="monitor"):
        _trainer(tmp_path, epochs=1, monitor="f1").fit()


def test_bf16_autocast_step_is_finite(tmp_path):
    t = _trainer(tmp_path, amp="bf16", epochs=1)
    assert t.amp == "bf16"
    hist = t.fit()
    assert np.isfinite(hist[0]["train_loss"])


def test_evaluator_matches_brute_force_iou():
    model = tiny_model().eval()
    ds = TinySet(6, seed=3)
    dl = torch.utils.data.DataLoader(ds, batch_size=4)
    res = evaluate(model, dl, 3)
    with torch.no_grad():
        pred = torch.cat([model(x).argmax(1) for x, _ in dl]).numpy()
    gt = ds.y.numpy()
    keep = gt != 255
    ious = []
    for c in range(3):  # brute force per class over the whole dataset
        p, g = (pred == c) & keep, (gt == c) & keep
        union = (p | g).sum()
        ious.append(np.nan if union == 0 else (p & g).sum() / union)
    np.testing.assert_allclose(res["iou"], ious, rtol=1e-9)
    assert res["miou"] == pytest.approx(np.nanmean(ious))
    assert res["pixel_accuracy"] == pytest.approx((pred == gt)[keep].mean())


def test_amp_auto_picks_bf16_on_cpu_only_with_amx(monkeypatch):
    from medseg.engine import amp as tr

    cpu = torch.device("cpu")
    for amx, native, want in [(True, True, "bf16"), (False, True, None), (False, False, None)]:
        monkeypatch.setattr(tr, "cpu_has_amx", lambda v=amx: v)
        monkeypatch.setattr(tr, "cpu_has_native_bf16", lambda v=native: v)
        assert tr.resolve_amp("auto", cpu) == want
        assert tr.resolve_amp(True, cpu) == want
    assert tr.resolve_amp("bf16", cpu) == "bf16"  # explicit choices are kept
    assert tr.resolve_amp("off", cpu) is None and tr.resolve_amp(False, cpu) is None
    with pytest.raises(ValueError, match="amp must be"):
        tr.resolve_amp("fp8", cpu)


def test_training_logs_leave_the_hosts_matplotlib_backend_alone(tmp_path):
    # regression: the trainer called matplotlib.use("Agg") inside the library
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "from pathlib import Path; from medseg.engine.train_log import write_history; "
        "write_history([{'epoch': 1, 'train_loss': 1.0, 'val_loss': 0.9, 'val_miou': 0.1}], "
        f"Path({str(tmp_path)!r})); print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg"
    assert (tmp_path / "loss.png").stat().st_size > 0 and (tmp_path / "history.csv").is_file()
