"""Nothing `medseg predict` does may lose a user's file (issue 20).

The property test runs the real command with ``-o`` equal to each input's own folder, a parent
of it and a child of it, for NIfTI, DICOM and image inputs, and checks every input file's
SHA-256 before and after. A run that would write over or inside an input must refuse before
writing anything, naming both paths.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from medseg.batch import UnsafeOutputError, run_batch
from medseg.cli import main
from medseg.engine.predictor import Predictor


def _sums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def workspace(tmp_path, ct5n_dir):
    """``ws/data/`` with a NIfTI scan, a DICOM series folder and a photo."""
    import nibabel as nib
    from PIL import Image

    data = tmp_path / "ws" / "data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    nib.save(
        nib.Nifti1Image(rng.normal(100, 20, (16, 14, 4)).astype(np.float32), np.eye(4)),
        data / "scan.nii.gz",
    )
    shutil.copytree(ct5n_dir, data / "series")
    Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(data / "slice.png")
    return data


INPUTS = {"nifti": "scan.nii.gz", "dicom": "series", "image": "slice.png"}


def _cli(args):
    return main(
        [
            "predict",
            *args,
            "--no-pretrained",
            "--model-arg",
            "base_channels=4",
            "--backend",
            "torch",
            "--allow-modality-mismatch",
            "--quiet",
        ]
    )


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("where", ["own folder", "parent", "child"])
def test_outputs_never_touch_inputs(workspace, kind, where, capsys):
    inp = workspace / INPUTS[kind]
    own = inp if inp.is_dir() else inp.parent  # the folder the input lives in (or is)
    out = {"own folder": own, "parent": own.parent, "child": own / "out"}[where]
    before = _sums(workspace.parent)
    rc = _cli([str(inp), "-o", str(out)])
    after = _sums(workspace.parent)
    for name, digest in before.items():
        assert after.get(name) == digest, f"{name} changed or vanished"
    err = capsys.readouterr().err
    if kind == "dicom" and where in ("own folder", "child"):
        # outputs would go inside the input DICOM folder: refused, nothing written
        assert rc == 2 and "inside the input" in err and str(inp) in err
        assert set(after) == set(before)
    else:
        assert rc == 0, err
        stem = {"nifti": "scan", "dicom": "series", "image": "slice"}[kind]
        suffix = "_mask.png" if kind == "image" else "_mask.nii.gz"
        assert (out / f"{stem}{suffix}").is_file()


def test_scan_in_the_current_folder_keeps_its_own_name(workspace, monkeypatch):
    # tried as a new user: `medseg predict scan.nii.gz -o .` replaced the scan with its mask
    monkeypatch.chdir(workspace)
    digest = hashlib.sha256(Path("scan.nii.gz").read_bytes()).hexdigest()
    assert _cli(["scan.nii.gz", "-o", "."]) == 0
    assert hashlib.sha256(Path("scan.nii.gz").read_bytes()).hexdigest() == digest
    assert Path("scan_mask.nii.gz").is_file()


def test_collision_with_another_input_is_refused_naming_both(workspace, capsys):
    shutil.copy(workspace / "scan.nii.gz", workspace / "scan_mask.nii.gz")  # a user's file
    before = _sums(workspace)
    rc = _cli(
        [str(workspace / "scan.nii.gz"), str(workspace / "scan_mask.nii.gz"), "-o", str(workspace)]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "scan_mask.nii.gz" in err and "would replace the input" in err
    assert _sums(workspace) == before  # refused before doing anything


def test_a_users_file_in_the_output_folder_is_not_overwritten(workspace, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "scan_mask.nii.gz").write_bytes(b"my manual segmentation")
    rc = _cli([str(workspace / "scan.nii.gz"), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "was not written by medseg" in err and "--overwrite" in err
    assert (out / "scan_mask.nii.gz").read_bytes() == b"my manual segmentation"
    assert _cli([str(workspace / "scan.nii.gz"), "-o", str(out), "--overwrite"]) == 0
    assert (out / "scan_mask.nii.gz").read_bytes() != b"my manual segmentation"
    # medseg's own outputs are replaced on the next run without --overwrite
    assert _cli([str(workspace / "scan.nii.gz"), "-o", str(out)]) == 0


def test_report_path_has_no_double_slash(workspace, tmp_path, capsys):
    out = str(tmp_path / "res") + "/"
    assert _cli([str(workspace / "scan.nii.gz"), "-o", out]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if "report:" in x][0]
    assert "//" not in line and line.endswith("report.csv")


def test_library_call_refuses_too(workspace):
    from medseg.models import create_model

    p = Predictor.from_model(create_model("unet_medical", base_channels=4))
    with pytest.raises(UnsafeOutputError, match="inside the input"):
        run_batch([workspace / "series"], workspace / "series" / "masks", p, progress=False)
    assert not (workspace / "series" / "masks").exists()


# ----------------------------------------------------------------------- the model guard
def test_photo_into_the_medical_model_is_refused_then_allowed(tmp_path, capsys):
    from PIL import Image

    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[:, 10:, 2] = 255
    Image.fromarray(rgb).save(tmp_path / "street.png")
    base = [str(tmp_path / "street.png"), "--no-pretrained", "--model-arg", "base_channels=4",
            "--backend", "torch", "--quiet"]  # fmt: skip
    assert main(["predict", *base, "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "colour photo" in err and "unet_medical" in err
    assert not (tmp_path / "a" / "street_mask.png").exists()
    assert main(["predict", *base, "-o", str(tmp_path / "b"), "--allow-modality-mismatch"]) == 0
    assert (tmp_path / "b" / "street_mask.png").is_file()


def test_ct_into_the_mr_model_is_refused_and_mr_goes_through(ct5n_dir, mr_series, tmp_path):
    import json

    from medseg.models import create_model

    p = Predictor.from_model(create_model("unet_medical", base_channels=4))
    rows = run_batch([ct5n_dir, mr_series], tmp_path / "o", p, progress=False)
    by = {r["case_id"]: r for r in rows}
    assert by["CT5N"]["status"] == "error"
    assert "a CT scan into unet_medical" in by["CT5N"]["error"]
    assert by["mr_series"]["status"] == "ok"
    assert not [w for w in by["mr_series"]["warnings"] if "modality" in w or "mismatch" in w]
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["summary"]["errors"] == 1


def test_volume_into_a_street_model_is_refused(workspace, tmp_path):
    from medseg.models import create_model

    p = Predictor.from_model(create_model("unet", num_classes=19, base_channels=4))
    rows = run_batch([workspace / "scan.nii.gz"], tmp_path / "o", p, progress=False)
    assert rows[0]["status"] == "error" and "volume into unet" in rows[0]["error"]


def test_nifti_without_modality_runs_with_a_note(workspace, tmp_path):
    from medseg.models import create_model

    p = Predictor.from_model(create_model("unet_medical", base_channels=4))
    rows = run_batch([workspace / "scan.nii.gz"], tmp_path / "o", p, progress=False)
    assert rows[0]["status"] == "ok"
    assert any("no modality information" in w for w in rows[0]["warnings"])


# ----------------------------------------------------------------------- weights files
def test_exported_onnx_weights_work_from_the_command_line(workspace, tmp_path):
    import json

    from medseg.export import export_onnx
    from medseg.models import create_model

    model = create_model("unet_medical", base_channels=4).eval()
    onnx_path = tmp_path / "model.onnx"
    export_onnx(model, onnx_path, exporter="legacy", input_size=(64, 64))
    out = tmp_path / "o"
    rc = main(["predict", str(workspace / "scan.nii.gz"), "-o", str(out), "--weights",
               str(onnx_path), "--quiet"])  # fmt: skip
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    row = rep["cases"][0]
    assert row["model"] == "unet_medical" and row["weights"] == "model.onnx"
    assert row["backend"] == "onnxruntime"
    assert row["weights_sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    # same labels as the eager model
    import nibabel as nib

    from medseg.io import load_volume

    ref = Predictor.from_model(model).predict_volume(load_volume(workspace / "scan.nii.gz"))
    np.testing.assert_array_equal(np.asarray(nib.load(out / "scan_mask.nii.gz").dataobj), ref)


def test_exported_onnx_weights_follow_the_backend_option(workspace, tmp_path, capsys):
    """``--backend`` applies to an exported file too (it used to be ignored: ONNX Runtime ran
    whatever was asked); a back-end that cannot run the file is refused by name."""
    import json

    pytest.importorskip("openvino")
    from medseg.export import export_onnx
    from medseg.models import create_model

    onnx_path = tmp_path / "model.onnx"
    export_onnx(create_model("unet_medical", base_channels=4).eval(), onnx_path,
                exporter="legacy", input_size=(64, 64))  # fmt: skip
    out = tmp_path / "o"
    rc = main(["predict", str(workspace / "scan.nii.gz"), "-o", str(out), "--weights",
               str(onnx_path), "--backend", "openvino-fp32", "--quiet"])  # fmt: skip
    assert rc == 0
    row = json.loads((out / "report.json").read_text())["cases"][0]
    assert row["backend"] == "openvino-fp32" and row["weights"] == "model.onnx"
    rc = main(["predict", str(workspace / "scan.nii.gz"), "-o", str(tmp_path / "t"),
               "--weights", str(onnx_path), "--backend", "torch", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "an ONNX graph runs on" in err and "'torch'" in err


def test_unusable_weights_say_what_was_expected_without_unsafe_advice(workspace, tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x04this is not a state dict")
    rc = main(["predict", str(workspace / "scan.nii.gz"), "-o", str(tmp_path / "o"), "--weights",
               str(bad), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "state dict" in err and ".onnx" in err
    assert "weights_only" not in err
