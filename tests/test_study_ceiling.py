"""Tests of qdloc.study.ceiling and qdloc.plots.ceiling (chapter 09: the posterior ceiling)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from qdloc import PAPER, simulate
from qdloc.eval.metrics import auc_table
from qdloc.localise.compact import compact_locate
from qdloc.plots import ceiling as pc
from qdloc.study import ceiling as ce
from qdloc.study.calibration import paper_row, row_frame
from qdloc.study.table1 import METHOD_ORDER

ROOT = Path(__file__).resolve().parents[1]
COMPACT = ROOT / "data/models/compact/compact.pt"
CELLS = [(D, e) for D in (0.75, 1.0, 1.75) for e in (70.0, 140.0, 210.0)]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _row(values) -> pd.DataFrame:
    return row_frame({D: {e: float(v) for e, v in zip((70.0, 140.0, 210.0), vs, strict=True)}
                      for D, vs in zip((0.75, 1.0, 1.75), values, strict=True)})


def _cells(values, se=0.01, n=1000) -> pd.DataFrame:
    flat = np.ravel(values)
    return pd.DataFrame({"D_um2_per_s": [D for D, _ in CELLS], "eps_nm": [e for _, e in CELLS],
                         "n": n, "auc": flat, "se": se, "se_binomial": se})


def _table1(rows) -> dict:
    return {"methods": {m: _row(v) for m, v in zip(METHOD_ORDER, rows, strict=True)},
            "paper": {"FCNN": paper_row("FCNN"), "TrackPy": paper_row("TrackPy")}}


def test_ceiling_is_at_least_the_compact_network_within_noise_and_at_most_one():
    # measured on these 300 images: ceiling 0.270 / 0.792 / 0.954 (bootstrap se 0.034 / 0.026 /
    # 0.014), compact 0.241 / 0.763 / 0.970
    sim = simulate(300, PAPER, seed=9101, D=1.75)
    cells = ce.ceiling_cells({1.75: sim}, PAPER, n_boot=100)
    pred = compact_locate(sim.images, COMPACT, tta=True, threads=1)
    compact = np.array(list(auc_table(pred[["frame", "x", "y", "score"]], sim.centroids).values()))
    auc, se = cells["auc"].to_numpy(), cells["se"].to_numpy()
    assert np.all((auc > 0) & (auc <= 1)), auc
    assert np.all(auc >= compact - 2 * se), (auc, compact, se)
    assert auc.mean() >= compact.mean() - 0.01, (auc, compact)
    assert np.all(np.diff(auc) > 0), auc  # a wider tolerance is easier
    assert np.all((se > 0.005) & (se < 0.05)), se
    assert ce.cells_row(cells).shape == (1, 3)


def test_predictions_per_tolerance_share_one_posterior():
    sim = simulate(20, PAPER, seed=9102, D=1.0)
    preds = ce.ceiling_predictions(sim.images, PAPER, 1.0, (70.0, 210.0), n_samples=64)
    assert list(preds) == [70.0, 210.0]
    a, b = preds[70.0], preds[210.0]
    assert list(a.columns) == ["frame", "x", "y", "score"] and len(a) == 20
    # a wider disc holds more of the same draws
    assert np.all(b.score.to_numpy() >= a.score.to_numpy() - 1e-12)
    assert np.median(np.hypot(a.x - b.x, a.y - b.y)) < 0.3


def test_nqd_to_reach_is_exact_on_a_curve_linear_in_log_nqd():
    nqd = np.array([2.0, 3.0, 5.0, 8.0, 13.0])
    auc = 0.1 + 0.2 * np.log(nqd)
    assert ce.nqd_to_reach(nqd, auc, 0.5) == pytest.approx(math.exp(2.0), rel=1e-12)
    assert ce.nqd_to_reach(nqd, auc, auc[2]) == pytest.approx(5.0, rel=1e-12)
    assert math.isnan(ce.nqd_to_reach(nqd, auc, 0.05))  # reached below the grid
    assert math.isnan(ce.nqd_to_reach(nqd, auc, 0.9))  # never reached
    # a noisy curve: its first upward crossing
    assert ce.nqd_to_reach([1.0, 2.0, 4.0, 8.0], [0.1, 0.6, 0.4, 0.7], 0.35) == pytest.approx(
        2 ** 0.5, rel=1e-12)


@pytest.mark.parametrize(("nqd", "auc", "target", "needle"), [
    ([1.0], [0.5], 0.5, "shapes"),
    ([1.0, 2.0], [0.5], 0.5, "shapes"),
    ([2.0, 1.0], [0.1, 0.2], 0.15, "increase"),
    ([0.0, 1.0], [0.1, 0.2], 0.15, "increase"),
    ([1.0, 2.0], [0.1, np.nan], 0.15, "finite"),
    ([1.0, 2.0], [0.1, 0.2], np.inf, "target"),
])
def test_nqd_to_reach_refuses_bad_inputs(nqd, auc, target, needle):
    with pytest.raises(ValueError, match=needle):
        ce.nqd_to_reach(nqd, auc, target)


def test_nqd_meeting_reads_each_cell_and_brackets_it():
    nqd = [2.0, 4.0, 8.0, 16.0]
    rows = []
    for D, e in CELLS:
        offset = {70.0: -0.4, 140.0: 0.0, 210.0: 0.8}[e]
        rows += [{"n_qd": q, "D_um2_per_s": D, "eps_nm": e, "n": 100,
                  "auc": min(1.0, 0.2 * math.log2(q) + offset), "se": 0.02} for q in nqd]
    ref = _row([[0.5, 0.5, 0.9]] * 3)
    m = ce.nqd_meeting(pd.DataFrame(rows), ref, k_se=2.0)
    assert m.loc[(1.0, 140.0), "n_qd_meet"] == pytest.approx(2 ** 2.5)
    assert m.loc[(1.0, 140.0), "n_qd_low"] == pytest.approx(2 ** 2.3)
    assert m.loc[(1.0, 140.0), "n_qd_high"] == pytest.approx(2 ** 2.7)
    assert m.loc[(1.0, 140.0), "where"] == "in grid"
    assert m.loc[(1.0, 70.0), "where"] == "above grid"  # at most 0.2 log2(16) - 0.4 = 0.4
    assert math.isnan(m.loc[(1.0, 210.0), "n_qd_meet"]) and m.loc[(1.0, 210.0), "where"] == "below grid"
    with pytest.raises(ValueError, match="k_se"):
        ce.nqd_meeting(pd.DataFrame(rows), ref, k_se=-1)


def test_binomial_se_and_its_refusals():
    assert ce.binomial_se(0.5, 100) == pytest.approx(0.05)
    assert ce.binomial_se(1.0, 10) == 0.0
    np.testing.assert_allclose(ce.binomial_se([0.1, 0.9], [900, 900]), [0.01, 0.01])
    with pytest.raises(ValueError, match=r"auc=1\.2"):
        ce.binomial_se(1.2, 10)
    with pytest.raises(ValueError, match="n=0"):
        ce.binomial_se(0.5, 0)


def test_distance_table_cell_by_cell_and_reachability():
    ceiling = [[0.5, 0.95, 1.0], [0.45, 0.9, 0.99], [0.2, 0.8, 0.95]]
    cells = _cells(ceiling, se=0.01, n=2000)
    rows = [np.array(ceiling) - 0.3, np.array(ceiling) - 0.1, np.array(ceiling) - 0.01]
    rows[2][0, 0] = 0.6  # the compact 0.1 above the ceiling in one cell
    dist = ce.distance_table(_table1(rows), cells, k_se=2.0)
    assert len(dist) == 4 * 9 and list(dict.fromkeys(dist.method)) == [*METHOD_ORDER, ce.PAPER_FCNN_NAME]
    co = dist[dist.method == METHOD_ORDER[2]].set_index(["D_um2_per_s", "eps_nm"])
    assert co.loc[(1.0, 70.0), "distance"] == pytest.approx(0.01)
    assert co.loc[(0.75, 70.0), "distance"] == pytest.approx(-0.1)
    se = math.sqrt(0.01**2 + 0.6 * 0.4 / 2000)
    assert co.loc[(0.75, 70.0), "se"] == pytest.approx(se)
    # the compact at (0.75, 70) and the paper's FCNN at (1.75, 70): 0.26 against 0.2
    assert list(dist.index[dist.exceeds]) == [18, 33]
    wide = ce.distance_wide(dist)
    assert wide.shape == (4, 9) and wide.loc["TrackPy", "D=1 70nm"] == pytest.approx(0.3)
    reach = ce.reachability(dist, k_se=2.0)
    # the paper's FCNN: 0.48 / 0.91 / 0.99, 0.41 / 0.87 / 0.98, 0.26 / 0.72 / 0.92
    assert not reach.loc[(1.75, 70.0), "ceiling_ge"] and not reach.loc[(1.75, 70.0), "reachable"]
    assert reach.drop((1.75, 70.0)).reachable.all()
    assert reach.loc[(1.0, 210.0), "ceiling_ge"]


def test_distance_table_uses_stored_bootstrap_errors():
    cells = _cells([[0.5, 0.9, 1.0]] * 3, se=0.01, n=400)
    t = _table1([[[0.1, 0.2, 0.3]] * 3] * 3)
    t["standard_errors"] = {METHOD_ORDER[2]: _row([[0.02, 0.03, 0.04]] * 3)}
    dist = ce.distance_table(t, cells).set_index(["method", "D_um2_per_s", "eps_nm"])
    assert dist.loc[(METHOD_ORDER[2], 1.0, 140.0), "se"] == pytest.approx(math.hypot(0.01, 0.03))
    assert dist.loc[(METHOD_ORDER[2], 1.0, 140.0), "se_source"] == "bootstrap"
    assert dist.loc[(METHOD_ORDER[0], 1.0, 140.0), "se"] == pytest.approx(
        math.hypot(0.01, ce.binomial_se(0.2, 400)))
    assert set(dist.loc[[METHOD_ORDER[0], ce.PAPER_FCNN_NAME], "se_source"]) == {"binomial"}


def test_distance_table_refuses_bad_inputs():
    cells = _cells([[0.5, 0.9, 1.0]] * 3)
    t = _table1([[[0.1, 0.2, 0.3]] * 3] * 3)
    with pytest.raises(ValueError, match="k_se=0"):
        ce.distance_table(t, cells, k_se=0)
    with pytest.raises(ValueError, match="lacks the row"):
        ce.distance_table(t, cells, methods=["nobody"])
    with pytest.raises(ValueError, match="lack some"):
        ce.distance_table(t, cells.iloc[:5])
    with pytest.raises(ValueError, match="FCNN"):
        ce.reachability(ce.distance_table(t, cells).query("method != 'FCNN (paper)'"))
    with pytest.raises(ValueError, match="lack column"):
        ce.cells_row(cells.drop(columns="auc"))


def test_ceiling_functions_refuse_bad_inputs():
    sim = simulate(2, PAPER, seed=1, D=1.0)
    with pytest.raises(ValueError, match="test is empty"):
        ce.ceiling_cells({}, PAPER)
    with pytest.raises(ValueError, match="n_boot=1"):
        ce.ceiling_cells({1.0: sim}, PAPER, n_boot=1)
    with pytest.raises(ValueError, match="eps_nm"):
        ce.ceiling_predictions(sim.images, PAPER, 1.0, eps_nm=(70.0, -1.0))
    with pytest.raises(ValueError, match="nqd_grid"):
        ce.ceiling_vs_nqd([7.5], [1.0], 2, 0, PAPER)
    with pytest.raises(ValueError, match="images have shape"):
        ce.ceiling_predictions(sim.images[:, :5], PAPER, 1.0)


def test_scan_results_and_figures():
    scan = ce.ceiling_vs_nqd([4.0, 12.0], [1.75], 40, 9103, PAPER, n_samples=64)
    assert list(scan.columns) == ["n_qd", "D_um2_per_s", "eps_nm", "n", "auc", "se"]
    assert len(scan) == 6
    g = scan.set_index(["n_qd", "eps_nm"]).auc
    assert g[(12.0, 140.0)] > g[(4.0, 140.0)]  # a brighter dot is easier
    ref = _row([[0.3, 0.7, 0.9]] * 3)
    meet = ce.nqd_meeting(scan, ref)
    cells = _cells([[0.5, 0.95, 1.0], [0.45, 0.9, 0.99], [0.2, 0.8, 0.95]])
    dist = ce.distance_table(_table1([[[0.1, 0.2, 0.3]] * 3] * 3), cells)
    res = ce.ceiling_results(cells, dist, ce.reachability(dist), scan, meet, seed=3)
    back = json.loads(json.dumps(res, allow_nan=False))
    assert back["settings"] == {"seed": 3} and len(back["distances"]) == 36
    assert back["fcnn_reachable_everywhere"] is False
    fig, axes = pc.plot_distances(dist)
    assert axes.shape == (2, 3) and len(axes[0, 0].lines) == 5  # four rows and the ceiling
    fig, axes = pc.plot_ceiling_vs_nqd(scan, ref, chosen=7.5, meeting=meet)
    assert len(axes) == 3 and axes[0].get_xscale() == "log"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["4", "12"]
    with pytest.raises(ValueError, match="lacks column"):
        pc.plot_distances(dist.drop(columns="ceiling"))


def test_scan_scales():
    sc = ce.scan_scales(PAPER, D=1.0)
    assert sc["line_us"] == pytest.approx(50.0) and sc["period_ms"] == pytest.approx(1.15)
    assert sc["line_move_nm"] == pytest.approx(10.0)  # sqrt(2 * 1 um^2/s * 50 us)
    assert sc["frame_ms"] == pytest.approx(24 * 1.15)
    with pytest.raises(ValueError, match="D=-1"):
        ce.scan_scales(PAPER, D=-1)


def test_line_level_state_costs_little():
    # the same check as tests/test_bayes.py, through this module's summary
    cost = ce.line_level_cost(PAPER, 1.75, n=30, n_samples=64, seed=2)
    assert cost["ess_fraction"] > 0.7 and cost["shift_sd"] < 0.12, cost
