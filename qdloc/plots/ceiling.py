"""Figures for chapter 09 (the posterior ceiling), shared by the book and the tests.

Every function takes tables of :mod:`qdloc.study.ceiling`, draws on the ``fig`` it is given or on
a new pyplot figure, and returns what it drew on. Nothing here calls ``plt.show`` or simulates.
Colours: one per test set (``D_COLOURS`` of :mod:`qdloc.plots.evaluation`), the methods' markers of
chapter 06 (:data:`qdloc.plots.evaluation.METHOD_STYLES`), the paper's FCNN in grey squares; the
ceiling a thick dark line.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

from qdloc.plots.evaluation import D_COLOURS, METHOD_STYLES
from qdloc.study.ceiling import PAPER_FCNN_NAME

__all__ = ["plot_distances", "plot_ceiling_vs_nqd"]

_PAPER_STYLE = ("s", "tab:gray")


def _check(df: pd.DataFrame, need: set[str], name: str) -> None:
    if need - set(df.columns):
        raise ValueError(f"{name} lacks column(s) {sorted(need - set(df.columns))}")


def _method_style(method: str, i: int) -> tuple[str, str]:
    if method == PAPER_FCNN_NAME:
        return _PAPER_STYLE
    return next((st for k, st in METHOD_STYLES.items() if method.startswith(k)), ("v", f"C{i}"))


def plot_distances(dist: pd.DataFrame, k_se: float = 2.0, fig=None):
    """Every row of Table 1 and the ceiling against the tolerance, and each row's distance to it.

    Top: AUC against the tolerance, one panel per test set, the ceiling in black with bars of
    ``k_se`` standard errors. Bottom: each row minus the ceiling, with bars of ``k_se`` standard
    errors of the difference (above zero by more than its bar: the row exceeds the ceiling).

    Parameters
    ----------
    dist : DataFrame
        :func:`qdloc.study.ceiling.distance_table`' output.
    k_se : float
        Half-width of the error bars, in standard errors.
    fig : Figure, optional

    Returns
    -------
    (Figure, array of Axes)
        Axes of shape (2, number of test sets).
    """
    _check(dist, {"method", "D_um2_per_s", "eps_nm", "auc", "ceiling", "distance", "se"}, "dist")
    Ds = sorted(dist["D_um2_per_s"].unique())
    fig = fig or plt.figure(figsize=(3.3 * len(Ds), 5.8), layout="constrained")
    axes = fig.subplots(2, len(Ds), sharex=True, sharey="row", squeeze=False)
    methods = list(dict.fromkeys(dist["method"]))
    for j, D in enumerate(Ds):
        d = dist[dist["D_um2_per_s"] == D].sort_values("eps_nm")
        top, bottom = axes[0, j], axes[1, j]
        for i, m in enumerate(methods):
            g = d[d["method"] == m]
            marker, colour = _method_style(m, i)
            top.plot(g["eps_nm"], g["auc"], marker=marker, color=colour, lw=1, label=m)
            bottom.errorbar(g["eps_nm"] + 6 * (i - 1.5), -g["distance"], yerr=k_se * g["se"],
                            marker=marker, color=colour, ls="none", capsize=2)
        c = d.drop_duplicates("eps_nm")
        top.plot(c["eps_nm"], c["ceiling"], color="k", lw=2.5, alpha=0.5, label="posterior (ceiling)")
        bottom.axhline(0.0, color="k", lw=2.5, alpha=0.5)
        top.set_title(f"D = {D:g} µm²/s")
        bottom.set_xlabel("tolerance ε (nm)")
        bottom.set_xticks(sorted(d["eps_nm"].unique()))
        top.set_ylim(0, 1.02)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
    axes[0, 0].set_ylabel("AUC")
    axes[1, 0].set_ylabel("row minus ceiling")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3,
               fontsize="x-small")
    return fig, axes


def plot_ceiling_vs_nqd(scan: pd.DataFrame, reference: pd.DataFrame, chosen: float | None = None,
                        meeting: pd.DataFrame | None = None, fig=None):
    """The ceiling's AUC against N_qd, one panel per tolerance, the reference row dashed.

    Parameters
    ----------
    scan : DataFrame
        :func:`qdloc.study.ceiling.ceiling_vs_nqd`' output.
    reference : DataFrame
        A row (index D, columns eps), e.g. the paper's FCNN: dashed lines.
    chosen : float, optional
        The calibrated N_qd: a dotted vertical line.
    meeting : DataFrame, optional
        :func:`qdloc.study.ceiling.nqd_meeting`' output: where each curve meets its line.
    fig : Figure, optional

    Returns
    -------
    (Figure, array of Axes)
    """
    _check(scan, {"n_qd", "D_um2_per_s", "eps_nm", "auc", "se"}, "scan")
    eps = sorted(scan["eps_nm"].unique())
    fig = fig or plt.figure(figsize=(3.3 * len(eps), 3.3), layout="constrained")
    axes = fig.subplots(1, len(eps), squeeze=False)[0]
    for ax, e in zip(axes, eps, strict=True):
        for i, (D, g) in enumerate(scan[scan["eps_nm"] == e].sort_values("n_qd").groupby("D_um2_per_s")):
            colour = D_COLOURS.get(float(D), f"C{i}")
            ax.errorbar(g["n_qd"], g["auc"], yerr=g["se"], color=colour, marker="o", ms=3,
                        capsize=2, label=f"ceiling, D = {D:g}")
            ax.axhline(reference.loc[D, e], color=colour, ls="--", lw=1)
            if meeting is not None and (D, e) in meeting.index:
                ax.plot(meeting.loc[(D, e), "n_qd_meet"], reference.loc[D, e], "*", color=colour,
                        ms=10)
        if chosen is not None:
            ax.axvline(chosen, color="k", ls=":", lw=1, label=f"calibrated $N_{{qd}}$ = {chosen:g}")
        ax.set_xscale("log")
        ax.set_xticks(sorted(scan["n_qd"].unique()))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(f"ε = {e:g} nm (dashed: FCNN, star: met)")
        ax.set_xlabel("$N_{qd}$ (Eq. 1)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("AUC of the posterior")
    axes[0].legend(fontsize="x-small", loc="lower right")
    return fig, axes
