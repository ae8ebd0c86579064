"""Chapter 01's figures: the beam's path, the timing diagram and an animation of the scan.

The conventions (colours, pixel coordinates, artist labels) are those of
:mod:`qdloc.plots.style`.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from qdloc.plots import style
from qdloc.sim.params import SimParams, check_int
from qdloc.sim.psf import expected_counts
from qdloc.sim.scanner import beam_path_um, beam_positions_um, pixel_start_times_s

__all__ = ["plot_beam_path", "plot_timing", "scan_animation"]


def _path_segments(params: SimParams, points_per_retrace: int):
    """Dwell segments (one per line) and retrace polylines (one per line change), in µm."""
    t, x, y, rec = beam_path_um(params, points_per_retrace=points_per_retrace)
    pts = np.column_stack([x, y])
    # runs of equal `rec`
    edges = np.flatnonzero(np.diff(rec.astype(np.int8))) + 1
    starts = np.r_[0, edges]
    stops = np.r_[edges, len(rec)]
    dwell, retrace = [], []
    for a, b in zip(starts, stops, strict=True):
        if rec[a]:
            dwell.append(pts[a:b])
        else:  # join the retrace to the end of the line before and the start of the line after
            retrace.append(pts[a - 1 : b + 1])
    return dwell, retrace


def plot_beam_path(params: SimParams, ax=None, points_per_retrace: int = 10, grid: bool = True):
    """The beam's path over the pixel grid: dwells solid, retraces dashed (paper Fig. 4b).

    Parameters
    ----------
    params : SimParams
        The scan (image size, pixel size, scan direction).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    points_per_retrace : int
        Points of each drawn retrace.
    grid : bool
        Draw the pixel borders.

    Returns
    -------
    matplotlib.axes.Axes
        The dwell segments are one ``LineCollection`` labelled ``"dwell"`` (``H`` segments),
        the retraces one labelled ``"retrace"`` (``H - 1`` segments); pixel centres are a
        scatter labelled ``"pixel centres"``.
    """
    ax = style.new_ax(ax, (5.0, 4.8))
    H, W, a = params.height_px, params.width_px, params.pixel_size_um
    dwell, retrace = _path_segments(params, points_per_retrace)
    if grid:
        for j in range(W + 1):
            ax.axvline((j - 0.5) * a, color="0.85", lw=0.5, zorder=0)
        for i in range(H + 1):
            ax.axhline((i - 0.5) * a, color="0.85", lw=0.5, zorder=0)
    beam = beam_positions_um(params).reshape(-1, 3)
    ax.scatter(beam[:, 0], beam[:, 1], s=3, color="0.5", zorder=1, label="pixel centres")
    ax.add_collection(
        LineCollection(dwell, colors=style.DWELL_COLOUR, linewidths=1.5, label="dwell")
    )
    ax.add_collection(
        LineCollection(
            retrace,
            colors=style.DWELL_COLOUR,
            linewidths=0.8,
            linestyles="--",
            alpha=0.7,
            label="retrace",
        )
    )
    ax.set_xlim(-0.5 * a - 0.02, (W - 0.5) * a + 0.02)
    ax.set_ylim((H - 0.5) * a + 0.02, -0.5 * a - 0.02)  # row 0 at the top, as in the image
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(f"Beam path: {H} lines of {W} pixels")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize="small", frameon=False
    )
    return ax


def _shade_scan(ax, params: SimParams, t0_s: float, t1_s: float, scale: float):
    """Shade dwells (light red) and retraces (grey) between t0 and t1; axis units are s·scale."""
    H, W = params.height_px, params.width_px
    T, line = params.line_period_s, W * params.dwell_s
    for i in range(H):
        a, b = i * T, i * T + line
        if b >= t0_s and a <= t1_s:
            ax.axvspan(a * scale, b * scale, color=style.DWELL_COLOUR, alpha=0.12, lw=0)
        if i < H - 1 and (i + 1) * T >= t0_s and b <= t1_s:
            ax.axvspan(b * scale, (i + 1) * T * scale, color="0.6", alpha=0.25, lw=0)


def _timing_overview(ax, params: SimParams, n_lines: int) -> None:
    """x(t) and y(t) of the beam over the first ``n_lines`` lines (ms), dwells, retraces shaded."""
    t, x, y, _ = beam_path_um(params)
    T, W = params.line_period_s, params.width_px
    t_end = n_lines * T - (params.retrace_s if n_lines == params.height_px else 0.0)
    keep = t <= t_end + 1e-12
    _shade_scan(ax, params, 0.0, t_end, 1e3)
    ax.plot(t[keep] * 1e3, x[keep], color=style.AXIS_COLOURS["x"], label="x (fast axis)")
    ax.plot(t[keep] * 1e3, y[keep], color=style.AXIS_COLOURS["y"], label="y (slow axis)")
    ax.set_xlim(0, t_end * 1e3)
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("beam position (µm)")
    ax.set_title(
        f"Line period W·dwell + retrace = {T * 1e3:.3g} ms; "
        f"recording (red) {W * params.dwell_s * 1e6:.3g} µs per line"
    )
    ax.legend(loc="upper left", fontsize="small")


def _timing_zoom(ax_l, ax_r, params: SimParams, line: int, n_zoom_px: int) -> None:
    """Broken time axis (µs) around the change from ``line`` to ``line + 1``: x and the sweep."""
    W, a, d = params.width_px, params.pixel_size_um, params.dwell_s
    starts = pixel_start_times_s(params)
    beam = beam_positions_um(params)
    for ax, row, cols in (
        (ax_l, line, range(W - n_zoom_px, W)),
        (ax_r, line + 1, range(n_zoom_px)),
    ):
        ts, xs = starts[row, list(cols)], beam[row, list(cols), 0]
        # simulator: beam at the pixel centre for the whole dwell
        ax.hlines(
            xs,
            ts * 1e6,
            (ts + d) * 1e6,
            color=style.AXIS_COLOURS["x"],
            lw=2.5,
            label="x used by the simulator",
        )
        ax.plot(
            ts * 1e6, xs, "o", color=style.AXIS_COLOURS["x"], ms=4, label="sample (dwell start)"
        )
        ax.plot(
            (ts[[0, -1]] + [0, d]) * 1e6,
            xs[[0, -1]] + [-0.5 * a, 0.5 * a],
            color="k",
            lw=0.8,
            label="sweep",
        )  # the continuous sweep
        ax.set_xlabel("t (µs)")
        ax.set_ylim(xs.min() - 0.75 * a, xs.max() + 0.75 * a)
    t_line_end, t_next, pad = starts[line, -1] + d, starts[line + 1, 0], 2 * d
    ax_l.set_xlim((t_line_end - n_zoom_px * d - pad / 2) * 1e6, (t_line_end + pad) * 1e6)
    ax_r.set_xlim((t_next - pad) * 1e6, (t_next + n_zoom_px * d + pad / 2) * 1e6)
    for ax in (ax_l, ax_r):
        lo, hi = ax.get_xlim()
        _shade_scan(ax, params, lo * 1e-6, hi * 1e-6, 1e6)
    ax_l.set_ylabel("beam x (µm)")
    ax_l.set_title(f"end of line {line}", fontsize="medium")
    ax_r.set_title(
        f"start of line {line + 1} (after {params.retrace_s * 1e3:.3g} ms retrace)",
        fontsize="medium",
    )
    ax_r.legend(loc="lower right", fontsize="x-small")
    # broken-axis marks
    ax_l.spines["right"].set_visible(False)
    ax_r.spines["left"].set_visible(False)
    ax_r.yaxis.tick_right()
    kw = dict(
        marker=[(-1, -1), (1, 1)],
        markersize=8,
        linestyle="none",
        color="k",
        mec="k",
        mew=1,
        clip_on=False,
    )
    ax_l.plot([1, 1], [0, 1], transform=ax_l.transAxes, **kw)
    ax_r.plot([0, 0], [0, 1], transform=ax_r.transAxes, **kw)


def plot_timing(params: SimParams, n_lines: int = 3, line: int = 0, n_zoom_px: int = 5, fig=None):
    """Timing diagram of the beam: x(t), y(t), and a zoom on one line change.

    Top: x and y of the beam over the first ``n_lines`` lines (ms), dwell windows shaded
    red, retraces grey. Bottom: a broken time axis (µs) around the change from line
    ``line`` to ``line + 1``: the last ``n_zoom_px`` pixels of the line, then (after the
    retrace) the first pixels of the next. The continuous sweep (thin) and the position
    used by the simulator, the pixel centre during each dwell (thick steps, dots at the
    dwell starts), are both drawn.

    Parameters
    ----------
    params : SimParams
        The scan.
    n_lines : int
        Lines shown on the top panel (clipped to ``[1, H]``).
    line : int
        The zoom shows the change from this line to the next (``0 <= line < H - 1``).
    n_zoom_px : int
        Pixels shown on each side of the line change (clipped to ``[1, W]``).
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        ``[ax_top, ax_end_of_line, ax_start_of_next]``.
    """
    H, W = params.height_px, params.width_px
    if not 0 <= line < H - 1:
        raise ValueError(
            f"line={line!r} is not allowed: expected 0 <= line < {H - 1} (a line change)"
        )
    n_lines = max(1, min(int(n_lines), H))
    n_zoom_px = max(1, min(int(n_zoom_px), W))
    if fig is None:
        fig = plt.figure(figsize=(8.0, 5.0), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[1.1, 1.0])
    ax_top = fig.add_subplot(gs[0, :])
    ax_l = fig.add_subplot(gs[1, 0])
    ax_r = fig.add_subplot(gs[1, 1])
    _timing_overview(ax_top, params, n_lines)
    _timing_zoom(ax_l, ax_r, params, line, n_zoom_px)
    return fig, [ax_top, ax_l, ax_r]


def _animation_inputs(sim_or_traj, params: SimParams | None, index: int, image):
    """``(traj (H·W, 3) µm, image (H, W) float64, params)`` of what :func:`scan_animation` shows."""
    if hasattr(sim_or_traj, "trajectories"):
        sim = sim_or_traj
        params = params or sim.params
        traj = sim.trajectories[index]
        if image is None and sim.images is not None:
            image = sim.images[index]
    else:
        if params is None:
            raise ValueError("params is required when animating a bare trajectory")
        traj = sim_or_traj
    traj = style.check_traj(traj, params)
    if image is None:
        image = expected_counts(traj[None], params)[0]
    image = np.asarray(image, dtype=np.float64)
    if image.shape != (params.height_px, params.width_px):
        raise ValueError(
            f"image has shape {image.shape}; expected ({params.height_px}, {params.width_px})"
        )
    return traj, image, params


def scan_animation(
    sim_or_traj,
    params: SimParams | None = None,
    index: int = 0,
    image=None,
    lines_per_frame: int = 1,
    dpi: int = 65,
    interval_ms: int = 150,
    figsize: tuple[float, float] = (3.6, 3.6),
    cmap: str = "magma",
):
    """Animate the scan: line by line the image fills in while the dot moves.

    Parameters
    ----------
    sim_or_traj : Simulation or numpy.ndarray
        A simulation (image ``index`` and its trajectory are shown) or one trajectory
        ``(H·W, 3)`` in µm. For a bare trajectory without ``image``, the expected counts of
        Eq. 1 are shown (no noise, no randomness here).
    params : SimParams, optional
        Needed with a bare trajectory; defaults to ``sim.params``.
    index : int
        Which image of a simulation to show.
    image : array_like (H, W), optional
        The image to fill in (default: the simulation's image, or Eq. 1).
    lines_per_frame : int
        Scan lines recorded per frame; the animation has ``ceil(H / lines_per_frame)`` frames.
    dpi, interval_ms, figsize, cmap
        Size and speed. With the defaults ``anim.to_jshtml()`` is a few hundred kB.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Drawn on a figure that is not registered with pyplot (so the notebook does not also
        show it as a still); ``anim._fig`` is that figure.
    """
    traj, image, params = _animation_inputs(sim_or_traj, params, index, image)
    lpf = check_int("lines_per_frame", lines_per_frame, 1)
    H, W = params.height_px, params.width_px
    px = traj[:, :2] / params.pixel_size_um
    starts = pixel_start_times_s(params)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor("0.15")  # lines not yet recorded
    shown = np.ma.masked_array(np.zeros((H, W)), mask=True)  # (masked_all leaves garbage)
    im = ax.imshow(
        shown,
        cmap=cmap,
        vmin=float(image.min()),
        vmax=float(image.max()),
        extent=style.pixel_extent(params),
        interpolation="nearest",
    )
    (path,) = ax.plot([], [], "-", color=style.TRAJ_COLOUR, lw=0.8, label="trajectory")
    (dot,) = ax.plot([], [], "o", color=style.END_COLOUR, ms=5, label="dot")
    (beam,) = ax.plot([], [], "-", color="white", lw=1.5, alpha=0.8, label="beam")
    ax.plot(
        px[0, 0], px[0, 1], "o", mfc="none", mec=style.START_COLOUR, mew=1.5, ms=8, label="start"
    )
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    title = ax.set_title("")

    def update(f):
        last = min((f + 1) * lpf, H)  # lines 0 .. last-1 recorded
        shown.mask[:last] = False
        shown[:last] = image[:last]
        im.set_data(shown)
        k = last * W  # samples recorded so far
        path.set_data(px[:k, 0], px[:k, 1])
        dot.set_data([px[k - 1, 0]], [px[k - 1, 1]])
        beam.set_data([-0.5, W - 0.5], [last - 1, last - 1])
        t_ms = (starts[last - 1, -1] + params.dwell_s) * 1e3
        title.set_text(f"line {last - 1}, t = {t_ms:5.2f} ms")
        return im, path, dot, beam, title

    return animation.FuncAnimation(
        fig, update, frames=math.ceil(H / lpf), interval=interval_ms, blit=False, repeat=True
    )
