"""SimParams: validation in one place, JSON round-trip."""

import json
import math

import numpy as np
import pytest

from qdloc import SimParams
from qdloc.sim.params import check_int


def test_defaults_are_the_papers():
    p = SimParams()
    assert (p.height_px, p.width_px) == (24, 25)
    assert p.pixel_size_um == 0.07
    assert p.dwell_s == 2e-6
    assert p.retrace_s == 1.1e-3
    assert (p.sigma_xy_um, p.sigma_z_um) == (0.21, 1.36)
    assert p.n_bkg == 8.4


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("D_um2_per_s", -0.1),
        ("D_um2_per_s", math.nan),
        ("D_um2_per_s", math.inf),
        ("pixel_size_um", 0.0),
        ("pixel_size_um", -0.07),
        ("height_px", 0),
        ("width_px", 0),
        ("height_px", 2.5),
        ("height_px", True),
        ("n_bkg", -1.0),
        ("n_qd", -1.0),
        ("n_qd", math.nan),
        ("dwell_s", 0.0),
        ("retrace_s", -1e-3),
        ("sigma_xy_um", 0.0),
        ("sigma_z_um", -1.0),
        ("start_margin_px", -1.0),
        ("start_z_sd_um", -0.5),
        ("pixel_size_um", "0.07"),
    ],
)
def test_bad_value_names_field_value_and_range(field, value):
    with pytest.raises(ValueError, match=rf"^{field}=") as info:
        SimParams(**{field: value})
    msg = str(info.value)
    assert repr(value) in msg
    assert "expected" in msg


def test_margin_must_leave_a_start_region():
    with pytest.raises(ValueError, match=r"start_margin_px=12\.0 .*min\(H, W\) - 1 = 23"):
        SimParams(start_margin_px=12.0)
    SimParams(start_margin_px=11.5)  # exactly the centre row: allowed


def test_counts_must_fit_uint16():
    with pytest.raises(ValueError, match=r"n_qd=100000\.0 .*exceeds 20000"):
        SimParams(n_qd=1e5)


def test_frozen():
    p = SimParams()
    with pytest.raises(AttributeError):
        p.n_qd = 3.0


def test_json_round_trip(tmp_path):
    p = SimParams(D_um2_per_s=1.75, n_qd=33.3, height_px=16, start_z_sd_um=0.4)
    assert SimParams.from_json(p.to_json()) == p
    f = tmp_path / "params.json"
    p.to_json(f)
    assert SimParams.from_json(f) == p
    assert json.loads(f.read_text())["D_um2_per_s"] == 1.75
    # ints given as floats are stored as ints, so the JSON is stable
    assert SimParams(height_px=24.0).to_json() == SimParams().to_json()


def test_json_unknown_field_and_bad_json(tmp_path):
    with pytest.raises(ValueError, match=r"unknown SimParams field\(s\) \['D'\]"):
        SimParams.from_dict({"D": 1.0})
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        SimParams.from_json(bad)


def test_derived_quantities():
    p = SimParams()
    assert math.isclose(p.line_period_s, 25 * 2e-6 + 1.1e-3, rel_tol=1e-15)
    assert math.isclose(p.frame_time_s, 24 * 1.15e-3, rel_tol=1e-14)
    assert math.isclose(
        p.peak_signal, p.n_qd / ((2 * math.pi) ** 1.5 * 0.21**2 * 1.36), rel_tol=1e-14
    )


def test_check_int_accepts_integers_only():
    assert check_int("n", np.int64(3), 1) == 3
    assert type(check_int("n", np.int64(3), 1)) is int
    assert check_int("n", 0) == 0
    for bad in (True, 2.0, -1, "3"):
        msg = rf"n={bad!r} is not allowed: expected an integer >= 0"
        with pytest.raises(ValueError, match=msg):
            check_int("n", bad)
    with pytest.raises(ValueError, match=r"k=0 is not allowed: expected an integer >= 1"):
        check_int("k", 0, 1)
