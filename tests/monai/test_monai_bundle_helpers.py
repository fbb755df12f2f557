"""medseg.monai.bundle: the small functions the bundle configs call."""

from __future__ import annotations

import shutil

import pytest

from medseg.monai import bundle as B


def test_list_inputs_finds_nifti_and_dicom_folders(tmp_path, t1_crop, ct5n):
    (tmp_path / "a").mkdir()
    shutil.copy(t1_crop, tmp_path / "a" / "x.nii.gz")
    shutil.copytree(ct5n, tmp_path / "b" / "series")
    (tmp_path / "b" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")  # an index, not a series
    (tmp_path / "notes.txt").write_text("not a scan")
    (tmp_path / "empty").mkdir()
    found = [d["image"] for d in B.list_inputs(tmp_path)]
    assert found == [str(tmp_path / "a" / "x.nii.gz"), str(tmp_path / "b" / "series")]
    assert B.list_inputs(t1_crop) == [{"image": str(t1_crop)}]
    with pytest.raises(FileNotFoundError, match="not a folder"):
        B.list_inputs(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no NIfTI"):
        B.list_inputs(tmp_path / "empty")


def test_list_labelled_inputs(t1_pair, tmp_path):
    assert B.list_labelled_inputs(t1_pair) == [
        {
            "image": str(t1_pair / "images" / "t1.nii.gz"),
            "label": str(t1_pair / "labels" / "t1.nii.gz"),
        }
    ]
    shutil.copytree(t1_pair / "images", tmp_path / "images")
    (tmp_path / "labels").mkdir()
    with pytest.raises(FileNotFoundError, match="no label for t1.nii.gz"):
        B.list_labelled_inputs(tmp_path)
    with pytest.raises(FileNotFoundError, match="labels/"):
        B.list_labelled_inputs(tmp_path / "images")


def test_data_root(tmp_path, t1_crop, ct5n):
    assert B.data_root(tmp_path) == str(tmp_path)
    assert B.data_root(t1_crop) == str(t1_crop.parent)
    assert B.data_root(ct5n) == str(ct5n.parent)


@pytest.mark.parametrize(
    "value,expected",
    [(True, True), ("false", False), ("False", False), ("0", False), ("yes", True), (0, False)],
)
def test_as_bool(value, expected):
    assert B.as_bool(value) is expected


def test_as_bool_rejects_other_strings():
    with pytest.raises(ValueError, match="boolean"):
        B.as_bool("maybe")


def test_model_facts_come_from_model_cfg(monkeypatch, tmp_path):
    from medseg.models import get_model_cfg, registry

    cfg = get_model_cfg("unet_medical")
    assert B.model_spacing("unet_medical") == (None if cfg.spacing is None else tuple(cfg.spacing))
    if not cfg.has_pretrained:
        with pytest.raises(FileNotFoundError, match="--ckpt_path"):
            B.shipped_weights("unet_medical")
        return
    assert B.shipped_weights("unet_medical").endswith(cfg.weights)
    # a replaced file is refused
    fake = tmp_path / cfg.weights
    fake.write_bytes(b"not the weights")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        B.shipped_weights("unet_medical")


def test_list_inputs_splits_a_folder_of_several_series(tmp_path, mixed_series):
    from medseg.io import list_series

    items = B.list_inputs(mixed_series)
    series = list_series(mixed_series)
    assert sorted(i["series_uid"] for i in items) == sorted(s["uid"] for s in series)
    assert len({i["name"] for i in items}) == 2
    assert all(i["image"] == str(mixed_series) for i in items)
    # with the bundle's series_uid set, the folder is one input again
    assert B.list_inputs(mixed_series, series_uid="largest") == [{"image": str(mixed_series)}]
