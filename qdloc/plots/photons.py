"""Chapter 03's figures: slices of the PSF, expected against recorded counts, the paper's Fig. 1.

Also the chapter's interactive explorer (:func:`explorer`, needs ``ipywidgets``). The
conventions (colours, pixel coordinates, artist labels) are those of :mod:`qdloc.plots.style`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from qdloc.plots.style import (
    CENTROID_COLOUR,
    DWELL_COLOUR,
    END_COLOUR,
    START_COLOUR,
    TRAJ_COLOUR,
    check_traj,
    new_ax,
    pixel_extent,
    render_png,
)
from qdloc.sim.params import SimParams
from qdloc.sim.psf import expected_counts, expected_counts_static
from qdloc.sim.simulate import simulate
from qdloc.sim.walk import centroid_px

__all__ = [
    "psf_slices",
    "plot_psf_slices",
    "plot_image_trajectory",
    "plot_expected_vs_counts",
    "plot_figure1",
    "explorer",
]


def _grid_params(params: SimParams, nx: int, step_um: float, ny: int = 1) -> SimParams:
    """A one-off scan grid (``ny`` x ``nx`` pixels of ``step_um``) for evaluating Eq. 1 finely."""
    return params.replace(height_px=ny, width_px=nx, pixel_size_um=step_um, start_margin_px=0.0)


def psf_slices(
    params: SimParams, half_width_xy_um: float = 0.7, half_width_z_um: float = 4.0, n: int = 141
):
    """Eq. 1 (via :func:`qdloc.sim.psf.expected_counts`) on fine grids around a dot.

    The dot sits at the origin of a fine scan grid; the beam positions of the grid give the
    offsets ``x - X`` etc.

    Parameters
    ----------
    params : SimParams
        PSF widths, ``N_qd`` and ``N_bkg``.
    half_width_xy_um, half_width_z_um : float
        Half widths of the lateral and axial grids, µm.
    n : int
        Points per grid (made odd, so that the dot sits on a grid point).

    Returns
    -------
    dict
        ``x_um`` (lateral offsets), ``z_um`` (axial offsets), ``lateral`` (N at y = z = 0),
        ``axial`` (N at x = y = 0), ``xy`` (map at z = 0, shape (n, n)) and ``xz`` (map at
        y = 0, shape (n, n), rows = z).
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
    return {"x_um": x, "z_um": z, "lateral": xy[n // 2], "axial": xz[:, n // 2], "xy": xy, "xz": xz}


def _plot_profiles(ax_lat, ax_ax, s: dict, params: SimParams) -> None:
    """The lateral and axial profiles of Eq. 1, with one scan line's pixels on the lateral one."""
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


def plot_psf_slices(params: SimParams, fig=None, **kwargs):
    """Eq. 1 slices: lateral and axial profiles, xy and xz maps (2 x 2 axes).

    The lateral profile also shows, as dots, the expected counts at the pixel spacing of
    ``params`` (what one scan line through a static dot records).

    Parameters
    ----------
    params : SimParams
        PSF and pixel size.
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).
    **kwargs
        Passed to :func:`psf_slices`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray
        2 x 2 axes: ``[[lateral, axial], [xy, xz]]``.
    """
    s = psf_slices(params, **kwargs)
    if fig is None:
        fig = plt.figure(figsize=(8.0, 6.4), layout="constrained")
    axes = fig.subplots(2, 2)
    (ax_lat, ax_ax), (ax_xy, ax_xz) = axes
    _plot_profiles(ax_lat, ax_ax, s, params)
    x, z = s["x_um"], s["z_um"]
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

    Start of the trajectory: green circle (label ``"start"``); end: cyan circle (``"end"``);
    centroid (default: the trajectory's mean, the label of the paper): red cross
    (``"centroid"``); the path: ``"trajectory"``.

    Parameters
    ----------
    image : array_like (H, W)
        The image.
    traj_um : array_like (H·W, 3)
        Its trajectory, µm.
    params : SimParams
        Image size and pixel size.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    centroid : array_like (2,), optional
        The cross, (x, y) px (default: the trajectory's centroid).
    show_trajectory : bool
        With False only the image and the centroid are drawn.
    cmap, vmin, vmax, title
        Passed to ``imshow`` and ``set_title``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    image = np.asarray(image)
    if image.shape != (params.height_px, params.width_px):
        raise ValueError(
            f"image has shape {image.shape}; expected ({params.height_px}, {params.width_px})"
        )
    traj = check_traj(traj_um, params)
    ax = new_ax(ax, (4.0, 4.0))
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

    Parameters
    ----------
    expected : array_like (H, W)
        Eq. 1 along the trajectory.
    counts : array_like (H, W)
        The recorded counts.
    params : SimParams
        Image size and pixel size.
    traj_um : array_like (H·W, 3), optional
        With it the trajectory is overlaid on both images.
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).
    cmap : str
        Colour map.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : tuple of matplotlib.axes.Axes
        ``(ax_expected, ax_counts)``; both images share ``vmin``/``vmax`` and one colour bar.
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

    Each panel shows the recorded image in pixel coordinates, the trajectory, its start
    (green circle) and end (cyan circle), and the centroid (red cross). As in the paper, the
    panel of a dot that does not move (D = 0) shows no trajectory unless
    ``show_static_trajectory``.

    Parameters
    ----------
    sim : qdloc.sim.simulate.Simulation
        Images, trajectories, centroids and D of the panels.
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).
    show_static_trajectory : bool
        Draw the trajectory of a static dot too.
    cmap : str
        Colour map.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray
        One axes per image.
    """
    if sim.images is None:
        raise ValueError("sim has no images (simulated with photons=False); Fig. 1 needs them")
    n = len(sim)
    if fig is None:
        fig = plt.figure(figsize=(2.6 * n, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharex=True, sharey=True))
    for k, ax in enumerate(axes):
        D = float(sim.D[k])
        plot_image_trajectory(
            sim.images[k],
            sim.trajectories[k],
            sim.params,
            ax=ax,
            centroid=sim.centroids[k],
            show_trajectory=show_static_trajectory or D > 0,
            cmap=cmap,
            title=f"({'abcdefghijklmnopqrstuvwxyz'[k % 26]}) D = {D:g} µm²/s",
        )
        if k:
            ax.set_ylabel("")
    return fig, axes


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

    Each change simulates one image with :func:`qdloc.sim.simulate.simulate` (image 0 of
    the given seed) and redraws it as a PNG in an ``ipywidgets.Image``. Needs a live kernel
    to react to the sliders.

    Parameters
    ----------
    params : SimParams
        The other simulator parameters.
    D, n_qd, seed : float, float, int
        Start values of the sliders (``n_qd`` defaults to ``params.n_qd``).
    D_max, n_qd_max, seed_max : float, float, int
        Upper ends of the sliders.
    dpi : int
        Resolution of the drawn image.

    Returns
    -------
    ipywidgets.VBox
        ``children = (HBox(D slider, N_qd slider, seed slider), Image, HTML status)``. The
        sliders are also available as ``box.sliders`` (a dict with keys ``"D"``, ``"n_qd"``,
        ``"seed"``) and the redraw as ``box.redraw()``.
    """
    import ipywidgets as widgets  # optional dependency: only the explorer needs it

    def slider(cls, value, hi, step, description):
        return cls(
            value=value,
            min=0,
            max=hi,
            step=step,
            description=description,
            continuous_update=False,
            style={"description_width": "initial"},
        )

    s_D = slider(widgets.FloatSlider, D, D_max, 0.05, "D (µm²/s)")
    s_nqd = slider(
        widgets.FloatSlider, params.n_qd if n_qd is None else n_qd, n_qd_max, 0.5, "N_qd"
    )
    s_seed = slider(widgets.IntSlider, seed, seed_max, 1, "seed")
    img = widgets.Image(format="png")
    status = widgets.HTML()

    def redraw(_change=None):
        p = params.replace(n_qd=float(s_nqd.value))
        sim = simulate(1, p, seed=int(s_seed.value), D=float(s_D.value))
        fig = Figure(figsize=(4.2, 4.0), layout="constrained")
        plot_image_trajectory(
            sim.images[0],
            sim.trajectories[0],
            p,
            ax=fig.add_subplot(),
            centroid=sim.centroids[0],
            title=f"D = {s_D.value:g} µm²/s, N_qd = {s_nqd.value:g}, seed = {s_seed.value}",
        )
        img.value = render_png(fig, dpi)
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
