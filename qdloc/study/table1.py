"""Chapter 06: Table 1 of the paper, assembled from our three localisers.

TrackPy's row comes from :mod:`qdloc.study.calibration`; this module adds what surrounds it:
where every value of the simulator comes from (:func:`provenance_table`), the provenance stored
with each row (:func:`trackpy_metadata`, :func:`write_learned_rows`), the learned localisers'
predictions on the test sets (:func:`learned_predictions`), the table and its cell-by-cell
comparisons (:func:`rows_table`, :func:`shortfalls`), detection metrics per set
(:func:`detection_table`), precision-recall curves per method (:func:`method_pr_curves`) and
the chapter's results (:func:`evaluation_results`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from qdloc import __version__ as qdloc_version
from qdloc.eval.metrics import detection_metrics, f1_integral, precision_recall
from qdloc.localise.compact import compact_locate
from qdloc.localise.frcnn import frcnn_locate
from qdloc.localise.trackpy import TrackpyParams, brightest_per_frame, trackpy_locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import Simulation
from qdloc.study.bootstrap import bootstrap_se_row
from qdloc.study.calibration import (
    NqdFit,
    check_model_params,
    compare_rows,
    read_predictions,
    row_difference,
    row_from_features,
    row_to_json,
    simulate_test_set,
    write_table1,
)
from qdloc.study.constants import CALIBRATION_SETS, PAPER_TEST_SETS, TOLERANCE

__all__ = [
    "TP_NAME",
    "FR_NAME",
    "CO_NAME",
    "METHOD_ORDER",
    "SHORT_NAMES",
    "test_set_table",
    "set_seeds",
    "calibration_record",
    "distance_table",
    "method_standard_errors",
    "LearnedRows",
    "learned_rows",
    "error_pivot",
    "fig3_summary",
    "table1_extra",
    "describe_setup",
    "shipped_unknowns",
    "describe_fit",
    "setup_glue",
    "fit_glue",
    "distance_glue",
    "detection_glue",
    "shortfall_glue",
    "failure_glue",
    "provenance_table",
    "trackpy_metadata",
    "brightest_features",
    "rows_table",
    "detection_table",
    "simulate_test_sets",
    "learned_predictions",
    "write_learned_rows",
    "all_rows",
    "shortfalls",
    "describe_shortfalls",
    "method_predictions",
    "predictions_at",
    "method_pr_curves",
    "locators",
    "evaluation_results",
]

#: The name of TrackPy's row in ``table1.json``.
TP_NAME = "TrackPy (ours)"
#: The name of our Keypoint R-CNN's row.
FR_NAME = "Keypoint R-CNN (ours, cpu profile, from scratch)"
#: The name of the compact network's row.
CO_NAME = "Compact (ours)"
#: Our three rows, in the order of the tables.
METHOD_ORDER = [TP_NAME, FR_NAME, CO_NAME]
#: Short names for narrow tables.
SHORT_NAMES = {TP_NAME: "TrackPy", FR_NAME: "KRCNN", CO_NAME: "Compact"}

Features = Mapping[float, tuple[pd.DataFrame, np.ndarray]]


def test_set_table() -> dict[str, dict[str, Any]]:
    """The paper's test sets as JSON: ``{name: {"n", "seed", "D_um2_per_s"}}``."""
    return {k: {"n": n, "seed": s, "D_um2_per_s": D} for k, (n, s, D) in PAPER_TEST_SETS.items()}


def set_seeds() -> dict[str, dict[str, int]]:
    """Both seed lists: ``{"test": {name: seed}, "calibration": {name: seed}}`` (disjoint)."""
    test = {k: s for k, (_, s, _) in PAPER_TEST_SETS.items()}
    calib = {k: s for k, (_, s, _) in CALIBRATION_SETS.items()}
    if set(test.values()) & set(calib.values()):
        raise ValueError(f"test seeds {test} and calibration seeds {calib}: expected disjoint lists")
    return {"test": test, "calibration": calib}


def calibration_record(
    fit: NqdFit,
    choice: pd.Series,
    params: SimParams,
    trackpy_params: TrackpyParams,
    admissible: Mapping[str, Sequence[Any]],
    n_sweep: int,
    test_row_at_fit: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The held-out calibration as JSON, for ``table1.json``'s ``calibration`` entry.

    Parameters
    ----------
    fit : NqdFit
        :func:`qdloc.study.calibration.fit_n_qd` on the calibration sets.
    choice : pandas.Series
        :func:`qdloc.study.bootstrap.bootstrap_choice`: how often each grid value is picked.
    params, trackpy_params
        The current (shipped) values of the unknowns.
    admissible : mapping
        :func:`qdloc.study.calibration.admissible_values` of the sensitivity sweep.
    n_sweep : int
        Images per calibration set in that sweep.
    test_row_at_fit : pandas.DataFrame, optional
        TrackPy's row on the test sets at the held-out ``N_qd`` (when it differs from the current).

    Returns
    -------
    dict
    """
    cur = shipped_unknowns(params, trackpy_params)
    held = {**cur, "n_qd": fit.n_qd}
    rec = {
        "sets": {k: {"n": n, "seed": sd, "D_um2_per_s": D} for k, (n, sd, D) in CALIBRATION_SETS.items()},
        "rule": ("N_qd: the grid value minimising the largest |TrackPy - paper| over the nine cells "
                 "on the calibration sets; the other unknowns keep their plain values (focal plane, "
                 "3-px margin, 7-px diameter, TrackPy's minmass) when these are admissible (within "
                 f"{TOLERANCE} of the paper in every cell)"),
        "n_per_set": fit.n_per_set, "n_qd_grid": [float(v) for v in fit.max_abs.index],
        "max_abs_difference": {f"{v:g}": round(float(d), 4) for v, d in fit.max_abs.items()},
        "bootstrap_choice": {f"{v:g}": float(f) for v, f in choice.items()},
        "held_out": held, "current": cur,
        "distance": {k: float(held[k]) - float(cur[k]) for k in cur},
        "within_tolerance": fit.within_tolerance, "at_grid_edge": fit.at_grid_edge,
        "row_on_calibration_sets": row_to_json(fit.row),
        "sensitivity_n_per_set": int(n_sweep),
        "admissible": {k: [float(v) for v in vs] for k, vs in admissible.items()},
    }
    if test_row_at_fit is not None:
        rec["test_row_at_held_out_n_qd"] = row_to_json(test_row_at_fit)
    return rec


def distance_table(ours: pd.DataFrame, paper: pd.DataFrame, se: pd.DataFrame) -> pd.DataFrame:
    """Ours, the paper's, their difference, its standard error and difference / SE, per cell.

    Parameters
    ----------
    ours, paper, se : pandas.DataFrame
        Rows (index D, columns eps); ``se`` the bootstrap standard errors of ``ours`` (the
        paper's values carry none).

    Returns
    -------
    pandas.DataFrame
        Lines ``ours``, ``paper``, ``difference``, ``SE``, ``difference / SE``; one column per cell.
    """
    diff = row_difference(ours, paper)
    if not (se.index.equals(ours.index) and se.columns.equals(ours.columns)):
        raise ValueError(f"se has index {list(se.index)} and columns {list(se.columns)}: "
                         "expected those of ours")
    if (se.to_numpy() <= 0).any():
        raise ValueError("se: expected standard errors > 0 in every cell")
    return rows_table({"ours": ours, "paper": paper, "difference": diff, "SE": se,
                       "difference / SE": diff / se})


def method_standard_errors(
    preds: Mapping[str, Mapping[float, pd.DataFrame]],
    test: Mapping[float, Simulation],
    n_resamples: int = 200,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Bootstrap standard errors of every method's row (:func:`qdloc.study.bootstrap.bootstrap_se_row`).

    Parameters
    ----------
    preds : mapping
        ``{method: {D: predictions}}`` (:func:`method_predictions`).
    test : mapping
        ``{D: Simulation}``: the labels.
    n_resamples, seed : int
        As in :func:`qdloc.study.bootstrap.bootstrap_se_row` (the same resamples for every method).

    Returns
    -------
    dict
        ``{method: row of standard errors}``.
    """
    return {m: bootstrap_se_row({D: (p[D], test[D].centroids) for D in test}, n_resamples=n_resamples,
                                seed=seed) for m, p in preds.items()}


def fig3_summary(errors_nm: Mapping[str, np.ndarray], frames: Sequence[int],
                 eps_nm: float = 210.0) -> dict[str, Any]:
    """What Fig. 3 shows, in numbers: per method, the images within ``eps_nm`` and the worst one.

    Parameters
    ----------
    errors_nm : mapping
        ``{method: error of each image's top estimate, nm (NaN: none)}``.
    frames : sequence of int
        The images shown.
    eps_nm : float

    Returns
    -------
    dict
        Flat, ready for glue: ``f3_n`` (images shown) and, per method (short name ``s`` of
        :data:`SHORT_NAMES`), ``f3_within_s`` (images within ``eps_nm``), ``f3_worst_image_s``
        and ``f3_worst_nm_s`` (an image without an estimate counts as not within and as the
        worst, with ``f3_worst_nm_s`` = -1).
    """
    out: dict[str, Any] = {"f3_n": len(frames)}
    for m, e in errors_nm.items():
        sel = np.asarray(e, dtype=float)[list(frames)]
        filled = np.where(np.isnan(sel), np.inf, sel)
        k, s = int(np.argmax(filled)), SHORT_NAMES.get(m, m)
        out.update({f"f3_within_{s}": int(np.sum(filled <= eps_nm)), f"f3_worst_image_{s}": int(frames[k]),
                    f"f3_worst_nm_{s}": float(sel[k]) if np.isfinite(sel[k]) else -1.0})
    return out


def table1_extra(fit: NqdFit, choice: pd.Series, params: SimParams, trackpy_params: TrackpyParams,
                 admissible: Mapping[str, Sequence[Any]], n_sweep: int, test_row_at_fit: pd.DataFrame,
                 n_resamples: int, seed: int) -> dict[str, Any]:
    """The entries ``seeds``, ``bootstrap`` and ``calibration`` of ``table1.json``.

    Parameters
    ----------
    fit, choice, params, trackpy_params, admissible, n_sweep, test_row_at_fit
        As in :func:`calibration_record`.
    n_resamples, seed : int
        The bootstrap's resamples per set and seed.

    Returns
    -------
    dict
    """
    return {"seeds": set_seeds(),
            "bootstrap": {"n_resamples": int(n_resamples), "seed": int(seed),
                          "resampled": "images, within each test set", "statistic": "std (ddof=1)"},
            "calibration": calibration_record(fit, choice, params, trackpy_params, admissible, n_sweep,
                                              test_row_at_fit)}


def setup_glue(params: SimParams) -> dict[str, Any]:
    """Chapter 06's setting, for glue: tolerance, PSF, background, ``N_qd``, the test sets' D and sizes."""
    sets = list(PAPER_TEST_SETS.values())
    return {"tol": TOLERANCE, "sigma_xy": params.sigma_xy_um, "n_bkg": params.n_bkg, "n_qd": params.n_qd,
            "peak": params.peak_signal, "D_a": sets[0][2], "D_c": sets[-1][2],
            **{f"n_set_{i}": n for i, (n, _, _) in enumerate(sets)}}


def describe_setup(params: SimParams, trackpy_params: TrackpyParams, trackpy_version: str) -> str:
    """The shipped unknowns in two lines (``N_qd``, peak signal, start, TrackPy's settings)."""
    p, t = params, trackpy_params
    return (f"N_qd = {p.n_qd} (peak signal {p.peak_signal:.2f} photons, N_bkg = {p.n_bkg}), start margin = "
            f"{p.start_margin_px} px, start z spread = {p.start_z_sd_um} um\nTrackPy {trackpy_version}: "
            f"diameter = {t.diameter} px, minmass = {t.minmass}")


def shipped_unknowns(params: SimParams, trackpy_params: TrackpyParams, n_qd: bool = True) -> dict[str, float]:
    """The unknowns' values: ``n_qd`` (unless ``n_qd=False``), ``start_z_sd_um``, ``start_margin_px``,
    ``diameter``, ``minmass``."""
    out = {"n_qd": params.n_qd} if n_qd else {}
    return {**out, "start_z_sd_um": params.start_z_sd_um, "start_margin_px": params.start_margin_px,
            "diameter": trackpy_params.diameter, "minmass": trackpy_params.minmass}


def describe_fit(fit: NqdFit, choice: pd.Series, params: SimParams) -> str:
    """The held-out fit as a table (largest difference, share of bootstrap picks) and one line."""
    t = pd.DataFrame({"max |ours - paper|": fit.max_abs, "picked by the bootstrap": choice})
    return (t.rename_axis("N_qd").round(3).to_string() + f"\nheld-out fit: N_qd = {fit.n_qd:g} (shipped: "
            f"{params.n_qd:g}, distance {fit.n_qd - params.n_qd:+g}); within {TOLERANCE} in every cell: "
            f"{fit.within_tolerance}")


def fit_glue(fit: NqdFit, choice: pd.Series, params: SimParams, n_resamples: int = 200,
             seed: int = 0) -> dict[str, Any]:
    """The held-out fit in numbers, for glue (percentages of resamples, 0-100).

    Parameters
    ----------
    fit : NqdFit
    choice : pandas.Series
        :func:`qdloc.study.bootstrap.bootstrap_choice`'s output.
    params : SimParams
        The shipped values (``params.n_qd`` must be on the grid).
    n_resamples, seed : int
        For the bootstrap standard errors of the fit's row on the calibration sets (``calib_se``:
        their mean over the cells).

    Returns
    -------
    dict
    """
    calib_se = bootstrap_se_row(fit.features[fit.n_qd], n_resamples=n_resamples, seed=seed)
    if params.n_qd not in fit.max_abs.index:
        raise ValueError(f"params.n_qd={params.n_qd} is not on the fit's grid {list(fit.max_abs.index)}")
    grid = list(fit.max_abs.index)
    return {"n_calib": -1 if fit.n_per_set is None else fit.n_per_set,
            "calib_se": float(calib_se.to_numpy().mean()), "fit_nqd": fit.n_qd,
            "fit_dist": fit.n_qd - params.n_qd, "fit_max": float(fit.max_abs[fit.n_qd]),
            "cur_max_calib": float(fit.max_abs[params.n_qd]), "pick_fit": 100 * float(choice[fit.n_qd]),
            "pick_cur": 100 * float(choice[params.n_qd]), "pick_min": 100 * float(choice.min()),
            "grid_lo": min(grid), "grid_hi": max(grid)}


def distance_glue(dist: pd.DataFrame, worst_fit: float) -> dict[str, Any]:
    """:func:`distance_table` in numbers, for glue: worst difference, standard errors, largest z."""
    return {"worst": float(dist.loc["difference"].abs().max()), "worst_fit": float(worst_fit),
            "se_min": float(dist.loc["SE"].min()), "se_max": float(dist.loc["SE"].max()),
            "z_max": float(dist.loc["difference / SE"].abs().max())}


def detection_glue(det: pd.DataFrame) -> dict[str, Any]:
    """:func:`detection_table`'s ranges, for glue: features per image, RMSE, largest precision."""
    return {"feat_lo": float(det["features_per_image"].min()), "feat_hi": float(det["features_per_image"].max()),
            "rmse_lo": float(det["rmse_lat_nm"].min()), "rmse_hi": float(det["rmse_lat_nm"].max()),
            "prec_max": float(det["precision"].max())}


def shortfall_glue(cells: Sequence[Mapping[str, Any]], se: pd.DataFrame) -> dict[str, Any]:
    """:func:`shortfalls` in numbers, for glue: cells, cells at least our Keypoint R-CNN, cells short
    of the paper's FCNN, the largest shortfall and the largest in units of ``se`` (the compact's)."""
    z = [c["shortfall_vs_paper_fcnn"] / float(se.loc[c["D_um2_per_s"], c["eps_nm"]]) for c in cells]
    return {"n_cells": len(cells), "n_ge_ours": int(sum(c["ge_ours_krcnn"] for c in cells)),
            "n_short": int(sum(not c["ge_paper_fcnn"] for c in cells)),
            "short_max": float(max(c["shortfall_vs_paper_fcnn"] for c in cells)), "short_z": float(max(z))}


def failure_glue(failures: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`qdloc.study.errors.failure_factors` in numbers, for glue: TrackPy's failure rate (%),
    how much more often the networks' failures lie near the edge, or on a wide path, than the images
    do (the smaller of the two networks' ratios), and the largest share out of focus."""
    fm, whole = failures["methods"], failures["set"]
    nets = [m for m in fm if m != TP_NAME]
    return {"tp_fail": 100 * fm[TP_NAME]["fail_fraction"],
            "edge_lo": min(fm[m]["near_edge_in_fail"] / whole["near_edge"] for m in nets),
            "wide_lo": min(fm[m]["wide_path_in_fail"] / whole["wide_path"] for m in nets),
            "focus_max": max(v["out_of_focus_in_fail"] for v in fm.values())}


def provenance_table(
    params: SimParams, trackpy_params: TrackpyParams, trackpy_version: str
) -> pd.DataFrame:
    """Which values the paper pins, and which the calibration pins.

    Parameters
    ----------
    params : SimParams
        The calibrated simulator parameters.
    trackpy_params : TrackpyParams
        The calibrated TrackPy settings.
    trackpy_version : str
        TrackPy's version (its defaults are the other settings).

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity``, ``value`` and ``pinned by``.
    """
    sets = list(PAPER_TEST_SETS.values())
    p, tpp = params, trackpy_params
    z = (f"Normal(0, {p.start_z_sd_um} um)" if p.start_z_sd_um > 0 else "0 (the focal plane)")
    rows = [
        ("image size", f"{p.height_px} x {p.width_px} px", "paper §4.1"),
        ("pixel size", f"{p.pixel_size_um} um", "paper §4.1"),
        ("pixel dwell / line retrace",
         f"{p.dwell_s * 1e6:g} us / {p.retrace_s * 1e3:g} ms", "paper §4.1, §4.6.1"),
        ("PSF sigma_xy / sigma_z", f"{p.sigma_xy_um} / {p.sigma_z_um} um", "paper §4.6.3"),
        ("N_bkg", f"{p.n_bkg}", "paper §4.6.3"),
        ("D of the test sets", ", ".join(f"{D:g}" for _, _, D in sets) + " um^2/s", "paper §2"),
        ("test set sizes", ", ".join(str(n) for n, _, _ in sets), "paper §4.1"),
        ("test set seeds", ", ".join(str(s) for _, s, _ in sets), "this project"),
        ("calibration set seeds", ", ".join(str(s) for _, s, _ in CALIBRATION_SETS.values()),
         "this project (disjoint)"),
        ("N_qd", f"{p.n_qd}", "calibration on the test sets (held-out fit below)"),
        ("start x, y", f"uniform, margin {p.start_margin_px} px", "this calibration"),
        ("start z", z, "this calibration"),
        ("TrackPy diameter", f"{tpp.diameter} px", "this calibration (PSF)"),
        ("TrackPy minmass", f"{tpp.minmass}", "this calibration (TrackPy default)"),
        ("other TrackPy settings", f"TrackPy {trackpy_version} defaults", "choice"),
        ("score ranking the PR curve", "TrackPy mass", "choice"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value", "pinned by"])


def trackpy_metadata(
    params: SimParams, trackpy_params: TrackpyParams, features: Features, trackpy_version: str
) -> dict[str, Any]:
    """The provenance stored with TrackPy's row in ``table1.json``.

    Parameters
    ----------
    params : SimParams
    trackpy_params : TrackpyParams
    features : mapping
        :func:`qdloc.study.calibration.locate_test_sets`' output (gives the images per set).
    trackpy_version : str

    Returns
    -------
    dict
        ``params``, ``trackpy_params``, ``n_per_set`` (images used per set), ``test_sets``,
        ``score``, ``trackpy_version`` and ``qdloc_version``.
    """
    return {
        "params": params.to_dict(),
        "trackpy_params": trackpy_params.to_dict(),
        "n_per_set": images_per_set(features),
        "test_sets": test_set_table(),
        "score": "mass",
        "trackpy_version": trackpy_version,
        "qdloc_version": qdloc_version,
    }


def images_per_set(features: Features) -> dict[str, int]:
    """``{test set name: images used}`` from ``{D: (predictions, labels)}``."""
    missing = {float(D) for _, _, D in PAPER_TEST_SETS.values()} - {float(D) for D in features}
    if missing:
        raise ValueError(f"features lack the test set(s) at D = {sorted(missing)}")
    return {name: int(len(features[float(D)][1])) for name, (_, _, D) in PAPER_TEST_SETS.items()}


def brightest_features(features: Features) -> dict[float, tuple[pd.DataFrame, np.ndarray]]:
    """The same sets with only the highest-mass feature of each image (TrackPy's ``topn=1``)."""
    return {D: (brightest_per_frame(f), c) for D, (f, c) in features.items()}


def rows_table(rows: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows side by side: one line per row, columns ``"D=0.75 70nm"``, ... (+0.0: no -0).

    Parameters
    ----------
    rows : mapping
        ``{name: row}`` (index D, columns eps).

    Returns
    -------
    pandas.DataFrame
    """
    t = pd.DataFrame({m: r.stack() for m, r in rows.items()}).T
    t.columns = [f"D={D:g} {e:g}nm" for D, e in t.columns]
    return t + 0.0


def detection_table(features: Features, eps_nm: float = 210.0) -> pd.DataFrame:
    """Detection metrics of every feature per test set, the F1 integral, features per image.

    Parameters
    ----------
    features : mapping
        ``{D: (predictions, labels)}``.
    eps_nm : float

    Returns
    -------
    pandas.DataFrame
        Index ``D_um2_per_s``; columns ``jaccard``, ``precision``, ``recall``, ``f1``,
        ``rmse_lat_nm``, ``f1_integral``, ``features_per_image``.
    """
    keep = ("jaccard", "precision", "recall", "f1", "rmse_lat_nm")
    det = pd.DataFrame({
        D: {**{k: v for k, v in detection_metrics(f, c, eps_nm=eps_nm).items() if k in keep},
            "f1_integral": f1_integral(f, c), "features_per_image": len(f) / len(c)}
        for D, (f, c) in features.items()
    }).T
    det.index.name = "D_um2_per_s"
    return det


def simulate_test_sets(params: SimParams, n_per_set: int | None = None) -> dict[float, Simulation]:
    """The paper's three test sets, simulated in memory: ``{D: Simulation}``."""
    return {float(D): simulate_test_set(name, params, n_per_set)
            for name, (_, _, D) in PAPER_TEST_SETS.items()}


def learned_predictions(
    test: Mapping[float, Simulation],
    compact_model: str | Path,
    frcnn_dir: str | Path,
    recompute_frcnn: bool = False,
) -> tuple[dict[float, pd.DataFrame], dict[float, pd.DataFrame]]:
    """The compact network's and the Keypoint R-CNN's predictions on the test sets.

    The compact network runs here (mirror test-time augmentation, one thread); the Keypoint
    R-CNN's come from the shipped ``pred_test_*.csv`` files (the first ``len(sim)`` images),
    or are recomputed from ``frcnn_dir/frcnn_cpu.pt`` when ``recompute_frcnn``.

    Parameters
    ----------
    test : mapping
        ``{D: Simulation}`` (:func:`simulate_test_sets`).
    compact_model : str or Path
    frcnn_dir : str or Path
    recompute_frcnn : bool

    Returns
    -------
    (dict, dict)
        ``{D: predictions}`` of the compact network and of the Keypoint R-CNN.
    """
    compact_pred, frcnn_pred = {}, {}
    for name, (size, _, D) in PAPER_TEST_SETS.items():
        sim = test[float(D)]
        compact_pred[float(D)] = compact_locate(sim.images, compact_model, tta=True, threads=1)
        if len(compact_pred[float(D)]) != len(sim):
            raise ValueError(f"compact_locate gave {len(compact_pred[float(D)])} rows for "
                             f"{len(sim)} images of {name}: expected one per image")
        if recompute_frcnn:
            frcnn_pred[float(D)] = frcnn_locate(sim.images, Path(frcnn_dir) / "frcnn_cpu.pt",
                                                batch=64)
        else:
            full = read_predictions(Path(frcnn_dir) / f"pred_{name}.csv", size)
            frcnn_pred[float(D)] = full[full.frame < len(sim)].reset_index(drop=True)
    return compact_pred, frcnn_pred


def _row(preds: Mapping[float, pd.DataFrame], test: Mapping[float, Simulation]) -> pd.DataFrame:
    return row_from_features({D: (preds[D], test[D].centroids) for D in test})


def write_learned_rows(
    path: str | Path,
    test: Mapping[float, Simulation],
    frcnn_pred: Mapping[float, pd.DataFrame],
    compact_pred: Mapping[float, pd.DataFrame],
    params: SimParams,
    frcnn_model: str | Path,
    compact_model: str | Path,
    recompute_frcnn: bool = False,
) -> Path:
    """Add the Keypoint R-CNN's and the compact network's rows to ``table1.json``.

    Parameters
    ----------
    path : str or Path
        The Table 1 file (other methods in it are kept).
    test : mapping
        ``{D: Simulation}``.
    frcnn_pred, compact_pred : mapping
        ``{D: predictions}`` (:func:`learned_predictions`).
    params : SimParams
    frcnn_model, compact_model : str or Path
        The weights the predictions came from (their file names are stored).
    recompute_frcnn : bool
        Whether the Keypoint R-CNN's predictions were recomputed (stored).

    Returns
    -------
    Path
    """
    common = {"params": params.to_dict(),
              "n_per_set": images_per_set({D: (None, s.centroids) for D, s in test.items()}),
              "qdloc_version": qdloc_version, "test_sets": test_set_table()}
    write_table1(path, {FR_NAME: _row(frcnn_pred, test)},
                 {**common, "weights": str(Path(frcnn_model).name), "profile": "cpu",
                  "initial_weights": "none (from scratch)", "score": "detection probability",
                  "predictions": "recomputed" if recompute_frcnn else "shipped pred_test_*.csv"})
    return write_table1(path, {CO_NAME: _row(compact_pred, test)},
                        {**common, "weights": Path(compact_model).name, "tta": True,
                         "score": "-sigma_px (predicted error)"})


class LearnedRows(NamedTuple):
    """What :func:`learned_rows` computed and wrote."""

    #: ``{D: Simulation}``: the test sets.
    test: dict[float, Simulation]
    #: ``{D: predictions}`` of the compact network.
    compact_pred: dict[float, pd.DataFrame]
    #: ``{D: predictions}`` of the Keypoint R-CNN.
    frcnn_pred: dict[float, pd.DataFrame]
    #: ``{method: {D: predictions}}`` of the three localisers (:func:`method_predictions`).
    preds: dict[str, Mapping[float, pd.DataFrame]]
    #: The Table 1 file.
    path: Path


def learned_rows(
    path: str | Path,
    features: Features,
    params: SimParams,
    compact_model: str | Path,
    frcnn_dir: str | Path,
    n_per_set: int | None = None,
    recompute_frcnn: bool = False,
    n_resamples: int = 200,
    seed: int = 0,
) -> LearnedRows:
    """Table 1's rows of the two networks, and every row's bootstrap standard errors.

    Checks that both weight files were trained for ``params``
    (:func:`qdloc.study.calibration.check_model_params`), simulates the test sets
    (:func:`simulate_test_sets`), predicts (:func:`learned_predictions`), writes both rows
    (:func:`write_learned_rows`) and then the bootstrap standard errors of all three methods
    (:func:`method_standard_errors`, TrackPy's from ``features``) into ``path``.

    Parameters
    ----------
    path : str or Path
        The Table 1 file, holding TrackPy's row already.
    features : mapping
        TrackPy's ``{D: (features, centroids)}`` on the same test sets.
    params : SimParams
    compact_model : str or Path
    frcnn_dir : str or Path
        Folder of ``frcnn_cpu.pt`` and its shipped ``pred_test_*.csv``.
    n_per_set : int, optional
        Images per test set (None: the paper's sizes).
    recompute_frcnn : bool
        Localise with the Keypoint R-CNN here instead of reading its shipped predictions.
    n_resamples, seed : int
        Bootstrap resamples and their seed.

    Returns
    -------
    LearnedRows
    """
    frcnn_model = Path(frcnn_dir) / "frcnn_cpu.pt"
    check_model_params(compact_model, params, kind="compact")
    check_model_params(frcnn_model, params, kind="frcnn")
    test = simulate_test_sets(params, n_per_set)
    compact_pred, frcnn_pred = learned_predictions(test, compact_model, frcnn_dir, recompute_frcnn)
    path = write_learned_rows(path, test, frcnn_pred, compact_pred, params, frcnn_model, compact_model,
                              recompute_frcnn)
    preds = method_predictions(features, frcnn_pred, compact_pred)
    path = write_table1(path, {}, standard_errors=method_standard_errors(preds, test, n_resamples, seed))
    return LearnedRows(test, compact_pred, frcnn_pred, preds, path)


def error_pivot(errors: pd.DataFrame, values: Sequence[str]) -> pd.DataFrame:
    """Localisation errors by D (rows) and method (columns, :data:`SHORT_NAMES`).

    Parameters
    ----------
    errors : DataFrame
        :func:`qdloc.study.errors.error_vs_D`'s table (``D_um2_per_s``, ``method`` and ``values``).
    values : sequence of str
        The error columns to show.

    Returns
    -------
    DataFrame
    """
    missing = sorted({"D_um2_per_s", "method", *values} - set(errors.columns))
    if missing:
        raise ValueError(f"errors lacks the columns {missing}: expected error_vs_D's table")
    return (errors.assign(method=errors["method"].map(SHORT_NAMES))
            .pivot(index="D_um2_per_s", columns="method", values=list(values)))


def all_rows(table1: Mapping[str, Any], order: Sequence[str] = METHOD_ORDER) -> pd.DataFrame:
    """Our rows (in ``order``) and the paper's two, from :func:`read_table1`'s output."""
    rows = {**{m: table1["methods"][m] for m in order},
            **{f"{m} (paper)": table1["paper"][m] for m in ("TrackPy", "FCNN")}}
    return rows_table(rows)


def shortfalls(table1: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The compact network cell by cell against our Keypoint R-CNN and the paper's FCNN.

    Parameters
    ----------
    table1 : mapping
        :func:`qdloc.study.calibration.read_table1`'s output.

    Returns
    -------
    list of dict
        One per (D, eps): ``D_um2_per_s``, ``eps_nm``, ``compact``, ``ours_krcnn``,
        ``paper_fcnn``, ``ge_ours_krcnn``, ``ge_paper_fcnn``, ``shortfall_vs_ours_krcnn``,
        ``shortfall_vs_paper_fcnn`` (rows rounded to 3 decimals, see
        :func:`qdloc.study.calibration.compare_rows`).
    """
    co = table1["methods"][CO_NAME]
    fr = compare_rows(co, table1["methods"][FR_NAME], "compact", "ours_krcnn")
    fc = compare_rows(co, table1["paper"]["FCNN"], "compact", "paper_fcnn")
    out = []
    for (D, e) in fr.index:
        a, b = fr.loc[(D, e)], fc.loc[(D, e)]
        out.append({"D_um2_per_s": float(D), "eps_nm": float(e), "compact": float(a["compact"]),
                    "ours_krcnn": float(a["ours_krcnn"]), "paper_fcnn": float(b["paper_fcnn"]),
                    "ge_ours_krcnn": bool(a["at_least"]), "ge_paper_fcnn": bool(b["at_least"]),
                    "shortfall_vs_ours_krcnn": float(a["shortfall"]),
                    "shortfall_vs_paper_fcnn": float(b["shortfall"])})
    return out


def describe_shortfalls(cells: Sequence[Mapping[str, Any]]) -> str:
    """:func:`shortfalls` in words: one line per cell and a count."""
    lines = []
    for c in cells:
        a, b = c["ge_ours_krcnn"], c["ge_paper_fcnn"]
        lines.append(
            f"D = {c['D_um2_per_s']:<4g} eps = {c['eps_nm']:3.0f} nm: compact {c['compact']:.3f} "
            f"{'>=' if a else '< '} our Keypoint R-CNN {c['ours_krcnn']:.3f}"
            + ("" if a else f" (short by {c['shortfall_vs_ours_krcnn']:.3f})")
            + f"; {'>=' if b else '< '} paper's FCNN {c['paper_fcnn']:.2f}"
            + ("" if b else f" (short by {c['shortfall_vs_paper_fcnn']:.3f})"))
    n_fr = sum(c["ge_ours_krcnn"] for c in cells)
    n_fc = sum(c["ge_paper_fcnn"] for c in cells)
    lines.append(f"compact >= our Keypoint R-CNN in {n_fr}/{len(cells)} cells, >= the paper's "
                 f"FCNN in {n_fc}/{len(cells)} cells")
    return "\n".join(lines)


def method_predictions(
    features: Features,
    frcnn_pred: Mapping[float, pd.DataFrame],
    compact_pred: Mapping[float, pd.DataFrame],
) -> dict[str, Mapping[float, pd.DataFrame]]:
    """``{method: {D: predictions}}`` of our three localisers, in :data:`METHOD_ORDER`."""
    return {TP_NAME: {D: f for D, (f, _) in features.items()}, FR_NAME: frcnn_pred,
            CO_NAME: compact_pred}


def predictions_at(
    preds: Mapping[str, Mapping[float, pd.DataFrame]], D: float
) -> dict[str, pd.DataFrame]:
    """``{method: predictions}`` on the test set at one D."""
    return {m: p[float(D)] for m, p in preds.items()}


def method_pr_curves(
    preds: Mapping[str, Mapping[float, pd.DataFrame]],
    test: Mapping[float, Simulation],
    eps_nm: float = 140.0,
) -> dict[str, dict[float, Any]]:
    """Precision-recall curves ``{method: {D: PRCurve}}`` at one tolerance.

    Parameters
    ----------
    preds : mapping
        ``{method: {D: predictions}}`` (:func:`method_predictions`).
    test : mapping
        ``{D: Simulation}``: the labels.
    eps_nm : float

    Returns
    -------
    dict
    """
    return {m: {D: precision_recall(p[D].frame, p[D].x, p[D].y, p[D].score, test[D].centroids,
                                    eps_nm=eps_nm) for D in test} for m, p in preds.items()}


def locators(
    trackpy_params: TrackpyParams, frcnn_model: str | Path, compact_model: str | Path
) -> dict[str, Any]:
    """``{method: function(images) -> predictions}`` of our three localisers, as in Table 1."""
    return {TP_NAME: functools.partial(trackpy_locate, params=trackpy_params),
            FR_NAME: functools.partial(frcnn_locate, model_path=frcnn_model, batch=64),
            CO_NAME: functools.partial(compact_locate, model_path=compact_model, tta=True,
                                       threads=1)}


def _rounded(d: Mapping[str, Any], digits: int = 3) -> dict[str, Any]:
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def evaluation_results(
    cells: Sequence[Mapping[str, Any]],
    err_table: pd.DataFrame,
    n_err: int,
    err_seed: int,
    crlb: Mapping[str, float],
    rmse_over_crlb: pd.Series,
    nqd_needed: Mapping[float, float | None],
    failures: Mapping[str, Any],
    fig3_frames: Sequence[int],
) -> dict[str, Any]:
    """The numbers of chapter 06's second half, ready for ``06_evaluation.json``.

    Parameters
    ----------
    cells : sequence of mapping
        :func:`shortfalls`' output.
    err_table : pandas.DataFrame
        :func:`qdloc.study.errors.error_vs_D`'s table.
    n_err, err_seed : int
        Images per D and their seed.
    crlb : mapping
        :func:`qdloc.eval.bounds.crlb_still_dot_nm`'s output.
    rmse_over_crlb : pandas.Series
        The compact network's RMSE over the bound's 2D RMS, per D.
    nqd_needed : mapping
        :func:`qdloc.study.errors.nqd_needed`'s output.
    failures : mapping
        :func:`qdloc.study.errors.failure_factors`' output.
    fig3_frames : sequence of int

    Returns
    -------
    dict
    """
    return {
        "table1_file": "table1.json",
        "methods": list(METHOD_ORDER),
        "shortfalls": [dict(c) for c in cells],
        "compact_ge_ours_krcnn_cells": int(sum(c["ge_ours_krcnn"] for c in cells)),
        "compact_ge_paper_fcnn_cells": int(sum(c["ge_paper_fcnn"] for c in cells)),
        "error_vs_D": {"n_per_D": n_err, "seed": err_seed,
                       "rows": [_rounded(r) for r in err_table.to_dict("records")]},
        "crlb_still_dot_nm": {"per_axis": round(crlb["sigma_nm"], 3),
                              "rms_2d": round(float(np.sqrt(2.0) * crlb["sigma_nm"]), 3),
                              "where": "frame centre, z = 0, N_qd and N_bkg known"},
        "compact_rmse_over_crlb": {f"{D:g}": round(float(v), 3) for D, v in rmse_over_crlb.items()},
        "nqd_needed_for_paper_fcnn_70nm": {f"{D:g}": v for D, v in nqd_needed.items()},
        "failures_D1": {m: _rounded(d) for m, d in failures["methods"].items()},
        "fig3_frames": list(fig3_frames),
    }
