"""medseg.models.compat.check_input: task, modality and colour guard with an override."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.models import get_model_cfg
from medseg.models.compat import InputMismatchError, check_input, is_color, trained_for


@pytest.fixture
def mr():
    return get_model_cfg("unet_medical")


@pytest.fixture
def street():
    return get_model_cfg("lraspp_mobilenet_v3")


def test_ct_into_mr_model_is_refused_naming_both(mr):
    with pytest.raises(InputMismatchError) as e:
        check_input(mr, kind="volume", modality="CT")
    msg = str(e.value)
    assert "CT" in msg and "unet_medical" in msg and "MR" in msg
    assert "--allow-modality-mismatch" in msg


def test_override_turns_the_refusal_into_a_note(mr):
    note = check_input(mr, kind="volume", modality="ct", allow_mismatch=True)
    assert "CT" in note and "mismatch" in note


def test_matching_modality_has_nothing_to_say(mr):
    assert check_input(mr, kind="volume", modality="MR") == ""


def test_missing_modality_goes_through_with_a_note(mr):
    note = check_input(mr, kind="volume", modality="")
    assert "no modality information" in note and trained_for(mr) in note


def test_colour_photo_into_grayscale_model_and_volume_into_street_model(mr, street):
    with pytest.raises(InputMismatchError, match="colour photo"):
        check_input(mr, kind="image", color=True)
    with pytest.raises(InputMismatchError, match="volume"):
        check_input(street, kind="volume", modality="MR")
    assert check_input(street, kind="image", color=True) == ""


def test_is_color_tells_grey_saved_as_rgb_from_a_photo():
    grey = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8)[..., None], 3, axis=2)
    assert not is_color(grey)
    photo = grey.copy()
    photo[..., 0] = 200
    assert is_color(photo)
    assert not is_color(grey[..., 0])


def test_unknown_kind_is_an_error(mr):
    with pytest.raises(ValueError, match="kind"):
        check_input(mr, kind="video")
