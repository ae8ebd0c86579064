"""The book's figure style: colours and small helpers shared by the chapters' figure modules.

Every figure function in :mod:`qdloc.plots` takes data and
:class:`~qdloc.sim.params.SimParams`, draws on the ``ax``/``fig`` it is given (or on a new
pyplot figure), and returns what it drew on. Nothing calls ``plt.show`` or touches global
randomness.

Coordinates: images are drawn with ``imshow(extent=pixel_extent(params))`` so that pixel
centres sit at integer pixel coordinates, ``x`` = column, ``y`` = row, row 0 at the top (the
conventions of :mod:`qdloc.sim.scanner`). Trajectories in µm are divided by the pixel size to
overlay them.

Artists that the tests look for carry labels: ``"dwell"``, ``"retrace"``, ``"trajectory"``,
``"start"``, ``"end"``, ``"centroid"``, ``"beam"``, ``"dot"``.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from qdloc.sim.params import SimParams

__all__ = [
    "DWELL_COLOUR",
    "AXIS_COLOURS",
    "START_COLOUR",
    "END_COLOUR",
    "CENTROID_COLOUR",
    "TRAJ_COLOUR",
    "pixel_extent",
    "new_ax",
    "check_traj",
    "render_png",
]

#: Colour of the dwells (recording) in the scanner figures.
DWELL_COLOUR = "tab:red"
#: One colour per axis of the dot's position.
AXIS_COLOURS = {"x": "tab:blue", "y": "tab:orange", "z": "tab:green"}
#: Start of a trajectory (the paper's green circle).
START_COLOUR = "lime"
#: End of a trajectory (the paper's cyan circle).
END_COLOUR = "cyan"
#: The label, the trajectory centroid (the paper's red cross).
CENTROID_COLOUR = "red"
#: The trajectory drawn over an image.
TRAJ_COLOUR = "yellow"


def pixel_extent(params: SimParams) -> tuple[float, float, float, float]:
    """``imshow`` extent that puts pixel centres at integers, row 0 at the top.

    Parameters
    ----------
    params : SimParams
        The image size comes from ``params.height_px`` and ``params.width_px``.

    Returns
    -------
    tuple of float
        ``(left, right, bottom, top)`` in pixels.
    """
    return (-0.5, params.width_px - 0.5, params.height_px - 0.5, -0.5)


def new_ax(ax, figsize: tuple[float, float]):
    """``ax``, or the axes of a new pyplot figure of ``figsize`` inches when ``ax`` is None.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None
        Axes to draw on.
    figsize : tuple of float
        Size of the new figure, inches.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def check_traj(traj_um, params: SimParams) -> np.ndarray:
    """One trajectory as a float array of shape ``(H·W, 3)`` µm.

    Parameters
    ----------
    traj_um : array_like
        One ``(x, y, z)`` sample in µm per pixel, in scan order.
    params : SimParams
        Gives the number of pixels ``H·W``.

    Returns
    -------
    numpy.ndarray
        The trajectory, float64.

    Raises
    ------
    ValueError
        If the shape is not ``(H·W, 3)``.
    """
    traj = np.asarray(traj_um, dtype=np.float64)
    if traj.shape != (params.n_pixels, 3):
        raise ValueError(
            f"trajectory has shape {traj.shape}; expected ({params.n_pixels}, 3) "
            "(one (x, y, z) sample in µm per pixel of a "
            f"{params.height_px}x{params.width_px} image)"
        )
    return traj


def render_png(fig: Figure, dpi) -> bytes:
    """The figure as PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.
    dpi : float
        Resolution, dots per inch.

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
