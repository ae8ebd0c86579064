"""TrackPy baseline and the calibration against the paper's TrackPy row.

"Simulate, then recover": dots drawn at known positions are found there.
"""

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from qdloc import SimParams, simulate
from qdloc.localise.trackpy import TRACKPY_COLUMNS, TrackpyParams, brightest_per_frame, trackpy_locate
from qdloc.sim.psf import expected_counts_static
from qdloc.study.calibration import (
    CALIBRATED_TRACKPY,
    max_abs_difference,
    paper_row,
    read_table1,
    row_difference,
    simulate_test_set,
    sweep,
    trackpy_row,
    write_table1,
)
from qdloc.study.constants import PAPER_FCNN_ROW, PAPER_TEST_SETS, PAPER_TRACKPY_ROW, TOLERANCE

BRIGHT = SimParams(n_qd=2000.0)


def _brightest(df: pd.DataFrame) -> pd.DataFrame:
    """The highest-mass feature of each frame, in frame order."""
    return brightest_per_frame(df, "mass")


def _still_dot(x_px: float, y_px: float, seed: int = 0, params: SimParams = BRIGHT) -> np.ndarray:
    """One Poisson image of a still dot at (x, y) px (x = column)."""
    a = params.pixel_size_um
    lam = expected_counts_static((x_px * a, y_px * a, 0.0), params)
    return np.random.default_rng(seed).poisson(lam).astype(np.uint16)


# --------------------------------------------------------------------------
# simulate, then recover
# --------------------------------------------------------------------------
@pytest.mark.parametrize(("diameter", "tol_px"), [(11, 0.1), (7, 0.5)])
def test_still_dots_recovered_at_their_simulated_positions(diameter, tol_px):
    # D = 0: the dot does not move, so the label is where the dot is. A
    # diameter that holds the PSF (11 px for sigma = 3 px) is unbiased; the
    # calibrated 7 px cuts the spot and pixel-locks by up to ~0.4 px.
    params = BRIGHT.replace(start_margin_px=6.0)
    sim = simulate(40, params, seed=5, D=0.0)
    df = trackpy_locate(sim.images, TrackpyParams(diameter=diameter))
    top = _brightest(df)
    assert list(top["frame"]) == list(range(40))  # one dot found in every frame
    err = np.hypot(
        top["x"].to_numpy() - sim.centroids[:, 0], top["y"].to_numpy() - sim.centroids[:, 1]
    )
    assert err.max() < tol_px, err.max()


def test_x_is_the_column_and_y_the_row():
    img = _still_dot(17.3, 5.6)
    assert img.shape == (24, 25)
    top = _brightest(trackpy_locate(img))
    assert len(top) == 1
    assert abs(top["x"].iloc[0] - 17.3) < 0.5
    assert abs(top["y"].iloc[0] - 5.6) < 0.5


def test_frames_are_numbered_by_their_place_in_the_stack():
    empty = np.zeros((24, 25), np.uint16)
    stack = np.stack([_still_dot(8.0, 9.0, 1), empty, _still_dot(15.0, 12.0, 2), empty])
    df = trackpy_locate(stack)
    assert df["frame"].dtype == np.int64
    top = _brightest(df)
    assert list(top["frame"]) == [0, 2]
    np.testing.assert_allclose(top[["x", "y"]].to_numpy(), [[8.0, 9.0], [15.0, 12.0]], atol=0.5)
    # frame order, and the same features as locating each frame alone
    assert df["frame"].is_monotonic_increasing
    alone = trackpy_locate(stack[2])
    np.testing.assert_array_equal(
        df.loc[df["frame"] == 2, ["x", "y", "mass"]].to_numpy(),
        alone[["x", "y", "mass"]].to_numpy(),
    )


def test_columns_and_score_is_mass():
    df = trackpy_locate(_still_dot(12.0, 12.0))
    assert tuple(df.columns) == TRACKPY_COLUMNS
    assert len(df) >= 1
    np.testing.assert_array_equal(df["score"].to_numpy(), df["mass"].to_numpy())


@pytest.mark.parametrize(
    "images",
    [np.zeros((24, 25), np.uint16), np.zeros((3, 24, 25), np.uint16), np.zeros((0, 24, 25))],
    ids=["one-black-image", "black-stack", "no-frames"],
)
def test_nothing_to_find_gives_no_rows_and_no_warning(images):
    # pytest turns warnings into errors here (filterwarnings = error)
    df = trackpy_locate(images)
    assert len(df) == 0
    assert tuple(df.columns) == TRACKPY_COLUMNS


def test_no_global_state_touched():
    logger = logging.getLogger("trackpy")
    level = logger.level
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global state)
    trackpy_locate(simulate(5, SimParams(), seed=0).images)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert logger.level == level


def test_minmass_drops_faint_features():
    img = _still_dot(12.0, 11.0, params=SimParams(n_qd=8.0))
    every = trackpy_locate(img, TrackpyParams(minmass=0.0))
    assert len(every) >= 2  # the dot and noise
    cut = float(np.median(every["mass"]))
    kept = trackpy_locate(img, TrackpyParams(minmass=cut))
    np.testing.assert_array_equal(
        kept[["x", "y"]].to_numpy(), every.loc[every["mass"] > cut, ["x", "y"]].to_numpy()
    )


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("diameter", 6),
        ("diameter", 1),
        ("diameter", 7.5),
        ("diameter", True),
        ("minmass", -1.0),
        ("minmass", math.nan),
        ("separation", 0.0),
        ("noise_size", 0.0),
        ("smoothing_size", -3.0),
        ("threshold", -1.0),
        ("percentile", 101.0),
        ("topn", 0),
        ("preprocess", "yes"),
        ("max_iterations", -1),
        ("maxsize", 0.0),
        ("engine", "gpu"),
    ],
)
def test_bad_trackpy_params_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"TrackpyParams\.{field}=.*expected"):
        TrackpyParams(**{field: value})


@pytest.mark.parametrize(
    ("images", "needle"),
    [
        (np.zeros(25), "shape"),
        (np.zeros((2, 2, 24, 25)), "shape"),
        (np.full((24, 25), np.nan), "NaN"),
        (np.full((24, 25), -1, np.int32), "negative"),
        (np.array([["a"]]), "dtype"),
    ],
)
def test_bad_images_raise(images, needle):
    with pytest.raises(ValueError, match=needle):
        trackpy_locate(images)


def test_bad_params_object_raises():
    with pytest.raises(ValueError, match="TrackpyParams"):
        trackpy_locate(np.zeros((24, 25), np.uint16), {"diameter": 7})


# --------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------
def test_paper_numbers():
    assert PAPER_TEST_SETS == {
        "test_D0.75": (2570, 10, 0.75),
        "test_D1": (2410, 11, 1.0),
        "test_D1.75": (1870, 12, 1.75),
    }
    assert PAPER_TRACKPY_ROW[1.0] == {70.0: 0.04, 140.0: 0.30, 210.0: 0.61}
    assert PAPER_FCNN_ROW[1.75][210.0] == 0.92
    row = paper_row()
    assert row.shape == (3, 3)
    assert row.loc[0.75, 210.0] == 0.73
    assert row.loc[1.75, 70.0] == 0.02


def test_test_set_is_the_simulator_with_the_sets_seed_and_D():
    sim = simulate_test_set("test_D1.75", n=7)
    ref = simulate(7, SimParams(), seed=12, D=1.75)
    np.testing.assert_array_equal(sim.images, ref.images)
    with pytest.raises(ValueError, match="test_D2"):
        simulate_test_set("test_D2")


def test_trackpy_row_shape_and_order():
    row = trackpy_row(n_per_set=40)
    assert list(row.index) == [0.75, 1.0, 1.75]
    assert list(row.columns) == [70.0, 140.0, 210.0]
    v = row.to_numpy()
    assert np.all((v >= 0) & (v <= 1))
    assert np.all(np.diff(v, axis=1) >= 0)  # a larger tolerance never scores lower
    d = row_difference(row)
    assert d.loc[1.0, 140.0] == pytest.approx(row.loc[1.0, 140.0] - 0.30)
    with pytest.raises(ValueError, match="n_per_set"):
        trackpy_row(n_per_set=0)


def test_auc_rises_with_n_qd():
    df = sweep("n_qd", [2.0, 6.0, 20.0], n_per_set=100)
    for D in (0.75, 1.0, 1.75):
        auc = df[(df.D_um2_per_s == D) & (df.eps_nm == 210.0)]["auc"].to_numpy()
        assert np.all(np.diff(auc) > 0), (D, auc)


def test_minmass_sweep_matches_trackpy_and_never_raises_the_auc():
    values = [0.0, 40.0, 60.0]
    df = sweep("minmass", values, n_per_set=60)
    auc = df.pivot_table(index="value", columns=["D_um2_per_s", "eps_nm"], values="auc")
    assert np.all(np.diff(auc.to_numpy(), axis=0) <= 1e-12)  # truncating the PR curve
    # the filtered shortcut equals running TrackPy with the threshold
    direct = trackpy_row(trackpy_params=CALIBRATED_TRACKPY.replace(minmass=40.0), n_per_set=60)
    np.testing.assert_allclose(auc.loc[40.0].to_numpy(), direct.stack().to_numpy())


def test_sweep_rejects_unknown_names():
    with pytest.raises(ValueError, match="brightness"):
        sweep("brightness", [1.0], n_per_set=5)


def test_calibrated_defaults_near_the_paper_on_a_subset():
    # The full sets (chapter 06) are within TOLERANCE; 300 images per set are
    # within twice that.
    row = trackpy_row(n_per_set=300)
    assert max_abs_difference(row) < 2 * TOLERANCE, row


def test_table1_file_round_trip_and_merge(tmp_path):
    path = tmp_path / "results" / "table1.json"
    ours = paper_row() + 0.01
    write_table1(path, {"TrackPy (ours)": ours}, {"n_per_set": None})
    write_table1(path, {"Other": paper_row("FCNN")})
    doc = json.loads(path.read_text())
    assert set(doc["methods"]) == {"TrackPy (ours)", "Other"}
    assert doc["methods"]["TrackPy (ours)"]["1"]["140"] == pytest.approx(0.31)
    assert doc["paper"]["TrackPy"]["0.75"]["210"] == 0.73
    assert doc["metadata"]["TrackPy (ours)"] == {"n_per_set": None}
    back = read_table1(path)
    pd.testing.assert_frame_equal(back["methods"]["TrackPy (ours)"], ours)
    pd.testing.assert_frame_equal(back["paper"]["FCNN"], paper_row("FCNN"))
    write_table1(path, {"Other": paper_row()}, merge=False)
    assert set(json.loads(path.read_text())["methods"]) == {"Other"}


# --------------------------------------------------------------------------
# figures (qdloc.plots.evaluation)
# --------------------------------------------------------------------------
def test_eval_figures_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qdloc.plots import evaluation as pe
    from qdloc.study.calibration import locate_test_sets, pr_curves, row_from_features

    long = pd.DataFrame(
        [("n_qd", v, D, e, 0.1 * v / 10 + e / 1000) for v in (2.0, 8.0)
         for D in (0.75, 1.0, 1.75) for e in (70.0, 140.0, 210.0)],
        columns=["param", "value", "D_um2_per_s", "eps_nm", "auc"],
    )
    fig, axes = pe.plot_auc_vs_param(long, "n_qd", chosen=7.5, logx=True)
    assert len(axes) == 3
    assert len(axes[2].lines) == 3 + 3 + 1  # ours, the paper's, the chosen value
    np.testing.assert_allclose(axes[2].lines[0].get_ydata(), [0.23, 0.29])
    plt.close(fig)
    with pytest.raises(ValueError, match="auc"):
        pe.plot_sensitivity(long.drop(columns="auc"))
    with pytest.raises(ValueError, match="diameter"):
        pe.plot_auc_vs_param(long, "diameter")

    feats = locate_test_sets(n_per_set=20)
    fig, axes = pe.plot_pr_curves(pr_curves(feats), row_from_features(feats))
    titles = [ax.get_title() for ax in axes]
    assert titles == ["D = 0.75 µm²/s", "D = 1 µm²/s", "D = 1.75 µm²/s"]
    plt.close(fig)
    sim = simulate(2, SimParams(), seed=0)
    fig, axes = pe.plot_features(sim.images, trackpy_locate(sim.images), sim.centroids, SimParams(),
                                 frames=[0, 1])
    label = [ln for ln in axes[0].lines if ln.get_label() == "label (centroid)"][0]
    np.testing.assert_allclose(np.ravel(label.get_xydata()), sim.centroids[0])
    plt.close(fig)


def test_brightest_per_frame_is_trackpys_topn_1():
    images = simulate(30, SimParams(), seed=4, D=1.0).images
    every = trackpy_locate(images)
    top = trackpy_locate(images, TrackpyParams(topn=1))
    mine = brightest_per_frame(every)
    assert mine["frame"].is_unique
    np.testing.assert_array_equal(
        mine[["frame", "x", "y", "mass"]].to_numpy(), top[["frame", "x", "y", "mass"]].to_numpy()
    )
    with pytest.raises(ValueError, match="brightness"):
        brightest_per_frame(every, "brightness")


# --------------------------------------------------------------------------
# the held-out calibration
# --------------------------------------------------------------------------
def test_calibration_sets_are_disjoint_from_the_test_sets():
    from qdloc.study.constants import CALIBRATION_SETS

    test_seeds = {s for _, s, _ in PAPER_TEST_SETS.values()}
    assert not test_seeds & {s for _, s, _ in CALIBRATION_SETS.values()}
    assert [(n, D) for n, _, D in CALIBRATION_SETS.values()] == [
        (n, D) for n, _, D in PAPER_TEST_SETS.values()]
    a, b = simulate_test_set("calib_D1", n=3), simulate_test_set("test_D1", n=3)
    assert not np.array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.images, simulate(3, SimParams(), seed=1011, D=1.0).images)
    with pytest.raises(ValueError, match="altered"):
        trackpy_row(n_per_set=2, sets={"calib_D1": (5, 99, 1.0)})


def test_fit_n_qd_recovers_the_brightness_of_held_out_sets():
    # Simulate, then recover: the "paper's" row is TrackPy on the test sets at N_qd = 7.5; the fit
    # on the (disjoint) calibration sets picks 7.5 from a grid whose other values are far off.
    from qdloc.study.calibration import CALIBRATION_SETS, fit_n_qd

    target = trackpy_row(SimParams(n_qd=7.5), n_per_set=150)
    fit = fit_n_qd([3.0, 7.5, 30.0], SimParams(), n_per_set=150, reference=target)
    assert fit.n_qd == 7.5 and not fit.at_grid_edge
    assert fit.max_abs[7.5] < 0.08 < fit.max_abs[3.0]  # about 2 SE of 150 images apart
    assert set(fit.features) == {3.0, 7.5, 30.0}
    assert list(fit.features[7.5]) == [D for _, _, D in CALIBRATION_SETS.values()]
    # on the very images it was computed from, the fit is exact
    same = fit_n_qd([6.0, 7.5], SimParams(), n_per_set=20, reference=fit_n_qd(
        [7.5], SimParams(), n_per_set=20).row)
    assert same.n_qd == 7.5 and same.max_abs[7.5] == 0.0 and same.at_grid_edge
    with pytest.raises(ValueError, match="N_qd > 0"):
        fit_n_qd([], SimParams())


def test_admissible_values_keep_the_values_within_tolerance():
    from qdloc.study.calibration import admissible_values

    ref = paper_row()
    rows = {1.0: ref + 0.01, 2.0: ref - 0.06, 3.0: ref + 0.04}
    long = pd.DataFrame([("margin", v, D, e, r.loc[D, e]) for v, r in rows.items()
                         for D in r.index for e in r.columns],
                        columns=["param", "value", "D_um2_per_s", "eps_nm", "auc"])
    assert admissible_values(long) == {"margin": [1.0, 3.0]}
    assert admissible_values(long, tolerance=0.02) == {"margin": [1.0]}
    with pytest.raises(ValueError, match="tolerance"):
        admissible_values(long, tolerance=-1.0)


def test_table1_file_keeps_standard_errors_and_extra_entries(tmp_path):
    path = tmp_path / "table1.json"
    se = paper_row() * 0 + 0.01
    write_table1(path, {"A": paper_row()}, standard_errors={"A": se},
                 extra={"seeds": {"test": {"t": 1}}})
    write_table1(path, {"B": paper_row("FCNN")}, standard_errors={"B": se * 2})
    back = read_table1(path)
    assert set(back["standard_errors"]) == {"A", "B"}
    pd.testing.assert_frame_equal(back["standard_errors"]["B"], se * 2)
    assert back["seeds"] == {"test": {"t": 1}}
    with pytest.raises(ValueError, match="methods"):
        write_table1(path, {}, extra={"methods": {}})
