from __future__ import annotations

import pytest
from medseg_export_models import small_model


@pytest.fixture
def light_model():
    return small_model("lraspp_mobilenet_v3")
