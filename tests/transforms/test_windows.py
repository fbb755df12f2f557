"""CT window presets, multi-window stacking and the MONAI (dictionary) transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose

from medseg.transforms import WINDOW_PRESETS, apply_window_preset, get_window, stack_windows
from medseg.transforms.array import CTWindow, MultiWindow, PercentileZScore
from medseg.transforms.dictionary import CTWindowd, MultiWindowd, PercentileZScored
from medseg.transforms.windows import WINDOW_SOURCES


def _window_by_hand(x: np.ndarray, center: float, width: float) -> np.ndarray:
    out = np.empty(x.shape, np.float64)
    for i, v in np.ndenumerate(x):  # piecewise definition, element by element
        if v <= center - width / 2:
            out[i] = 0.0
        elif v >= center + width / 2:
            out[i] = 1.0
        else:
            out[i] = (v - (center - width / 2)) / width
    return out


def test_required_presets_present_with_sources():
    assert WINDOW_PRESETS["brain"] == (40, 80)
    assert WINDOW_PRESETS["lung"] == (-600, 1500)
    assert WINDOW_PRESETS["abdomen"] == (40, 400) == WINDOW_PRESETS["soft_tissue"]
    assert WINDOW_PRESETS["bone"] in {(400, 1800), (300, 1500)}
    for name in ("subdural", "stroke", "mediastinum", "liver"):
        assert name in WINDOW_PRESETS
    assert set(WINDOW_SOURCES) == set(WINDOW_PRESETS)
    for name, (_, w) in WINDOW_PRESETS.items():
        assert w > 0 and WINDOW_SOURCES[name].startswith("Radiopaedia")


@pytest.mark.parametrize("name", sorted(WINDOW_PRESETS))
def test_presets_match_hand_computation(name):
    c, w = WINDOW_PRESETS[name]
    x = np.linspace(c - w, c + w, 41).reshape(41, 1)
    got = apply_window_preset(x, name)
    assert got.dtype == np.float32 and got.min() == 0.0 and got.max() == 1.0
    np.testing.assert_allclose(got, _window_by_hand(x, c, w), atol=1e-6)
    t = apply_window_preset(torch.as_tensor(x), name)
    assert t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), got, atol=1e-6)


def test_window_by_pair_and_names_case_insensitive():
    x = np.array([-1000.0, 0.0, 40.0, 1000.0])
    np.testing.assert_allclose(apply_window_preset(x, (40, 80)), apply_window_preset(x, "Brain"))
    assert get_window("soft tissue") == WINDOW_PRESETS["soft_tissue"]
    with pytest.raises(ValueError, match="known: abdomen, bone, brain"):
        get_window("kidneyz")
    with pytest.raises(ValueError, match="width must be > 0"):
        get_window((40, 0))


def test_stack_windows_channels():
    x = np.random.default_rng(0).uniform(-1200, 1500, (6, 7)).astype(np.float32)
    s = stack_windows(x, ["brain", "lung", (100, 50)], axis=0)
    assert s.shape == (3, 6, 7) and s.dtype == np.float32
    np.testing.assert_allclose(s[1], _window_by_hand(x, -600, 1500), atol=1e-6)
    np.testing.assert_allclose(s[2], _window_by_hand(x, 100, 50), atol=1e-6)
    last = stack_windows(torch.as_tensor(x), ["brain", "bone"], axis=-1)
    assert tuple(last.shape) == (6, 7, 2)


def _ct_metatensor():
    x = torch.linspace(-1100, 1600, 2 * 3 * 4).reshape(1, 2, 3, 4)
    return MetaTensor(x, affine=torch.diag(torch.tensor([0.5, 0.5, 2.0, 1.0], dtype=torch.float64)))


def test_array_transforms_keep_metatensor_and_match_functions():
    img = _ct_metatensor()
    out = CTWindow("liver")(img)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert torch.equal(out.affine, img.affine)
    np.testing.assert_allclose(out.numpy(), _window_by_hand(img.numpy(), 30, 150), atol=1e-6)
    mw = MultiWindow(["brain", "subdural", "bone"])(img)
    assert tuple(mw.shape) == (3, 2, 3, 4) and isinstance(mw, MetaTensor)
    np.testing.assert_allclose(mw[2].numpy(), _window_by_hand(img[0].numpy(), 400, 1800), atol=1e-6)
    assert isinstance(CTWindow("lung")(img.numpy()), np.ndarray)
    with pytest.raises(ValueError, match="one input channel"):
        MultiWindow(["brain"])(torch.zeros(2, 3, 3))


def test_dictionary_transforms_in_compose():
    img = _ct_metatensor()
    data = {"image": img, "label": torch.ones(1, 2, 3, 4)}
    out = Compose([MultiWindowd("image", ["brain", "lung"])])(data)
    assert tuple(out["image"].shape) == (2, 2, 3, 4)
    assert torch.equal(out["label"], data["label"])  # untouched
    single = CTWindowd(["image"], (40, 80))(data)["image"]
    np.testing.assert_allclose(single.numpy(), CTWindow("brain")(img).numpy())
    with pytest.raises(KeyError):
        CTWindowd("missing")(data)
    assert CTWindowd("missing", allow_missing_keys=True)(data)["image"] is img


def _zscore_by_hand(a: np.ndarray, lo_p: float, hi_p: float) -> np.ndarray:
    lo, hi = np.percentile(a, [lo_p, hi_p])
    c = np.minimum(np.maximum(a.astype(np.float64), lo), hi)
    return (c - c.mean()) / c.std()


def test_percentile_zscore_channel_wise():
    rng = np.random.default_rng(3)
    a = np.stack([rng.gamma(2.0, 100.0, (8, 9, 5)), rng.normal(1000, 50, (8, 9, 5))]).astype(
        np.float32
    )
    a[0, 0, 0, 0] = 1e6  # an outlier that clipping must tame
    out = PercentileZScore(1.0, 99.0)(torch.as_tensor(a))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    for c in range(2):
        np.testing.assert_allclose(out[c].numpy(), _zscore_by_hand(a[c], 1.0, 99.0), atol=1e-4)
    whole = PercentileZScore(1.0, 99.0, channel_wise=False)(a)
    np.testing.assert_allclose(whole, _zscore_by_hand(a, 1.0, 99.0), atol=1e-4)
    d = PercentileZScored("image", 1.0, 99.0)({"image": MetaTensor(torch.as_tensor(a))})
    assert isinstance(d["image"], MetaTensor)
    np.testing.assert_allclose(d["image"].numpy(), out.numpy())
    with pytest.raises(ValueError, match="lower < upper"):
        PercentileZScore(50, 10)


def test_window_real_ct_in_loadimage_pipeline():
    from monai.data import PydicomReader
    from monai.transforms import EnsureChannelFirst, LoadImage
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    pipe = Compose(
        [
            LoadImage(reader=PydicomReader(), image_only=True),
            EnsureChannelFirst(),
            CTWindow("abdomen"),
        ]
    )
    out = pipe(path)
    from medseg.io import load_volume

    hu = load_volume(path).array[..., 0]
    np.testing.assert_allclose(out[0].numpy(), _window_by_hand(hu, 40, 400), atol=1e-6)
