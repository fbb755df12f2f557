"""The brain_extraction MONAI bundle: metadata, verify_net_in_out, ckpt_export, inference and
evaluation end to end on real NIfTI and DICOM data."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from monai_helpers import EVALUATE, INFERENCE, METADATA, SPACING, TRAIN, reference_contract


def _run(config_file, **override):
    from monai.bundle import run

    run(config_file=config_file, logging_file=False, **override)


def test_metadata_matches_model_cfg():
    from medseg.models import get_model_cfg

    meta = json.loads(METADATA.read_text())
    cfg = get_model_cfg("unet_medical")
    # the keys the MONAI bundle specification makes mandatory, plus what this project asks for
    mandatory = (
        "version",
        "monai_version",
        "pytorch_version",
        "numpy_version",
        "optional_packages_version",
        "task",
        "description",
        "authors",
        "copyright",
        "network_data_format",
    )
    for key in (*mandatory, "required_packages_version", "intended_use", "data_source", "license"):
        assert key in meta and meta[key] not in ("", None), key
    fmt_keys = {
        "type",
        "format",
        "modality",
        "num_channels",
        "spatial_shape",
        "dtype",
        "value_range",
        "is_patch_data",
        "channel_def",
    }
    for spec in (
        *meta["network_data_format"]["inputs"].values(),
        *meta["network_data_format"]["outputs"].values(),
    ):
        assert fmt_keys <= set(spec)
    assert "medseg" in meta["required_packages_version"]
    inp = meta["network_data_format"]["inputs"]["image"]
    out = meta["network_data_format"]["outputs"]["pred"]
    assert inp["num_channels"] == cfg.in_channels
    assert out["num_channels"] == cfg.num_classes
    assert [out["channel_def"][str(i)] for i in range(cfg.num_classes)] == list(cfg.class_names)
    assert inp["spatial_shape"] == [f"{cfg.divisor}*n"] * 2


def test_verify_net_in_out():
    from monai.bundle import verify_net_in_out

    for n in (1, 3):  # 16×16 and 48×48 inputs
        verify_net_in_out(
            net_id="network_def",
            meta_file=str(METADATA),
            config_file=str(INFERENCE),
            device="cpu",
            n=n,
        )


def test_ckpt_export_torchscript(tmp_path, test_unet, test_unet_ckpt):
    from monai.bundle import ckpt_export

    ts_path = tmp_path / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts_path),
        ckpt_file=str(test_unet_ckpt),
        meta_file=str(METADATA),
        config_file=str(INFERENCE),
        use_trace=True,
    )
    extra = {"metadata.json": "", "inference.json": ""}
    ts = torch.jit.load(str(ts_path), _extra_files=extra)
    assert (
        json.loads(extra["metadata.json"])["version"] == json.loads(METADATA.read_text())["version"]
    )
    x = torch.randn(2, test_unet.cfg.in_channels, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(ts(x), test_unet(x), rtol=0, atol=1e-5)


def test_inference_nifti_and_dicom_follow_the_contract(
    tmp_path, t1_crop, ct5n, test_unet, test_unet_ckpt
):
    from medseg.io import load_volume

    data = tmp_path / "data"
    data.mkdir()
    (data / "t1.nii.gz").symlink_to(t1_crop)
    (data / "series").mkdir()
    (data / "series" / "CT5N").symlink_to(ct5n, target_is_directory=True)
    out = tmp_path / "out"
    _run(
        str(INFERENCE),
        dataset_dir=str(data),
        output_dir=str(out),
        ckpt_path=str(test_unet_ckpt),
        spacing=SPACING,
        postprocess=False,
    )
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz"))
    assert written == ["series/CT5N_mask.nii.gz", "t1_mask.nii.gz"]
    for mask_path, src in (
        (out / "t1_mask.nii.gz", t1_crop),
        (out / "series/CT5N_mask.nii.gz", ct5n),
    ):
        vol = load_volume(src)
        mask = nib.load(mask_path)
        assert mask.get_data_dtype() == np.uint8
        assert mask.shape == vol.shape
        np.testing.assert_allclose(mask.affine, vol.affine, atol=1e-4)  # aligned with the input
        expected = reference_contract(test_unet, vol.array, vol.affine)
        got = np.asarray(mask.dataobj)
        assert 0.05 < expected.mean() < 0.95 or src == ct5n
        np.testing.assert_array_equal(got, expected)


def test_inference_matches_predictor_with_cleanup(tmp_path, t1_crop, test_unet_ckpt):
    from medseg.engine.predictor import Predictor
    from medseg.io import load_volume

    out = tmp_path / "out"
    _run(
        str(INFERENCE),
        dataset_dir=str(t1_crop),
        output_dir=str(out),
        ckpt_path=str(test_unet_ckpt),
        spacing=SPACING,
    )
    got = np.asarray(nib.load(out / "t1_crop_mask.nii.gz").dataobj)
    pred = Predictor.from_name("unet_medical", pretrained=False, weights=test_unet_ckpt)
    pred.cfg = pred.cfg.replace(spacing=SPACING)
    expected = pred.predict_volume(load_volume(t1_crop), postprocess=True)
    np.testing.assert_array_equal(got, expected)


def test_evaluate_dice_equals_dice_of_written_masks(tmp_path, t1_pair, test_unet_ckpt):
    out = tmp_path / "out"
    _run(
        [str(INFERENCE), str(EVALUATE)],
        dataset_dir=str(t1_pair),
        output_dir=str(out),
        ckpt_path=str(test_unet_ckpt),
        spacing=SPACING,
    )
    name, value = (out / "metrics.csv").read_text().split()[0].split(",")
    assert name == "val_brain_dice"
    mask = np.asarray(nib.load(out / "t1_mask.nii.gz").dataobj) > 0
    label = np.asarray(nib.load(t1_pair / "labels" / "t1.nii.gz").dataobj) > 0
    dice = 2 * (mask & label).sum() / (mask.sum() + label.sum())
    assert float(value) == pytest.approx(dice, abs=1e-12)


def test_train_config_fine_tunes_and_writes_a_loadable_checkpoint(tmp_path, t1_pair):
    from medseg.models import create_model, get_model_cfg

    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("fine-tuning starts from the shipped unet_medical weights")
    out = tmp_path / "run"
    _run(
        [str(INFERENCE), str(TRAIN)],
        dataset_dir=str(t1_pair),
        output_dir=str(out),
        epochs=2,
        slices_per_volume=2,
        patch_size=[48, 48],
    )
    trained = create_model("unet_medical", weights=out / "model.pt")  # a plain state dict
    start = create_model("unet_medical", pretrained=True)
    changed = [
        k
        for k, v in trained.state_dict().items()
        if v.is_floating_point() and not torch.equal(v, start.state_dict()[k])
    ]
    assert "outc.weight" in changed and "inc.0.weight" in changed


def test_dicom_folder_as_dataset_dir_and_series_choice(tmp_path, mixed_series):
    from medseg.io import list_series, load_volume

    # a folder holding several series: each is its own input (as `medseg predict` does),
    # with its own output, instead of the whole batch stopping
    out = tmp_path / "out"
    _run(str(INFERENCE), dataset_dir=str(mixed_series), output_dir=str(out))
    series = list_series(mixed_series)
    written = sorted(p.name for p in out.rglob("*_mask.nii.gz"))
    assert len(written) == len(series) == 2
    for s in series:
        tag = f"S{s['number']}" if s["number"] is not None else None
        match = [w for w in written if tag and tag in w]
        assert len(match) == 1, (written, s)
        vol = load_volume(mixed_series, series_uid=s["uid"])
        mask = nib.load(next(out.rglob(match[0])))
        assert mask.shape == vol.shape
        np.testing.assert_allclose(mask.affine, vol.affine, atol=1e-4)
    # an explicit choice still reads one series
    out2 = tmp_path / "out2"
    _run(str(INFERENCE), dataset_dir=str(mixed_series), output_dir=str(out2), series_uid="largest")
    mask = nib.load(out2 / "two_series_mask.nii.gz")  # inside output_dir, named after the folder
    vol = load_volume(mixed_series, series_uid="largest")
    assert mask.shape == vol.shape
    np.testing.assert_allclose(mask.affine, vol.affine, atol=1e-4)


def test_empty_dataset_dir_error_is_actionable(tmp_path):
    with pytest.raises(RuntimeError) as info:
        _run(
            str(INFERENCE),
            dataset_dir=str(tmp_path),
            output_dir=str(tmp_path / "o"),
            ckpt_path="unused.pt",
            spacing=SPACING,
        )
    # MONAI wraps the error of a config expression; the cause is ours and says what is accepted
    cause = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, FileNotFoundError)
    assert "NIfTI" in str(cause) and "DICOM" in str(cause)


def test_shipped_weights_bundle_equals_predictor(tmp_path, t1_crop):
    """With the package's own weights (no --ckpt_path), the bundle and Predictor agree."""
    from medseg.models import get_model_cfg

    if not get_model_cfg("unet_medical").has_pretrained:
        pytest.skip("unet_medical weights are not shipped in this checkout yet")
    from medseg.engine.predictor import Predictor
    from medseg.io import load_volume

    out = tmp_path / "out"
    _run(str(INFERENCE), dataset_dir=str(t1_crop), output_dir=str(out))
    got = np.asarray(nib.load(out / "t1_crop_mask.nii.gz").dataobj)
    expected = Predictor.from_name("unet_medical").predict_volume(load_volume(t1_crop))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_bundle_cli(tmp_path, t1_crop, test_unet_ckpt):
    """The documented command line, in a fresh interpreter (python -m monai.bundle run)."""
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(INFERENCE),
        "--dataset_dir",
        str(t1_crop.parent),
        "--output_dir",
        str(out),
        "--ckpt_path",
        str(test_unet_ckpt),
        "--spacing",
        "(2.0, 2.0)",
        "--postprocess",
        "false",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    mask = nib.load(out / "t1_crop_mask.nii.gz")
    src = nib.load(t1_crop)
    assert mask.shape == src.shape
    np.testing.assert_allclose(mask.affine, src.affine, atol=1e-5)
