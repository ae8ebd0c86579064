"""Tests of qdloc.study.errors and qdloc.study.table1 (chapter 06's numbers and figures)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from qdloc import PAPER, simulate
from qdloc.plots import evaluation as pe
from qdloc.study import errors, table1 as t1
from qdloc.study.calibration import CALIBRATED_TRACKPY, paper_row, read_table1, row_frame

ROOT = Path(__file__).resolve().parents[1]
COMPACT = ROOT / "data/models/compact/compact.pt"
FRCNN_DIR = ROOT / "data/models/frcnn_cpu"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _perfect(sim) -> pd.DataFrame:
    c = sim.centroids
    return pd.DataFrame({"frame": np.arange(len(c)), "x": c[:, 0], "y": c[:, 1],
                         "score": np.linspace(1.0, 0.5, len(c))})


def _row(v: float) -> pd.DataFrame:
    return row_frame({D: {e: v for e in (70.0, 140.0, 210.0)} for D in (0.75, 1.0, 1.75)})


# ---------------------------------------------------------------- errors
def test_pixel_locking_wider_window_is_less_biased():
    t = errors.pixel_locking(PAPER, CALIBRATED_TRACKPY, diameters=(7, 11), n=40, seed=0)
    assert list(t["diameter"]) == [7, 11]
    assert (t["found"] == 40).all()
    assert t.loc[1, "mean_px"] < t.loc[0, "mean_px"]
    assert t.loc[0, "max_nm"] == pytest.approx(t.loc[0, "max_px"] * 70.0)
    with pytest.raises(ValueError, match="n=0"):
        errors.pixel_locking(PAPER, CALIBRATED_TRACKPY, n=0)


def test_same_images_drop_columns_and_paper_values():
    d = errors.same_images_drop(PAPER, CALIBRATED_TRACKPY, 30, 11, paper_row())
    assert list(d.index) == [140.0, 210.0]
    assert d["paper"].tolist() == pytest.approx([0.12, 0.12])
    assert np.isfinite(d["ours"]).all()


def test_error_vs_D_with_known_locators():
    def centre(images):
        n, h, w = images.shape
        return pd.DataFrame({"frame": np.arange(n), "x": (w - 1) / 2, "y": (h - 1) / 2,
                             "score": 1.0})

    def nothing(images):
        return pd.DataFrame({"frame": [], "x": [], "y": [], "score": []})

    t = errors.error_vs_D([0.0, 1.0], PAPER, {"centre": centre, "first": centre}, n=20, seed=4)
    assert t[["method", "D_um2_per_s"]].values.tolist() == [
        ["centre", 0.0], ["first", 0.0], ["centre", 1.0], ["first", 1.0]]
    s = simulate(20, PAPER, seed=4, D=1.0)
    d = np.hypot(s.centroids[:, 0] - 12.0, s.centroids[:, 1] - 11.5) * 70.0
    got = t.iloc[2]
    assert got["median_nm"] == pytest.approx(np.median(d))
    assert got["mean_nm"] == pytest.approx(d.mean())
    assert got["rmse_nm"] == pytest.approx(np.sqrt(np.mean(d**2)))
    assert got["found"] == 1.0
    t_half = errors.error_vs_D([0.0], PAPER, {"c": centre}, n=3, seed=4)
    assert t_half["found"].iloc[0] == 1.0
    with pytest.raises(ValueError, match="n=0"):
        errors.error_vs_D([0.0], PAPER, {"none": nothing}, n=0, seed=0)


def test_errors_per_method_and_worst_images():
    s = simulate(6, PAPER, seed=2, D=1.0)
    p = _perfect(s)
    off = p.assign(x=p.x + np.arange(6.0))  # image k is k px off
    e = errors.errors_per_method({"perfect": p, "off": off.iloc[1:]}, s.centroids)
    assert e["perfect"] == pytest.approx(np.zeros(6))
    assert np.isnan(e["off"][0])  # no estimate
    assert e["off"][1:] == pytest.approx(70.0 * np.arange(1.0, 6.0))
    w = errors.worst_images(e, k=3)
    assert w["off"].tolist() == [0, 5, 4]  # no estimate counts as the worst
    with pytest.raises(ValueError, match="k=0"):
        errors.worst_images(e, k=0)


def test_failure_factors_attributes_failures_to_their_cause():
    s = simulate(200, PAPER.replace(start_margin_px=0.0), seed=5, D=1.0)
    c = s.centroids
    near = np.minimum.reduce([c[:, 0], c[:, 1], 24 - c[:, 0], 23 - c[:, 1]]) < 2.0
    assert 0 < near.sum() < 200
    e = np.where(near, 500.0, 10.0)
    e_nan = e.copy()
    e_nan[~near] = np.nan  # no estimate: a failure too
    r = errors.failure_factors(s, {"edge": e, "none": e_nan, "ok": np.full(200, 1.0)}, PAPER)
    assert r["set"]["n_images"] == 200
    assert r["set"]["near_edge"] == pytest.approx(near.mean())
    assert r["set"]["wide_path"] == pytest.approx(0.1, abs=0.01)
    assert r["methods"]["edge"]["n_fail"] == near.sum()
    assert r["methods"]["edge"]["near_edge_in_fail"] == 1.0
    assert r["methods"]["none"]["fail_fraction"] == 1.0
    assert r["methods"]["ok"] == {"n_fail": 0, "fail_fraction": 0.0, "near_edge_in_fail": 0.0,
                                  "out_of_focus_in_fail": 0.0, "wide_path_in_fail": 0.0}
    text = errors.describe_failures(r, PAPER.sigma_z_um)
    assert f"edge: {near.sum()} failures of 200" in text
    with pytest.raises(ValueError, match="eps_nm"):
        errors.failure_factors(s, {"edge": e}, PAPER, eps_nm=0.0)


def test_nqd_needed():
    fc = paper_row("FCNN")
    scan = pd.DataFrame({"n_qd": [7.5, 10.0, 7.5, 10.0, 7.5, 10.0],
                         "D": [0.75, 0.75, 1.0, 1.0, 1.75, 1.75],
                         "auc_70nm": [0.40, 0.50, 0.45, 0.46, 0.1, 0.2]})
    assert errors.nqd_needed(scan, fc) == {0.75: 10.0, 1.0: 7.5, 1.75: None}
    with pytest.raises(ValueError, match="auc_140nm"):
        errors.nqd_needed(scan, fc, eps_nm=140.0)


def test_seen_position_oracle_of_a_still_dot_is_its_position():
    s = simulate(5, PAPER, seed=1, D=0.0)
    o = errors.seen_position_oracle(s, PAPER)
    assert o["frame"].tolist() == [0, 1, 2, 3, 4]
    assert o[["x", "y"]].to_numpy() == pytest.approx(s.centroids)
    assert (o["score"] > 0).all()


def test_threshold_scan():
    s = simulate(10, PAPER, seed=1, D=0.0)
    p = _perfect(s)
    t = errors.threshold_scan(p, s.centroids, [0.0, 0.75, 2.0], eps_nm=210.0)
    assert list(t.index) == [0.0, 0.75, 2.0]
    assert t.loc[0.0, "recall"] == 1.0
    assert t.loc[0.75, "recall"] == pytest.approx(0.5)
    assert t.loc[2.0, "recall"] == 0.0


def test_score_halves():
    pred = pd.DataFrame({"frame": [3, 2, 1, 0], "score": [4.0, 3.0, 2.0, 1.0],
                         "sigma_px": [1.0, 1.0, 2.0, 2.0]})
    e = np.array([100.0, 90.0, 20.0, 40.0])  # frame order
    h = errors.score_halves(pred, e)
    assert h.loc["top-scoring half", "mean error (nm)"] == pytest.approx(30.0)
    assert h.loc["bottom half", "within 70 nm"] == 0.0
    assert h.loc["top-scoring half", "predicted 2D error (nm)"] == pytest.approx(np.sqrt(2) * 70)
    with pytest.raises(ValueError, match="one estimate per image"):
        errors.score_halves(pred, e[:3])


# ---------------------------------------------------------------- table1
def test_provenance_table():
    t = t1.provenance_table(PAPER, CALIBRATED_TRACKPY, "0.7")
    assert list(t.columns) == ["quantity", "value", "pinned by"]
    assert len(t) == 16
    by = t.set_index("quantity")
    assert by.loc["calibration set seeds", "value"] == "1010, 1011, 1012"
    assert by.loc["N_qd", "value"] == str(PAPER.n_qd)
    assert by.loc["test set sizes", "value"] == "2570, 2410, 1870"
    assert by.loc["other TrackPy settings", "value"] == "TrackPy 0.7 defaults"


def test_trackpy_metadata_and_images_per_set():
    feats = {D: (pd.DataFrame(), np.zeros((n, 2))) for D, n in ((0.75, 3), (1.0, 4), (1.75, 5))}
    m = t1.trackpy_metadata(PAPER, CALIBRATED_TRACKPY, feats, "0.7")
    assert m["n_per_set"] == {"test_D0.75": 3, "test_D1": 4, "test_D1.75": 5}
    assert m["test_sets"]["test_D1"] == {"n": 2410, "seed": 11, "D_um2_per_s": 1.0}
    assert m["score"] == "mass"
    with pytest.raises(ValueError, match="1.75"):
        t1.images_per_set({0.75: feats[0.75], 1.0: feats[1.0]})


def test_rows_table_and_all_rows():
    t = t1.rows_table({"a": _row(0.5), "b": _row(0.0) * -1.0})
    assert t.columns[0] == "D=0.75 70nm"
    assert t.shape == (2, 9)
    assert not np.signbit(t.loc["b"].to_numpy()).any()  # no -0.0
    doc = {"methods": {m: _row(0.3) for m in t1.METHOD_ORDER},
           "paper": {"TrackPy": paper_row(), "FCNN": paper_row("FCNN")}}
    a = t1.all_rows(doc)
    assert list(a.index) == [*t1.METHOD_ORDER, "TrackPy (paper)", "FCNN (paper)"]


def test_shortfalls_and_their_description():
    fc = paper_row("FCNN")
    co = fc.copy()
    co.loc[0.75, 70.0] = 0.45
    doc = {"methods": {t1.CO_NAME: co, t1.FR_NAME: _row(0.2)}, "paper": {"FCNN": fc}}
    cells = t1.shortfalls(doc)
    assert len(cells) == 9
    assert sum(c["ge_ours_krcnn"] for c in cells) == 9
    short = [c for c in cells if not c["ge_paper_fcnn"]]
    assert [(c["D_um2_per_s"], c["eps_nm"]) for c in short] == [(0.75, 70.0)]
    assert short[0]["shortfall_vs_paper_fcnn"] == pytest.approx(0.03)
    text = t1.describe_shortfalls(cells)
    assert "(short by 0.030)" in text
    assert text.endswith("in 9/9 cells, >= the paper's FCNN in 8/9 cells")


def test_detection_table_and_pr_curves_of_perfect_predictions():
    test = {D: simulate(8, PAPER, seed=3, D=D) for D in (0.75, 1.0)}
    feats = {D: (_perfect(s), s.centroids) for D, s in test.items()}
    det = t1.detection_table(feats)
    assert det.index.name == "D_um2_per_s"
    assert (det[["precision", "recall", "jaccard"]] == 1.0).all().all()
    assert (det["features_per_image"] == 1.0).all()
    preds = t1.method_predictions(feats, {D: f for D, (f, _) in feats.items()},
                                  {D: f for D, (f, _) in feats.items()})
    assert list(preds) == t1.METHOD_ORDER
    curves = t1.method_pr_curves(preds, test, eps_nm=140.0)
    assert curves[t1.CO_NAME][1.0].recall[-1] == 1.0
    assert t1.predictions_at(preds, 1.0)[t1.TP_NAME] is feats[1.0][0]
    top = t1.brightest_features({1.0: (pd.concat([feats[1.0][0], feats[1.0][0].assign(
        score=0.0)]), feats[1.0][1])})
    assert len(top[1.0][0]) == 8


def test_learned_predictions_and_rows(tmp_path):
    test = t1.simulate_test_sets(PAPER, n_per_set=6)
    assert sorted(test) == [0.75, 1.0, 1.75]
    co, fr = t1.learned_predictions(test, COMPACT, FRCNN_DIR)
    for D, s in test.items():
        assert len(co[D]) == len(s) == 6
        assert fr[D]["frame"].max() < 6
    path = t1.write_learned_rows(tmp_path / "table1.json", test, fr, co, PAPER,
                                 FRCNN_DIR / "frcnn_cpu.pt", COMPACT)
    doc = read_table1(path)
    assert set(doc["methods"]) == {t1.FR_NAME, t1.CO_NAME}
    meta = json.loads(path.read_text())["metadata"]
    assert meta[t1.CO_NAME]["n_per_set"] == {"test_D0.75": 6, "test_D1": 6, "test_D1.75": 6}
    assert meta[t1.FR_NAME]["predictions"] == "shipped pred_test_*.csv"


def test_learned_rows_write_both_rows_and_every_methods_standard_errors(tmp_path):
    test = t1.simulate_test_sets(PAPER, n_per_set=8)
    features = {D: (t1.locators(CALIBRATED_TRACKPY, FRCNN_DIR / "frcnn_cpu.pt", COMPACT)[t1.TP_NAME](s.images),
                    s.centroids) for D, s in test.items()}
    lr = t1.learned_rows(tmp_path / "table1.json", features, PAPER, COMPACT, FRCNN_DIR, n_per_set=8,
                         n_resamples=20, seed=1)
    assert lr.path == tmp_path / "table1.json"
    assert {D: len(p) for D, p in lr.compact_pred.items()} == {0.75: 8, 1.0: 8, 1.75: 8}
    assert all(np.array_equal(lr.test[D].images, s.images) for D, s in test.items())  # the same sets
    doc = read_table1(lr.path)
    assert set(doc["methods"]) == {t1.FR_NAME, t1.CO_NAME}
    assert set(doc["standard_errors"]) == {t1.TP_NAME, t1.FR_NAME, t1.CO_NAME}
    assert list(lr.preds) == list(t1.METHOD_ORDER)
    with pytest.raises(ValueError, match="n_qd"):  # weights trained for other parameters
        t1.learned_rows(tmp_path / "t.json", features, PAPER.replace(n_qd=20.0), COMPACT, FRCNN_DIR, n_per_set=8)


def test_error_pivot_rows_by_D_columns_by_method():
    err = pd.DataFrame({"method": [t1.TP_NAME, t1.CO_NAME, t1.TP_NAME, t1.CO_NAME],
                        "D_um2_per_s": [0.0, 0.0, 1.0, 1.0], "mean_nm": [10.0, 5.0, 30.0, 15.0],
                        "median_nm": [9.0, 4.0, 29.0, 14.0]})
    p = t1.error_pivot(err, ["mean_nm"])
    assert p.loc[1.0, ("mean_nm", "TrackPy")] == 30.0 and p.loc[0.0, ("mean_nm", "Compact")] == 5.0
    assert list(p.index) == [0.0, 1.0]
    with pytest.raises(ValueError, match="rmse_nm"):
        t1.error_pivot(err, ["rmse_nm"])


def test_locators_run_on_images():
    s = simulate(3, PAPER, seed=0, D=0.0)
    loc = t1.locators(CALIBRATED_TRACKPY, FRCNN_DIR / "frcnn_cpu.pt", COMPACT)
    assert list(loc) == t1.METHOD_ORDER
    out = loc[t1.CO_NAME](s.images)
    assert len(out) == 3
    assert {"frame", "x", "y", "score"} <= set(loc[t1.TP_NAME](s.images).columns)


def test_evaluation_results_rounds_and_counts():
    cells = [{"ge_ours_krcnn": True, "ge_paper_fcnn": i < 6} for i in range(9)]
    err = pd.DataFrame([{"method": "a", "D_um2_per_s": 0.25, "median_nm": 1.23456,
                         "mean_nm": 2.0, "rmse_nm": 3.0, "found": 1.0}])
    r = t1.evaluation_results(cells, err, 200, 20, {"sigma_nm": 24.0123456},
                              pd.Series({0.0: 1.36612}), {0.75: 10.0, 1.75: None},
                              {"methods": {"a": {"n_fail": 3, "fail_fraction": 0.123456}}},
                              [0, 1])
    assert r["compact_ge_ours_krcnn_cells"] == 9
    assert r["compact_ge_paper_fcnn_cells"] == 6
    assert r["error_vs_D"]["rows"] == [{"method": "a", "D_um2_per_s": 0.25, "median_nm": 1.235,
                                        "mean_nm": 2.0, "rmse_nm": 3.0, "found": 1.0}]
    assert r["crlb_still_dot_nm"]["rms_2d"] == pytest.approx(round(np.sqrt(2) * 24.0123456, 3))
    assert r["compact_rmse_over_crlb"] == {"0": 1.366}
    assert r["nqd_needed_for_paper_fcnn_70nm"] == {"0.75": 10.0, "1.75": None}
    assert r["failures_D1"] == {"a": {"n_fail": 3, "fail_fraction": 0.123}}
    assert r["methods"] == t1.METHOD_ORDER


# ---------------------------------------------------------------- figure
def test_plot_worst_cases_one_row_per_method():
    s = simulate(6, PAPER, seed=2, D=1.0)
    p = _perfect(s)
    e = {"a": np.arange(6.0), "b": np.array([np.nan, 1, 2, 3, 4, 5.0])}
    worst = errors.worst_images(e, k=2)
    fig = pe.plot_worst_cases(s.images, s.centroids, {"a": p, "b": p}, e, worst, PAPER,
                              trajectories=s.trajectories)
    assert len(fig.subfigs) == 2
    assert fig.subfigs[1].axes[0].get_title() == "image 0: no estimate"
    with pytest.raises(ValueError, match="'c'"):
        pe.plot_worst_cases(s.images, s.centroids, {"a": p}, e, {"c": [0]}, PAPER)


# ---------------------------------------------------------------- held-out calibration, SEs
def test_set_seeds_are_disjoint_and_recorded():
    seeds = t1.set_seeds()
    assert seeds["test"] == {"test_D0.75": 10, "test_D1": 11, "test_D1.75": 12}
    assert seeds["calibration"] == {"calib_D0.75": 1010, "calib_D1": 1011, "calib_D1.75": 1012}


def test_distance_table_and_its_checks():
    ours, paper = _row(0.3), paper_row()
    se = ours * 0 + 0.02
    t = t1.distance_table(ours, paper, se)
    assert list(t.index) == ["ours", "paper", "difference", "SE", "difference / SE"]
    assert t.loc["difference / SE", "D=1 140nm"] == pytest.approx((0.3 - 0.30) / 0.02, abs=1e-9)
    assert t.loc["difference", "D=0.75 210nm"] == pytest.approx(0.3 - 0.73)
    with pytest.raises(ValueError, match="> 0"):
        t1.distance_table(ours, paper, se * 0)


def test_method_standard_errors_shrink_with_more_images():
    # A localiser right on 60 % of the images: SE ~ sqrt(p (1 - p) / n), halved by 4x the images.
    def sets(n):
        rng = np.random.default_rng(n)
        test, preds = {}, {}
        for D in (0.75, 1.0, 1.75):
            s = simulate(n, PAPER, seed=5, D=D)
            hit = rng.random(n) < 0.6
            p = _perfect(s)
            p.loc[~hit, "x"] += 10.0
            test[D], preds[D] = s, p
        return test, {"m": preds}
    small = t1.method_standard_errors(*reversed(sets(100)), n_resamples=300)["m"]
    large = t1.method_standard_errors(*reversed(sets(400)), n_resamples=300)["m"]
    assert list(small.index) == [0.75, 1.0, 1.75]
    ratio = (small / large).to_numpy()
    assert np.all((ratio > 1.5) & (ratio < 2.7)), ratio


def test_fig3_summary_counts_and_worst_image():
    e = {t1.TP_NAME: np.array([1046.0, 262.0, 53.0, 819.0, 5.0]),
         t1.CO_NAME: np.array([92.0, 109.0, np.nan, 521.0, 1.0])}
    s = t1.fig3_summary(e, [0, 1, 2, 3])
    assert s["f3_n"] == 4
    assert (s["f3_within_TrackPy"], s["f3_worst_image_TrackPy"], s["f3_worst_nm_TrackPy"]) == (1, 0, 1046.0)
    # no estimate: not within, and the worst
    assert (s["f3_within_Compact"], s["f3_worst_image_Compact"], s["f3_worst_nm_Compact"]) == (2, 2, -1.0)


def _fake_fit(sim_by_D):
    from qdloc.study.calibration import NqdFit

    feats = {v: {D: (_perfect(s), s.centroids) for D, s in sim_by_D.items()} for v in (7.0, 7.5, 8.0)}
    max_abs = pd.Series({7.0: 0.06, 7.5: 0.045, 8.0: 0.04})
    return NqdFit(n_qd=8.0, max_abs=max_abs, table=pd.DataFrame(), row=_row(0.5), within_tolerance=True,
                  at_grid_edge=True, n_per_set=20, features=feats)


def test_calibration_record_fit_glue_and_description():
    sims = {D: simulate(20, PAPER, seed=1, D=D) for D in (0.75, 1.0, 1.75)}
    fit = _fake_fit(sims)
    choice = pd.Series({7.0: 0.2, 7.5: 0.3, 8.0: 0.5})
    extra = t1.table1_extra(fit, choice, PAPER, CALIBRATED_TRACKPY, {"diameter": [7.0, 9.0]}, 400, _row(0.4),
                            200, 0)
    assert extra["seeds"] == t1.set_seeds()
    rec = extra["calibration"]
    assert rec["held_out"]["n_qd"] == 8.0 and rec["current"]["n_qd"] == PAPER.n_qd
    assert rec["distance"] == {"n_qd": 8.0 - PAPER.n_qd, "start_z_sd_um": 0.0, "start_margin_px": 0.0,
                               "diameter": 0.0, "minmass": 0.0}
    assert rec["sets"]["calib_D1"] == {"n": 2410, "seed": 1011, "D_um2_per_s": 1.0}
    assert rec["bootstrap_choice"] == {"7": 0.2, "7.5": 0.3, "8": 0.5}
    assert rec["test_row_at_held_out_n_qd"]["1"]["140"] == 0.4
    json.dumps(extra)  # JSON-ready
    g = t1.fit_glue(fit, choice, PAPER, n_resamples=20)
    assert g["pick_fit"] == 50.0 and g["pick_min"] == 20.0 and g["fit_dist"] == 0.5
    assert g["cur_max_calib"] == 0.045 and g["grid_lo"] == 7.0 and g["n_calib"] == 20
    assert g["calib_se"] == 0.0  # perfect predictions: every resample scores 1
    assert "held-out fit: N_qd = 8 (shipped: 7.5, distance +0.5)" in t1.describe_fit(fit, choice, PAPER)
    with pytest.raises(ValueError, match="grid"):
        t1.fit_glue(fit, choice, PAPER.replace(n_qd=9.0))


def test_glue_helpers_summarise_their_tables():
    assert t1.setup_glue(PAPER)["n_set_0"] == 2570 and t1.setup_glue(PAPER)["D_c"] == 1.75
    assert t1.shipped_unknowns(PAPER, CALIBRATED_TRACKPY, n_qd=False) == {
        "start_z_sd_um": 0.0, "start_margin_px": 3.0, "diameter": 7, "minmass": 0.0}
    assert "diameter = 7 px" in t1.describe_setup(PAPER, CALIBRATED_TRACKPY, "0.7")
    dist = t1.distance_table(paper_row() + 0.03, paper_row(), paper_row() * 0 + 0.01)
    g = t1.distance_glue(dist, 0.02)
    assert g["worst"] == pytest.approx(0.03) and g["z_max"] == pytest.approx(3.0) and g["se_min"] == 0.01
    cells = [{"D_um2_per_s": 0.75, "eps_nm": 70.0, "ge_ours_krcnn": True, "ge_paper_fcnn": False,
              "shortfall_vs_paper_fcnn": 0.02},
             {"D_um2_per_s": 1.0, "eps_nm": 70.0, "ge_ours_krcnn": False, "ge_paper_fcnn": True,
              "shortfall_vs_paper_fcnn": 0.0}]
    s = t1.shortfall_glue(cells, paper_row() * 0 + 0.01)
    assert s == {"n_cells": 2, "n_ge_ours": 1, "n_short": 1, "short_max": 0.02, "short_z": pytest.approx(2.0)}
    fail = {"set": {"near_edge": 0.1, "wide_path": 0.1},
            "methods": {t1.TP_NAME: {"fail_fraction": 0.25, "near_edge_in_fail": 0.2, "wide_path_in_fail": 0.1,
                                     "out_of_focus_in_fail": 0.0},
                        t1.CO_NAME: {"fail_fraction": 0.01, "near_edge_in_fail": 0.5, "wide_path_in_fail": 0.9,
                                     "out_of_focus_in_fail": 0.0}}}
    assert t1.failure_glue(fail) == {"tp_fail": 25.0, "edge_lo": 5.0, "wide_lo": 9.0, "focus_max": 0.0}
    det = pd.DataFrame({"features_per_image": [2.5, 2.6], "rmse_lat_nm": [120.0, 130.0], "precision": [0.3, 0.2]})
    assert t1.detection_glue(det) == {"feat_lo": 2.5, "feat_hi": 2.6, "rmse_lo": 120.0, "rmse_hi": 130.0,
                                      "prec_max": 0.3}
