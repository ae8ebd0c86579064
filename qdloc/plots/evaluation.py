"""Figures for chapter 06 (evaluation), shared by the book and the tests.

Every function takes data (results of :mod:`qdloc.study.calibration`,
:mod:`qdloc.eval.metrics`), draws on the ``fig``/``ax`` it is given or on a new
pyplot figure, and returns what it drew on. Nothing here calls ``plt.show``,
simulates, or touches global randomness.

Colours: one per diffusion coefficient (:data:`D_COLOURS`), one per
tolerance (:data:`EPS_COLOURS`); the paper's values are dashed lines in the
same colour as ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from qdloc.sim.params import SimParams
from qdloc.study.constants import PAPER_FCNN_ROW, PAPER_TRACKPY_ROW

__all__ = [
    "D_COLOURS",
    "EPS_COLOURS",
    "plot_auc_vs_param",
    "plot_sensitivity",
    "plot_pr_curves",
    "plot_features",
    "METHOD_STYLES",
    "plot_pr_methods",
    "plot_estimates",
    "plot_error_vs_D",
    "plot_worst_cases",
    "plot_auc_vs_nqd",
]

D_COLOURS = {0.75: "tab:blue", 1.0: "tab:orange", 1.75: "tab:green"}
EPS_COLOURS = {70.0: "tab:purple", 140.0: "tab:red", 210.0: "tab:brown"}
_LABELS = {
    "n_qd": "$N_{qd}$ (Eq. 1)",
    "start_z_sd_um": "start z spread (µm)",
    "start_margin_px": "start margin (px)",
    "diameter": "TrackPy diameter (px)",
    "minmass": "TrackPy minmass",
}


def _colour(mapping: Mapping[float, str], key: float, i: int) -> str:
    return mapping.get(float(key), f"C{i}")


def _check_long(df: pd.DataFrame) -> None:
    need = {"param", "value", "D_um2_per_s", "eps_nm", "auc"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(
            f"sweep table lacks column(s) {sorted(missing)}: expected the output of "
            "qdloc.study.calibration.sweep"
        )


def _sweep_panel(ax, df, param, eps, chosen, paper, logx):
    sub = df[(df["param"] == param) & (df["eps_nm"] == float(eps))]
    if sub.empty:
        raise ValueError(f"no rows for param={param!r} and eps_nm={eps!r} in the sweep table")
    for i, (D, g) in enumerate(sub.groupby("D_um2_per_s", sort=True)):
        c = _colour(D_COLOURS, D, i)
        g = g.sort_values("value")
        ax.plot(g["value"].astype(float), g["auc"], "o-", color=c, label=f"D = {D:g}", ms=4)
        if paper is not None and float(D) in paper:
            ax.axhline(paper[float(D)][float(eps)], color=c, ls="--", lw=1)
    if chosen is not None:
        ax.axvline(float(chosen), color="k", ls=":", lw=1.2, label="chosen")
    if logx:
        ax.set_xscale("log")
        ticks = np.unique(sub["value"].astype(float))
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.tick_params(axis="x", labelsize="small")
    ax.set_xlabel(_LABELS.get(param, param))
    ax.set_title(f"ε = {float(eps):g} nm")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)


def plot_auc_vs_param(
    df: pd.DataFrame,
    param: str = "n_qd",
    chosen: float | None = None,
    eps_nm: Sequence[float] = (70.0, 140.0, 210.0),
    paper: Mapping[float, Mapping[float, float]] | None = PAPER_TRACKPY_ROW,
    logx: bool = False,
    fig=None,
):
    """TrackPy's AUC against one unknown, one panel per tolerance.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`qdloc.study.calibration.sweep` (or ``sensitivity``).
    param : str
        The swept field to draw (default ``"n_qd"``).
    chosen : float, optional
        The calibrated value, marked by a dotted vertical line.
    eps_nm : sequence of float
        Tolerances, one panel each.
    paper : mapping, optional
        ``{D: {eps: auc}}`` drawn as dashed horizontal lines (default: the
        paper's TrackPy row); None for none.
    logx : bool
        Logarithmic x axis.
    fig : matplotlib Figure, optional

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    _check_long(df)
    eps_nm = list(eps_nm)
    if fig is None:
        fig = plt.figure(figsize=(3.4 * len(eps_nm), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(eps_nm), sharey=True))
    for ax, e in zip(axes, eps_nm, strict=True):
        _sweep_panel(ax, df, param, e, chosen, paper, logx)
    axes[0].set_ylabel("AUC (TrackPy)")
    axes[-1].legend(fontsize="small", loc="best")
    return fig, axes


def plot_sensitivity(
    df: pd.DataFrame,
    chosen: Mapping[str, float] | None = None,
    eps_nm: float = 210.0,
    paper: Mapping[float, Mapping[float, float]] | None = PAPER_TRACKPY_ROW,
    fig=None,
):
    """TrackPy's AUC at one tolerance against each unknown, one panel per unknown.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`qdloc.study.calibration.sensitivity`.
    chosen : mapping, optional
        ``{param: calibrated value}``, marked by dotted vertical lines.
    eps_nm : float
        The tolerance drawn (default 210 nm).
    paper : mapping, optional
        As in :func:`plot_auc_vs_param`.
    fig : matplotlib Figure, optional

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    _check_long(df)
    params = list(dict.fromkeys(df["param"]))
    chosen = dict(chosen or {})
    if fig is None:
        fig = plt.figure(figsize=(3.2 * len(params), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(params), sharey=True))
    for ax, p in zip(axes, params, strict=True):
        _sweep_panel(ax, df, p, eps_nm, chosen.get(p), paper, False)
        ax.set_title(f"{_LABELS.get(p, p)}, ε = {float(eps_nm):g} nm", fontsize="medium")
    axes[0].set_ylabel("AUC (TrackPy)")
    axes[-1].legend(fontsize="small", loc="best")
    return fig, axes


def plot_pr_curves(
    curves: Mapping[float, Mapping[float, Any]],
    aucs: pd.DataFrame | None = None,
    fig=None,
):
    """Precision-recall curves, one panel per D, one curve per tolerance.

    Parameters
    ----------
    curves : mapping
        ``{D: {eps: PRCurve}}`` as from :func:`qdloc.study.calibration.pr_curves`.
    aucs : pandas.DataFrame, optional
        A row (index D, columns eps) whose values go into the legend.
    fig : matplotlib Figure, optional

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    Ds = list(curves)
    fig, axes = _pr_figure(fig, len(Ds))
    for ax, D in zip(axes, Ds, strict=True):
        for i, (e, c) in enumerate(curves[D].items()):
            label = f"ε = {e:g} nm"
            if aucs is not None:
                label += f" (AUC {aucs.loc[D, e]:.2f})"
            colour = _colour(EPS_COLOURS, e, i)
            ax.plot(c.recall, c.precision, color=colour, lw=0.8, alpha=0.5)
            ax.step(*_envelope(c), where="pre", color=colour, lw=1.5, label=label)
        _finish_pr_axis(ax, f"D = {D:g} µm²/s", fontsize="small", loc="upper right")
    axes[0].set_ylabel("precision")
    return fig, axes


def _pr_figure(fig, n: int):
    """A figure (new unless given) with a row of ``n`` precision-recall axes."""
    if fig is None:
        fig = plt.figure(figsize=(3.4 * n, 3.3), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(1, n, sharey=True))


def _envelope(curve) -> tuple[np.ndarray, np.ndarray]:
    """``(recall, precision envelope)`` of a PR curve, from recall 0: what the AUC integrates."""
    r = np.concatenate([[0.0], curve.recall])
    p = np.concatenate([[curve.precision[0] if len(curve.precision) else 0.0], curve.precision])
    return r, np.maximum.accumulate(p[::-1])[::-1]


def _finish_pr_axis(ax, title: str, **legend) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(**legend)


def plot_features(
    images: np.ndarray,
    features: pd.DataFrame,
    truth_xy: np.ndarray,
    params: SimParams,
    frames: Sequence[int] = (0, 1, 2, 3),
    trajectories: np.ndarray | None = None,
    fig=None,
):
    """Images with TrackPy's features (crosses, size by mass) and the label.

    Like the paper's Fig. 3: the label (trajectory centroid) in green, the
    highest-mass feature as a large purple cross, other features small.

    Parameters
    ----------
    images : ndarray (n, H, W)
    features : pandas.DataFrame
        Columns ``frame, x, y, mass`` (e.g. from
        :func:`qdloc.localise.trackpy.trackpy_locate`).
    truth_xy : ndarray (n, 2)
        Labels in px.
    params : SimParams
        For the pixel size and image extent.
    frames : sequence of int
        Which images to draw.
    trajectories : ndarray (n, H·W, 3), optional
        Trajectories in µm, drawn as thin green lines.
    fig : matplotlib Figure, optional

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    frames = list(frames)
    fig = plt.figure(figsize=(2.6 * len(frames), 2.8), layout="constrained") if fig is None else fig
    axes = np.atleast_1d(fig.subplots(1, len(frames)))
    extent = (-0.5, params.width_px - 0.5, params.height_px - 0.5, -0.5)
    for ax, k in zip(axes, frames, strict=True):
        ax.imshow(images[k], cmap="gray", extent=extent)
        if trajectories is not None:
            t = trajectories[k] / params.pixel_size_um
            ax.plot(t[:, 0], t[:, 1], color="lime", lw=0.6, alpha=0.7, label="trajectory")
        f = features[features["frame"] == k].sort_values("mass", ascending=False)
        if len(f):
            ax.plot(f["x"].iloc[1:], f["y"].iloc[1:], "x", color="violet", ms=5,
                    label="other features")
            ax.plot(f["x"].iloc[:1], f["y"].iloc[:1], "x", color="magenta", ms=11, mew=2.5,
                    label="TrackPy (highest mass)")
        ax.plot(*truth_xy[k], "+", color="lime", ms=12, mew=2.5, label="label (centroid)")
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(f"image {k}", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(fontsize="x-small", loc="lower right", framealpha=0.8)
    return fig, axes


#: Marker and colour of each method in the comparison figures.
METHOD_STYLES = {
    "TrackPy": ("x", "magenta"),
    "Keypoint R-CNN": ("o", "deepskyblue"),
    "Compact": ("D", "orange"),
}


def _style(method: str, i: int) -> tuple[str, str]:
    for key, st in METHOD_STYLES.items():
        if method.startswith(key):
            return st
    return ("s", f"C{i}")


def plot_pr_methods(
    curves: Mapping[str, Mapping[float, Any]],
    aucs: Mapping[str, pd.DataFrame] | None = None,
    eps_nm: float = 140.0,
    fig=None,
):
    """Precision envelopes of several methods at one tolerance, one panel per D.

    Parameters
    ----------
    curves : mapping
        ``{method: {D: PRCurve}}`` (all at ``eps_nm``).
    aucs : mapping, optional
        ``{method: row}``; the AUC at ``eps_nm`` goes into the legend.
    eps_nm : float
        The tolerance, for the titles.

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    if not curves:
        raise ValueError("curves is empty: expected {method: {D: PRCurve}}")
    Ds = list(next(iter(curves.values())))
    fig, axes = _pr_figure(fig, len(Ds))
    for ax, D in zip(axes, Ds, strict=True):
        for i, (method, by_d) in enumerate(curves.items()):
            label = method
            if aucs is not None:
                label += f" ({aucs[method].loc[D, float(eps_nm)]:.2f})"
            ax.step(*_envelope(by_d[D]), where="pre", color=_style(method, i)[1], lw=1.5,
                    label=label)
        _finish_pr_axis(ax, f"D = {D:g} µm²/s, ε = {float(eps_nm):g} nm", fontsize="x-small",
                        loc="lower left")
    axes[0].set_ylabel("precision (envelope)")
    return fig, axes


def plot_estimates(
    images: np.ndarray,
    truth_xy: np.ndarray,
    estimates: Mapping[str, pd.DataFrame],
    params: SimParams,
    frames: Sequence[int] = (0, 1, 2, 3),
    trajectories: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    fig=None,
):
    """The paper's Fig. 3: images, trajectory, centroid, and each method's estimate.

    Parameters
    ----------
    images : ndarray (n, H, W)
    truth_xy : ndarray (n, 2)
        Labels (trajectory centroids) in px: a green cross.
    estimates : mapping
        ``{method: DataFrame}`` with columns ``frame, x, y, score``; the
        top-scoring row of each frame is drawn.
    params : SimParams
    frames : sequence of int
    trajectories : ndarray (n, H·W, 3), optional
        In µm: a green line.
    titles : sequence of str, optional
        One per frame (default ``"image k"``).

    Returns
    -------
    (Figure, ndarray of Axes)
    """
    frames = list(frames)
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"titles has {len(titles)} entries; expected one per frame "
                         f"({len(frames)})")
    if fig is None:
        fig = plt.figure(figsize=(2.6 * len(frames), 2.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(frames)))
    extent = (-0.5, params.width_px - 0.5, params.height_px - 0.5, -0.5)
    for j, (ax, k) in enumerate(zip(axes, frames, strict=True)):
        ax.imshow(images[k], cmap="gray", extent=extent)
        if trajectories is not None:
            t = trajectories[k] / params.pixel_size_um
            ax.plot(t[:, 0], t[:, 1], color="lime", lw=0.6, alpha=0.8, label="trajectory")
        ax.plot(*truth_xy[k], "+", color="lime", ms=13, mew=2.5, label="centroid (label)")
        for i, (method, df) in enumerate(estimates.items()):
            f = df[df["frame"] == k].sort_values("score", ascending=False)
            marker, colour = _style(method, i)
            if len(f):
                ax.plot(f["x"].iloc[0], f["y"].iloc[0], marker, color=colour, ms=8, mew=2,
                        mfc="none", label=method)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(titles[j] if titles is not None else f"image {k}", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, fontsize="x-small", loc="outside lower center", ncol=len(labels))
    return fig, axes


def plot_worst_cases(
    images: np.ndarray,
    truth_xy: np.ndarray,
    estimates: Mapping[str, pd.DataFrame],
    errors_nm: Mapping[str, np.ndarray],
    worst: Mapping[str, Sequence[int]],
    params: SimParams,
    trajectories: np.ndarray | None = None,
    fig=None,
):
    """Each method's worst images: one row of :func:`plot_estimates` per method.

    Parameters
    ----------
    images : ndarray (n, H, W)
    truth_xy : ndarray (n, 2)
        Labels, px.
    estimates : mapping
        ``{method: DataFrame with frame, x, y, score}``; only the method of each row is drawn
        in it.
    errors_nm : mapping
        ``{method: error per image, nm}`` (NaN: no estimate), for the titles.
    worst : mapping
        ``{method: image indices}`` (e.g. :func:`qdloc.study.errors.worst_images`).
    params : SimParams
    trajectories : ndarray (n, H·W, 3), optional
    fig : Figure, optional

    Returns
    -------
    Figure
    """
    missing = set(worst) - set(estimates) | set(worst) - set(errors_nm)
    if missing:
        raise ValueError(f"worst names method(s) {sorted(missing)} without estimates or errors")
    if fig is None:
        fig = plt.figure(figsize=(8, 2.8 * len(worst)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(worst), 1))
    for sub, (m, ks) in zip(subs, worst.items(), strict=True):
        e = errors_nm[m]
        titles = [f"image {k}: " + (f"{e[k]:.0f} nm" if np.isfinite(e[k]) else "no estimate")
                  for k in ks]
        plot_estimates(images, truth_xy, {m: estimates[m]}, params, frames=ks,
                       trajectories=trajectories, titles=titles, fig=sub)
        sub.suptitle(m, fontsize="medium")
    return fig


def plot_error_vs_D(table: pd.DataFrame, crlb_nm: float | None = None, fig=None):
    """Median (solid) and mean (dashed) localisation error against D, per method.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``method, D_um2_per_s, median_nm, mean_nm``.
    crlb_nm : float, optional
        The Cramér-Rao bound of a still dot: a grey horizontal line.

    Returns
    -------
    (Figure, Axes)
    """
    need = {"method", "D_um2_per_s", "median_nm", "mean_nm"}
    if need - set(table.columns):
        raise ValueError(f"table lacks column(s) {sorted(need - set(table.columns))}")
    if fig is None:
        fig = plt.figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (method, g) in enumerate(table.groupby("method", sort=False)):
        g = g.sort_values("D_um2_per_s")
        marker, colour = _style(method, i)
        ax.plot(g["D_um2_per_s"], g["median_nm"], marker=marker, color=colour, ms=4,
                label=f"{method}, median")
        ax.plot(g["D_um2_per_s"], g["mean_nm"], ls="--", color=colour, lw=1,
                label=f"{method}, mean")
    if crlb_nm is not None:
        ax.axhline(crlb_nm, color="grey", lw=1.2, label=f"CRLB, still dot ({crlb_nm:.0f} nm)")
    ax.set_yscale("log")
    ax.set_xlabel("D (µm²/s)")
    ax.set_ylabel("localisation error (nm)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="x-small", loc="best", ncol=2)
    return fig, ax


def plot_auc_vs_nqd(
    scan: pd.DataFrame,
    eps_nm: float = 70.0,
    chosen: float | None = None,
    paper: Mapping[float, Mapping[float, float]] = PAPER_FCNN_ROW,
    fig=None,
):
    """AUC at one tolerance against N_qd (one line per test set), paper values as lines.

    Parameters
    ----------
    scan : pandas.DataFrame
        Columns ``n_qd, D`` and ``auc_{eps}nm`` (``data/models/compact/nqd_scan.csv``).
    eps_nm : float
    chosen : float, optional
        The calibrated N_qd: a vertical dotted line.
    paper : mapping
        ``{D: {eps: auc}}`` drawn as dashed horizontal lines.

    Returns
    -------
    (Figure, Axes)
    """
    col = f"auc_{float(eps_nm):g}nm"
    need = {"n_qd", "D", col}
    if need - set(scan.columns):
        raise ValueError(f"scan lacks column(s) {sorted(need - set(scan.columns))}")
    if fig is None:
        fig = plt.figure(figsize=(5.2, 3.5), layout="constrained")
    ax = fig.subplots()
    for i, (D, g) in enumerate(scan.groupby("D")):
        g = g.sort_values("n_qd")
        colour = _colour(D_COLOURS, D, i)
        ax.plot(g["n_qd"], g[col], "o-", color=colour, label=f"compact, D = {D:g}")
        if float(D) in paper:
            ax.axhline(paper[float(D)][float(eps_nm)], color=colour, ls="--", lw=1,
                       label=f"paper FCNN, D = {D:g}")
    if chosen is not None:
        ax.axvline(chosen, color="k", ls=":", lw=1, label=f"calibrated $N_{{qd}}$ = {chosen:g}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.set_xlabel("$N_{qd}$ (Eq. 1)")
    ax.set_ylabel(f"AUC at {float(eps_nm):g} nm")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="x-small", loc="best", ncol=2)
    return fig, ax
