"""Chapter 08's science: one point of the (D, N_qd) sweep, and the maps drawn from the table.

:func:`evaluate_point` simulates one test set at a grid point and scores TrackPy and the
compact network on it; the papermill runner (:mod:`qdloc.study.sweep`) runs chapter 08 once
per point and gathers the results; :func:`auc_grid` and :func:`reach` read that table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.eval.metrics import auc_pr, auc_table
from qdloc.localise.compact import compact_locate
from qdloc.localise.trackpy import trackpy_locate
from qdloc.sim.params import PAPER
from qdloc.sim.simulate import simulate
from qdloc.study.calibration import CALIBRATED_TRACKPY, localisation_errors_nm

__all__ = ["TRACKPY", "COMPACT", "POINT_COLUMNS", "bootstrap_auc", "evaluate_point", "point_table",
           "auc_grid", "reach"]

#: Method names in the sweep's table.
TRACKPY, COMPACT = "TrackPy", "Compact"
#: The numbers of one method at one point, in the order the chapter shows them.
POINT_COLUMNS = ("auc_70", "auc_140", "auc_210", "auc_140_se", "median_error_nm", "per_image")


def bootstrap_auc(pred: pd.DataFrame, truth_xy: Any, eps_nm: float, n_boot: int = 200,
                  seed: int = 0) -> Any:
    """AUCs of ``n_boot`` bootstrap resamples of the images (with all their predictions).

    Images are drawn with replacement; an image drawn twice brings its predictions twice, each
    copy matched against its own copy of the label. The standard deviation of the returned
    array estimates the AUC's standard error over image sets of this size.
    """
    truth = np.asarray(truth_xy, dtype=float)
    n = len(truth)
    frame = pred["frame"].to_numpy(dtype=np.int64)
    order = np.argsort(frame, kind="stable")
    cols = [pred[c].to_numpy(dtype=float)[order] for c in ("x", "y", "score")]
    counts = np.bincount(frame, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        c = counts[idx]
        offset = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        rows = np.repeat(starts[idx], c) + offset
        new_frame = np.repeat(np.arange(n), c)
        out[b] = auc_pr(new_frame, *(col[rows] for col in cols), truth[idx], eps_nm)
    return out


def evaluate_point(D: float, n_qd: float, n_images: int, seed: int, compact_model: str | Path,
                   n_boot: int = 200) -> tuple[dict, Any, dict[str, pd.DataFrame]]:
    """TrackPy and the compact localiser on ``n_images`` fresh images at one (D, N_qd).

    The images: :func:`qdloc.sim.simulate` with the calibrated parameters but ``n_qd``, at ``D``,
    with ``seed`` (image k depends only on (seed, k): the same starts and random steps at every
    point). TrackPy with the calibrated settings, the compact network with its mirror test-time
    augmentation on one thread; both scored with :func:`qdloc.eval.metrics.auc_table` exactly as in
    chapter 06, plus a bootstrap standard error of the AUC at 140 nm.

    Returns
    -------
    results : dict
        ``{"D", "n_qd", "n_images", "seed", "methods": {name: {"auc_70", "auc_140", "auc_210",
        "auc_140_se", "median_error_nm", "per_image"}}}``: what the chapter writes to its
        results file. ``median_error_nm``: of each image's top-scoring estimate (None when
        there is none); ``per_image``: localisations per image.
    sim : Simulation
        The images.
    preds : dict
        ``{name: DataFrame frame, x, y, score}``.
    """
    sim = simulate(int(n_images), PAPER.replace(n_qd=float(n_qd)), seed=int(seed), D=float(D))
    preds = {TRACKPY: trackpy_locate(sim.images, CALIBRATED_TRACKPY),
             COMPACT: compact_locate(sim.images, compact_model, tta=True, threads=1)}
    methods = {}
    for i, (name, pred) in enumerate(preds.items()):
        auc = auc_table(pred[["frame", "x", "y", "score"]], sim.centroids)
        boot = bootstrap_auc(pred, sim.centroids, 140.0, n_boot=n_boot, seed=i)
        err = localisation_errors_nm(pred, sim.centroids)
        methods[name] = {
            **{f"auc_{e:g}": float(v) for e, v in auc.items()},
            "auc_140_se": float(boot.std(ddof=1)),
            "median_error_nm": float(np.nanmedian(err)) if np.isfinite(err).any() else None,
            "per_image": float(len(pred) / len(sim)),
        }
    results = {"D": float(D), "n_qd": float(n_qd), "n_images": int(n_images), "seed": int(seed),
               "methods": methods}
    return results, sim, preds


def point_table(point: dict) -> pd.DataFrame:
    """One point's numbers as a table: a row per method, the columns :data:`POINT_COLUMNS`.

    Parameters
    ----------
    point : dict
        :func:`evaluate_point`'s ``results`` (with a ``"methods"`` mapping).

    Returns
    -------
    DataFrame
        Floats (NaN where a value is None), indexed by method name.
    """
    methods = point.get("methods") if isinstance(point, dict) else None
    if not methods:
        raise ValueError(f"point has no 'methods' mapping: expected evaluate_point's results, "
                         f"got keys {sorted(point) if isinstance(point, dict) else type(point)}")
    table = pd.DataFrame(methods).T
    missing = [c for c in POINT_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"point's methods lack {missing}: expected {list(POINT_COLUMNS)}")
    return table[list(POINT_COLUMNS)].astype(float)


def auc_grid(table: pd.DataFrame, method: str, value: str = "auc_140") -> pd.DataFrame:
    """One method's ``value`` as a grid: index ``n_qd`` (ascending), columns ``D`` (ascending)."""
    need = {"method", "D", "n_qd", value}
    if need - set(table.columns):
        raise ValueError(f"table lacks column(s) {sorted(need - set(table.columns))}")
    sub = table[table["method"] == method]
    if sub.empty:
        raise ValueError(f"no rows for method {method!r} "
                         f"(methods: {sorted(table['method'].unique())})")
    return sub.pivot_table(index="n_qd", columns="D", values=value, aggfunc="first").sort_index() \
        .sort_index(axis=1)


def reach(grid: pd.DataFrame, threshold: float = 0.5) -> tuple[pd.Series, pd.Series]:
    """How far a method goes: per N_qd the largest D, per D the smallest N_qd, AUC >= threshold.

    ``grid`` is :func:`auc_grid`'s. ``D_max`` at a row: the largest D such that every grid D up to
    it scores at least ``threshold`` (NaN: not even the smallest). ``n_qd_min`` at a column: the
    smallest N_qd such that it and every brighter one score at least ``threshold``.

    Returns
    -------
    (Series D_max indexed by n_qd, Series n_qd_min indexed by D)
    """
    d_max = {}
    for n_qd, row in grid.iterrows():
        ok = (row >= threshold).to_numpy()
        k = int(np.argmin(ok)) if not ok.all() else len(ok)
        d_max[n_qd] = float(row.index[k - 1]) if k > 0 else np.nan
    n_min = {}
    for D, col in grid.items():
        ok = (col >= threshold).to_numpy()[::-1]  # brightest first
        k = int(np.argmin(ok)) if not ok.all() else len(ok)
        n_min[D] = float(col.index[len(ok) - k]) if k > 0 else np.nan
    return (pd.Series(d_max, name="D_max", dtype=float).rename_axis("n_qd"),
            pd.Series(n_min, name="n_qd_min", dtype=float).rename_axis("D"))
