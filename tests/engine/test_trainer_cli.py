"""``medseg train`` / ``medseg evaluate`` end to end on tiny recipes (in-process)."""

from __future__ import annotations

import json

import pytest
import torch

from medseg.cli import main
from medseg.commands.train import load_recipe

TINY_STREET = [
    "threads=1",
    "model.name=unet",
    "model.kwargs={base_channels: 4}",
    "data.size=[32,64]",
    "data.crop_size=[32,32]",
    "data.scales=[0.75,1.0]",
    "data.train_length=8",
    "data.val_length=4",
    "loader.batch_size=4",
    "train.progress=false",
    "train.amp=off",
]


def test_train_then_evaluate_street_recipe(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--config",
            "configs/street_synthetic.yaml",
            *TINY_STREET,
            "train.epochs=1",
            f"train.out_dir={out}",
        ]
    )
    assert rc == 0
    hist = json.loads((out / "history.json").read_text())
    assert len(hist) == 1 and 0 <= hist[0]["val_miou"] <= 1
    # Resume the same run for a second epoch.
    rc = main(
        [
            "train",
            "--config",
            "configs/street_synthetic.yaml",
            "--resume",
            str(out / "last.pt"),
            *TINY_STREET,
            "train.epochs=2",
            f"train.out_dir={out}",
        ]
    )
    assert rc == 0
    hist = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in hist] == [1, 2]
    # Re-evaluating the best checkpoint reproduces the score the trainer recorded for it.
    ev = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            "--config",
            "configs/street_synthetic.yaml",
            "--weights",
            str(out / "best.pt"),
            "--out",
            str(ev),
            *TINY_STREET,
        ]
    )
    assert rc == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["miou"] == pytest.approx(max(r["val_miou"] for r in hist), abs=1e-9)
    assert (ev / "confusion.png").is_file() and (ev / "per_class_iou.png").is_file()
    assert "mIoU" in capsys.readouterr().out


@pytest.mark.slow
def test_train_medical_recipe(tmp_path):
    out = tmp_path / "brain"
    rc = main(
        [
            "train",
            "--config",
            "configs/brain_unet.yaml",
            "threads=1",
            "model.kwargs={base_channels: 4}",
            "data.crop_size=[64,64]",
            "loader.batch_size=4",
            "train.epochs=1",
            "train.max_steps_per_epoch=2",
            "train.progress=false",
            "train.amp=off",
            f"train.out_dir={out}",
        ]
    )
    assert rc == 0
    hist = json.loads((out / "history.json").read_text())
    assert 0 <= hist[0]["val_mean_dice"] <= 1
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["config"]["monitor"] == "mean_dice"


def test_overrides_and_errors(tmp_path):
    r = load_recipe("configs/street_synthetic.yaml", ["train.lr=0.5", "data.scales=[1.0]"])
    assert r["train"]["lr"] == 0.5 and r["data"]["scales"] == [1.0]
    with pytest.raises(ValueError, match="key=value"):
        load_recipe("configs/street_synthetic.yaml", ["train.lr"])
    with pytest.raises(FileNotFoundError, match="configs"):
        load_recipe(tmp_path / "nope.yaml")
    assert main(["train", "--config", "configs/street_synthetic.yaml", "train.bogus=1"]) != 0
