"""Tests of qdloc.study.training_report (chapter 05's numbers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qdloc.localise.compact import SELECT_BY, count_parameters, macs_per_image
from qdloc.study import training_report as tr
from qdloc.study.calibration import paper_row

ROOT = Path(__file__).resolve().parents[1]
COMPACT_DIR = ROOT / "data/models/compact"


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "epoch": [1, 2, 3, 4],
        "epoch_time_s": [10.0, 20.0, 30.0, 40.0],
        "sim_time_s": [1.0, 2.0, 3.0, 4.0],
        "val_mean_error_nm": [100.0, 80.0, 70.0, 69.0],
    })


def test_history_summary_exact():
    s = tr.history_summary(_history(), images_per_epoch=1000)
    assert s["epochs"] == 4
    assert s["images_seen"] == 4000
    assert s["train_s"] == 100.0
    assert s["mean_epoch_s"] == 25.0
    assert (s["min_epoch_s"], s["max_epoch_s"]) == (10.0, 40.0)
    assert s["sim_share"] == pytest.approx(0.1)
    assert s["val_error_nm"] == [100.0, 80.0, 70.0, 69.0]


def test_history_summary_rejects_missing_columns():
    with pytest.raises(ValueError, match="sim_time_s"):
        tr.history_summary(_history().drop(columns="sim_time_s"), 10)


def test_epochs_to_within_exact():
    final, first, frac = tr.epochs_to_within(_history(), rel=0.02)
    assert final == 69.0
    assert first == 3  # 70 <= 1.02 * 69 = 70.38, 80 is not
    assert frac == pytest.approx(60.0 / 100.0)
    with pytest.raises(ValueError, match="rel"):
        tr.epochs_to_within(_history(), rel=-1.0)


def test_frcnn_history_summary_and_description():
    h = pd.DataFrame({"epoch": [1, 2, 3], "epoch_time_s": [60.0, 120.0, 180.0],
                      "val_time_s": [0.0, 0.0, 60.0], "val_auc_140nm": [0.1, 0.5, 0.3]})
    s = tr.frcnn_history_summary(h)
    assert s == {"epochs": 3, "min_per_epoch": pytest.approx(140.0 / 60), "total_min": 7.0,
                 "selected_epoch": 2}
    assert tr.frcnn_history_summary(h.drop(columns="val_auc_140nm"))["selected_epoch"] is None
    assert "epoch 2" in tr.describe_frcnn_history(h)
    assert "not been trained" in tr.describe_frcnn_history(None)


def test_read_history(tmp_path):
    assert tr.read_history(tmp_path) is None
    _history().to_csv(tmp_path / "history.csv", index=False)
    pd.testing.assert_frame_equal(tr.read_history(tmp_path), _history())


def _evaluation(aucs: dict[float, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"D": D, "auc_70nm": a, "auc_140nm": b, "auc_210nm": c,
                          "mean_error_nm": 50.0 + D} for D, (a, b, c) in aucs.items()])


def test_paper_comparison_lists_the_short_cells():
    paper = paper_row("FCNN")
    ev = _evaluation({0.75: (0.40, 0.95, 0.99), 1.0: (0.50, 0.80, 0.99), 1.75: (0.3, 0.8, 0.95)})
    ours, table, short = tr.paper_comparison(ev, paper)
    assert list(ours.columns) == [70.0, 140.0, 210.0]
    assert table.loc[0.75, ("difference", 70.0)] == pytest.approx(-0.08)
    assert [(c["D"], c["eps_nm"]) for c in short] == [(0.75, 70.0), (1.0, 140.0)]
    assert short[0]["by"] == pytest.approx(0.08)
    assert short[1]["by"] == pytest.approx(0.07)


def test_crlb_mean_distance_matches_a_sampled_gaussian():
    rng = np.random.default_rng(0)
    d = np.hypot(*rng.normal(0.0, 10.0, size=(2, 200_000)))
    assert tr.crlb_mean_distance_nm(10.0) == pytest.approx(d.mean(), rel=0.01)
    with pytest.raises(ValueError, match="sigma_nm"):
        tr.crlb_mean_distance_nm(-1.0)


def test_nqd_scan_summary():
    paper = paper_row("FCNN")
    rows = []
    for n_qd, auc in ((7.5, 0.3), (10.0, 0.995), (30.0, 0.999)):
        for D in paper.index:
            rows.append({"n_qd": n_qd, "D": D, "auc_70nm": auc, "auc_140nm": auc,
                         "auc_210nm": auc, "mean_error_nm": 300.0 / n_qd, "crlb_nm": 90.0 / n_qd})
    s = tr.nqd_scan_summary(pd.DataFrame(rows), paper, calibrated_n_qd=7.5)
    assert s["beats"] == [10.0, 30.0]
    assert s["first"] == 10.0
    assert s["first_ratio"] == pytest.approx(10.0 / 7.5)
    assert (s["lo"], s["hi"]) == (7.5, 30.0)
    assert s["crlb_fall"] == pytest.approx(4.0)
    assert s["error_fall"] == pytest.approx(4.0)
    assert s["monotone"] is True
    rows[-1]["auc_140nm"] = 0.9  # a cell that falls from N_qd = 10 to 30
    assert tr.nqd_scan_summary(pd.DataFrame(rows), paper)["monotone"] is False
    with pytest.raises(ValueError, match="calibrated_n_qd"):
        tr.nqd_scan_summary(pd.DataFrame(rows), paper, calibrated_n_qd=0.0)


def test_load_compact_run_and_describe_history():
    run = tr.load_compact_run(COMPACT_DIR)
    assert run.model_path.name == "compact.pt"
    assert len(run.history) == run.config.epochs
    text = tr.describe_history(run)
    assert f"selected epoch: {run.meta['best_epoch']}" in text
    with pytest.raises(ValueError, match="history.csv"):
        tr.load_compact_run(ROOT / "tests")


def test_view_errors_mirror_in_x_is_a_symmetry():
    run = tr.load_compact_run(COMPACT_DIR)
    table, outside = tr.view_errors(run.model_path, run.params, (0.0,), n=60, seed=3)
    assert list(table.columns) == ["D=0"]
    assert {"identity", "flip_x"} <= set(table.index)
    # a still dot never leaves its start box; the mirror changes the mean error by < 5 %
    assert outside == {0.0: 0.0}
    assert table.loc["flip_x", "D=0"] == pytest.approx(table.loc["identity", "D=0"], rel=0.05)
    with pytest.raises(ValueError, match="n=0"):
        tr.view_errors(run.model_path, run.params, (0.0,), n=0)


def test_training_results_fields():
    run = tr.load_compact_run(COMPACT_DIR)
    views = pd.DataFrame({"D=0": [41.234, 41.1], "D=0.75": [64.0, 64.1]},
                         index=pd.Index(["identity", "flip_x"], name="view"))
    paper = paper_row("FCNN")
    ev = _evaluation({0.75: (0.40, 0.95, 0.99), 1.0: (0.50, 0.9, 0.99), 1.75: (0.3, 0.8, 0.95)})
    ours, _, short = tr.paper_comparison(ev, paper)
    crlb = {"sigma_nm": 24.01234, "signal_photons": 449.0}
    r = tr.training_results("compact/compact.pt", run, views, ours, paper, short, ev, crlb, None)
    assert r["view_mean_error_nm"] == {"identity": {"0": 41.23, "0.75": 64.0},
                                       "flip_x": {"0": 41.1, "0.75": 64.1}}
    assert r["auc"]["1"] == {"70": 0.5, "140": 0.9, "210": 0.99}
    assert r["paper_fcnn_auc"]["1.75"]["140"] == 0.72
    assert r["cells_short"] == [{"D": 0.75, "eps_nm": 70.0, "by": 0.08}]
    assert r["mean_error_nm"] == {"0.75": 50.75, "1": 51.0, "1.75": 51.75}
    assert r["crlb_still_dot_nm"] == {"sigma_nm": 24.012, "signal_photons": 449.0}
    assert r["selected_by"] == SELECT_BY
    assert r["epochs"] == len(run.history)
    assert r["frcnn_epochs"] is None


def test_model_values_of_the_shipped_network():
    run = tr.load_compact_run(COMPACT_DIR)
    v = tr.model_values(run, D_line=1.0)
    p = run.params
    # 24 x 25 px padded to 24 x 26: a 12 x 13 grid of 2 x 2 cells
    assert (v["padded_height_px"], v["padded_width_px"]) == (p.height_px + p.height_px % 2,
                                                             p.width_px + p.width_px % 2)
    assert v["n_cells"] == v["grid_h"] * v["grid_w"] == v["padded_height_px"] * v["padded_width_px"] // 4
    assert v["psf_px"] == pytest.approx(p.sigma_xy_um / p.pixel_size_um)
    # stem 3 x 3 (3 cells) and one dilated 3 x 3 per block (2 d cells each), 2 px per cell
    assert v["receptive_px"] == 2 * (3 + 2 * sum(run.config.dilations))
    assert v["line_us"] == pytest.approx(1e6 * p.width_px * p.dwell_s)
    assert v["line_move_nm"] == pytest.approx(1000 * np.sqrt(2 * 1.0 * p.width_px * p.dwell_s))
    assert v["train_min"] == pytest.approx(run.history["epoch_time_s"].sum() / 60)
    assert v["epochs"] == len(run.history) and 1 <= v["best_epoch"] <= v["epochs"]
    assert (v["D1"], v["D2"], v["D3"]) == (0.75, 1.0, 1.75) and v["paper_epochs"] == 20
    assert v["test_n1"] + v["test_n2"] + v["test_n3"] == 2570 + 2410 + 1870


def test_view_summary_exact():
    views = pd.DataFrame({"D=0": [40.0, 40.4, 39.6, 40.0], "D=0.75": [60.0, 60.0, 66.0, 63.0],
                          "D=1.75": [90.0, 90.9, 108.0, 99.0]},
                         index=pd.Index(["identity", "flip_x", "flip_y", "rot180"], name="view"))
    s = tr.view_summary(views)
    assert s["still_max_pct"] == pytest.approx(1.0)
    assert s["mirror_max_pct"] == pytest.approx(1.0)
    assert (s["reverse_min_pct"], s["reverse_max_pct"]) == (pytest.approx(5.0), pytest.approx(20.0))
    assert (s["reverse_slow_max_pct"], s["reverse_fast_min_pct"]) == (pytest.approx(10.0), pytest.approx(10.0))
    with pytest.raises(ValueError, match="expected rows"):
        tr.view_summary(views.drop(index="rot180"))
    with pytest.raises(ValueError, match="no moving dot"):
        tr.view_summary(views[["D=0"]])


def test_scan_agreement_is_the_largest_cell_difference():
    paper = paper_row("FCNN")
    ev = _evaluation({0.75: (0.40, 0.95, 0.99), 1.0: (0.50, 0.9, 0.99), 1.75: (0.3, 0.8, 0.95)})
    ours, _, _ = tr.paper_comparison(ev, paper)
    scan = ev.assign(n_qd=7.5)
    assert tr.scan_agreement(scan, ours, 7.5) == 0.0
    scan.loc[scan["D"] == 1.0, "auc_140nm"] -= 0.03
    assert tr.scan_agreement(pd.concat([scan, ev.assign(n_qd=10.0, auc_70nm=0.0)]), ours, 7.5) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="n_qd=5.0"):
        tr.scan_agreement(scan, ours, 5.0)


# --------------------------------------------------------------------------
# The lines chapter 05 prints: its numbers, formatted as printed
# --------------------------------------------------------------------------
def test_describe_model_and_network_of_the_shipped_network():
    run = tr.load_compact_run(COMPACT_DIR)
    p = run.params
    text = tr.describe_model(run).splitlines()
    assert text[0] == "model file: compact.pt in compact/"
    assert text[1] == f"trained for N_qd = {p.n_qd:g}, N_bkg = {p.n_bkg:g}, start margin {p.start_margin_px:g} px"
    # a model trained for other parameters than SimParams() says so
    other = dataclasses.replace(run, params=p.replace(n_bkg=p.n_bkg + 1))
    assert tr.describe_model(other).endswith("\nnote: SimParams() has changed since this model was trained; "
                                             "it keeps its own")
    net = tr.describe_network(run)
    assert net.startswith(str(run.net))
    assert f"parameters: {count_parameters(run.net):,}\n" in net
    assert f"per image and view: {macs_per_image(run.net) / 1e6:.2f} M\n" in net
    assert net.endswith(f"weights file: {run.model_path.stat().st_size / 1e3:.0f} kB")


def test_describe_views_relative_change_and_walks_outside():
    views = pd.DataFrame({"D=0": [40.0, 40.4], "D=1.75": [90.0, 99.0]},
                         index=pd.Index(["identity", "flip_y"], name="view"))
    text = tr.describe_views(views, {0.0: 0.0, 1.75: 0.123})
    assert text.startswith("mean error (nm) of the network on each view, mapped back:\n")
    rel = text.split("relative to the plain images (%):\n")[1].splitlines()
    assert rel[-2].split() == ["flip_y", "1.0", "10.0"]  # +1 % and +10 %
    assert text.endswith("walks that end outside their start box (%): {'D=0': 0, 'D=1.75': 12} "
                         "(start outside it: 0 %)")
    with pytest.raises(ValueError, match="expected a row 'identity'"):
        tr.describe_views(views.drop(index="identity"), {})


def test_describe_comparison_counts_the_cells():
    paper = paper_row("FCNN")
    ev = _evaluation({0.75: (0.40, 0.95, 0.99), 1.0: (0.50, 0.80, 0.99), 1.75: (0.3, 0.8, 0.95)})
    _, table, short = tr.paper_comparison(ev, paper)
    text = tr.describe_comparison(table, short, ev)
    assert "\ncells at or above the paper's: 7 of 9\n" in text
    assert text.endswith("mean error (nm): {0.75: 50.8, 1.0: 51.0, 1.75: 51.8}")
    assert "   D  eps_nm   by\n0.75    70.0 0.08" in text


def _scan(paper: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{"n_qd": n_qd, "D": D, "auc_70nm": auc, "auc_140nm": auc, "auc_210nm": auc,
                          "mean_error_nm": 300.0 / n_qd, "crlb_nm": 90.0 / n_qd}
                         for n_qd, auc in ((7.5, 0.3), (10.0, 0.995), (30.0, 0.999)) for D in paper.index])


def test_describe_floor_quotes_the_bound_and_the_ratios():
    crlb = {"signal_photons": 449.4, "sigma_nm": 20.0, "sigma_x_nm": 19.96, "sigma_y_nm": 20.04}
    ev = _evaluation({0.75: (0.4, 0.9, 0.99), 1.0: (0.5, 0.8, 0.99)})
    text = tr.describe_floor(crlb, ev, None, n_bkg=8.4).splitlines()
    mean = 20.0 * np.sqrt(np.pi / 2)  # 25.07 nm
    assert text[0] == "signal photons of a still dot in focus: 449; background 8.4 per pixel"
    assert text[1] == f"CRLB of a still dot: 20.0 nm (x), 20.0 nm (y); as a mean distance {mean:.1f} nm"
    assert text[3].split() == ["0.75", f"{50.75 / mean:.1f}"]  # network mean error / floor
    scan = _scan(paper_row("FCNN"))
    with_scan = tr.describe_floor(crlb, ev, scan, n_bkg=8.4)
    assert with_scan.splitlines()[-1].split()[:3] == ["30.0", "1.75", "0.999"]


def test_floor_report_text_glue_and_checks():
    paper = paper_row("FCNN")
    scan = _scan(paper)
    ours = scan[scan["n_qd"] == 7.5].set_index("D")[["auc_70nm", "auc_140nm", "auc_210nm"]]
    ours.columns = [70.0, 140.0, 210.0]
    crlb = {"sigma_nm": 20.0}
    mean = 20.0 * np.sqrt(np.pi / 2)
    r = tr.floor_report(scan, paper, ours, crlb, 7.5, still_nm=30.0)
    assert r["still_ratio"] == pytest.approx(30.0 / mean)
    assert r["monotone"] is True and r["scan_agree"] == 0.0
    assert (r["crlb_fall"], r["error_fall"]) == (pytest.approx(4.0), pytest.approx(4.0))
    assert list(r["glue"]) == ["first_ratio", "crlb_fall", "error_fall", "scan_lo", "scan_hi", "still_ratio",
                               "scan_agree"]
    assert r["text"].splitlines() == [
        "every cell at or above the paper's row at N_qd = [10.0, 30.0] (the smallest: 1.33 x the calibrated value)",
        "from N_qd = 7.5 to 30: the still-dot bound falls 4.0 x, the network's mean error (over the three D) 4.0 x",
        f"a dot that does not move (D = 0, outside the training range): network mean error 30.0 nm = "
        f"{30.0 / mean:.1f} x the floor"]
    alone = tr.floor_report(None, paper, ours, crlb, 7.5, still_nm=30.0)
    assert alone["glue"] == {"still_ratio": pytest.approx(30.0 / mean)}
    assert alone["text"] == r["text"].splitlines()[-1]
