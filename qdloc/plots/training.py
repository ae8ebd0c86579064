"""Figures of chapter 05: training curves, time per epoch, symmetry check, signal scan.

Every function takes the tables the training writes (``history.csv`` as a
DataFrame, the signal-scan table) and draws on the ``fig`` or ``ax`` it is
given, or on a new one, and returns it. Nothing here computes results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

__all__ = [
    "EPS_NM",
    "loss_column",
    "auc_columns",
    "plot_training_curves",
    "plot_epoch_times",
    "plot_views",
    "plot_nqd_scan",
]

EPS_NM = (70.0, 140.0, 210.0)
_EPS_COLOURS = {70.0: "tab:purple", 140.0: "tab:red", 210.0: "tab:brown"}
_D_MARKERS = {0.75: "o", 1.0: "s", 1.75: "^"}


def loss_column(history: pd.DataFrame) -> str:
    """The training-loss column of a history table (``train_loss`` or ``loss_total``)."""
    for c in ("train_loss", "loss_total"):
        if c in history.columns:
            return c
    raise ValueError("history has no training-loss column (train_loss or loss_total); "
                     f"columns: {list(history.columns)}")


def auc_columns(history: pd.DataFrame) -> dict[float, str]:
    """``{eps_nm: column}`` of the validation AUC columns (``val_auc_70nm`` ...) present."""
    return {e: f"val_auc_{int(e)}nm" for e in EPS_NM if f"val_auc_{int(e)}nm" in history.columns}


def _fig(fig, ncols: int, figsize):
    if fig is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, np.atleast_1d(axes)


def plot_training_curves(history: pd.DataFrame, selected_epoch: int | None = None, title: str | None = None,
                         fig=None):
    """Training loss, validation AUC (70/140/210 nm) and validation error against the epoch.

    Parameters
    ----------
    history : DataFrame
        ``history.csv`` of a training run: ``epoch``, a loss column, ``val_auc_*nm``
        and, when present, ``val_mean_error_nm``.
    selected_epoch : int, optional
        Marked with a vertical line (the epoch the model selection kept).
    """
    if len(history) == 0:
        raise ValueError("history is empty: nothing to plot")
    err = "val_mean_error_nm" if "val_mean_error_nm" in history.columns else None
    fig, axes = _fig(fig, 3 if err else 2, (11, 3.2) if err else (8, 3.2))
    ep = history["epoch"].to_numpy()
    lc = loss_column(history)
    axes[0].plot(ep, history[lc], "o-", ms=3, color="k")
    axes[0].set(xlabel="epoch", ylabel=lc.replace("_", " "), title="training loss")
    for e, c in auc_columns(history).items():
        axes[1].plot(ep, history[c], "o-", ms=3, color=_EPS_COLOURS[e], label=f"{e:.0f} nm")
    axes[1].set(xlabel="epoch", ylabel="validation AUC", ylim=(0, 1.02), title="validation AUC")
    axes[1].legend(title="ε", fontsize=8)
    if err:
        axes[2].plot(ep, history[err], "o-", ms=3, color="tab:blue", label="mean")
        if "val_median_error_nm" in history.columns:
            axes[2].plot(ep, history["val_median_error_nm"], "o-", ms=3, color="tab:cyan", label="median")
        axes[2].set(xlabel="epoch", ylabel="nm", title="validation error")
        axes[2].legend(fontsize=8)
    if selected_epoch is not None:
        for ax in axes:
            ax.axvline(selected_epoch, color="0.5", ls="--", lw=1)
    if title:
        fig.suptitle(title)
    return fig


def plot_epoch_times(histories: Mapping[str, pd.DataFrame], ax=None):
    """Wall time per epoch (training + validation) of one or more runs, on this machine.

    Uses ``epoch_time_s`` (and adds ``val_time_s`` when a history keeps it apart).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    for name, h in histories.items():
        t = h["epoch_time_s"].to_numpy(dtype=float)
        if "val_time_s" in h.columns:
            t = t + h["val_time_s"].to_numpy(dtype=float)
        ax.plot(h["epoch"], t, "o-", ms=3, label=f"{name}: total {t.sum() / 60:.1f} min")
    ax.set(xlabel="epoch", ylabel="s per epoch", title="time per epoch", ylim=(0, None))
    ax.legend(fontsize=8)
    return ax


def plot_views(table: pd.DataFrame, ax=None):
    """Mean error of one network on transformed images (mapped back), per view and D.

    ``table``: index = view name, columns = D (or any label), values = mean error in nm.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    views = list(table.index)
    width = 0.8 / max(len(table.columns), 1)
    for k, D in enumerate(table.columns):
        label = f"D = {D:g} µm²/s" if isinstance(D, int | float | np.number) else str(D)
        ax.bar(np.arange(len(views)) + (k - (len(table.columns) - 1) / 2) * width, table[D], width, label=label)
    ax.set_xticks(np.arange(len(views)), views)
    ax.set(ylabel="mean error (nm)", title="the same network on transformed images")
    lo = float(np.nanmin(table.to_numpy()))
    ax.set_ylim(0.8 * lo, None)
    ax.legend(fontsize=8)
    return ax


def plot_nqd_scan(scan: pd.DataFrame, paper_row: pd.DataFrame | None = None, default_n_qd: float | None = None,
                  fig=None):
    """AUC against the dot's brightness ``N_qd``, per test set, and the error against the CRLB floor.

    Parameters
    ----------
    scan : DataFrame
        One row per (``n_qd``, ``D``) with ``auc_70nm``, ``auc_140nm``, ``auc_210nm``,
        ``mean_error_nm`` and ``crlb_nm`` (the still-dot bound per axis).
    paper_row : DataFrame, optional
        The paper's FCNN row (index D, columns eps): dashed horizontal lines.
    default_n_qd : float, optional
        The calibrated ``N_qd``: a vertical line.
    """
    Ds = sorted(scan["D"].unique())
    fig, axes = _fig(fig, len(Ds) + 1, (4 * (len(Ds) + 1), 3.4))
    for ax, D in zip(axes, Ds, strict=False):
        s = scan[scan["D"] == D].sort_values("n_qd")
        for e in EPS_NM:
            ax.plot(s["n_qd"], s[f"auc_{int(e)}nm"], "o-", color=_EPS_COLOURS[e], label=f"{e:.0f} nm")
            if paper_row is not None and D in paper_row.index:
                ax.axhline(paper_row.loc[D, e], color=_EPS_COLOURS[e], ls="--", lw=1)
        if default_n_qd is not None:
            ax.axvline(default_n_qd, color="0.5", ls=":", lw=1)
        ax.set(xscale="log", xlabel="N_qd", ylabel="AUC", ylim=(0, 1.02), title=f"D = {D:g} µm²/s")
    axes[0].legend(title="ε (dashed: paper)", fontsize=8)
    ax = axes[-1]
    for D in Ds:
        s = scan[scan["D"] == D].sort_values("n_qd")
        ax.plot(s["n_qd"], s["mean_error_nm"], marker=_D_MARKERS.get(D, "o"), label=f"network, D = {D:g}")
    s = scan.drop_duplicates("n_qd").sort_values("n_qd")
    # mean distance of a 2-D Gaussian error with sd σ per axis is σ·sqrt(π/2)
    ax.plot(s["n_qd"], s["crlb_nm"] * math.sqrt(math.pi / 2), "k--", label="still-dot CRLB (mean distance)")
    if default_n_qd is not None:
        ax.axvline(default_n_qd, color="0.5", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="N_qd", ylabel="mean error (nm)", title="distance from the floor")
    ax.legend(fontsize=7)
    return fig
