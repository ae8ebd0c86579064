"""Chapter 08's reading of the sweep: the gathered table as maps, leads, reaches and a summary.

The papermill runner (:mod:`qdloc.study.sweep`) runs chapter 08 once per point of a (D, N_qd)
grid and gathers the results files into a table (one row per point and method);
:mod:`qdloc.study.sweep_point` scores one point and turns the table into grids. This module
holds what the chapter says about those grids: where the compact network leads TrackPy, how
far each method goes, how the paper's operating point compares with the paper's Table 1, and
the summary the chapter adds to its results file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.study import sweep
from qdloc.study.calibration import paper_row
from qdloc.study.sweep_point import COMPACT, TRACKPY, auc_grid, reach

__all__ = [
    "PAPER_TEST_D",
    "ensure_sweep",
    "describe_table",
    "method_grids",
    "lead_summary",
    "describe_lead",
    "reach_tables",
    "describe_reach",
    "operating_point",
    "paper_cells",
    "paper_comparison",
    "point_difference",
    "maps_summary",
    "still_dot_match",
    "describe_still_dot_match",
    "lead_in_se",
    "images_for_se",
    "beyond_grid",
    "prose_values",
]

#: The D of the paper's three test sets (µm²/s): its operating point.
PAPER_TEST_D = (0.75, 1.0, 1.75)
_METHODS = (TRACKPY, COMPACT)


def ensure_sweep(preset: str, out_dir: str | Path, jobs: int = 2) -> sweep.SweepSummary:
    """Run the points of a named sweep that are missing in ``out_dir`` (the others are kept).

    Parameters
    ----------
    preset : str
        A name of :data:`qdloc.study.sweep.PRESETS` (``"default"``: chapter 08's grid).
    out_dir : path
        The sweep folder (``runs/``, ``results/``, ``table.csv``).
    jobs : int
        Points run at the same time.

    Returns
    -------
    SweepSummary
        What ran, what was already done.

    Raises
    ------
    RuntimeError
        When a point failed, naming each failed point and its error line.
    """
    summary = sweep.run_sweep(**sweep.preset(preset), out_dir=out_dir, jobs=jobs, log=None)
    if summary.failed:
        failed = "; ".join(f"{k}: {v}" for k, v in summary.failed.items())
        raise RuntimeError(f"points failed: {failed}")
    return summary


def _join(values: Sequence[Any], fmt: str = "g") -> str:
    return ", ".join(format(v, fmt) for v in values)


def describe_table(table: pd.DataFrame) -> str:
    """Two lines on a gathered table: its grid, images and seeds, and its bootstrap errors.

    Parameters
    ----------
    table : DataFrame
        The sweep's table (columns ``point``, ``D``, ``n_qd``, ``n_images``, ``seed``,
        ``auc_140_se``).

    Returns
    -------
    str
    """
    need = {"point", "D", "n_qd", "n_images", "seed", "auc_140_se"}
    if need - set(table.columns):
        raise ValueError(f"table lacks column(s) {sorted(need - set(table.columns))}: "
                         f"expected the sweep's gathered table")
    return (f"{table['point'].nunique()} points: D = {_join(sorted(table['D'].unique()))} um^2/s; "
            f"N_qd = {_join(sorted(table['n_qd'].unique()))}; images per point: "
            f"{_join(sorted(table['n_images'].unique()), 'd')}; "
            f"seed: {_join(sorted(table['seed'].unique()), 'd')}\n"
            f"bootstrap standard error of the AUC at 140 nm: "
            f"median {table['auc_140_se'].median():.3f}, largest {table['auc_140_se'].max():.3f}")


def method_grids(table: pd.DataFrame, value: str = "auc_140",
                 methods: Sequence[str] = _METHODS) -> dict[str, pd.DataFrame]:
    """:func:`qdloc.study.sweep_point.auc_grid` of each method.

    Returns
    -------
    dict
        ``{method: DataFrame}`` with index ``n_qd`` and columns ``D``, both ascending.
    """
    return {m: auc_grid(table, m, value) for m in methods}


def _grid(grids: Mapping[str, pd.DataFrame], method: str) -> pd.DataFrame:
    if method not in grids:
        raise ValueError(f"no grid for method {method!r}: expected one of {sorted(grids)}")
    return grids[method]


def lead_summary(grids: Mapping[str, pd.DataFrame], n_qd: float,
                 D_values: Sequence[float] = PAPER_TEST_D) -> dict[str, Any]:
    """Where the compact network leads TrackPy most and least, and its lead at an operating point.

    Parameters
    ----------
    grids : mapping
        :func:`method_grids` (with ``TrackPy`` and ``Compact``).
    n_qd : float
        The row of the operating point (a grid N_qd).
    D_values : floats
        Its columns (grid D).

    Returns
    -------
    dict
        ``largest`` (compact minus TrackPy), its ``D`` and ``n_qd``; ``smallest``;
        ``at_operating``: ``{D: lead}`` at row ``n_qd``.
    """
    lead = _grid(grids, COMPACT) - _grid(grids, TRACKPY)
    n_best, d_best = lead.stack().idxmax()
    if n_qd not in lead.index:
        raise ValueError(f"n_qd={n_qd!r} is not a row of the grid: expected one of "
                         f"{list(lead.index)}")
    at = lead.loc[n_qd, list(D_values)]
    return {"largest": float(lead.loc[n_best, d_best]), "D": float(d_best), "n_qd": float(n_best),
            "smallest": float(lead.min().min()),
            "at_operating": {float(d): round(float(v), 2) for d, v in at.items()}}


def describe_lead(lead: Mapping[str, Any], n_qd: float) -> str:
    """:func:`lead_summary` in words (``n_qd``: the operating point's N_qd)."""
    return (f"compact minus TrackPy, AUC at 140 nm: largest {lead['largest']:.2f} at D = {lead['D']:g}, "
            f"N_qd = {lead['n_qd']:g}; smallest {lead['smallest']:.2f}; at the paper's operating point "
            f"(N_qd = {n_qd:g}), by D: {lead['at_operating']}")


def reach_tables(grids: Mapping[str, pd.DataFrame],
                 threshold: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`qdloc.study.sweep_point.reach` of every method, side by side.

    Returns
    -------
    (DataFrame, DataFrame)
        The largest D per N_qd (index ``n_qd``) and the smallest N_qd per D (index ``D``),
        one column per method; NaN where the method does not reach ``threshold``.
    """
    both = {m: reach(g, threshold) for m, g in grids.items()}
    return (pd.DataFrame({m: r[0] for m, r in both.items()}),
            pd.DataFrame({m: r[1] for m, r in both.items()}))


def describe_reach(d_max: pd.DataFrame, n_min: pd.DataFrame, table: pd.DataFrame,
                   threshold: float = 0.5) -> str:
    """:func:`reach_tables`' two tables with their headings.

    Parameters
    ----------
    d_max, n_min : DataFrame
        :func:`reach_tables`' output.
    table : DataFrame
        The sweep's table (its grid's extent is named in the headings).
    threshold : float
        The AUC at 140 nm the tables were computed for.

    Returns
    -------
    str
    """
    return (f"largest D (um^2/s) with AUC at 140 nm >= {threshold:g}, per N_qd "
            f"(grid D up to {table['D'].max():g}):\n{d_max.to_string()}\n"
            f"\nsmallest N_qd with AUC at 140 nm >= {threshold:g}, per D "
            f"(grid N_qd from {table['n_qd'].min():g} to {table['n_qd'].max():g}):\n{n_min.to_string()}")


def operating_point(table: pd.DataFrame, n_qd: float,
                    D_values: Sequence[float] = PAPER_TEST_D) -> pd.DataFrame:
    """The AUC at 140 nm and its standard error at row ``n_qd`` and columns ``D_values``.

    Returns
    -------
    DataFrame
        Index ``D``; columns ``(value, method)`` for ``value`` in ``auc_140``, ``auc_140_se``.
    """
    row = table[np.isclose(table["n_qd"], n_qd)]
    if row.empty:
        raise ValueError(f"n_qd={n_qd!r} is not in the table: expected one of "
                         f"{sorted(table['n_qd'].unique())}")
    return row[row["D"].isin(list(D_values))].pivot(index="D", columns="method",
                                                      values=["auc_140", "auc_140_se"])


def paper_cells(eps_nm: float = 140.0) -> dict[str, dict[float, float]]:
    """The paper's Table 1 at one tolerance.

    Returns
    -------
    dict
        ``{"TrackPy (paper)": {D: AUC}, "FCNN (paper)": {D: AUC}}``.
    """
    return {f"{k} (paper)": paper_row(k)[float(eps_nm)].to_dict() for k in ("TrackPy", "FCNN")}


def paper_comparison(at_op: pd.DataFrame) -> pd.DataFrame:
    """The sweep's AUC at 140 nm at the operating point beside the paper's Table 1.

    Parameters
    ----------
    at_op : DataFrame
        :func:`operating_point`'s.

    Returns
    -------
    DataFrame
        Index ``D``; each method's sweep value and standard error, the paper's TrackPy and
        FCNN cells, and TrackPy minus the paper's TrackPy in standard errors.
    """
    out = pd.DataFrame({f"{m} (sweep)": at_op[("auc_140", m)] for m in _METHODS}
                       | {f"{m} SE": at_op[("auc_140_se", m)] for m in _METHODS}
                       | {k: pd.Series(v) for k, v in paper_cells().items()})
    out["TrackPy - paper, in SE"] = ((out["TrackPy (sweep)"] - out["TrackPy (paper)"])
                                     / out["TrackPy SE"])
    return out


def point_difference(table: pd.DataFrame, point: Mapping[str, Any]) -> float | None:
    """Largest difference between a point's numbers and the table's row of the same point.

    Parameters
    ----------
    table : DataFrame
        The sweep's table.
    point : dict
        :func:`qdloc.study.sweep_point.evaluate_point`'s results.

    Returns
    -------
    float or None
        The largest absolute difference over every method's non-None value; None when the
        table has no point with the same D, N_qd, number of images and seed.
    """
    same = table[np.isclose(table["D"], point["D"]) & np.isclose(table["n_qd"], point["n_qd"])
                 & (table["n_images"] == point["n_images"]) & (table["seed"] == point["seed"])]
    if same.empty:
        return None
    diffs = [abs(float(same[same["method"] == m].iloc[0][k]) - float(v))
             for m, vals in point["methods"].items() for k, v in vals.items() if v is not None]
    return max(diffs, default=0.0)


def _clean(x: Any) -> float | None:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    return round(float(x), 4)


def maps_summary(table: pd.DataFrame, sweep_dir: str | Path, reach_auc: float,
                 d_max: pd.DataFrame, n_min: pd.DataFrame, at_op: pd.DataFrame) -> dict[str, Any]:
    """The maps' summary that chapter 08 adds to its results file under ``"maps"``.

    Parameters
    ----------
    table : DataFrame
        The sweep's table.
    sweep_dir : path
        The sweep folder it was read from (``sweep_dir/table.csv`` is recorded).
    reach_auc : float
        The AUC at 140 nm of :func:`reach_tables`.
    d_max, n_min : DataFrame
        :func:`reach_tables`'s.
    at_op : DataFrame
        :func:`operating_point`'s.

    Returns
    -------
    dict
        ``table``, ``points``, ``D``, ``n_qd``, ``reach_auc_140``, ``D_max_per_n_qd``,
        ``n_qd_min_per_D``, ``operating_point_auc_140``; numbers rounded to 4 digits, None for
        NaN.
    """
    return {
        "table": str(Path(sweep_dir) / "table.csv"),
        "points": int(table["point"].nunique()),
        "D": [float(d) for d in sorted(table["D"].unique())],
        "n_qd": [float(n) for n in sorted(table["n_qd"].unique())],
        "reach_auc_140": reach_auc,
        "D_max_per_n_qd": {m: {f"{k:g}": _clean(v) for k, v in d_max[m].items()} for m in d_max},
        "n_qd_min_per_D": {m: {f"{k:g}": _clean(v) for k, v in n_min[m].items()} for m in n_min},
        "operating_point_auc_140": {
            m: {f"{d:g}": _clean(at_op.loc[d, ("auc_140", m)]) for d in at_op.index}
            for m in _METHODS},
    }


def still_dot_match(grids: Mapping[str, pd.DataFrame], n_qd: float, D: float = 1.0) -> dict:
    """TrackPy's best case against the compact network, in speed and in brightness.

    Returns
    -------
    dict
        ``trackpy_still``: TrackPy's AUC for a still dot (D = 0) at row ``n_qd``;
        ``compact_reach_D``: the largest D up to which the compact scores at least that;
        ``compact_at_D``: the compact's AUC at ``D``; ``trackpy_n_qd_needed``: the smallest N_qd
        at which TrackPy scores that much at ``D`` (None: not within the grid);
        ``n_qd_max``: the grid's brightest N_qd.
    """
    tp, co = _grid(grids, TRACKPY), _grid(grids, COMPACT)
    still = float(tp.loc[n_qd, 0.0])
    target = float(co.loc[n_qd, D])
    enough = tp[D][tp[D] >= target]
    return {"trackpy_still": still, "compact_reach_D": float(reach(co.loc[[n_qd]], still)[0][n_qd]),
            "compact_at_D": target,
            "trackpy_n_qd_needed": float(enough.index.min()) if len(enough) else None,
            "n_qd_max": float(tp.index.max())}


def describe_still_dot_match(match: Mapping[str, Any], D_max: float, D: float = 1.0) -> str:
    """:func:`still_dot_match` in words (``D_max``: the grid's largest D; ``D``: as passed to it)."""
    m = match
    return (f"TrackPy, still dot: {m['trackpy_still']:.3f}; the compact scores at least that up to "
            f"D = {m['compact_reach_D']:g} um^2/s (grid up to {D_max:g})\n"
            f"compact at D = {D:g}: {m['compact_at_D']:.3f}; TrackPy at D = {D:g} reaches it at N_qd = "
            f"{m['trackpy_n_qd_needed']} (None: not up to {m['n_qd_max']:g})")


def lead_in_se(at_op: pd.DataFrame) -> pd.DataFrame:
    """The compact's lead over TrackPy at the operating point, in combined standard errors.

    The two errors are combined as if independent: ``SE = hypot(SE_compact, SE_trackpy)``.

    Returns
    -------
    DataFrame
        Index ``D``; columns ``difference``, ``SE``, ``z`` (difference / SE).
    """
    diff = at_op[("auc_140", COMPACT)] - at_op[("auc_140", TRACKPY)]
    se = np.hypot(at_op[("auc_140_se", COMPACT)], at_op[("auc_140_se", TRACKPY)])
    return pd.DataFrame({"difference": diff, "SE": se, "z": diff / se})


def images_for_se(n_images: int, se: float, target_se: float = 0.01) -> int:
    """Images per point that bring a standard error ``se`` (from ``n_images``) to ``target_se``.

    The standard error falls as ``1/sqrt(n)``: ``n = ceil(n_images (se / target_se)^2)``.
    """
    if not (math.isfinite(se) and se >= 0 and math.isfinite(target_se) and target_se > 0):
        raise ValueError(f"se={se!r}, target_se={target_se!r}: expected se >= 0 and "
                         f"target_se > 0, both finite")
    return int(np.ceil(n_images * (se / target_se) ** 2))


def beyond_grid(far: Mapping[str, Any], grids: Mapping[str, pd.DataFrame], n_qd: float,
                D_edge: float) -> pd.DataFrame:
    """A point evaluated beyond the grid beside the grid's last column, per method.

    Parameters
    ----------
    far : dict
        :func:`qdloc.study.sweep_point.evaluate_point`'s results at the far point.
    grids : mapping
        :func:`method_grids`.
    n_qd, D_edge : float
        The row and the last grid D to compare with.

    Returns
    -------
    DataFrame
        One row per method: ``sweep at the edge``, ``beyond`` and ``beyond SE`` (AUC at 140 nm).
    """
    return pd.DataFrame({m: {"sweep at the edge": float(_grid(grids, m).loc[n_qd, D_edge]),
                             "beyond": far["methods"][m]["auc_140"],
                             "beyond SE": far["methods"][m]["auc_140_se"]}
                         for m in _METHODS}).T


def prose_values(table: pd.DataFrame, n_qd: float, threshold: float = 0.5,
                 D_values: Sequence[float] = PAPER_TEST_D, D_ref: float = 1.0) -> dict[str, float]:
    """The numbers chapter 08's prose quotes about the maps (AUC at 140 nm), by name.

    Parameters
    ----------
    table : DataFrame
        The sweep's table (with ``auc_140`` and ``auc_140_se``).
    n_qd : float
        The calibrated row (a grid N_qd).
    threshold : float
        The AUC of "how far" (:func:`reach_tables`).
    D_values : floats
        The paper's test D (grid columns): suffixes ``D1``, ``D2``, ... in this order.
    D_ref : float
        The grid D of ``tp_best_at_Dref``.

    Returns
    -------
    dict
        ``se_max``: the largest standard error; ``D_grid_min/max``, ``n_qd_grid_min/max``;
        ``bright_ratio``: the brightest N_qd over ``n_qd``; ``lead_still_bright`` and
        ``lead_dim_fast``: compact minus TrackPy at (smallest D, brightest) and (largest D,
        dimmest); ``tp_reach_D``, ``co_reach_D``: the largest D with AUC >= threshold at ``n_qd``
        (NaN: none); ``tp_best_at_Dref``: TrackPy's best AUC over the N_qd at ``D_ref``;
        ``images_per_point``; ``tp_drop_D12``, ``paper_tp_drop_D12``: TrackPy's fall from the first
        test D to the second in the sweep and in the paper's Table 1; per test
        D *i*: ``Di``, ``co_nqd_frac_Di`` (the compact's smallest N_qd over ``n_qd``),
        ``tp_minus_paper_se_Di`` (TrackPy minus the paper's TrackPy, in standard errors) and
        ``co_minus_fcnn_Di`` (the compact minus the paper's FCNN). Plain floats.
    """
    grids = method_grids(table, "auc_140")
    tp, co = _grid(grids, TRACKPY), _grid(grids, COMPACT)
    d_max, n_min = reach_tables(grids, threshold)
    cmp = paper_comparison(operating_point(table, n_qd, D_values))
    lead = co - tp
    d_lo, d_hi, n_lo, n_hi = tp.columns.min(), tp.columns.max(), tp.index.min(), tp.index.max()
    out = {"se_max": table["auc_140_se"].max(), "D_grid_min": d_lo, "D_grid_max": d_hi,
           "n_qd_grid_min": n_lo, "n_qd_grid_max": n_hi, "bright_ratio": n_hi / n_qd,
           "lead_still_bright": lead.loc[n_hi, d_lo], "lead_dim_fast": lead.loc[n_lo, d_hi],
           "tp_reach_D": d_max.loc[n_qd, TRACKPY], "co_reach_D": d_max.loc[n_qd, COMPACT],
           "tp_best_at_Dref": tp[D_ref].max(), "images_per_point": table["n_images"].max(),
           "tp_drop_D12": cmp["TrackPy (sweep)"].iloc[0] - cmp["TrackPy (sweep)"].iloc[1],
           "paper_tp_drop_D12": cmp["TrackPy (paper)"].iloc[0] - cmp["TrackPy (paper)"].iloc[1]}
    for i, D in enumerate(D_values, 1):
        out |= {f"D{i}": D, f"co_nqd_frac_D{i}": n_min.loc[D, COMPACT] / n_qd,
                f"tp_minus_paper_se_D{i}": cmp.loc[D, "TrackPy - paper, in SE"],
                f"co_minus_fcnn_D{i}": cmp.loc[D, "Compact (sweep)"] - cmp.loc[D, "FCNN (paper)"]}
    return {k: float(v) for k, v in out.items()}
