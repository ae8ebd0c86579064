"""Chapter 09: the posterior ceiling of Table 1, and how far each method is from it.

The exact-posterior localiser (:mod:`qdloc.localise.bayes`) knows the simulator that made the
images, so its AUC is what the best possible localiser scores on the same images (up to its
line-level state and its Monte Carlo draws). This module scores it on the paper's test sets
(:func:`ceiling_cells`, a bootstrap standard error per cell), sets every other row of Table 1
against it (:func:`distance_table`, :func:`reachability`), scans the brightness ``N_qd`` on fresh
sets (:func:`ceiling_vs_nqd`) and finds where the ceiling meets a reference row
(:func:`nqd_to_reach`, :func:`nqd_meeting`): a localiser cannot beat the posterior, so a row of
the paper that the ceiling reaches only above some ``N_qd`` says the paper's dot was at least
that bright. :func:`line_level_cost` measures what the line-level state costs against the
pixel-level model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from qdloc.eval.metrics import PAPER_EPS_NM, auc_pr
from qdloc.localise.bayes import (
    pixel_level_log_weights,
    posterior_centroid_samples,
    posterior_line_paths,
    summarise_samples,
)
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import Simulation, simulate
from qdloc.study.calibration import row_frame
from qdloc.study.sweep_point import bootstrap_auc
from qdloc.study.table1 import METHOD_ORDER, SHORT_NAMES

__all__ = [
    "CEILING_NAME",
    "PAPER_FCNN_NAME",
    "ROUNDING_SD",
    "ceiling_predictions",
    "ceiling_cells",
    "cells_row",
    "binomial_se",
    "distance_table",
    "distance_wide",
    "reachability",
    "ceiling_vs_nqd",
    "nqd_to_reach",
    "nqd_meeting",
    "line_level_cost",
    "scan_scales",
    "prose_values",
    "ceiling_results",
]

#: The ceiling's row name.
CEILING_NAME = "Posterior (ceiling)"
#: The paper's FCNN row in :func:`distance_table`.
PAPER_FCNN_NAME = "FCNN (paper)"
#: Standard deviation of the rounding of a value printed with two decimals (0.01 / sqrt(12)).
ROUNDING_SD = 0.01 / math.sqrt(12.0)


def _check_eps(eps_nm: Iterable[float]) -> tuple[float, ...]:
    eps = tuple(float(e) for e in eps_nm)
    if not eps or not all(math.isfinite(e) and e > 0 for e in eps):
        raise ValueError(f"eps_nm={eps_nm!r} is not allowed: expected tolerances > 0 nm")
    return eps


def ceiling_predictions(
    images, params: SimParams, D: float, eps_nm: Iterable[float] = PAPER_EPS_NM,
    n_samples: int = 256, seed: int = 0,
) -> dict[float, pd.DataFrame]:
    """The posterior's estimate and score of every image, once per tolerance.

    One set of posterior draws per image (:func:`qdloc.localise.bayes.posterior_centroid_samples`);
    at each tolerance the estimate is the point of locally largest posterior mass within it and
    the score is that mass (:func:`qdloc.localise.bayes.summarise_samples`), which is what the
    AUC at that tolerance rewards.

    Parameters
    ----------
    images : array_like (n, H, W)
        Photon counts simulated with ``params`` at ``D``.
    params : SimParams
        The simulator's parameters (the posterior's model).
    D : float
        Diffusion coefficient, µm²/s.
    eps_nm : iterable of float
        Tolerances, nm.
    n_samples : int
        Posterior draws per image.
    seed : int
        Seed of the draws.

    Returns
    -------
    dict
        ``{eps: DataFrame frame, x, y, score}`` (px).
    """
    eps = _check_eps(eps_nm)
    samples, _ = posterior_centroid_samples(images, params, D, n_samples=n_samples, seed=seed)
    px_nm = params.pixel_size_um * 1e3
    return {e: summarise_samples(samples, e / px_nm)[["frame", "x", "y", "score"]] for e in eps}


def ceiling_cells(
    test: Mapping[float, Simulation], params: SimParams, eps_nm: Iterable[float] = PAPER_EPS_NM,
    n_samples: int = 256, seed: int = 0, n_boot: int = 200,
) -> pd.DataFrame:
    """The ceiling's AUC on each test set and tolerance, with a bootstrap standard error.

    Parameters
    ----------
    test : mapping
        ``{D: Simulation}`` (e.g. :func:`qdloc.study.table1.simulate_test_sets`).
    params : SimParams
        The parameters the sets were simulated with (their ``D`` is the key).
    eps_nm : iterable of float
    n_samples : int
        Posterior draws per image.
    seed : int
        Seed of the draws (and of the bootstrap resamples).
    n_boot : int
        Bootstrap resamples of the images (>= 2).

    Returns
    -------
    DataFrame
        One line per (D, eps): ``D_um2_per_s``, ``eps_nm``, ``n``, ``auc``, ``se`` (bootstrap)
        and ``se_binomial`` (:func:`binomial_se`, for comparison).
    """
    if not test:
        raise ValueError("test is empty: expected {D: Simulation} with at least one set")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot={n_boot!r} is not allowed: expected an integer >= 2")
    out = []
    for D, sim in test.items():
        preds = ceiling_predictions(sim.images, params, D, eps_nm, n_samples, seed)
        for e, p in preds.items():
            auc = auc_pr(p.frame, p.x, p.y, p.score, sim.centroids, e)
            boot = bootstrap_auc(p, sim.centroids, e, n_boot=n_boot, seed=seed)
            out.append({"D_um2_per_s": float(D), "eps_nm": e, "n": len(sim), "auc": auc,
                        "se": float(boot.std(ddof=1)), "se_binomial": binomial_se(auc, len(sim))})
    return pd.DataFrame(out)


def cells_row(cells: pd.DataFrame, column: str = "auc") -> pd.DataFrame:
    """One column of :func:`ceiling_cells` (or :func:`ceiling_vs_nqd` at one N_qd) as a row.

    Returns
    -------
    DataFrame
        Index ``D_um2_per_s``, columns ``eps_nm`` (:func:`qdloc.study.calibration.row_frame`).
    """
    need = {"D_um2_per_s", "eps_nm", column}
    if need - set(cells.columns):
        raise ValueError(f"cells lack column(s) {sorted(need - set(cells.columns))}")
    wide = cells.pivot(index="D_um2_per_s", columns="eps_nm", values=column)
    return row_frame({D: dict(r) for D, r in wide.iterrows()})


def binomial_se(auc, n) -> Any:
    """``sqrt(auc (1 - auc) / n)``: the standard error of a fraction of ``n`` images.

    The AUC of a localiser with one estimate per image that ranks its hits first is the fraction
    of images it hits; a poorer ranking adds variance, so this is a lower estimate (the
    ceiling's bootstrap error is the reference, :func:`ceiling_cells`).

    Parameters
    ----------
    auc : float or array_like
        Values in [0, 1].
    n : int or array_like
        Images (>= 1).

    Returns
    -------
    float or ndarray
    """
    a, m = np.asarray(auc, dtype=float), np.asarray(n, dtype=float)
    if not np.all((a >= 0) & (a <= 1)):
        raise ValueError(f"auc={auc!r} is not allowed: expected values in [0, 1]")
    if not np.all(m >= 1):
        raise ValueError(f"n={n!r} is not allowed: expected image counts >= 1")
    se = np.sqrt(a * (1 - a) / m)
    return float(se) if se.ndim == 0 else se


def _long(row: pd.DataFrame, name: str) -> pd.DataFrame:
    s = row.stack().rename("auc").reset_index()
    s.columns = ["D_um2_per_s", "eps_nm", "auc"]
    return s.assign(method=name)


def distance_table(
    table1: Mapping[str, Any], cells: pd.DataFrame, methods: Sequence[str] = METHOD_ORDER,
    k_se: float = 2.0,
) -> pd.DataFrame:
    """Every row of Table 1 against the ceiling, cell by cell.

    The ceiling's error is its bootstrap error; a row's is its bootstrap error from
    ``table1["standard_errors"]`` when chapter 06 stored one, else :func:`binomial_se` on as many
    images as the ceiling's (our rows: the same images; the paper's FCNN: its own sets of the
    same sizes, plus :data:`ROUNDING_SD` for its two decimals). The two add in quadrature: for
    our rows, scored on the same images as the ceiling and so positively correlated with it,
    that overstates the error of the difference.

    Parameters
    ----------
    table1 : mapping
        :func:`qdloc.study.calibration.read_table1`'s output.
    cells : DataFrame
        :func:`ceiling_cells`' output.
    methods : sequence of str
        Our rows to compare (keys of ``table1["methods"]``); the paper's FCNN comes last.
    k_se : float
        A row exceeds the ceiling when it is above it by more than ``k_se`` standard errors.

    Returns
    -------
    DataFrame
        One line per (method, D, eps): ``method``, ``D_um2_per_s``, ``eps_nm``, ``auc``,
        ``ceiling``, ``distance`` (ceiling - auc), ``se`` (of the distance), ``z``
        (-distance / se), ``exceeds`` (``z > k_se``) and ``se_source`` (the row's error:
        ``"bootstrap"`` or ``"binomial"``).
    """
    if not (isinstance(k_se, int | float) and math.isfinite(k_se) and k_se > 0):
        raise ValueError(f"k_se={k_se!r} is not allowed: expected a number > 0")
    missing = [m for m in methods if m not in table1["methods"]]
    if missing or "FCNN" not in table1["paper"]:
        raise ValueError(f"table1 lacks the row(s) {missing or ['FCNN (paper)']}")
    stored = table1.get("standard_errors", {})
    rows = [_long(table1["methods"][m], m).assign(
        se_row=_long(stored[m], m)["auc"] if m in stored else np.nan) for m in methods]
    rows.append(_long(table1["paper"]["FCNN"], PAPER_FCNN_NAME).assign(se_row=np.nan))
    ceil = cells.set_index(["D_um2_per_s", "eps_nm"])
    d = pd.concat(rows, ignore_index=True).join(ceil[["auc", "se", "n"]].rename(
        columns={"auc": "ceiling", "se": "se_ceiling"}), on=["D_um2_per_s", "eps_nm"])
    if d["ceiling"].isna().any():
        raise ValueError("cells lack some (D, eps) of Table 1: expected the same test sets")
    rounding = np.where(d["method"] == PAPER_FCNN_NAME, ROUNDING_SD, 0.0)
    se_row = d["se_row"].fillna(pd.Series(binomial_se(d["auc"].clip(0, 1), d["n"]), index=d.index))
    se = np.sqrt(d["se_ceiling"] ** 2 + se_row**2 + rounding**2)
    d = d.assign(distance=d["ceiling"] - d["auc"], se=se,
                 se_source=np.where(d["se_row"].notna(), "bootstrap", "binomial"))
    d = d.assign(z=-d["distance"] / d["se"], exceeds=-d["distance"] / d["se"] > k_se)
    return d[["method", "D_um2_per_s", "eps_nm", "auc", "ceiling", "distance", "se", "z", "exceeds",
              "se_source"]]


def distance_wide(dist: pd.DataFrame, column: str = "distance") -> pd.DataFrame:
    """:func:`distance_table` as one line per method, one column per cell (``"D=1 70nm"``)."""
    short = {**SHORT_NAMES, PAPER_FCNN_NAME: PAPER_FCNN_NAME}
    wide = dist.pivot(index="method", columns=["D_um2_per_s", "eps_nm"], values=column)
    wide = wide.reindex(list(dict.fromkeys(dist["method"])))
    wide.columns = [f"D={D:g} {e:g}nm" for D, e in wide.columns]
    return wide.rename(index=lambda m: short.get(m, m))


def reachability(dist: pd.DataFrame, k_se: float = 2.0) -> pd.DataFrame:
    """Is the paper's FCNN row reachable: the ceiling at least as high, within ``k_se`` errors?

    Returns
    -------
    DataFrame
        One line per (D, eps): ``fcnn``, ``ceiling``, ``z``, ``ceiling_ge`` (ceiling >= FCNN)
        and ``reachable`` (``z <= k_se``).
    """
    f = dist[dist["method"] == PAPER_FCNN_NAME].set_index(["D_um2_per_s", "eps_nm"])
    if f.empty:
        raise ValueError(f"dist has no {PAPER_FCNN_NAME!r} row: expected distance_table's output")
    return pd.DataFrame({"fcnn": f["auc"], "ceiling": f["ceiling"], "z": f["z"],
                         "ceiling_ge": f["ceiling"] >= f["auc"], "reachable": f["z"] <= k_se})


def ceiling_vs_nqd(
    nqd_grid: Sequence[float], D_values: Sequence[float], n_images: int, seed: int,
    params: SimParams, eps_nm: Iterable[float] = PAPER_EPS_NM, n_samples: int = 256,
) -> pd.DataFrame:
    """The ceiling's AUC on fresh sets at each ``(N_qd, D)``.

    Each set: :func:`qdloc.sim.simulate` of ``n_images`` images with ``params`` but ``n_qd``,
    at ``D``, with ``seed`` (the same walks at every point); the posterior knows ``n_qd``.

    Returns
    -------
    DataFrame
        ``n_qd``, ``D_um2_per_s``, ``eps_nm``, ``n``, ``auc``, ``se`` (:func:`binomial_se`).
    """
    grid = np.asarray(nqd_grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 2 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ValueError(f"nqd_grid={nqd_grid!r} is not allowed: expected >= 2 values > 0")
    out = []
    for nqd in grid:
        p = params.replace(n_qd=float(nqd))
        for D in D_values:
            sim = simulate(n_images, p, seed=seed, D=float(D))
            for e, pr in ceiling_predictions(sim.images, p, D, eps_nm, n_samples, seed).items():
                auc = auc_pr(pr.frame, pr.x, pr.y, pr.score, sim.centroids, e)
                out.append({"n_qd": float(nqd), "D_um2_per_s": float(D), "eps_nm": e,
                            "n": len(sim), "auc": auc, "se": binomial_se(auc, len(sim))})
    return pd.DataFrame(out)


def nqd_to_reach(nqd: Sequence[float], auc: Sequence[float], target: float) -> float:
    """The ``N_qd`` at which a curve first reaches ``target``, linear in ``log N_qd``.

    Parameters
    ----------
    nqd : sequence of float
        Increasing values > 0.
    auc : sequence of float
        The curve at those values (finite).
    target : float

    Returns
    -------
    float
        Between the last grid value below ``target`` before the first one at or above it, and
        that one; NaN when the curve starts at or above ``target`` (reached below the grid) or
        never reaches it (above the grid).
    """
    x, y = np.asarray(nqd, dtype=float), np.asarray(auc, dtype=float)
    if x.ndim != 1 or len(x) < 2 or x.shape != y.shape:
        raise ValueError(f"nqd and auc have shapes {x.shape}, {y.shape}: expected equal, >= 2")
    if not (np.all(x > 0) and np.all(np.diff(x) > 0)) or not np.all(np.isfinite(y)):
        raise ValueError("nqd must increase and be > 0, auc must be finite")
    if not math.isfinite(target):
        raise ValueError(f"target={target!r} is not allowed: expected a finite number")
    hit = np.flatnonzero(y >= target)
    if len(hit) == 0 or hit[0] == 0:
        return math.nan
    i = hit[0]
    lx = np.log(x[i - 1]) + (target - y[i - 1]) / (y[i] - y[i - 1]) * np.log(x[i] / x[i - 1])
    return float(np.exp(lx))


def nqd_meeting(scan: pd.DataFrame, reference: pd.DataFrame, k_se: float = 2.0) -> pd.DataFrame:
    """Per (D, eps): the ``N_qd`` at which the ceiling meets a reference row, with a range.

    Parameters
    ----------
    scan : DataFrame
        :func:`ceiling_vs_nqd`' output (``auc`` and its ``se`` per point).
    reference : DataFrame
        A row (index D, columns eps), e.g. the paper's FCNN.
    k_se : float
        The range: where the curves ``auc + k_se·se`` and ``auc - k_se·se`` meet the reference.

    Returns
    -------
    DataFrame
        Index (D, eps): ``target``, ``n_qd_meet`` (:func:`nqd_to_reach`; NaN outside the grid),
        ``n_qd_low``, ``n_qd_high`` (the range) and ``where`` (``"in grid"``, ``"below grid"``
        or ``"above grid"``, of ``n_qd_meet``).
    """
    if not (isinstance(k_se, int | float) and math.isfinite(k_se) and k_se >= 0):
        raise ValueError(f"k_se={k_se!r} is not allowed: expected a number >= 0")
    out = {}
    for (D, e), g in scan.sort_values("n_qd").groupby(["D_um2_per_s", "eps_nm"]):
        target = float(reference.loc[D, e])
        meet = nqd_to_reach(g["n_qd"], g["auc"], target)
        where = ("in grid" if math.isfinite(meet) else
                 "below grid" if g["auc"].iloc[0] >= target else "above grid")
        out[(float(D), float(e))] = {
            "target": target, "n_qd_meet": meet,
            "n_qd_low": nqd_to_reach(g["n_qd"], g["auc"] + k_se * g["se"], target),
            "n_qd_high": nqd_to_reach(g["n_qd"], g["auc"] - k_se * g["se"], target),
            "where": where}
    df = pd.DataFrame(out).T
    df.index.names = ["D_um2_per_s", "eps_nm"]
    return df.astype({c: float for c in ("target", "n_qd_meet", "n_qd_low", "n_qd_high")})


def line_level_cost(params: SimParams, D: float, n: int = 60, n_samples: int = 64,
                    seed: int = 0) -> dict[str, float]:
    """What the line-level state costs: line-level draws reweighted to the pixel-level model.

    :func:`qdloc.localise.bayes.pixel_level_log_weights` completes each line-level draw into a
    full trajectory and weighs it by the pixel-level likelihood over the line-level one.

    Returns
    -------
    dict
        ``ess_fraction``: median effective sample size over draws; ``shift_sd``: median shift
        of the posterior mean centroid, in posterior standard deviations.
    """
    sim = simulate(n, params, seed=seed, D=D)
    paths = posterior_line_paths(sim.images, params, D, n_samples=n_samples, seed=seed)
    log_w, cen = pixel_level_log_weights(sim.images, paths, params, D, np.random.default_rng(seed))
    w = np.exp(log_w - log_w.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    shift = np.hypot(*(((w[..., None] * cen).sum(1) - cen.mean(1)) / cen.std(1)).T)
    return {"ess_fraction": float(np.median(1 / (w**2).sum(1) / n_samples)),
            "shift_sd": float(np.median(shift))}


def scan_scales(params: SimParams, D: float = 1.0) -> dict[str, float]:
    """The time and length scales that make one position per line enough.

    Parameters
    ----------
    params : SimParams
    D : float
        Diffusion coefficient of the motion scales, µm²/s (>= 0).

    Returns
    -------
    dict
        ``line_us`` (a line's dwells), ``line_move_nm`` (rms motion per axis over them),
        ``period_ms`` (line period), ``frame_ms``, ``frame_move_nm`` (rms motion per axis over a
        frame), ``psf_nm`` (``sigma_xy``) and ``sigma_z`` (µm).
    """
    if not (isinstance(D, int | float) and math.isfinite(D) and D >= 0):
        raise ValueError(f"D={D!r} is not allowed: expected a finite number >= 0 µm²/s")
    line_s = params.width_px * params.dwell_s
    frame_s = params.height_px * params.line_period_s
    return {"line_us": line_s * 1e6, "line_move_nm": math.sqrt(2 * D * line_s) * 1e3,
            "period_ms": params.line_period_s * 1e3, "frame_ms": frame_s * 1e3,
            "frame_move_nm": math.sqrt(2 * D * frame_s) * 1e3, "psf_nm": params.sigma_xy_um * 1e3,
            "sigma_z": params.sigma_z_um}


def _key(D: float, e: float) -> str:
    return f"{e:.0f}_D{D:g}".replace(".", "p")


def prose_values(cells: pd.DataFrame, dist: pd.DataFrame, reach: pd.DataFrame,
                 meeting: pd.DataFrame) -> dict[str, float]:
    """The numbers chapter 09 quotes in its prose, by name (for :func:`qdloc.plots.glue.glue_all`).

    Parameters
    ----------
    cells, dist, reach, meeting : DataFrame
        :func:`ceiling_cells`, :func:`distance_table`, :func:`reachability`,
        :func:`nqd_meeting`.

    Returns
    -------
    dict
        ``ceil_<eps>_D<D>`` (e.g. ``ceil_70_D0p75``) and ``meet_<eps>_D<D>`` per cell (NaN
        left out); ``ceil_210_min``, ``se_ratio_max`` (bootstrap over binomial error);
        ``dist_max_<m>``, ``dist_min_<m>``, ``z_max_<m>`` and ``absz_max_<m>`` for ``m`` in ``tp``, ``kr``,
        ``co`` (our three rows, in :data:`qdloc.study.table1.METHOD_ORDER`) and ``fcnn``;
        ``n_exceed``, ``fcnn_n_ge``, ``fcnn_n_reach``, ``fcnn_over_max`` (largest FCNN minus
        ceiling), ``fcnn_over_z`` (its z), ``nqd_low_max``, ``meet_min``, ``meet_max`` (over the
        cells met within the grid), ``n_cells`` and ``n_rows_boot`` (rows whose error is a stored
        bootstrap error).
    """
    v: dict[str, float] = {f"ceil_{_key(D, e)}": a for D, e, a in
                           cells[["D_um2_per_s", "eps_nm", "auc"]].itertuples(index=False)}
    v |= {f"meet_{_key(D, e)}": m for (D, e), m in meeting["n_qd_meet"].items() if math.isfinite(m)}
    v |= {"ceil_210_min": float(cells.loc[cells.eps_nm == 210.0, "auc"].min()),
          "se_ratio_max": float((cells["se"] / cells["se_binomial"].where(cells["se_binomial"] > 0)).max())}
    for short, m in zip(("tp", "kr", "co", "fcnn"), [*METHOD_ORDER, PAPER_FCNN_NAME], strict=True):
        g = dist[dist["method"] == m]
        v |= {f"dist_max_{short}": float(g["distance"].max()),
              f"dist_min_{short}": float(g["distance"].min()), f"z_max_{short}": float(g["z"].max()),
              f"absz_max_{short}": float(g["z"].abs().max())}
    over = reach["fcnn"] - reach["ceiling"]
    return v | {"n_exceed": int(dist["exceeds"].sum()), "fcnn_n_ge": int(reach["ceiling_ge"].sum()),
                "fcnn_n_reach": int(reach["reachable"].sum()), "fcnn_over_max": float(over.max()),
                "fcnn_over_z": float(reach.loc[over.idxmax(), "z"]),
                "nqd_low_max": float(meeting["n_qd_low"].max()), "n_cells": len(reach),
                "meet_min": float(meeting["n_qd_meet"].min()), "meet_max": float(meeting["n_qd_meet"].max()),
                "n_rows_boot": int(dist.loc[dist["se_source"] == "bootstrap", "method"].nunique())}


def _records(df: pd.DataFrame, digits: int = 4) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: floats rounded, NaN as None."""
    flat = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 round(v, digits) if isinstance(v, float) else v) for k, v in r.items()}
            for r in flat.to_dict("records")]


def ceiling_results(cells: pd.DataFrame, dist: pd.DataFrame, reach: pd.DataFrame,
                    scan: pd.DataFrame, meeting: pd.DataFrame, **settings) -> dict[str, Any]:
    """The chapter's numbers, ready for ``09_ceiling.json``.

    Parameters
    ----------
    cells, dist, reach, scan, meeting : DataFrame
        :func:`ceiling_cells`, :func:`distance_table`, :func:`reachability`,
        :func:`ceiling_vs_nqd`, :func:`nqd_meeting`.
    **settings
        Plain values stored as they are (seeds, sizes, ``k_se``, ...).

    Notes
    -----
    ``paper_nqd_at_least``: no localiser beats the posterior, so at the paper's ``N_qd`` the
    ceiling is at least the paper's FCNN in every cell; the largest ``n_qd_low`` of
    :func:`nqd_meeting` over the cells is a lower bound on the paper's (unstated) ``N_qd``,
    if its images were otherwise like ours.

    Returns
    -------
    dict
    """
    lower = meeting["n_qd_low"].max(skipna=True)
    return {"row_name": CEILING_NAME, "settings": settings, "ceiling": _records(cells),
            "distances": _records(dist), "fcnn_reachable": _records(reach),
            "fcnn_reachable_everywhere": bool(reach["reachable"].all()),
            "nqd_scan": _records(scan), "nqd_meeting_paper_fcnn": _records(meeting),
            "paper_nqd_at_least": None if not math.isfinite(lower) else round(float(lower), 3)}
