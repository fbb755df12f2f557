from __future__ import annotations

import numpy as np

from medseg.data.synthetic_streets import SyntheticStreets, render_scene


def test_same_seed_same_scene_different_seed_different():
    a_img, a_lab = render_scene(7, (64, 128))
    b_img, b_lab = render_scene(7, (64, 128))
    c_img, _ = render_scene(8, (64, 128))
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)


def test_shapes_dtypes_and_label_values():
    img, lab = render_scene(0, (96, 192))
    assert img.shape == (96, 192, 3) and img.dtype == np.uint8
    assert lab.shape == (96, 192) and lab.dtype == np.uint8
    assert set(np.unique(lab)) <= set(range(19)) | {255}


def test_scene_geometry_sky_on_top_road_at_bottom():
    # Over several scenes: sky only above the lowest horizon, road dominates the bottom rows.
    for s in range(5):
        _, lab = render_scene(s, (128, 256))
        assert (lab[:5] == 10).mean() > 0.2  # some sky in the top rows (buildings may cover)
        assert not (lab[-10:] == 10).any()  # never sky at the bottom
        bottom = lab[-20:-14, 64:192]
        assert np.isin(bottom, [0, 255]).mean() > 0.5  # road (or ego-hood ignore) in front


def test_all_major_classes_appear_over_a_few_scenes():
    seen = set()
    for s in range(40):
        seen |= set(np.unique(render_scene(s, (128, 256))[1]).tolist())
    must = {0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18}  # road .. bicycle
    assert must <= seen, f"missing classes {must - seen}"


def test_dataset_seeds_are_disjoint_and_reproducible():
    a, b = SyntheticStreets(3, seed=0, size=(32, 64)), SyntheticStreets(3, seed=1, size=(32, 64))
    np.testing.assert_array_equal(a[2][0], SyntheticStreets(3, seed=0, size=(32, 64))[2][0])
    assert not np.array_equal(a[0][0], b[0][0])
    assert len(a) == 3
    ds = SyntheticStreets(2, size=(32, 64), transforms=lambda im, m: (im.shape, m.shape))
    assert ds[0] == ((32, 64, 3), (32, 64))
