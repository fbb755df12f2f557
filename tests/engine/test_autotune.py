"""backend="auto": choice rules on runners with known speed and accuracy, the decision cache,
the medical volume check, and the real path on a small model."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from medseg.engine import autotune, calibration
from medseg.engine.autotune import AutoRunner, limit_candidates, size_bucket
from medseg.engine.decisions import DecisionCache, cache_dir
from medseg.models import create_model


class Fake:
    """A runner: ``slow`` seconds per call, logits = eager's, optionally with labels flipped."""

    def __init__(self, model, slow=0.0, flip_fraction=0.0, name="fake"):
        self.model, self.slow, self.flip, self.name = model, slow, flip_fraction, name
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        time.sleep(self.slow)
        with torch.no_grad():
            y = self.model(x).clone()
        if self.flip:
            n = int(self.flip * y[:, 0].numel())
            flat = y.permute(1, 0, 2, 3).reshape(y.shape[1], -1)
            flat[:, :n] = flat[:, :n].flip(0)  # swap the classes of the first n pixels
            y = flat.reshape(y.shape[1], y.shape[0], *y.shape[2:]).permute(1, 0, 2, 3)
        return y


@pytest.fixture
def street():
    torch.manual_seed(0)
    return create_model("unet", num_classes=5, base_channels=8).eval()


def _auto(model, specs, **kw):
    built = {}

    def factory(name, spec):
        def make():
            built[name] = Fake(model, **spec, name=name)
            return built[name]

        return make

    r = AutoRunner(
        {n: factory(n, s) for n, s in specs.items()},
        reference="torch",
        cfg=model.cfg,
        model_id="test-" + "-".join(sorted(specs)),
        **kw,
    )
    return r, built


def test_fastest_agreeing_candidate_wins_and_wrong_ones_are_out(street):
    r, built = _auto(
        street,
        {
            "torch": {"slow": 0.03},
            "onnxruntime": {"slow": 0.01},
            "openvino-bf16": {"slow": 0.0, "flip_fraction": 0.02},  # fastest, 2 % wrong
        },
    )
    x = torch.randn(1, 3, 32, 48)
    y = r(x)
    assert r.backend == "onnxruntime"
    trials = {t.backend: t for t in r.choice.trials}
    assert trials["openvino-bf16"].status == "disagrees"
    assert trials["openvino-bf16"].agreement < autotune.MIN_AGREEMENT
    assert trials["onnxruntime"].status == "chosen" and trials["onnxruntime"].agreement == 1.0
    assert trials["onnxruntime"].speedup > 1
    with torch.no_grad():
        torch.testing.assert_close(y, street(x))
    assert "onnxruntime (auto:" in r.describe() and "eager fp32" in r.describe()


def test_within_the_margin_the_exact_path_beats_reduced_precision(street, monkeypatch):
    monkeypatch.setattr(autotune, "REDUCED_PRECISION_MARGIN", 100.0)
    r, _ = _auto(
        street, {"torch": {"slow": 0.02}, "onnxruntime": {"slow": 0.01}, "bf16": {"slow": 0.0}}
    )
    r(torch.randn(1, 3, 32, 32))
    assert r.backend == "onnxruntime"


def test_decision_is_cached_per_machine_and_reused_without_measuring(street):
    specs = {"torch": {"slow": 0.02}, "onnxruntime": {"slow": 0.0}}
    r, _ = _auto(street, specs)
    r(torch.randn(1, 3, 32, 48))
    assert r.backend == "onnxruntime" and not r.choice.cached
    data = json.loads(DecisionCache().path.read_text())
    assert data["machine"]["cpu"] and any(
        "onnxruntime" in json.dumps(v) for v in data["choices"].values()
    )
    assert DecisionCache().path.parent.parent == cache_dir()
    # a new runner (a new process, say) reads the decision: only the winner is built
    r2, built2 = _auto(street, specs)
    r2(torch.randn(1, 3, 33, 47))  # same size class
    assert r2.choice.cached and set(built2) == {"onnxruntime"}
    # another size class is measured again
    r2(torch.randn(1, 3, 128, 128))
    assert len(r2.choices) == 2 and "torch" in built2


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDSEG_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MEDSEG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "medseg"


def test_only_the_reference_means_no_measurement(street):
    r, built = _auto(street, {"torch": {"slow": 0.0}})
    r(torch.randn(1, 3, 32, 32))
    assert r.backend == "torch" and built["torch"].calls == 1  # no calibration, no timing


def test_environment_limits_the_candidates(monkeypatch):
    monkeypatch.setenv("MEDSEG_AUTO_BACKENDS", "onnxruntime, openvino-bf16")
    assert limit_candidates(["torch", "bf16", "onnxruntime", "openvino-bf16"], "torch") == [
        "torch",
        "onnxruntime",
        "openvino-bf16",
    ]
    monkeypatch.delenv("MEDSEG_AUTO_BACKENDS")
    assert limit_candidates(["onnxruntime", "torch"], "torch") == ["torch", "onnxruntime"]


def test_a_candidate_that_fails_to_build_is_reported_not_fatal(street):
    def broken():
        raise RuntimeError("no such runtime")

    r = AutoRunner(
        {"torch": lambda: Fake(street, name="torch"), "openvino-fp32": broken},
        reference="torch",
        cfg=street.cfg,
        model_id="broken",
    )
    r(torch.randn(1, 3, 32, 32))
    t = {t.backend: t for t in r.choice.trials}
    assert r.backend == "torch" and t["openvino-fp32"].status.startswith("failed: RuntimeError")


def test_size_bucket_groups_similar_sizes():
    assert size_bucket(384, 512) == size_bucket(384, 520)
    assert size_bucket(256, 512) != size_bucket(512, 1024)


def test_medical_candidate_must_pass_the_volume_check(monkeypatch):
    torch.manual_seed(0)
    model = create_model("unet_medical", base_channels=8).eval()
    calls = []

    def fake_check(cfg, ref, cand):
        calls.append(cand.name)
        return {"volume": "fake", "passed": cand.name != "openvino-bf16", "dice_drop": 0.01}

    monkeypatch.setattr(autotune, "volume_check", fake_check)
    r, _ = _auto(
        model,
        {"torch": {"slow": 0.03}, "onnxruntime": {"slow": 0.01}, "openvino-bf16": {"slow": 0.0}},
    )
    r(torch.randn(1, model.cfg.in_channels, 32, 32))
    assert calls == ["openvino-bf16", "onnxruntime"] and r.backend == "onnxruntime"
    t = {t.backend: t for t in r.choice.trials}
    assert t["openvino-bf16"].status == "volume check failed"


def test_volume_check_compares_dice_on_a_real_volume(monkeypatch, tmp_path):
    """Against an independent Dice on a synthetic NIfTI volume with a known mask."""
    import nibabel as nib

    vol = np.zeros((24, 20, 6), np.float32)
    vol[6:18, 5:15] = 100.0
    vol += np.random.default_rng(0).normal(0, 5, vol.shape).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v.nii.gz")
    nib.save(nib.Nifti1Image((vol > 50).astype(np.uint8), np.eye(4)), tmp_path / "m.nii.gz")
    monkeypatch.setenv(calibration.ENV_VOLUME, str(tmp_path / "v.nii.gz"))
    monkeypatch.setenv(calibration.ENV_VOLUME_MASK, str(tmp_path / "m.nii.gz"))
    # the plain axial path (one channel, no planes): the oracles below read one channel
    cfg = create_model("unet_medical", base_channels=8).cfg.replace(
        spacing=None, in_channels=1, context_slices=0, volume_planes=()
    )

    def oracle(x):  # foreground where the normalised intensity is above 0: the bright box
        return torch.cat([torch.zeros_like(x), 10 * x], 1)

    def empty(x):  # everything background
        return torch.cat([torch.ones_like(x), torch.zeros_like(x)], 1)

    gt = vol > 50
    same = calibration.volume_check(cfg, oracle, oracle)
    assert same["passed"] and same["agreement"] == 1.0 and same["dice_drop"] == 0.0
    assert same["dice"] > 0.9
    bad = calibration.volume_check(cfg, oracle, empty)
    assert bad["dice"] == 0.0 and not bad["passed"]
    assert bad["agreement"] == pytest.approx(1 - gt.mean(), abs=0.02)
    assert bad["dice_drop"] == pytest.approx(same["dice"])


def test_real_auto_runner_on_a_small_model(street):
    """make_runner(..., "auto") with real candidates: whatever wins, its labels agree."""
    from medseg.engine.backends import make_runner

    r = make_runner(street, "auto", candidates=["torch", "onnxruntime"])
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        ref = street(x)
    y = r(x)
    assert r.backend in ("torch", "onnxruntime")
    assert float((y - ref).abs().max()) < 1e-4
    assert {t.backend for t in r.choice.trials} == {"torch", "onnxruntime"}


def test_predictor_reports_what_auto_chose(street):
    from medseg.engine.predictor import Predictor

    p = Predictor.from_model(street, backend="auto", candidates=["torch", "onnxruntime"])
    assert p.backend_info()["backend"] == "auto"  # nothing decided yet
    p.predict_image(np.zeros((32, 48, 3), np.uint8))
    info = p.backend_info()
    assert info["auto"] and info["backend"] in ("torch", "onnxruntime")
    assert info["summary"].startswith(info["backend"]) and info["choice"]["reference"] == "torch"
