"""Figures for chapter 08 (how far each method goes), shared by the book and the tests.

Every function takes the sweep's gathered table (:func:`qdloc.study.sweep.gather`: columns ``D``,
``n_qd``, ``method``, ``auc_140``, ...), draws on the ``fig`` it is given or on a new pyplot
figure, and returns what it drew on. Nothing here calls ``plt.show`` or simulates.

The maps are grids of cells, one per point of the sweep, in the order of the grid's values
(the D grid is not evenly spaced; the N_qd grid is, on a log scale), each annotated with its
value; every AUC map of a figure shares one colour scale, 0 to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from qdloc.plots.evaluation import METHOD_STYLES, plot_estimates
from qdloc.sim.params import SimParams
from qdloc.study.calibration import localisation_errors_nm
from qdloc.study.sweep_point import COMPACT, TRACKPY, auc_grid

__all__ = ["plot_point_estimates", "plot_auc_maps", "plot_auc_cut"]


def plot_point_estimates(sim, preds: Mapping[str, pd.DataFrame], params: SimParams,
                         frames: Sequence[int] = (0, 1, 2, 3), fig=None):
    """Images of one operating point with each method's top estimate and its error in the title.

    Parameters
    ----------
    sim : Simulation
        The point's images (:func:`qdloc.study.sweep_point.evaluate_point`'s ``sim``).
    preds : mapping
        ``{method: DataFrame frame, x, y, score}``.
    params : SimParams
        The parameters the images were simulated with.
    frames : sequence of int
        The images shown.

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    frames = [int(k) for k in frames]
    bad = [k for k in frames if not 0 <= k < len(sim.centroids)]
    if not frames or bad:
        raise ValueError(f"frames={frames!r}: expected image indices in [0, {len(sim.centroids)})")
    err = {m: localisation_errors_nm(p, sim.centroids, params.pixel_size_um * 1000)
           for m, p in preds.items()}
    titles = [", ".join(f"{m} {err[m][k]:.0f} nm" for m in preds) for k in frames]
    return plot_estimates(sim.images, sim.centroids, preds, params, frames=frames,
                          trajectories=sim.trajectories, titles=titles, fig=fig)


def _pos(values: Sequence[float], v: float) -> int | None:
    hits = np.flatnonzero(np.isclose(np.asarray(values, dtype=float), float(v)))
    return int(hits[0]) if len(hits) else None


def _cells(ax, grid: pd.DataFrame, cmap: str, vmin: float, vmax: float, fmt: str):
    im = ax.imshow(grid.to_numpy(dtype=float), origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                   aspect="auto", interpolation="nearest")
    norm = im.norm
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = grid.iat[i, j]
            if np.isfinite(v):
                r, g, b, _ = im.cmap(norm(v))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=6.5,
                        color="white" if dark else "black")
    ax.set_xticks(range(grid.shape[1]), [f"{d:g}" for d in grid.columns], fontsize="small")
    ax.set_yticks(range(grid.shape[0]), [f"{n:g}" for n in grid.index], fontsize="small")
    ax.set_xlabel("D (µm²/s)")
    return im


def _box(ax, grid: pd.DataFrame, d_range: tuple[float, float], n_qd: float,
         **style) -> Rectangle | None:
    """Outline the cells of row ``n_qd`` with D in ``d_range`` (inclusive)."""
    i = _pos(grid.index, n_qd)
    cols = [j for j, d in enumerate(grid.columns) if d_range[0] - 1e-9 <= d <= d_range[1] + 1e-9]
    if i is None or not cols:
        return None
    rect = Rectangle((min(cols) - 0.5, i - 0.5), max(cols) - min(cols) + 1, 1, fill=False, **style)
    ax.add_patch(rect)
    return rect


def plot_auc_maps(
    table: pd.DataFrame,
    value: str = "auc_140",
    methods: Sequence[str] = (TRACKPY, COMPACT),
    operating: Mapping[str, object] | None = None,
    training: Mapping[str, tuple[tuple[float, float], float]] | None = None,
    diff: bool = True,
    fig=None,
):
    """Heat maps of ``value`` over (D, N_qd), one per method, and their difference.

    Parameters
    ----------
    table : DataFrame
        The sweep's table (columns ``D``, ``n_qd``, ``method``, ``value``).
    value : str
        The column drawn (an AUC: the colour scale is 0 to 1).
    methods : sequence of str
        One panel each, in this order, on one colour scale.
    operating : mapping, optional
        ``{"D": [0.75, 1.0, 1.75], "n_qd": 7.5}``: the paper's operating point, a solid box
        around the cells from the smallest to the largest D at that N_qd, and a white dot in
        each cell of the listed D (the test sets).
    training : mapping, optional
        ``{method: ((D_lo, D_hi), n_qd)}``: the conditions a learned method was trained on, a
        dashed box on its panel.
    diff : bool
        Add a panel with the last method minus the first (a diverging scale around 0).

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty")
    grids = {m: auc_grid(table, m, value) for m in methods}
    n_panels = len(methods) + (1 if diff and len(methods) >= 2 else 0)
    if fig is None:
        fig = plt.figure(figsize=(4.4 * n_panels, 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n_panels, sharey=True))
    label = value.replace("auc_", "AUC at ") + (" nm" if value.startswith("auc_") else "")
    im = None
    for ax, m in zip(axes, methods, strict=False):
        g = grids[m]
        im = _cells(ax, g, "viridis", 0.0, 1.0, ".2f")
        ax.set_title(f"{m}: {label}", fontsize="medium")
        if operating is not None:
            ds = [float(d) for d in operating["D"]]
            nq = float(operating["n_qd"])
            _box(ax, g, (min(ds), max(ds)), nq, edgecolor="red", lw=2.2,
                 label="paper's operating point")
            i = _pos(g.index, nq)
            for d in ds:
                j = _pos(g.columns, d)
                if i is not None and j is not None:
                    ax.plot(j, i - 0.33, "o", ms=3.5, color="red", mec="white", mew=0.6)
        if training is not None and m in training:
            (lo, hi), nq = training[m]
            _box(ax, g, (lo, hi), nq, edgecolor="white", lw=1.3, ls="--", label="trained on")
    axes[0].set_ylabel("$N_{qd}$ (calibrated: 7.5)")
    fig.colorbar(im, ax=list(axes[:len(methods)]), shrink=0.9, label=label)
    if n_panels > len(methods):
        ax = axes[-1]
        d = grids[methods[-1]] - grids[methods[0]]
        lim = float(np.nanmax(np.abs(d.to_numpy()))) or 1.0
        im_d = _cells(ax, d, "PuOr_r", -lim, lim, "+.2f")
        ax.set_title(f"{methods[-1]} − {methods[0]}", fontsize="medium")
        if operating is not None:
            ds = [float(x) for x in operating["D"]]
            _box(ax, d, (min(ds), max(ds)), float(operating["n_qd"]), edgecolor="red", lw=2.2)
        fig.colorbar(im_d, ax=ax, shrink=0.9, label="difference")
    return fig, axes


def plot_auc_cut(
    table: pd.DataFrame,
    n_qd: float,
    value: str = "auc_140",
    se: str | None = "auc_140_se",
    methods: Sequence[str] = (TRACKPY, COMPACT),
    paper: Mapping[str, Mapping[float, float]] | None = None,
    fig=None,
):
    """``value`` against D at one N_qd (a row of the maps), with ±1 standard error bars.

    ``paper``: ``{label: {D: value}}``, drawn as open markers (e.g. the paper's Table 1 at
    140 nm, measured on the full test sets).

    Returns
    -------
    (Figure, Axes)
    """
    if fig is None:
        fig = plt.figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, m in enumerate(methods):
        sub = table[(table["method"] == m) & np.isclose(table["n_qd"], float(n_qd))]
        sub = sub.sort_values("D")
        if sub.empty:
            raise ValueError(f"no rows for method {m!r} at n_qd = {n_qd:g}")
        marker, colour = METHOD_STYLES.get(m, ("s", f"C{i}"))
        yerr = sub[se] if se is not None and se in sub else None
        ax.errorbar(sub["D"], sub[value], yerr=yerr, marker=marker, ms=4, color=colour, capsize=2,
                    label=f"{m} (sweep)")
    if paper:
        for k, (lab, row) in enumerate(paper.items()):
            colour = next((c for key, (_, c) in METHOD_STYLES.items() if key in lab), f"C{k + 2}")
            ax.plot(list(row), list(row.values()), "o", mfc="none", ms=8, mew=1.5, color=colour,
                    label=lab)
    ax.set_xlabel("D (µm²/s)")
    ax.set_ylabel(value.replace("auc_", "AUC at ") + " nm" if value.startswith("auc_") else value)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"$N_{{qd}}$ = {float(n_qd):g}", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower left")
    return fig, ax
