"""Figures for the chapters, shared by the book and the tests.

Every function takes data and :class:`~qdloc.sim.params.SimParams`, draws on the
``ax``/``fig`` it is given (or on a new pyplot figure), and returns what it
drew on. Nothing here calls ``plt.show`` or touches global randomness; the
only functions that simulate (:func:`explorer`) take a seed.

Coordinates: images are drawn with ``imshow(extent=pixel_extent(params))``
so that pixel centres sit at integer pixel coordinates, ``x`` = column,
``y`` = row, row 0 at the top (the conventions of :mod:`qdloc.sim.scanner`).
Trajectories in µm are divided by the pixel size to overlay them.

Artists that the tests look for carry labels: ``"dwell"``, ``"retrace"``,
``"trajectory"``, ``"start"``, ``"end"``, ``"centroid"``, ``"beam"``, ``"dot"``.
"""

from __future__ import annotations

import io
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from qdloc.sim.params import SimParams
from qdloc.sim.psf import expected_counts, expected_counts_static
from qdloc.sim.scanner import beam_path_um, beam_positions_um, pixel_start_times_s, sample_intervals_s
from qdloc.sim.walk import centroid_px, msd_from_start, sample_times_s

__all__ = [
    "pixel_extent",
    "plot_beam_path",
    "plot_timing",
    "plot_trajectory_clocks",
    "plot_msd",
    "psf_slices",
    "plot_psf_slices",
    "plot_expected_vs_counts",
    "plot_image_trajectory",
    "plot_figure1",
    "scan_animation",
    "explorer",
]

#: Colours used throughout the book.
DWELL_COLOUR = "tab:red"
AXIS_COLOURS = {"x": "tab:blue", "y": "tab:orange", "z": "tab:green"}
START_COLOUR = "lime"  # the paper's green circle
END_COLOUR = "cyan"  # the paper's cyan circle
CENTROID_COLOUR = "red"
TRAJ_COLOUR = "yellow"


def pixel_extent(params: SimParams) -> tuple[float, float, float, float]:
    """``imshow`` extent that puts pixel centres at integers, row 0 at the top."""
    return (-0.5, params.width_px - 0.5, params.height_px - 0.5, -0.5)


def _new_ax(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _check_traj(traj_um, params: SimParams) -> np.ndarray:
    traj = np.asarray(traj_um, dtype=np.float64)
    if traj.shape != (params.n_pixels, 3):
        raise ValueError(
            f"trajectory has shape {traj.shape}; expected ({params.n_pixels}, 3) "
            "(one (x, y, z) sample in µm per pixel of a "
            f"{params.height_px}x{params.width_px} image)"
        )
    return traj


# ---------------------------------------------------------------------------
# Chapter 01: the scanner
# ---------------------------------------------------------------------------
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

    Returns the axes. The dwell segments are one ``LineCollection`` labelled
    ``"dwell"`` (``H`` segments), the retraces one labelled ``"retrace"``
    (``H - 1`` segments); pixel centres are a scatter labelled ``"pixel centres"``.
    """
    ax = _new_ax(ax, (5.0, 4.8))
    H, W, a = params.height_px, params.width_px, params.pixel_size_um
    dwell, retrace = _path_segments(params, points_per_retrace)
    if grid:
        for j in range(W + 1):
            ax.axvline((j - 0.5) * a, color="0.85", lw=0.5, zorder=0)
        for i in range(H + 1):
            ax.axhline((i - 0.5) * a, color="0.85", lw=0.5, zorder=0)
    beam = beam_positions_um(params).reshape(-1, 3)
    ax.scatter(beam[:, 0], beam[:, 1], s=3, color="0.5", zorder=1, label="pixel centres")
    ax.add_collection(LineCollection(dwell, colors=DWELL_COLOUR, linewidths=1.5, label="dwell"))
    ax.add_collection(
        LineCollection(
            retrace,
            colors=DWELL_COLOUR,
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
            ax.axvspan(a * scale, b * scale, color=DWELL_COLOUR, alpha=0.12, lw=0)
        if i < H - 1 and (i + 1) * T >= t0_s and b <= t1_s:
            ax.axvspan(b * scale, (i + 1) * T * scale, color="0.6", alpha=0.25, lw=0)


def plot_timing(params: SimParams, n_lines: int = 3, line: int = 0, n_zoom_px: int = 5, fig=None):
    """Timing diagram of the beam: x(t), y(t), and a zoom on one line change.

    Top: x and y of the beam over the first ``n_lines`` lines (ms), dwell
    windows shaded red, retraces grey. Bottom: a broken time axis (µs) around
    the change from line ``line`` to ``line + 1``: the last ``n_zoom_px``
    pixels of the line, then (after the retrace) the first pixels of the next.
    The continuous sweep (thin) and the position used by the simulator, the
    pixel centre during each dwell (thick steps, dots at the dwell starts), are
    both drawn.

    Returns
    -------
    fig, axes : Figure and a list ``[ax_top, ax_end_of_line, ax_start_of_next]``.
    """
    H, W, a = params.height_px, params.width_px, params.pixel_size_um
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

    t, x, y, _ = beam_path_um(params)
    T = params.line_period_s
    t_end = n_lines * T - (params.retrace_s if n_lines == H else 0.0)
    keep = t <= t_end + 1e-12
    _shade_scan(ax_top, params, 0.0, t_end, 1e3)
    ax_top.plot(t[keep] * 1e3, x[keep], color=AXIS_COLOURS["x"], label="x (fast axis)")
    ax_top.plot(t[keep] * 1e3, y[keep], color=AXIS_COLOURS["y"], label="y (slow axis)")
    ax_top.set_xlim(0, t_end * 1e3)
    ax_top.set_xlabel("t (ms)")
    ax_top.set_ylabel("beam position (µm)")
    ax_top.set_title(
        f"Line period W·dwell + retrace = {T * 1e3:.3g} ms; "
        f"recording (red) {W * params.dwell_s * 1e6:.3g} µs per line"
    )
    ax_top.legend(loc="upper left", fontsize="small")

    # zoom: discrete (simulated) and continuous beam x around the line change
    starts = pixel_start_times_s(params)
    beam = beam_positions_um(params)
    d = params.dwell_s
    for ax, row, cols in (
        (ax_l, line, range(W - n_zoom_px, W)),
        (ax_r, line + 1, range(0, n_zoom_px)),
    ):
        ts = starts[row, list(cols)]
        xs = beam[row, list(cols), 0]
        # simulator: beam at the pixel centre for the whole dwell
        ax.hlines(
            xs,
            ts * 1e6,
            (ts + d) * 1e6,
            color=AXIS_COLOURS["x"],
            lw=2.5,
            label="x used by the simulator",
        )
        ax.plot(ts * 1e6, xs, "o", color=AXIS_COLOURS["x"], ms=4, label="sample (dwell start)")
        # continuous sweep
        ax.plot(
            (ts[[0, -1]] + [0, d]) * 1e6,
            xs[[0, -1]] + [-0.5 * a, 0.5 * a],
            color="k",
            lw=0.8,
            label="sweep",
        )
        ax.set_xlabel("t (µs)")
        ax.set_ylim(xs.min() - 0.75 * a, xs.max() + 0.75 * a)
    t_line_end = starts[line, -1] + d
    t_next = starts[line + 1, 0]
    pad = 2 * d
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
    return fig, [ax_top, ax_l, ax_r]


# ---------------------------------------------------------------------------
# Chapter 02: random walks
# ---------------------------------------------------------------------------
def plot_trajectory_clocks(
    traj_um, params: SimParams, D: float | None = None, line: int = 5, fig=None
):
    """One trajectory on the scanner's two clocks.

    Left: displacement from the start along x, y, z against time (ms); the
    samples come in bursts of ``W`` (one line, 2 µs apart) separated by the
    retrace. Right: a zoom on lines ``line`` and ``line + 1`` against the
    sample index ``k = i·W + j``: many small fast-clock steps within a line
    and one slow-clock jump at the line change (thick, labelled). With ``D``
    the expected step standard deviations are printed on the zoom.

    Returns
    -------
    fig, (ax_t, ax_k)
    """
    traj = _check_traj(traj_um, params)
    H, W = params.height_px, params.width_px
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

    k0, k1 = line * W, (line + 2) * W
    k = np.arange(k0, k1)
    ax_k.plot(
        k,
        disp_nm[k0:k1, 0],
        ".-",
        ms=3,
        lw=0.8,
        color=AXIS_COLOURS["x"],
        label="fast clock (dwell)",
    )
    kj = (line + 1) * W
    ax_k.plot(
        [kj - 1, kj],
        disp_nm[[kj - 1, kj], 0],
        "-",
        lw=2.5,
        color="k",
        label="slow clock (dwell + retrace)",
    )
    ax_k.axvline(kj - 0.5, color="0.6", ls=":", lw=1)
    ax_k.set_xlabel("sample index k = i·W + j")
    ax_k.set_ylabel("x displacement (nm)")
    ax_k.set_title(f"zoom: lines {line} and {line + 1}")
    if D is not None:
        dt = sample_intervals_s(params)
        sd_fast = math.sqrt(2 * D * dt.min()) * 1e3
        sd_slow = math.sqrt(2 * D * dt.max()) * 1e3
        ax_k.text(
            0.02,
            0.02,
            f"step sd: fast {sd_fast:.2g} nm, slow {sd_slow:.3g} nm",
            transform=ax_k.transAxes,
            fontsize="small",
        )
    ax_k.legend(fontsize="x-small", loc="upper left")
    return fig, (ax_t, ax_k)


def plot_msd(traj_um, params: SimParams, D: float | None = None, ax=None):
    """Ensemble MSD from the start, per axis, against time (log-log), with ``2·D·t``.

    ``traj_um`` has shape ``(n, H·W, 3)``. The first sample (t = 0, MSD = 0)
    is left out. Returns the axes; the axes' lines are labelled ``"x"``,
    ``"y"``, ``"z"`` and (with ``D``) ``"2Dt"``.
    """
    traj = np.asarray(traj_um, dtype=np.float64)
    if traj.ndim != 3 or traj.shape[1:] != (params.n_pixels, 3):
        raise ValueError(f"traj_um has shape {traj.shape}; expected (n, {params.n_pixels}, 3)")
    ax = _new_ax(ax, (5.0, 3.8))
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


# ---------------------------------------------------------------------------
# Chapter 03: PSF and photon counts
# ---------------------------------------------------------------------------
def _grid_params(params: SimParams, nx: int, step_um: float, ny: int = 1) -> SimParams:
    """A one-off scan grid (``ny`` x ``nx`` pixels of ``step_um``) for evaluating Eq. 1 finely."""
    return params.replace(height_px=ny, width_px=nx, pixel_size_um=step_um, start_margin_px=0.0)


def psf_slices(
    params: SimParams, half_width_xy_um: float = 0.7, half_width_z_um: float = 4.0, n: int = 141
):
    """Eq. 1 (via :func:`qdloc.sim.psf.expected_counts`) on fine grids around a dot.

    The dot sits at the origin of a fine scan grid; the beam positions of the
    grid give the offsets ``x - X`` etc. Returns a dict with ``x_um`` (lateral
    offsets), ``z_um`` (axial offsets), ``lateral`` (N at y = z = 0),
    ``axial`` (N at x = y = 0), ``xy`` (map at z = 0, shape (n, n)) and
    ``xz`` (map at y = 0, shape (n_z, n), rows = z).
    """
    n = int(n) | 1  # odd, so that the dot sits on a grid point
    dx = 2 * half_width_xy_um / (n - 1)
    dz = 2 * half_width_z_um / (n - 1)
    x = np.arange(n) * dx - half_width_xy_um
    z = np.arange(n) * dz - half_width_z_um
    centre = half_width_xy_um  # the grid starts at 0 µm; the dot sits in the middle
    # lateral maps: an n x n grid with the dot at its centre, in focus
    p_xy = _grid_params(params, n, dx, ny=n)
    dot = np.broadcast_to(np.array([centre, centre, 0.0]), (1, p_xy.n_pixels, 3))
    xy = expected_counts(dot, p_xy)[0]
    # xz map: one scan line, one "image" per dot depth Z (beam at z = 0, so offset z - Z = -Z)
    p_x = _grid_params(params, n, dx)
    dots = np.zeros((n, n, 3))
    dots[..., 0] = centre
    dots[..., 1] = 0.0
    dots[..., 2] = -z[:, None]
    xz = expected_counts(dots, p_x)[:, 0, :]
    return {
        "x_um": x,
        "z_um": z,
        "lateral": xy[n // 2],
        "axial": xz[:, n // 2],
        "xy": xy,
        "xz": xz,
    }


def plot_psf_slices(params: SimParams, fig=None, **kwargs):
    """Eq. 1 slices: lateral and axial profiles, xy and xz maps (2 x 2 axes).

    The lateral profile also shows, as dots, the expected counts at the pixel
    spacing of ``params`` (what one scan line through a static dot records).
    Extra keyword arguments go to :func:`psf_slices`. Returns ``fig, axes``
    (a 2 x 2 array: ``[[lateral, axial], [xy, xz]]``).
    """
    s = psf_slices(params, **kwargs)
    if fig is None:
        fig = plt.figure(figsize=(8.0, 6.4), layout="constrained")
    axes = fig.subplots(2, 2)
    (ax_lat, ax_ax), (ax_xy, ax_xz) = axes
    x, z = s["x_um"], s["z_um"]
    ax_lat.plot(x, s["lateral"], "k-", label="Eq. 1, y = z = 0")
    # one scan line through a static dot at a pixel centre, at the real pixel size
    a, H, W = params.pixel_size_um, params.height_px, params.width_px
    row = expected_counts_static([(W // 2) * a, (H // 2) * a, 0.0], params)[H // 2]
    xp = (np.arange(W) - W // 2) * a
    inside = np.abs(xp) <= x[-1] + 1e-12
    ax_lat.plot(
        xp[inside], row[inside], "o", ms=3.5, color=DWELL_COLOUR, label=f"pixels ({a * 1e3:g} nm)"
    )
    ax_ax.plot(z, s["axial"], "k-", label="Eq. 1, x = y = 0")
    for ax in (ax_lat, ax_ax):
        ax.axhline(params.n_bkg, color="0.5", ls="--", lw=1, label="N_bkg")
        ax.set_ylabel("expected photons N")
        ax.legend(fontsize="x-small")
    ax_lat.set_xlabel("x − X (µm)")
    ax_ax.set_xlabel("z − Z (µm)")
    ax_lat.set_title(f"lateral, σxy = {params.sigma_xy_um:g} µm")
    ax_ax.set_title(f"axial, σz = {params.sigma_z_um:g} µm")
    vmax = float(max(s["xy"].max(), s["xz"].max()))
    im = ax_xy.imshow(
        s["xy"], extent=(x[0], x[-1], x[-1], x[0]), cmap="magma", vmin=params.n_bkg, vmax=vmax
    )
    ax_xy.set_xlabel("x − X (µm)")
    ax_xy.set_ylabel("y − Y (µm)")
    ax_xy.set_title("xy map, z = Z")
    ax_xz.imshow(
        s["xz"],
        extent=(x[0], x[-1], z[-1], z[0]),
        cmap="magma",
        vmin=params.n_bkg,
        vmax=vmax,
        aspect="auto",
    )
    ax_xz.set_xlabel("x − X (µm)")
    ax_xz.set_ylabel("z − Z (µm)")
    ax_xz.set_title("xz map, y = Y")
    fig.colorbar(im, ax=[ax_xy, ax_xz], label="expected photons N", shrink=0.9)
    return fig, axes


def plot_image_trajectory(
    image,
    traj_um,
    params: SimParams,
    ax=None,
    centroid=None,
    show_trajectory: bool = True,
    cmap: str = "gray",
    vmin=None,
    vmax=None,
    title: str | None = None,
):
    """An image with the dot's trajectory overlaid, in pixel coordinates.

    Start of the trajectory: green circle (label ``"start"``); end: cyan
    circle (``"end"``); centroid (default: the trajectory's mean, the label
    of the paper): red cross (``"centroid"``); the path: ``"trajectory"``.
    With ``show_trajectory=False`` only the image and the centroid are drawn.
    Returns the axes.
    """
    image = np.asarray(image)
    if image.shape != (params.height_px, params.width_px):
        raise ValueError(
            f"image has shape {image.shape}; expected ({params.height_px}, {params.width_px})"
        )
    traj = _check_traj(traj_um, params)
    ax = _new_ax(ax, (4.0, 4.0))
    ax.imshow(
        image, cmap=cmap, vmin=vmin, vmax=vmax, extent=pixel_extent(params), interpolation="nearest"
    )
    px = traj[:, :2] / params.pixel_size_um
    if show_trajectory:
        ax.plot(px[:, 0], px[:, 1], "-", color=TRAJ_COLOUR, lw=0.8, alpha=0.8, label="trajectory")
        ax.plot(px[0, 0], px[0, 1], "o", mfc="none", mec=START_COLOUR, mew=1.8, ms=9, label="start")
        ax.plot(px[-1, 0], px[-1, 1], "o", mfc="none", mec=END_COLOUR, mew=1.8, ms=9, label="end")
    c = centroid_px(traj, params) if centroid is None else np.asarray(centroid, dtype=np.float64)
    ax.plot(c[0], c[1], "x", color=CENTROID_COLOUR, mew=2, ms=8, label="centroid")
    ax.set_xlim(-0.5, params.width_px - 0.5)
    ax.set_ylim(params.height_px - 0.5, -0.5)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_expected_vs_counts(
    expected, counts, params: SimParams, traj_um=None, fig=None, cmap: str = "magma"
):
    """Expected counts (Eq. 1) beside a Poisson draw, on one shared colour scale.

    Returns ``fig, (ax_expected, ax_counts)``; both images share ``vmin``/``vmax``
    and one colour bar. With ``traj_um`` the trajectory is overlaid on both.
    """
    expected = np.asarray(expected, dtype=np.float64)
    counts = np.asarray(counts)
    if fig is None:
        fig = plt.figure(figsize=(8.0, 3.8), layout="constrained")
    ax_e, ax_c = fig.subplots(1, 2, sharex=True, sharey=True)
    vmin = float(min(expected.min(), counts.min()))
    vmax = float(max(expected.max(), counts.max()))
    for ax, img, name in (
        (ax_e, expected, "expected N (Eq. 1)"),
        (ax_c, counts, "recorded counts (Poisson)"),
    ):
        if traj_um is None:
            ax.imshow(
                img,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                extent=pixel_extent(params),
                interpolation="nearest",
            )
            ax.set_xlabel("x (px)")
            ax.set_ylabel("y (px)")
            ax.set_title(name)
        else:
            plot_image_trajectory(
                img, traj_um, params, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, title=name
            )
    fig.colorbar(ax_c.images[0], ax=[ax_e, ax_c], label="photons", shrink=0.9)
    return fig, (ax_e, ax_c)


def plot_figure1(sim, fig=None, show_static_trajectory: bool = False, cmap: str = "gray"):
    """The paper's Fig. 1: one panel per image of ``sim`` (e.g. D = 0, 0.75, 1, 1.75 µm²/s).

    ``sim`` is a :class:`qdloc.sim.simulate.Simulation` (images, trajectories,
    centroids, D). Each panel shows the recorded image in pixel coordinates,
    the trajectory, its start (green circle) and end (cyan circle), and the
    centroid (red cross). As in the paper, the panel of a dot that does not
    move (D = 0) shows no trajectory unless ``show_static_trajectory``.
    Returns ``fig, axes`` (one axes per image).
    """
    if sim.images is None:
        raise ValueError("sim has no images (simulated with photons=False); Fig. 1 needs them")
    n = len(sim)
    params = sim.params
    if fig is None:
        fig = plt.figure(figsize=(2.6 * n, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharex=True, sharey=True))
    for k, ax in enumerate(axes):
        D = float(sim.D[k])
        plot_image_trajectory(
            sim.images[k],
            sim.trajectories[k],
            params,
            ax=ax,
            centroid=sim.centroids[k],
            show_trajectory=show_static_trajectory or D > 0,
            cmap=cmap,
            title=f"({'abcdefghijklmnopqrstuvwxyz'[k % 26]}) D = {D:g} µm²/s",
        )
        if k:
            ax.set_ylabel("")
    return fig, axes


# ---------------------------------------------------------------------------
# Animation and widget explorer
# ---------------------------------------------------------------------------
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
    sim_or_traj : Simulation or ndarray (H·W, 3)
        A simulation (image ``index`` and its trajectory are shown) or one
        trajectory in µm. For a bare trajectory without ``image``, the
        expected counts of Eq. 1 are shown (no noise, no randomness here).
    params : SimParams, optional
        Needed with a bare trajectory; defaults to ``sim.params``.
    lines_per_frame : int
        Scan lines recorded per frame; the animation has
        ``ceil(H / lines_per_frame)`` frames.
    dpi, interval_ms, figsize, cmap
        Size and speed. With the defaults ``anim.to_jshtml()`` is a few hundred kB.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Drawn on a figure that is not registered with pyplot (so the notebook
        does not also show it as a still); ``anim._fig`` is that figure.
    """
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
    traj = _check_traj(traj, params)
    if image is None:
        image = expected_counts(traj[None], params)[0]
    image = np.asarray(image, dtype=np.float64)
    H, W = params.height_px, params.width_px
    if image.shape != (H, W):
        raise ValueError(f"image has shape {image.shape}; expected ({H}, {W})")
    if (
        isinstance(lines_per_frame, bool)
        or int(lines_per_frame) != lines_per_frame
        or lines_per_frame < 1
    ):
        raise ValueError(
            f"lines_per_frame={lines_per_frame!r} is not allowed: expected an integer >= 1"
        )
    lpf = int(lines_per_frame)
    n_frames = math.ceil(H / lpf)
    px = traj[:, :2] / params.pixel_size_um
    starts = pixel_start_times_s(params)

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor("0.15")  # lines not yet recorded
    shown = np.ma.masked_array(
        np.zeros((H, W)), mask=True
    )  # (masked_all leaves garbage under the mask)
    im = ax.imshow(
        shown,
        cmap=cmap,
        vmin=float(image.min()),
        vmax=float(image.max()),
        extent=pixel_extent(params),
        interpolation="nearest",
    )
    (path,) = ax.plot([], [], "-", color=TRAJ_COLOUR, lw=0.8, label="trajectory")
    (dot,) = ax.plot([], [], "o", color=END_COLOUR, ms=5, label="dot")
    (beam,) = ax.plot([], [], "-", color="white", lw=1.5, alpha=0.8, label="beam")
    ax.plot(px[0, 0], px[0, 1], "o", mfc="none", mec=START_COLOUR, mew=1.5, ms=8, label="start")
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
        fig, update, frames=n_frames, interval=interval_ms, blit=False, repeat=True
    )


def _render_png(fig: Figure, dpi) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def explorer(
    params: SimParams,
    D: float = 1.0,
    n_qd: float | None = None,
    seed: int = 0,
    D_max: float = 3.0,
    n_qd_max: float = 60.0,
    seed_max: int = 999,
    dpi: int = 80,
):
    """An ipywidgets explorer: sliders for D, N_qd and seed; an image with its trajectory.

    Each change simulates one image with :func:`qdloc.sim.simulate.simulate`
    (image 0 of the given seed) and redraws it as a PNG in an
    ``ipywidgets.Image``. Needs a live kernel to react to the sliders.

    Returns
    -------
    ipywidgets.VBox
        ``children = (HBox(D slider, N_qd slider, seed slider), Image, HTML status)``.
        The sliders are also available as ``box.sliders`` (a dict with keys
        ``"D"``, ``"n_qd"``, ``"seed"``) and the redraw as ``box.redraw()``.
    """
    import ipywidgets as widgets  # lazy: only the explorer needs it

    from qdloc.sim.simulate import simulate

    n_qd = params.n_qd if n_qd is None else n_qd
    style = {"description_width": "initial"}
    s_D = widgets.FloatSlider(
        value=D,
        min=0.0,
        max=D_max,
        step=0.05,
        description="D (µm²/s)",
        continuous_update=False,
        style=style,
    )
    s_nqd = widgets.FloatSlider(
        value=n_qd,
        min=0.0,
        max=n_qd_max,
        step=0.5,
        description="N_qd",
        continuous_update=False,
        style=style,
    )
    s_seed = widgets.IntSlider(
        value=seed,
        min=0,
        max=seed_max,
        step=1,
        description="seed",
        continuous_update=False,
        style=style,
    )
    img = widgets.Image(format="png")
    status = widgets.HTML()

    def redraw(_change=None):
        p = params.replace(n_qd=float(s_nqd.value))
        sim = simulate(1, p, seed=int(s_seed.value), D=float(s_D.value))
        fig = Figure(figsize=(4.2, 4.0), layout="constrained")
        ax = fig.add_subplot()
        plot_image_trajectory(
            sim.images[0],
            sim.trajectories[0],
            p,
            ax=ax,
            centroid=sim.centroids[0],
            title=f"D = {s_D.value:g} µm²/s, N_qd = {s_nqd.value:g}, seed = {s_seed.value}",
        )
        img.value = _render_png(fig, dpi)
        cx, cy = sim.centroids[0]
        status.value = (
            f"centroid (x, y) = ({cx:.2f}, {cy:.2f}) px; "
            f"brightest pixel {int(sim.images[0].max())} photons"
        )

    for s in (s_D, s_nqd, s_seed):
        s.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([s_D, s_nqd, s_seed]), img, status])
    box.sliders = {"D": s_D, "n_qd": s_nqd, "seed": s_seed}
    box.redraw = redraw
    return box
