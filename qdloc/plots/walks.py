"""Chapter 02's figures: one walk on the scanner's two clocks, and the ensemble MSD.

The conventions (colours, artist labels) are those of :mod:`qdloc.plots.style`.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from qdloc.plots.style import AXIS_COLOURS, check_traj, new_ax
from qdloc.sim.params import SimParams
from qdloc.sim.scanner import sample_intervals_s
from qdloc.sim.walk import msd_from_start, sample_times_s

__all__ = ["plot_trajectory_clocks", "plot_msd"]


def _plot_zoom(ax, disp_nm: np.ndarray, params: SimParams, line: int, D: float | None) -> None:
    """x displacement against the sample index over lines ``line`` and ``line + 1``."""
    W = params.width_px
    k0, k1 = line * W, (line + 2) * W
    ax.plot(
        np.arange(k0, k1),
        disp_nm[k0:k1, 0],
        ".-",
        ms=3,
        lw=0.8,
        color=AXIS_COLOURS["x"],
        label="fast clock (dwell)",
    )
    kj = (line + 1) * W
    ax.plot(
        [kj - 1, kj],
        disp_nm[[kj - 1, kj], 0],
        "-",
        lw=2.5,
        color="k",
        label="slow clock (dwell + retrace)",
    )
    ax.axvline(kj - 0.5, color="0.6", ls=":", lw=1)
    ax.set_xlabel("sample index k = i·W + j")
    ax.set_ylabel("x displacement (nm)")
    ax.set_title(f"zoom: lines {line} and {line + 1}")
    if D is not None:
        dt = sample_intervals_s(params)
        sd_fast = math.sqrt(2 * D * dt.min()) * 1e3
        sd_slow = math.sqrt(2 * D * dt.max()) * 1e3
        ax.text(
            0.02,
            0.02,
            f"step sd: fast {sd_fast:.2g} nm, slow {sd_slow:.3g} nm",
            transform=ax.transAxes,
            fontsize="small",
        )
    ax.legend(fontsize="x-small", loc="upper left")


def plot_trajectory_clocks(
    traj_um, params: SimParams, D: float | None = None, line: int = 5, fig=None
):
    """One trajectory on the scanner's two clocks.

    Left: displacement from the start along x, y, z against time (ms); the samples come in
    bursts of ``W`` (one line, 2 µs apart) separated by the retrace. Right: a zoom on lines
    ``line`` and ``line + 1`` against the sample index ``k = i·W + j``: many small
    fast-clock steps within a line and one slow-clock jump at the line change (thick,
    labelled).

    Parameters
    ----------
    traj_um : array_like (H·W, 3)
        One trajectory, µm.
    params : SimParams
        The scan.
    D : float, optional
        With ``D`` (µm²/s) the expected step standard deviations are printed on the zoom.
    line : int
        First line of the zoom (``0 <= line < H - 1``).
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).

    Returns
    -------
    tuple
        ``(fig, (ax_t, ax_k))``: the figure, the axes against time and the zoom's axes.
    """
    traj = check_traj(traj_um, params)
    H = params.height_px
    if not 0 <= line < H - 1:
        raise ValueError(f"line={line!r} is not allowed: expected 0 <= line < {H - 1}")
    if fig is None:
        fig = plt.figure(figsize=(9.0, 3.6), layout="constrained")
    ax_t, ax_k = fig.subplots(1, 2, width_ratios=[1.3, 1.0])
    t_ms = sample_times_s(params) * 1e3
    disp_nm = (traj - traj[0]) * 1e3
    for c, name in enumerate("xyz"):
        ax_t.plot(t_ms, disp_nm[:, c], ".-", ms=1.5, lw=0.6, color=AXIS_COLOURS[name], label=name)
    ax_t.set_xlabel("t (ms)")
    ax_t.set_ylabel("displacement from start (nm)")
    ax_t.set_title("x, y, z against time")
    ax_t.legend(fontsize="small", ncols=3)
    _plot_zoom(ax_k, disp_nm, params, line, D)
    return fig, (ax_t, ax_k)


def plot_msd(traj_um, params: SimParams, D: float | None = None, ax=None):
    """Ensemble MSD from the start, per axis, against time (log-log), with ``2·D·t``.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        The walks, µm. The first sample (t = 0, MSD = 0) is left out.
    params : SimParams
        The scan (sample times).
    D : float, optional
        Draw the line ``2·D·t`` (µm²/s) when given and positive.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        Its lines are labelled ``"x"``, ``"y"``, ``"z"`` and (with ``D``) ``"2Dt"``.
    """
    traj = np.asarray(traj_um, dtype=np.float64)
    if traj.ndim != 3 or traj.shape[1:] != (params.n_pixels, 3):
        raise ValueError(f"traj_um has shape {traj.shape}; expected (n, {params.n_pixels}, 3)")
    ax = new_ax(ax, (5.0, 3.8))
    t = sample_times_s(params)[1:]
    msd = msd_from_start(traj)[1:]
    for c, name in enumerate("xyz"):
        ax.plot(t, msd[:, c], ".", ms=2.5, color=AXIS_COLOURS[name], label=name)
    if D is not None and D > 0:
        ax.plot(t, 2 * D * t, "k-", lw=1, label="2Dt")
    ax.set_xscale("log")
    if np.any(msd > 0):  # a dot that does not move (D = 0) has nothing to put on a log scale
        ax.set_yscale("log")
    ax.set_xlabel("t (s)")
    ax.set_ylabel("MSD per axis (µm²)")
    ax.set_title(f"MSD of {traj.shape[0]} walks" + (f", D = {D:g} µm²/s" if D is not None else ""))
    ax.legend(fontsize="small")
    return ax
