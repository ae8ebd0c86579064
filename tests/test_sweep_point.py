"""Chapter 08's reading of the sweep (qdloc.study.sweep_maps), one point's table and figure."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from qdloc import PAPER, simulate  # noqa: E402
from qdloc.plots.sweep import plot_point_estimates  # noqa: E402
from qdloc.study import (
    sweep_maps as sm,  # noqa: E402
    sweep_point as sp,  # noqa: E402
)

D_GRID = (0.0, 0.75, 1.0, 1.75, 3.0)
NQD_GRID = (2.37, 7.5, 23.7)


def _table() -> pd.DataFrame:
    """A gathered table with known values: AUC = min(1, n/10) (1 - D/4) times 0.4 or 1."""
    rows = []
    for D in D_GRID:
        for n in NQD_GRID:
            base = min(1.0, n / 10) * (1 - D / 4)
            for m, f, se in ((sp.TRACKPY, 0.4, 0.03), (sp.COMPACT, 1.0, 0.02)):
                rows.append({"point": f"D={D:g}__n_qd={n:g}", "D": D, "n_qd": n, "method": m,
                             "auc_140": base * f, "auc_140_se": se, "n_images": 10, "seed": 3})
    return pd.DataFrame(rows)


def _point(D=1.0, n_qd=7.5, auc=None) -> dict:
    t = _table()
    methods = {}
    for m in (sp.TRACKPY, sp.COMPACT):
        r = t[(t["D"] == D) & (t["n_qd"] == n_qd) & (t["method"] == m)].iloc[0]
        methods[m] = {"auc_140": float(r["auc_140"]) if auc is None else auc,
                      "auc_140_se": float(r["auc_140_se"]), "median_error_nm": None}
    return {"D": D, "n_qd": n_qd, "n_images": 10, "seed": 3, "methods": methods}


def test_point_table_has_the_chapters_columns_in_order():
    point = {"methods": {m: {c: float(i) for i, c in enumerate(sp.POINT_COLUMNS)}
                         for m in (sp.TRACKPY, sp.COMPACT)}}
    point["methods"][sp.COMPACT]["median_error_nm"] = None
    t = sp.point_table(point)
    assert list(t.columns) == list(sp.POINT_COLUMNS) and list(t.index) == [sp.TRACKPY, sp.COMPACT]
    assert t.loc[sp.TRACKPY, "auc_210"] == 2.0 and math.isnan(t.loc[sp.COMPACT, "median_error_nm"])
    with pytest.raises(ValueError, match="no 'methods'"):
        sp.point_table({"D": 1.0})


def test_describe_table_and_grids():
    t = _table()
    text = sm.describe_table(t)
    assert text.startswith("15 points: D = 0, 0.75, 1, 1.75, 3 um^2/s; N_qd = 2.37, 7.5, 23.7")
    assert "images per point: 10; seed: 3" in text
    assert "median 0.025, largest 0.030" in text
    grids = sm.method_grids(t)
    assert grids[sp.COMPACT].loc[7.5, 1.0] == pytest.approx(0.75 * 0.75)
    with pytest.raises(ValueError, match="lacks column"):
        sm.describe_table(t.drop(columns="seed"))


def test_lead_summary_finds_the_largest_lead():
    grids = sm.method_grids(_table())
    lead = sm.lead_summary(grids, 7.5, (0.75, 1.0, 1.75))
    # lead = 0.6 min(1, n/10) (1 - D/4): largest at D = 0 and n_qd = 23.7, smallest at D = 3, 2.37
    assert (lead["largest"], lead["D"], lead["n_qd"]) == (pytest.approx(0.6), 0.0, 23.7)
    assert lead["smallest"] == pytest.approx(0.6 * 0.237 * 0.25)
    assert lead["at_operating"] == {0.75: 0.37, 1.0: 0.34, 1.75: 0.25}
    text = sm.describe_lead(lead, 7.5)
    assert "largest 0.60 at D = 0, N_qd = 23.7; smallest 0.04" in text
    assert text.endswith("(N_qd = 7.5), by D: {0.75: 0.37, 1.0: 0.34, 1.75: 0.25}")
    with pytest.raises(ValueError, match="not a row"):
        sm.lead_summary(grids, 5.0)


def test_reach_tables_side_by_side():
    d_max, n_min = sm.reach_tables(sm.method_grids(_table()), 0.5)
    assert list(d_max.columns) == [sp.TRACKPY, sp.COMPACT]
    assert d_max.loc[7.5, sp.COMPACT] == 1.0 and math.isnan(d_max.loc[7.5, sp.TRACKPY])
    assert n_min.loc[0.0, sp.COMPACT] == 7.5
    text = sm.describe_reach(d_max, n_min, _table(), 0.5)
    assert "per N_qd (grid D up to 3):\n" in text and "(grid N_qd from 2.37 to 23.7):\n" in text
    assert text.endswith(n_min.to_string()) and d_max.to_string() in text


def test_operating_point_and_paper_comparison():
    at_op = sm.operating_point(_table(), 7.5)
    assert list(at_op.index) == [0.75, 1.0, 1.75]
    assert at_op.loc[1.0, ("auc_140", sp.TRACKPY)] == pytest.approx(0.4 * 0.75 * 0.75)
    cmp = sm.paper_comparison(at_op)
    assert cmp.loc[1.0, "TrackPy (paper)"] == 0.30 and cmp.loc[0.75, "FCNN (paper)"] > 0
    expect = (0.4 * 0.75 * 0.75 - 0.30) / 0.03
    assert cmp.loc[1.0, "TrackPy - paper, in SE"] == pytest.approx(expect)
    with pytest.raises(ValueError, match="not in the table"):
        sm.operating_point(_table(), 5.0)


def test_point_difference_is_zero_none_or_the_gap():
    t = _table()
    assert sm.point_difference(t, _point()) == 0.0
    assert sm.point_difference(t, _point(auc=0.0)) == pytest.approx(0.75 * 0.75)
    other = _point() | {"seed": 4}
    assert sm.point_difference(t, other) is None


def test_maps_summary_rounds_and_writes_nan_as_none():
    t = _table()
    grids = sm.method_grids(t)
    d_max, n_min = sm.reach_tables(grids, 0.5)
    at_op = sm.operating_point(t, 7.5)
    s = sm.maps_summary(t, "sweep", 0.5, d_max, n_min, at_op)
    assert s["table"] == "sweep/table.csv" and s["points"] == 15
    assert s["D"] == list(D_GRID) and s["n_qd"] == list(NQD_GRID)
    assert s["D_max_per_n_qd"][sp.TRACKPY]["7.5"] is None
    assert s["D_max_per_n_qd"][sp.COMPACT]["7.5"] == 1.0
    assert s["operating_point_auc_140"][sp.COMPACT] == {"0.75": 0.6094, "1": 0.5625, "1.75": 0.4219}


def test_still_dot_match_and_lead_in_se():
    t = _table()
    grids = sm.method_grids(t)
    m = sm.still_dot_match(grids, 7.5, D=1.0)
    # TrackPy still: 0.3; compact 0.75 (1 - D/4) >= 0.3 up to D = 2.4 -> grid 1.75
    assert m["trackpy_still"] == pytest.approx(0.3) and m["compact_reach_D"] == 1.75
    assert m["trackpy_n_qd_needed"] is None and m["n_qd_max"] == 23.7
    text = sm.describe_still_dot_match(m, 3.0)
    assert text.startswith("TrackPy, still dot: 0.300; the compact scores at least that up to D = 1.75")
    assert text.endswith("reaches it at N_qd = None (None: not up to 23.7)")
    z = sm.lead_in_se(sm.operating_point(t, 7.5))
    assert z.loc[1.0, "SE"] == pytest.approx(math.hypot(0.02, 0.03))
    assert z.loc[1.0, "z"] == pytest.approx(0.6 * 0.5625 / math.hypot(0.02, 0.03))


def test_images_for_se_scales_as_one_over_sqrt_n():
    assert sm.images_for_se(500, 0.028, 0.01) == 3920
    assert sm.images_for_se(500, 0.01, 0.01) == 500
    with pytest.raises(ValueError, match="target_se"):
        sm.images_for_se(500, 0.02, 0.0)


def test_beyond_grid_sits_beside_the_last_column():
    far = {"methods": {sp.TRACKPY: {"auc_140": 0.01, "auc_140_se": 0.005},
                       sp.COMPACT: {"auc_140": 0.1, "auc_140_se": 0.02}}}
    b = sm.beyond_grid(far, sm.method_grids(_table()), 7.5, 3.0)
    assert b.loc[sp.COMPACT, "sweep at the edge"] == pytest.approx(0.75 * 0.25)
    assert b.loc[sp.TRACKPY, "beyond"] == 0.01 and b.loc[sp.COMPACT, "beyond SE"] == 0.02


def test_plot_point_estimates_titles_give_each_methods_error():
    sim = simulate(4, PAPER, seed=5, D=1.0)
    exact = pd.DataFrame({"frame": np.arange(4), "x": sim.centroids[:, 0],
                          "y": sim.centroids[:, 1], "score": 1.0})
    off = exact.assign(x=exact["x"] + 1.0)  # one pixel, 70 nm, to the right
    fig, axes = plot_point_estimates(sim, {"A": exact, "B": off}, PAPER, frames=[0, 2])
    assert [ax.get_title() for ax in axes[:2]] == ["A 0 nm, B 70 nm"] * 2
    with pytest.raises(ValueError, match="frames"):
        plot_point_estimates(sim, {"A": exact}, PAPER, frames=[4])
    plt.close("all")


def test_prose_values_read_the_maps():
    v = sm.prose_values(_table(), 7.5, 0.5)
    assert v["se_max"] == 0.03 and (v["D_grid_min"], v["D_grid_max"]) == (0.0, 3.0)
    assert (v["n_qd_grid_min"], v["n_qd_grid_max"]) == (2.37, 23.7)
    assert v["bright_ratio"] == pytest.approx(23.7 / 7.5)
    # lead = 0.6 min(1, n/10) (1 - D/4)
    assert v["lead_still_bright"] == pytest.approx(0.6)
    assert v["lead_dim_fast"] == pytest.approx(0.6 * 0.237 * 0.25)
    # TrackPy at 7.5: 0.3 (1 - D/4) < 0.5 everywhere; compact: 0.75 (1 - D/4) >= 0.5 up to D = 1
    assert math.isnan(v["tp_reach_D"]) and v["co_reach_D"] == 1.0
    assert v["tp_best_at_Dref"] == pytest.approx(0.4 * 0.75)
    assert (v["D1"], v["D2"], v["D3"]) == (0.75, 1.0, 1.75)
    # compact at D = 0.75: 0.8125 min(1, n/10) >= 0.5 from n = 7.5 on; at 1.75: 0.5625 from 23.7 on
    assert v["co_nqd_frac_D1"] == 1.0 and v["co_nqd_frac_D3"] == pytest.approx(23.7 / 7.5)
    assert v["tp_minus_paper_se_D2"] == pytest.approx((0.4 * 0.5625 - 0.30) / 0.03)
    assert v["co_minus_fcnn_D3"] == pytest.approx(0.75 * 0.5625 - 0.72)
    assert v["images_per_point"] == 10
    assert v["tp_drop_D12"] == pytest.approx(0.4 * 0.75 * (0.8125 - 0.75))
    assert v["paper_tp_drop_D12"] == pytest.approx(0.42 - 0.30)
    assert all(type(x) is float for x in v.values())
