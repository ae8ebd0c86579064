"""The scanner's times and positions are exact."""

from fractions import Fraction

import numpy as np
import pytest

from qdloc import SimParams
from qdloc.sim.scanner import (
    beam_path_um,
    beam_positions_um,
    beam_state_at,
    pixel_start_times_s,
    sample_intervals_s,
)

# Binary fractions: every time below is exactly representable, so equality is exact.
EXACT = SimParams(
    dwell_s=2.0**-19, retrace_s=2.0**-10, height_px=5, width_px=7, start_margin_px=1.0
)


def test_start_times_exact_binary():
    t = pixel_start_times_s(EXACT)
    H, W = 5, 7
    for i in range(H):
        for j in range(W):
            want = (
                Fraction(i) * (W * Fraction(2) ** -19 + Fraction(2) ** -10) + j * Fraction(2) ** -19
            )
            assert Fraction(float(t[i, j])) == want


def test_start_times_paper_values():
    p = SimParams()
    t = pixel_start_times_s(p)
    assert t.shape == (24, 25)
    assert t[0, 0] == 0.0
    assert t[0, 1] == 2e-6
    np.testing.assert_allclose(t[1, 0], 1.15e-3, rtol=1e-15, atol=0)
    np.testing.assert_allclose(t[23, 24], 23 * 1.15e-3 + 24 * 2e-6, rtol=1e-15, atol=0)
    # the frame ends one retrace after the last line's last dwell: frame time 27.6 ms
    np.testing.assert_allclose(p.frame_time_s, 0.0276, rtol=1e-14)


def test_intervals_are_the_differences_of_start_times():
    for p in (EXACT, SimParams()):
        t = pixel_start_times_s(p).reshape(-1)
        dt = sample_intervals_s(p)
        assert dt.shape == (p.n_pixels - 1,)
        np.testing.assert_allclose(np.diff(t), dt, rtol=1e-9, atol=1e-18)
    dt = sample_intervals_s(EXACT)
    assert np.all(np.diff(pixel_start_times_s(EXACT).reshape(-1)) == dt)
    # the two clocks: 6 dwells then one dwell + retrace, per line of 7 pixels
    assert set(dt[:6]) == {2.0**-19}
    assert dt[6] == 2.0**-19 + 2.0**-10
    assert int(np.sum(dt > 2.0**-19)) == 4


def test_beam_positions():
    p = SimParams()
    pos = beam_positions_um(p)
    assert pos.shape == (24, 25, 3)
    assert pos[3, 5, 0] == 5 * 0.07 and pos[3, 5, 1] == 3 * 0.07 and pos[3, 5, 2] == 0.0


def test_beam_path_recording_flags():
    t, x, y, rec = beam_path_um(EXACT)
    assert np.all(np.diff(t) > 0)
    # photons are recorded on H line segments only
    assert int(rec.sum()) == 2 * EXACT.height_px
    assert np.all(y[rec][::2] == np.arange(5) * EXACT.pixel_size_um)


def test_beam_state_at_recording_and_retracing():
    p = SimParams()
    # 10 ms: line 8 (8 x 1.15 ms = 9.2 ms), 0.8 ms after its start, long after its 50 µs of dwells
    s = beam_state_at(p, 10e-3)
    assert (s["line"], s["retracing"], s["n_recording"]) == (8, True, 0)
    assert s["into_line_s"] == pytest.approx(0.8e-3, rel=1e-9)
    # 3 µs into line 1: the dwell of pixel (1, 1)
    s = beam_state_at(p, 1.15e-3 + 3e-6)
    assert (s["line"], s["retracing"], s["n_recording"]) == (1, False, 1)
    with pytest.raises(ValueError, match=r"t_s=0\.0276 is not allowed"):
        beam_state_at(p, p.frame_time_s)
    with pytest.raises(ValueError, match=r"t_s=-1\.0 is not allowed"):
        beam_state_at(p, -1.0)
