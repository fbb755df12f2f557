"""medseg readers inside MONAI's LoadImage / LoadImaged, checked against MONAI's own readers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, LoadImage, LoadImaged, Orientation

from medseg.io.monai_readers import (
    MedsegDicomReader,
    MedsegLoadImage,
    MedsegLoadImaged,
    MedsegNiftiReader,
    MedsegReader,
    register_readers,
)

PATH = "medseg.io.monai_readers.MedsegReader"


def _ras(img: MetaTensor) -> MetaTensor:
    return Orientation("RAS", labels=None)(img[None] if img.ndim == 3 else img)


def test_nifti_matches_monai_nibabel_reader(t1_crop):
    ours = LoadImage(reader=PATH, image_only=True)(t1_crop)
    ref = LoadImage(reader="NibabelReader", image_only=True)(t1_crop)
    assert isinstance(ours, MetaTensor)
    assert ours.shape == ref.shape == (72, 64, 40)
    torch.testing.assert_close(ours.as_tensor(), ref.as_tensor().float(), rtol=0, atol=0)
    torch.testing.assert_close(ours.affine, ref.affine.to(torch.float64), rtol=0, atol=1e-6)
    assert ours.meta["space"] == "RAS"


def test_dicom_series_matches_monai_pydicom_reader_in_world_space(ct5n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LoadImage(reader="PydicomReader", image_only=True)(str(ct5n))
    ours = LoadImage(reader=MedsegDicomReader, image_only=True)(str(ct5n))
    # MONAI stacks this series in the other slice direction; both are correct, so compare
    # after bringing both to RAS: same voxels at the same world positions.
    a, b = _ras(ours), _ras(ref)
    torch.testing.assert_close(a.affine, b.affine.to(torch.float64), rtol=0, atol=1e-4)
    torch.testing.assert_close(a.as_tensor(), b.as_tensor().float(), rtol=0, atol=1e-3)
    assert float(ours.min()) == -888.0  # HU: RescaleIntercept applied


def test_meta_is_phi_free_and_collates(t1_crop, ct5n):
    data = [{"image": str(t1_crop)}, {"image": str(ct5n)}]
    tf = Compose([LoadImaged("image", reader=PATH, image_only=True), EnsureChannelFirstd("image")])
    for item in DataLoader(Dataset(data, tf), batch_size=1):
        meta = item["image"].meta
        assert not any(k.lower().startswith(("patient", "study", "institution")) for k in meta)
        assert "affine" in meta and "spatial_shape" in meta
    assert "PatientName" not in LoadImage(reader=PATH, image_only=True)(ct5n).meta


def test_register_by_short_name_keeps_monai_default_choice(t1_crop):
    from monai.transforms.io.array import SUPPORTED_READERS

    before = list(SUPPORTED_READERS)
    names = register_readers()
    register_readers()  # idempotent
    try:
        assert list(SUPPORTED_READERS)[: len(names)] == names
        assert list(SUPPORTED_READERS)[len(names) :] == [k for k in before if k not in names]
        loader = LoadImage(reader="MedsegReader", image_only=True)
        assert isinstance(loader.readers[-1], MedsegReader)
        assert loader(t1_crop).shape == (72, 64, 40)
        # automatic choice (tries the last registered first) still picks MONAI's own reader
        auto = LoadImage(image_only=True)
        chosen = [r for r in reversed(auto.readers) if r.verify_suffix(str(t1_crop))][0]
        assert type(chosen).__name__ == "NibabelReader"
    finally:
        for k in names:
            SUPPORTED_READERS.pop(k, None)


def test_verify_suffix(t1_crop, ct5n, tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG")
    one_dicom = next(ct5n.iterdir())  # no suffix: recognised by its DICM magic
    assert MedsegReader().verify_suffix(str(t1_crop))
    assert MedsegReader().verify_suffix([str(ct5n), str(one_dicom)])
    assert not MedsegReader().verify_suffix(str(png))
    assert MedsegNiftiReader().verify_suffix(str(t1_crop))
    assert not MedsegNiftiReader().verify_suffix(str(ct5n))
    assert MedsegDicomReader().verify_suffix(str(one_dicom))
    assert not MedsegDicomReader().verify_suffix(str(t1_crop))


def test_wrong_input_gives_actionable_error(ct5n):
    from medseg.io import MedsegIOError

    with pytest.raises(MedsegIOError, match=r"NIfTI files \(\.nii, \.nii\.gz\)"):
        MedsegNiftiReader().read(str(ct5n))


def test_several_paths_stack_as_channels(t1_crop):
    arr, meta = MedsegReader().get_data(MedsegReader().read([t1_crop, t1_crop]))
    assert arr.shape == (2, 72, 64, 40) and meta["original_channel_dim"] == 0
    np.testing.assert_array_equal(arr[0], arr[1])


def test_strict_loader_raises_medseg_error_instead_of_falling_back(mixed_series):
    from medseg.io import MedsegIOError

    with pytest.raises(MedsegIOError, match="2 series found") as info:
        MedsegLoadImage()(str(mixed_series))
    assert "Routine Brain" in str(info.value)  # the error lists the series to choose from
    with pytest.raises(MedsegIOError, match="2 series found"):
        MedsegLoadImaged("image")({"image": str(mixed_series)})
    img = MedsegLoadImaged("image", series_uid="largest")({"image": str(mixed_series)})["image"]
    assert img.shape == (16, 16, 5)  # CT5N, the larger series
    # MONAI's own LoadImage(reader=...) swallows the reader's error and tries its other readers
    loader = LoadImage(reader=MedsegReader(), image_only=True)
    assert len(loader.readers) > 1


def test_strict_loader_rejects_non_medseg_reader():
    from monai.data import NibabelReader

    with pytest.raises(TypeError, match="MedsegReader"):
        MedsegLoadImage(reader=NibabelReader())


def test_medseg_loaders_do_not_pass_on_monais_gpu_reader_notice(t1_crop):
    # regression: MONAI runs printed "NvImgCodecPydicomReader: nvImageCodec decoder plugin
    # did not register" to the user on every CPU machine
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        MedsegLoadImage()(t1_crop)
        MedsegLoadImaged(keys="image")({"image": str(t1_crop)})
    assert not [w for w in seen if "nvImageCodec" in str(w.message)]
