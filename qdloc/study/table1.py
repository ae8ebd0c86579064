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
from typing import Any

import numpy as np
import pandas as pd

from qdloc import __version__ as qdloc_version
from qdloc.eval.metrics import detection_metrics, f1_integral, precision_recall
from qdloc.localise.compact import compact_locate
from qdloc.localise.frcnn import frcnn_locate
from qdloc.localise.trackpy import TrackpyParams, brightest_per_frame, trackpy_locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import Simulation
from qdloc.study.calibration import (
    compare_rows,
    read_predictions,
    row_from_features,
    simulate_test_set,
    write_table1,
)
from qdloc.study.constants import PAPER_TEST_SETS

__all__ = [
    "TP_NAME",
    "FR_NAME",
    "CO_NAME",
    "METHOD_ORDER",
    "SHORT_NAMES",
    "test_set_table",
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
        ("N_qd", f"{p.n_qd}", "this calibration"),
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
