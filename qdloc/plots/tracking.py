"""Figures of chapter 07 (movies, tracks, D estimates, detector realism)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_movie_tracks", "plot_D_estimates", "plot_detector"]

_COLOURS = {"truth": "k", "trackpy": "tab:orange", "compact": "tab:blue", "frcnn": "tab:green"}


def plot_movie_tracks(
    images: np.ndarray,
    truth_xy: np.ndarray,
    tracks: Mapping[str, pd.DataFrame],
    frames: Sequence[int] = (0, 1, 2, 3),
    frame_interval_s: float | None = None,
):
    """A few frames of one movie, then the whole movie's mean with the true and linked tracks.

    Parameters
    ----------
    images : ndarray (T, H, W)
    truth_xy : ndarray (T, 2)
        Per-frame labels (px).
    tracks : mapping method -> DataFrame (frame, x, y, particle)
        Linked tracks of each method.
    frames : frames to show individually.
    """
    frames = [f for f in frames if f < len(images)]
    n = len(frames) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), constrained_layout=True)
    vmax = float(np.percentile(images, 99.5))
    for ax, f in zip(axes, frames, strict=False):
        ax.imshow(images[f], cmap="magma", vmin=0, vmax=vmax)
        ax.plot(*truth_xy[f], "+", color="w", ms=12, mew=2)
        for name, tr in tracks.items():
            row = tr[tr["frame"] == f]
            ax.plot(row["x"], row["y"], "o", mfc="none", color=_COLOURS.get(name, None), ms=9,
                    mew=1.5)
        t = f"  t = {f * frame_interval_s * 1e3:.0f} ms" if frame_interval_s else ""
        ax.set_title(f"frame {f}{t}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[-1]
    ax.imshow(images.mean(axis=0), cmap="gray")
    ax.plot(truth_xy[:, 0], truth_xy[:, 1], "-", color="w", lw=2, label="truth")
    for name, tr in tracks.items():
        for _, g in tr.groupby("particle"):
            g = g.sort_values("frame")
            ax.plot(g["x"], g["y"], ".-", color=_COLOURS.get(name, None), lw=1, ms=3,
                    label=name if name not in ax.get_legend_handles_labels()[1] else None)
    H, W = images.shape[1:]
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_title("mean of all frames, tracks", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="lower right", framealpha=0.7)
    return fig


def plot_D_estimates(summary: pd.DataFrame, per_track: pd.DataFrame | None = None):
    """Estimated against true D for each method, and the relative bias.

    Parameters
    ----------
    summary : DataFrame
        One row per (method, D_true) with ``D_mean``, ``D_sd`` (spread of the
        per-track estimates) and ``rel_bias``.
    per_track : DataFrame, optional
        Per-track estimates (``method, D_true, D_um2_per_s``), drawn as faint dots.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    methods = list(dict.fromkeys(summary["method"]))
    offsets = np.linspace(-0.04, 0.04, len(methods))
    for off, m in zip(offsets, methods, strict=True):
        s = summary[summary["method"] == m].sort_values("D_true")
        c = _COLOURS.get(m)
        if per_track is not None:
            t = per_track[per_track["method"] == m]
            a1.plot(t["D_true"] + off * 2, t["D_um2_per_s"], ".", color=c, alpha=0.08, ms=3)
        a1.errorbar(s["D_true"] + off, s["D_mean"], yerr=s["D_sd"], fmt="o-", color=c, capsize=3,
                    label=m)
        a2.plot(s["D_true"], 100 * s["rel_bias"], "o-", color=c, label=m)
    d = np.array([0, summary["D_true"].max() * 1.05])
    a1.plot(d, d, "k--", lw=1)
    a1.set_xlabel("true D (µm²/s)")
    a1.set_ylabel("estimated D (µm²/s): mean ± sd over tracks")
    top = float(np.nanmax(summary["D_mean"] + summary["D_sd"]))
    a1.set_ylim(0, min(top * 1.1, 3 * d[1]))
    a1.legend()
    a2.axhspan(-10, 10, color="0.9", label="±10 %")
    a2.axhline(0, color="k", lw=1)
    a2.axvspan(0.5, 2.0, color="tab:blue", alpha=0.06)
    a2.set_xlabel("true D (µm²/s)")
    a2.set_ylabel("relative bias of D (%)")
    a2.legend(fontsize=8)
    return fig


def plot_detector(table: pd.DataFrame, eps_nm: float = 140.0):
    """AUC at ``eps_nm`` against the PMT excess noise factor, per localiser and scan direction.

    Parameters
    ----------
    table : DataFrame
        :func:`qdloc.study.detector.detector_study`'s.
    eps_nm : float
        The tolerance drawn (a column ``auc_<eps_nm>``).

    Returns
    -------
    Figure
    """
    col = f"auc_{eps_nm:g}"
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for i, (name, g) in enumerate(table.groupby("localiser", sort=False)):
        for bidi, ls, mk in ((False, "-", "o"), (True, "--", "s")):
            h = g[g["bidirectional"] == bidi].sort_values("excess_noise")
            if len(h):
                ax.plot(h["excess_noise"], h[col], ls, marker=mk, color=f"C{i}",
                        label=f"{name}" + (", bidirectional" if bidi else ""))
    ax.set_xlabel("PMT excess noise factor F (1 = pure Poisson counts)")
    ax.set_ylabel(f"AUC at {eps_nm:g} nm")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig
