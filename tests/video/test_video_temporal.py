from __future__ import annotations

import numpy as np
import pytest

from medseg.video import FlickerMeter, TemporalEMA, flicker_rate


def test_ema_matches_hand_computation():
    rng = np.random.default_rng(0)
    ps = [rng.random((3, 4, 5)).astype(np.float32) for _ in range(4)]
    ema = TemporalEMA(0.75)
    expect = ps[0].copy()
    assert np.allclose(ema.update(ps[0]), expect)
    for p in ps[1:]:
        expect = 0.75 * expect + 0.25 * p
        got = ema.update(p)
        assert np.allclose(got, expect, atol=1e-6)
    ema.reset()
    assert np.allclose(ema.update(ps[2]), ps[2])


def test_ema_off_is_identity():
    p = np.random.default_rng(1).random((2, 3, 3)).astype(np.float32)
    ema = TemporalEMA(0.0)
    ema.update(p * 0)
    assert np.array_equal(ema.update(p), p)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 2.0])
def test_ema_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        TemporalEMA(alpha)


def test_flicker_hand_case():
    a = np.zeros((2, 2), np.uint8)
    b = a.copy()
    b[0, 0] = 1  # 1 of 4 pixels changes
    c = b.copy()
    c[:, 1] = 2  # 2 of 4 change
    # pairs: (a,b) 0.25, (b,c) 0.5, (c,c) 0 -> mean 0.25
    assert flicker_rate([a, b, c, c]) == pytest.approx(0.25)
    assert flicker_rate([a]) == 0.0
    m = FlickerMeter()
    assert m.update(a) is None
    assert m.update(b) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="shape"):
        m.update(np.zeros((3, 3), np.uint8))
