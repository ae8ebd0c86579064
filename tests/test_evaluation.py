"""Tests of chapter 06's second half: model checks, prediction files, errors, comparisons, figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from qdloc import SimParams, simulate
from qdloc.eval.metrics import precision_recall
from qdloc.plots import evaluation as pe
from qdloc.study.calibration import (
    best_per_frame,
    check_model_params,
    compare_rows,
    localisation_errors_nm,
    paper_row,
    read_predictions,
)

ROOT = Path(__file__).resolve().parents[1]
COMPACT = str(ROOT / "data/models/compact/compact.pt")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_check_model_params_accepts_training_params_and_names_difference():
    from qdloc.localise.checkpoints import load_model_file

    obj = load_model_file(COMPACT, kind="compact")
    trained = SimParams.from_dict(obj["sim_params"])
    assert check_model_params(COMPACT, trained, kind="compact")["kind"] == "compact"
    with pytest.raises(ValueError, match=r"n_qd.*retrain"):
        check_model_params(COMPACT, trained.replace(n_qd=trained.n_qd + 1.0), kind="compact")


def test_read_predictions_checks_one_row_per_image(tmp_path):
    df = pd.DataFrame({"frame": [2, 0, 1], "x": [1.0, 2.0, 3.0], "y": [0.0, 0.0, 0.0],
                       "score": [0.1, 0.2, 0.3]})
    p = tmp_path / "pred.csv"
    df.to_csv(p, index=False)
    out = read_predictions(p, 3)
    assert out.frame.tolist() == [0, 1, 2]
    assert out.x.tolist() == [2.0, 3.0, 1.0]
    with pytest.raises(ValueError, match="one row"):
        read_predictions(p, 4)
    df.assign(frame=[0, 0, 1]).to_csv(p, index=False)
    with pytest.raises(ValueError, match="one row"):
        read_predictions(p, 3)


def test_best_per_frame_and_errors():
    pred = pd.DataFrame({"frame": [0, 0, 2], "x": [1.0, 5.0, 3.0], "y": [1.0, 1.0, 4.0],
                         "score": [0.2, 0.9, 0.5]})
    top = best_per_frame(pred, 3)
    assert top.x.iloc[0] == 5.0
    assert np.isnan(top.x.iloc[1])
    truth = np.array([[5.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    e = localisation_errors_nm(pred, truth, pixel_size_nm=70.0)
    assert e[0] == pytest.approx(0.0)
    assert np.isnan(e[1])
    assert e[2] == pytest.approx(350.0)


def test_compare_rows_flags_and_shortfalls():
    ref = paper_row("FCNN")
    ours = ref.copy()
    ours.loc[1.0, 70.0] = ref.loc[1.0, 70.0] - 0.0123
    ours.loc[0.75, 210.0] = 1.0
    c = compare_rows(ours, ref, "a", "b")
    assert len(c) == 9
    assert not c.loc[(1.0, 70.0), "at_least"]
    assert c.loc[(1.0, 70.0), "shortfall"] == pytest.approx(0.012)
    assert c.loc[(0.75, 210.0), "at_least"]
    assert c.loc[(0.75, 210.0), "shortfall"] == 0.0
    assert int(c.at_least.sum()) == 8


def test_plots_of_the_comparison():
    params = SimParams()
    sim = simulate(3, params, seed=0, D=1.0)
    est = {"TrackPy (ours)": pd.DataFrame({"frame": [0, 1, 2], "x": [5.0, 6.0, 7.0],
                                           "y": [5.0, 6.0, 7.0], "score": [1.0, 2.0, 3.0]}),
           "Compact (ours)": pd.DataFrame({"frame": [0, 1, 2], "x": sim.centroids[:, 0],
                                           "y": sim.centroids[:, 1], "score": [1.0, 1.0, 1.0]})}
    fig, axes = pe.plot_estimates(sim.images, sim.centroids, est, params, frames=[0, 2],
                                  trajectories=sim.trajectories)
    assert len(axes) == 2
    assert len(axes[0].lines) == 4  # trajectory, centroid, two estimates
    with pytest.raises(ValueError, match="titles"):
        pe.plot_estimates(sim.images, sim.centroids, est, params, frames=[0, 2], titles=["a"])

    curves = {m: {1.0: precision_recall(d.frame, d.x, d.y, d.score, sim.centroids, 140.0)}
              for m, d in est.items()}
    fig, axes = pe.plot_pr_methods(curves, eps_nm=140.0)
    assert len(axes) == 1 and len(axes[0].lines) == 2
    with pytest.raises(ValueError, match="empty"):
        pe.plot_pr_methods({})

    table = pd.DataFrame({"method": ["A", "A", "B", "B"], "D_um2_per_s": [0.0, 1.0, 0.0, 1.0],
                          "median_nm": [40.0, 60.0, 80.0, 150.0], "mean_nm": [45.0, 70, 90, 170]})
    fig, ax = pe.plot_error_vs_D(table, crlb_nm=34.0)
    assert len(ax.lines) == 5
    with pytest.raises(ValueError, match="median_nm"):
        pe.plot_error_vs_D(table.drop(columns="median_nm"))

    scan = pd.read_csv(ROOT / "data/models/compact/nqd_scan.csv")
    fig, ax = pe.plot_auc_vs_nqd(scan, eps_nm=70.0, chosen=7.5)
    assert len(ax.lines) == 3 + 3 + 1  # scan lines, paper lines, chosen
    with pytest.raises(ValueError, match="auc_35nm"):
        pe.plot_auc_vs_nqd(scan, eps_nm=35.0)
